//! Bearer-token credentials (channels, units, the centre, ops): only SHA-256 digests are held.
//! A presented token is hashed and looked up by digest; lookup timing can only reveal bits of a
//! digest, which say nothing about a configured token, and the final check is constant-time.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Settings;

#[derive(Debug, Clone, Default)]
pub struct Credentials {
    by_digest: HashMap<[u8; 32], String>,
}

impl Credentials {
    /// `(id, digest)` pairs; configuration validation has made the digests distinct.
    pub fn new(entries: impl IntoIterator<Item = (String, [u8; 32])>) -> Credentials {
        Credentials {
            by_digest: entries.into_iter().map(|(id, d)| (d, id)).collect(),
        }
    }

    /// The handling units' tokens (`[unit_tokens]`), each naming its unit.
    pub fn of_units(settings: &Settings) -> Credentials {
        Credentials::new(
            settings
                .unit_tokens
                .iter()
                .filter_map(|(unit, t)| t.token_digest().map(|d| (unit.clone(), d))),
        )
    }

    /// The dispatch centre's token (`[centre]`), naming `centre`.
    pub fn of_centre(settings: &Settings) -> Credentials {
        Credentials::new(
            settings
                .centre
                .token_digest()
                .map(|d| ("centre".to_owned(), d)),
        )
    }

    /// The id whose token this is.
    pub fn identify(&self, token: &str) -> Option<&str> {
        let digest: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        match self.by_digest.get_key_value(&digest) {
            Some((known, id)) if bool::from(known.ct_eq(&digest)) => Some(id.as_str()),
            _ => None,
        }
    }
}

/// The token of an `authorization: Bearer <token>` header value.
pub fn bearer(header: &str) -> Option<&str> {
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_identify_their_holder_only() {
        let digest = |t: &str| -> [u8; 32] { Sha256::digest(t.as_bytes()).into() };
        let creds = Credentials::new([
            ("a".to_owned(), digest("token-a")),
            ("b".to_owned(), digest("token-b")),
        ]);
        assert_eq!(creds.identify("token-b"), Some("b"));
        assert_eq!(creds.identify("token-c"), None);
        assert_eq!(bearer("Bearer token-a"), Some("token-a"));
        assert_eq!(bearer("Basic x"), None);
        assert_eq!(bearer("Bearer  "), None);
    }
}
