//! Channel authentication: the bearer token decides the channel, never the request body.
//!
//! Only SHA-256 digests of tokens are held. A presented token is hashed and looked up by its
//! digest; the lookup's timing can only reveal bits of a digest, which say nothing about any
//! configured token. The final equality check is constant-time all the same.

use std::collections::HashMap;

use minhu_core::config::ChannelSettings;
use minhu_core::domain::ChannelId;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::Status;
use tonic::metadata::MetadataMap;

#[derive(Debug, Clone)]
pub struct ChannelRegistry {
    by_digest: HashMap<[u8; 32], ChannelId>,
}

impl ChannelRegistry {
    /// Channels come validated from configuration: ids parse and every digest is well formed.
    pub fn new(channels: &[ChannelSettings]) -> ChannelRegistry {
        let by_digest = channels
            .iter()
            .map(|c| {
                let digest = c.token_digest().expect("validated channel token");
                let id = ChannelId::parse(&c.id).expect("validated channel id");
                (digest, id)
            })
            .collect();
        ChannelRegistry { by_digest }
    }

    /// The channel whose token is in the `authorization` metadata, or UNAUTHENTICATED.
    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<ChannelId, Status> {
        let header = metadata
            .get("authorization")
            .ok_or_else(|| {
                Status::unauthenticated("missing authorization: Bearer <channel token>")
            })?
            .to_str()
            .map_err(|_| Status::unauthenticated("authorization is not valid text"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Status::unauthenticated("authorization must be: Bearer <channel token>")
            })?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        match self.by_digest.get_key_value(&digest) {
            Some((known, channel)) if bool::from(known.ct_eq(&digest)) => Ok(channel.clone()),
            _ => Err(Status::unauthenticated("unknown channel token")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_core::config::Settings;

    fn metadata(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", value.parse().unwrap());
        m
    }

    #[test]
    fn the_token_decides_the_channel() {
        let registry = ChannelRegistry::new(&Settings::defaults().channels);
        let channel = registry
            .authenticate(&metadata("Bearer demo-hotline-token"))
            .unwrap();
        assert_eq!(channel.as_str(), "hotline-12345");
    }

    #[test]
    fn missing_malformed_and_unknown_tokens_are_unauthenticated() {
        let registry = ChannelRegistry::new(&Settings::defaults().channels);
        assert_eq!(
            registry
                .authenticate(&MetadataMap::new())
                .unwrap_err()
                .code(),
            tonic::Code::Unauthenticated
        );
        for bad in [
            "demo-hotline-token",
            "Bearer ",
            "Bearer demo-hotline-tokem",
            "Basic abc",
        ] {
            let err = registry.authenticate(&metadata(bad)).unwrap_err();
            assert_eq!(err.code(), tonic::Code::Unauthenticated, "{bad}");
        }
    }
}
