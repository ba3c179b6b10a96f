//! Keeping petitioner identity out of the way (PIPL; 信访工作条例 Art. 30): identity travels the
//! bus only sealed, same-person matching uses a keyed hash, and query codes are derived, not
//! stored.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use minhu_contracts::v1::{Petitioner, SealedBox};
use prost::Message;
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::IdentitySettings;

type HmacSha256 = Hmac<Sha256>;

/// Crockford-style alphabet without 0/O and 1/I: petitioners read query codes aloud.
const CODE_ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// 12 symbols of 5 bits: 60 bits, far beyond guessing through a rate-limited API.
const QUERY_CODE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed with key {0:?}, which is not configured")]
    UnknownKey(String),
    #[error("sealed petitioner data failed authentication")]
    Corrupt,
}

/// The deployment's identity keys, built once from configuration.
#[derive(Clone)]
pub struct Identity {
    query_code_key: Vec<u8>,
    petitioner_hash_key: Vec<u8>,
    /// (id, cipher); the first seals, all open.
    sealing: Vec<(String, XChaCha20Poly1305)>,
}

impl Identity {
    pub fn from_settings(settings: &IdentitySettings) -> Identity {
        let sealing = settings
            .sealing_keys
            .iter()
            .map(|k| {
                let key = hex::decode(k.key_hex.expose()).expect("validated: 64 hex digits");
                let cipher = XChaCha20Poly1305::new_from_slice(&key).expect("validated: 32 bytes");
                (k.id.clone(), cipher)
            })
            .collect();
        Identity {
            query_code_key: settings.query_code_key.expose().as_bytes().to_vec(),
            petitioner_hash_key: settings.petitioner_hash_key.expose().as_bytes().to_vec(),
            sealing,
        }
    }

    /// The query code of a tracking number: HMAC-derived, so retries return the same code and
    /// nothing secret is stored.
    pub fn query_code(&self, tracking_number: &str) -> String {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.query_code_key).expect("any key length");
        mac.update(b"query-code\0");
        mac.update(tracking_number.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut bits: u128 = 0;
        for byte in &digest[..16] {
            bits = (bits << 8) | u128::from(*byte);
        }
        (0..QUERY_CODE_LEN)
            .map(|i| CODE_ALPHABET[((bits >> (5 * i)) & 0x1f) as usize] as char)
            .collect()
    }

    /// Constant-time check of a query code a petitioner typed (case-insensitive).
    pub fn verify_query_code(&self, tracking_number: &str, presented: &str) -> bool {
        let expected = self.query_code(tracking_number);
        let presented = presented.trim().to_ascii_uppercase();
        expected.as_bytes().ct_eq(presented.as_bytes()).into()
    }

    /// Keyed hash identifying the same person across channels without revealing who: the ID
    /// number if given, else the phone; `None` for an anonymous petition.
    pub fn petitioner_key(&self, petitioner: &Petitioner) -> Option<String> {
        let id = petitioner.id_number.trim().to_ascii_uppercase();
        let (kind, value) = if !id.is_empty() {
            ("id", id)
        } else {
            let digits: String = petitioner
                .phone
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            if digits.is_empty() {
                return None;
            }
            // +86 13812345678 and 13812345678 are the same phone.
            let national = match digits.strip_prefix("86") {
                Some(rest) if digits.len() == 13 => rest.to_owned(),
                _ => digits,
            };
            ("phone", national)
        };
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.petitioner_hash_key).expect("any key length");
        mac.update(kind.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        Some(hex::encode(mac.finalize().into_bytes()))
    }

    /// Encrypts the petitioner with the current sealing key.
    pub fn seal(&self, petitioner: &Petitioner) -> SealedBox {
        let (key_id, cipher) = &self.sealing[0];
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                petitioner.encode_to_vec().as_slice(),
            )
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        SealedBox {
            key_id: key_id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    pub fn open(&self, sealed: &SealedBox) -> Result<Petitioner, SealError> {
        let (_, cipher) = self
            .sealing
            .iter()
            .find(|(id, _)| *id == sealed.key_id)
            .ok_or_else(|| SealError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.nonce.len() != 24 {
            return Err(SealError::Corrupt);
        }
        let plain = cipher
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                sealed.ciphertext.as_slice(),
            )
            .map_err(|_| SealError::Corrupt)?;
        Petitioner::decode(plain.as_slice()).map_err(|_| SealError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn identity() -> Identity {
        Identity::from_settings(&Settings::defaults().identity)
    }

    #[test]
    fn query_codes_are_stable_distinct_and_verified() {
        let id = identity();
        let a = id.query_code("MH20261127-0000001");
        assert_eq!(a.len(), QUERY_CODE_LEN);
        assert_eq!(a, id.query_code("MH20261127-0000001"));
        assert_ne!(a, id.query_code("MH20261127-0000002"));
        assert!(id.verify_query_code("MH20261127-0000001", &a.to_lowercase()));
        assert!(!id.verify_query_code("MH20261127-0000001", "AAAAAAAAAAAA"));
        assert!(!id.verify_query_code("MH20261127-0000001", ""));
    }

    #[test]
    fn petitioner_key_matches_the_same_person_only() {
        let id = identity();
        let by_phone = |phone: &str| Petitioner {
            phone: phone.into(),
            ..Default::default()
        };
        assert_eq!(
            id.petitioner_key(&by_phone("+86 138-1234-5678")),
            id.petitioner_key(&by_phone("13812345678"))
        );
        assert_ne!(
            id.petitioner_key(&by_phone("13812345678")),
            id.petitioner_key(&by_phone("13812345679"))
        );
        assert_eq!(id.petitioner_key(&Petitioner::default()), None);
        let key = id.petitioner_key(&by_phone("13812345678")).unwrap();
        assert!(!key.contains("13812345678"));
    }

    #[test]
    fn sealed_identity_opens_only_intact() {
        let id = identity();
        let person = Petitioner {
            name: "张三".into(),
            phone: "13812345678".into(),
            ..Default::default()
        };
        let mut sealed = id.seal(&person);
        assert!(!String::from_utf8_lossy(&sealed.ciphertext).contains("张三"));
        assert_eq!(id.open(&sealed).unwrap(), person);
        sealed.ciphertext[0] ^= 1;
        assert!(matches!(id.open(&sealed), Err(SealError::Corrupt)));
    }
}
