//! The index as JetStream KV entries, for triage instances that share nothing but the bus.
//!
//! | key | value |
//! |---|---|
//! | `band.<scheme>.<band>.<digest>` ([`band_key`]) | JSON array of case ids under the band, oldest first, at most [`BUCKET_CAP`] (update with [`push_recent`]) |
//! | `link.<lead case id>.<petitioner digest>` ([`link_key`]) | the case id of the petitioner's first case on the matter that lead carries |
//! | `doc.<case id>` ([`doc_key`]) | [`StoredDoc`] as JSON: fingerprint, facts, lead, original |
//!
//! Whether a matter is open is the status of its lead case (`minhu_cases`), not stored here.
//!
//! A lookup reads the band keys of the new petition, the `doc.` entries of the case ids found,
//! verifies each ([`crate::detector::Detector::verify`]), reads `link.` for each matched lead,
//! and calls [`crate::decide::decide`] — what [`crate::index::Index::lookup`] does in memory.
//!
//! Two instances deciding near-duplicates at the same moment must not both create an original.
//! Near-duplicates share a band key (that is how either finds the other), so optimistic
//! concurrency on the band entries serialises them: read every band entry with its revision,
//! decide, then write the `doc.` entry and update every band entry *at the revision read*
//! (`create` for a band never seen). If any write finds a newer revision, another petition
//! joined one of the buckets meanwhile: look up again and decide again. The link is written with
//! `create`, so a petitioner's first case on a matter stays the first.

use serde::{Deserialize, Serialize};

use crate::decide::{Candidate, Facts, PetitionerKey};
use crate::sketch::{BandKey, Fingerprint, Scheme, Similarity};
#[cfg(doc)]
use crate::store::{BUCKET_CAP, push_recent};

/// `band.s3h128b20r3.07.3fa9c2d4e5b60718`: the scheme version keeps keys of different schemes
/// apart, so a new scheme starts an empty index beside the old one.
pub fn band_key(scheme: &Scheme, band: &BandKey) -> String {
    format!("band.{}.{}", scheme.version(), band.to_key_string())
}

/// `link.MH20261127-0000042.9f86d081884c7d65`; `None` for an anonymous petitioner, who is never
/// linked. The petitioner appears as the 64-bit digest of the keyed hash, not the hash itself.
pub fn link_key(petitioner: &PetitionerKey, lead_case_id: &str) -> Option<String> {
    petitioner
        .digest()
        .map(|digest| format!("link.{lead_case_id}.{digest:016x}"))
}

pub fn doc_key(case_id: &str) -> String {
    format!("doc.{case_id}")
}

/// What the index keeps of a case, besides its band entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDoc {
    pub fingerprint: Fingerprint,
    pub facts: Facts,
    /// The case that carries the matter: the decision's lead, or the case itself.
    pub lead: String,
    /// The original, when the case is a repeat.
    pub original: Option<String>,
}

impl StoredDoc {
    /// The stored case as a candidate for a new petition: `open` is its lead's status,
    /// `similarity` what the detector verified.
    pub fn candidate(
        &self,
        case_id: &str,
        open: bool,
        similarity: Similarity,
    ) -> Candidate<String> {
        Candidate {
            id: case_id.to_owned(),
            facts: self.facts,
            lead: self.lead.clone(),
            original: self.original.clone(),
            open,
            similarity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::{Division, Outcome, Policy, decide};
    use crate::detector::Detector;

    /// NATS KV keys: `[-/_=.a-zA-Z0-9]+`, not starting or ending with a dot.
    fn valid_kv_key(key: &str) -> bool {
        !key.is_empty()
            && !key.starts_with('.')
            && !key.ends_with('.')
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b))
    }

    #[test]
    fn keys_are_valid_kv_keys() {
        let detector = Detector::default();
        let sketch = detector.sketch(
            "小区路灯损坏",
            "黄宅镇某小区路灯坏了三个月，晚上出行很不方便。",
        );
        assert_eq!(sketch.bands.len(), detector.scheme.bands);
        for band in &sketch.bands {
            let key = band_key(&detector.scheme, band);
            assert!(valid_kv_key(&key), "{key}");
            assert!(key.starts_with("band.s3h128b20r3."), "{key}");
            assert_eq!(key.len(), "band.s3h128b20r3.07.".len() + 16, "{key}");
        }
        let petitioner = PetitionerKey::of("9f86d081884c7d659a2feaa0c55ad015");
        let link = link_key(&petitioner, "MH20261127-0000042").unwrap();
        assert!(valid_kv_key(&link), "{link}");
        assert!(link.starts_with("link.MH20261127-0000042."), "{link}");
        assert_eq!(
            link_key(&PetitionerKey::ANONYMOUS, "MH20261127-0000042"),
            None
        );
        assert!(valid_kv_key(&doc_key("MH20261127-0000042")));
    }

    #[test]
    fn a_stored_case_round_trips_and_decides_like_the_index() {
        let detector = Detector::default();
        let body =
            "黄宅镇某小区路灯坏了三个月，晚上出行很不方便，老人孩子容易摔倒，请物业尽快修理。";
        let facts = Facts {
            petitioner: PetitionerKey::of("alice"),
            division: Division::of("330726"),
            time: 0,
        };
        let stored = StoredDoc {
            fingerprint: detector.sketch("路灯损坏", body).fingerprint,
            facts,
            lead: "MH20261127-0000042".to_owned(),
            original: None,
        };
        let json = serde_json::to_string(&stored).unwrap();
        let stored: StoredDoc = serde_json::from_str(&json).unwrap();

        let new = detector.sketch("路灯损坏", &format!("您好！{body}谢谢！"));
        let similarity = detector
            .verify(&new.fingerprint, &stored.fingerprint)
            .expect("the same text");
        let candidate = stored.candidate("MH20261127-0000042", true, similarity);
        let decision = decide(
            &Facts { time: 60, ..facts },
            &[candidate],
            &Policy::default(),
        );
        assert_eq!(
            decision.outcome,
            Outcome::Repeat {
                original: "MH20261127-0000042".to_owned()
            }
        );
    }
}
