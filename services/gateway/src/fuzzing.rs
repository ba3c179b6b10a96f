//! The logic of the fuzz target `fuzz/fuzz_targets/submit_request.rs`: bytes as any client
//! could send them in a `Submit` call, decoded as the server decodes them, then validated.
//! A plain function, so the unit tests below run it over seed inputs on stable toolchains too;
//! it panics when an expectation breaks, which is what the fuzzer reports.

use std::sync::LazyLock;

use minhu_contracts::v1::SubmitRequest;
use minhu_core::config::{GatewaySettings, Settings};
use prost::Message;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::validate::validate;

/// The gateway's limits as deployed by default; read once, not per input.
static LIMITS: LazyLock<GatewaySettings> = LazyLock::new(|| Settings::defaults().gateway);
/// A fixed clock, so that an input fails or passes the same way on every run.
const NOW: OffsetDateTime = datetime!(2026-11-27 08:00 UTC);

/// Decodes `bytes` as a `SubmitRequest` and validates its petition. Bytes that do not decode
/// are refused by the server before the gateway sees them, and end here too.
///
/// Expectations: no panic; a refusal names at least one field, every field inside
/// `petition`, and stays small whatever the input (at most four violations per allowed
/// attachment plus the fixed fields); the decoded request encodes and decodes back to itself,
/// and validation judges the copy the same way.
pub fn submit_request(bytes: &[u8]) {
    let Ok(request) = SubmitRequest::decode(bytes) else {
        return;
    };
    let verdict = validate(request.petition.as_ref(), &LIMITS, NOW);
    if let Err(violations) = &verdict {
        assert!(!violations.is_empty(), "a refusal without a reason");
        assert!(
            violations.len() <= 40 + 4 * LIMITS.max_attachments,
            "{} violations",
            violations.len()
        );
        for v in violations {
            assert!(v.field.starts_with("petition"), "field {:?}", v.field);
            assert!(
                !v.description.is_empty(),
                "{:?} without a description",
                v.field
            );
        }
    }
    let encoded = request.encode_to_vec();
    let copy = SubmitRequest::decode(encoded.as_slice()).expect("an encoded request decodes");
    // Compared encoded: a NaN coordinate is never equal to itself.
    assert_eq!(
        copy.encode_to_vec(),
        encoded,
        "the request changed in an encode/decode round trip"
    );
    assert_eq!(
        validate(copy.petition.as_ref(), &LIMITS, NOW),
        verdict,
        "the copy was judged differently"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_contracts::v1::{Attachment, Location, Petition, Petitioner};

    fn encoded(petition: Petition) -> Vec<u8> {
        SubmitRequest {
            petition: Some(petition),
        }
        .encode_to_vec()
    }

    fn valid() -> Petition {
        Petition {
            channel_message_id: "web-0001".into(),
            title: "小区违章搭建".into(),
            body: "黄宅镇某小区有业主违章搭建，物业不管。".into(),
            petitioner: Some(Petitioner {
                phone: "13812345678".into(),
                id_number: "11010519491231002X".into(),
                ..Default::default()
            }),
            location: Some(Location {
                division_code: "330726".into(),
                address: "浦江县黄宅镇".into(),
                coordinates: None,
            }),
            ..Default::default()
        }
    }

    /// A valid request (the fuzzer's own seeds are in `fuzz/seeds/`) and hostile shapes.
    fn seeds() -> Vec<Vec<u8>> {
        let mut many_attachments = valid();
        many_attachments.attachments = vec![Attachment::default(); 100_000];
        let valid_bytes = encoded(valid());
        vec![
            Vec::new(),
            valid_bytes.clone(),
            // Truncated in the middle of the petition.
            valid_bytes[..valid_bytes.len() / 2].to_vec(),
            // The petition field repeated: protobuf merges the two.
            [valid_bytes.clone(), valid_bytes].concat(),
            encoded(many_attachments),
            // Invalid UTF-8 in a string field (channel_message_id).
            vec![0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe],
            // An unknown field nested as groups far beyond the decoder's depth limit.
            vec![0x7b; 100_000],
            // A length prefix far beyond the input.
            vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f],
            // Non-canonical varints and unknown fields of every wire type.
            vec![
                0x88, 0x80, 0x80, 0x80, 0x00, 0x01, 0x91, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0x9d, 0x01,
                0, 0, 0, 0,
            ],
        ]
    }

    #[test]
    fn the_seeds_meet_every_expectation() {
        for seed in seeds() {
            submit_request(&seed);
        }
    }

    #[test]
    fn every_prefix_and_every_flipped_byte_of_a_valid_request_too() {
        let bytes = encoded(valid());
        for end in 0..=bytes.len() {
            submit_request(&bytes[..end]);
        }
        for at in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut mutated = bytes.clone();
                mutated[at] ^= flip;
                submit_request(&mutated);
            }
        }
    }
}
