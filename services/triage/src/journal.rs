//! How a dedup journal entry travels the bus: `minhu.v1.DedupJournalEntry` in protobuf, about a
//! quarter of the JSON the journal was first written in, which every instance reads again from
//! the start when it starts. Entries written as JSON before are still read: a JSON object
//! begins with `{`, which no entry in protobuf does (its first byte is a field tag, and field
//! 15 with the group wire type — the only tag spelled `{` — is not in the message).

use minhu_contracts::v1::DedupJournalEntry;
use minhu_dedup::decide::{Division, Facts, PetitionerKey};
use minhu_dedup::kv::StoredDoc;
use minhu_dedup::sketch::{BandKey, Fingerprint};
use prost::Message;

/// The bytes of `entry` as the journal stores them.
pub fn encode(entry: &StoredDoc) -> Vec<u8> {
    DedupJournalEntry {
        case_id: entry.case_id.clone(),
        scheme: entry.scheme.clone(),
        bands: entry.bands.iter().map(|b| b.band).collect(),
        band_digests: entry.bands.iter().map(|b| b.digest).collect(),
        fingerprint_minima: entry.fingerprint.minima.clone(),
        fingerprint_shingles: entry.fingerprint.shingles,
        petitioner: entry.facts.petitioner.digest(),
        county: entry.facts.division.county(),
        time: entry.facts.time,
        lead: entry.lead.clone(),
        original: entry.original.clone().unwrap_or_default(),
    }
    .encode_to_vec()
}

/// The entry in `bytes`, in either form; `None` for what is neither (nothing an instance can
/// index, so the fold passes over it).
pub fn decode(bytes: &[u8]) -> Option<StoredDoc> {
    if bytes.first() == Some(&b'{') {
        return serde_json::from_slice(bytes).ok();
    }
    let entry = DedupJournalEntry::decode(bytes).ok()?;
    if entry.bands.len() != entry.band_digests.len() {
        return None;
    }
    Some(StoredDoc {
        bands: entry
            .bands
            .iter()
            .zip(&entry.band_digests)
            .map(|(&band, &digest)| BandKey { band, digest })
            .collect(),
        fingerprint: Fingerprint {
            minima: entry.fingerprint_minima,
            shingles: entry.fingerprint_shingles,
        },
        facts: Facts {
            petitioner: PetitionerKey::from_digest(entry.petitioner),
            division: Division::from_county(entry.county),
            time: entry.time,
        },
        original: (!entry.original.is_empty()).then_some(entry.original),
        case_id: entry.case_id,
        scheme: entry.scheme,
        lead: entry.lead,
    })
}

#[cfg(test)]
mod tests {
    use minhu_dedup::decide::{Decision, Outcome};
    use minhu_dedup::detector::Detector;

    use super::*;

    fn entry(petitioner: &str, outcome: Outcome<String>) -> StoredDoc {
        let detector = Detector::default();
        let sketch = detector.sketch(
            "路灯坏了",
            "黄宅镇新华村的路灯坏了快三个月了，村口到小学那段路晚上一片漆黑。",
        );
        let facts = Facts {
            petitioner: PetitionerKey::of(petitioner),
            division: Division::of("330726101"),
            time: 1_795_000_000,
        };
        let decision = Decision {
            lead: match &outcome {
                Outcome::Repeat { original } => Some(original.clone()),
                _ => None,
            },
            outcome,
            evidence: None,
        };
        StoredDoc::decided("MH20261127-0000042", &detector, &sketch, facts, &decision)
    }

    #[test]
    fn entries_come_back_as_written_and_smaller_than_json() {
        for written in [
            entry("3f2a", Outcome::New),
            entry(
                "",
                Outcome::Repeat {
                    original: "MH20261127-0000007".into(),
                },
            ),
        ] {
            let bytes = encode(&written);
            assert_eq!(decode(&bytes), Some(written.clone()));
            let json = serde_json::to_vec(&written).unwrap();
            assert!(
                bytes.len() * 3 < json.len(),
                "{} vs {}",
                bytes.len(),
                json.len()
            );
        }
    }

    #[test]
    fn entries_written_as_json_are_still_read() {
        let written = entry("3f2a", Outcome::New);
        let json = serde_json::to_vec(&written).unwrap();
        assert_eq!(decode(&json), Some(written));
    }

    #[test]
    fn what_is_no_entry_is_passed_over() {
        assert_eq!(decode(b"{\"case_id\": 7}"), None);
        assert_eq!(decode(&[0xff, 0xff, 0xff]), None);
        let mirrored = DedupJournalEntry {
            bands: vec![0, 1],
            band_digests: vec![7],
            ..Default::default()
        };
        assert_eq!(decode(&mirrored.encode_to_vec()), None);
    }
}
