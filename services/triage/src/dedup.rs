//! Exact duplicates (重复件): the same petitioner posting the same matter again, often through
//! another channel, should join the open case rather than be dispatched twice. Only the
//! petitioner's keyed hash and a digest of the text are compared, never the clear identity.

use sha2::{Digest, Sha256};

/// The key under which a petition's duplicates meet: hex, so it is a valid NATS KV key.
///
/// Anonymous petitions (empty `petitioner_key`) get none: without an identity, two similar texts
/// may well be two people. White space is ignored, so a re-post that differs only in spaces or
/// line breaks (a portal form against a hotline transcript) still matches.
pub fn exact_duplicate_key(petitioner_key: &str, body: &str) -> Option<String> {
    if petitioner_key.is_empty() {
        return None;
    }
    let mut hasher = Sha256::new();
    hasher.update(petitioner_key.as_bytes());
    // The key is a hex digest, so a 0 byte cannot occur in it and ends it unambiguously.
    hasher.update([0]);
    let mut buf = [0; 4];
    for c in body.chars().filter(|c| !c.is_whitespace()) {
        hasher.update(c.encode_utf8(&mut buf).as_bytes());
    }
    Some(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PETITIONER: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn anonymous_petitions_have_no_key() {
        assert_eq!(exact_duplicate_key("", "小区路灯坏了"), None);
        assert_eq!(exact_duplicate_key("", ""), None);
    }

    #[test]
    fn the_key_is_the_digest_of_the_petitioner_and_the_text_without_white_space() {
        let expected = hex::encode(Sha256::digest(
            format!("{PETITIONER}\0小区路灯坏了，请修理。").as_bytes(),
        ));
        assert_eq!(
            exact_duplicate_key(PETITIONER, "小区路灯坏了，请修理。"),
            Some(expected)
        );
    }

    #[test]
    fn re_posts_differing_only_in_white_space_match() {
        let original = exact_duplicate_key(PETITIONER, "小区路灯坏了，请修理。").unwrap();
        for body in [
            "小区 路灯坏了， 请修理。",
            "小区路灯坏了，\n请修理。\n",
            "\t小区路灯坏了，\r\n请修理。",
            "小区\u{3000}路灯坏了，\u{a0}请修理。",
        ] {
            assert_eq!(
                exact_duplicate_key(PETITIONER, body).unwrap(),
                original,
                "{body:?}"
            );
        }
    }

    #[test]
    fn a_different_petitioner_or_text_does_not_match() {
        let original = exact_duplicate_key(PETITIONER, "小区路灯坏了").unwrap();
        let other_petitioner = PETITIONER.replace('9', "8");
        assert_ne!(
            exact_duplicate_key(&other_petitioner, "小区路灯坏了").unwrap(),
            original
        );
        assert_ne!(
            exact_duplicate_key(PETITIONER, "小区路灯又坏了").unwrap(),
            original
        );
        // The separator keeps the boundary: ("ab", "c") is not ("a", "bc").
        assert_ne!(
            exact_duplicate_key("ab", "c"),
            exact_duplicate_key("a", "bc")
        );
    }

    #[test]
    fn the_key_is_a_valid_kv_key() {
        let key = exact_duplicate_key(PETITIONER, "").unwrap();
        assert_eq!(key.len(), 64);
        assert!(
            key.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }
}
