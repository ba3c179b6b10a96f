//! Every rule a petition must pass before anything is stored, checked all at once so a channel
//! fixes its request in one round trip. Each broken rule is one field violation.

use minhu_contracts::v1::{Attachment, Petition, Petitioner, RequestType};
use minhu_core::config::GatewaySettings;
use minhu_core::domain::{DivisionCode, SessionId};
use minhu_core::grpc::FieldViolation;
use time::OffsetDateTime;

/// Checks `petition` against the gateway's limits, with `now` as the gateway's clock.
pub fn validate(
    petition: Option<&Petition>,
    limits: &GatewaySettings,
    now: OffsetDateTime,
) -> Result<(), Vec<FieldViolation>> {
    let mut v = Violations::default();
    let Some(p) = petition else {
        v.add("petition", "required");
        return Err(v.0);
    };

    let id = p.channel_message_id.as_str();
    if id.trim().is_empty() {
        v.add(
            "petition.channel_message_id",
            "required: the channel's own id of this petition",
        );
    } else {
        v.max_chars(
            "petition.channel_message_id",
            id,
            limits.max_channel_message_id_chars,
        );
        v.no_control("petition.channel_message_id", id, false);
    }

    v.max_chars("petition.title", &p.title, limits.max_title_chars);
    v.no_control("petition.title", &p.title, false);

    if p.body.trim().is_empty() {
        v.add(
            "petition.body",
            "required: the petition text must not be empty",
        );
    } else {
        v.max_chars("petition.body", &p.body, limits.max_body_chars);
        v.no_control("petition.body", &p.body, true);
    }

    if let Some(ts) = &p.submitted_at {
        match OffsetDateTime::from_unix_timestamp(ts.seconds) {
            Ok(at) if !(0..1_000_000_000).contains(&ts.nanos) || at.year() < 1990 => {
                v.add("petition.submitted_at", "not a valid time")
            }
            Ok(at) if at > now + time::Duration::seconds(limits.max_clock_skew_secs as i64) => {
                v.add("petition.submitted_at", "must not be in the future")
            }
            Ok(_) => {}
            Err(_) => v.add("petition.submitted_at", "not a valid time"),
        }
    }

    if let Some(person) = &p.petitioner {
        petitioner(&mut v, person, limits);
    }

    if let Some(loc) = &p.location {
        if !loc.division_code.is_empty()
            && let Err(e) = DivisionCode::parse(&loc.division_code)
        {
            v.add("petition.location.division_code", e.to_string());
        }
        v.max_chars(
            "petition.location.address",
            &loc.address,
            limits.max_address_chars,
        );
        v.no_control("petition.location.address", &loc.address, false);
        if let Some(c) = &loc.coordinates {
            if !(c.latitude.is_finite() && (-90.0..=90.0).contains(&c.latitude)) {
                v.add(
                    "petition.location.coordinates.latitude",
                    "must be between -90 and 90 degrees",
                );
            }
            if !(c.longitude.is_finite() && (-180.0..=180.0).contains(&c.longitude)) {
                v.add(
                    "petition.location.coordinates.longitude",
                    "must be between -180 and 180 degrees",
                );
            }
        }
    }

    if p.attachments.len() > limits.max_attachments {
        // Not item by item: 100,000 attachments would otherwise answer with 400,000
        // violations, an error larger than any response a client accepts.
        v.add(
            "petition.attachments",
            format!("at most {} attachments", limits.max_attachments),
        );
    } else {
        for (i, a) in p.attachments.iter().enumerate() {
            attachment(&mut v, &format!("petition.attachments[{i}]"), a, limits);
        }
    }

    if let Some(hints) = &p.hints {
        v.max_chars("petition.hints.category", &hints.category, 50);
        v.no_control("petition.hints.category", &hints.category, false);
        if RequestType::try_from(hints.request_type).is_err() {
            v.add("petition.hints.request_type", "unknown request type");
        }
    }

    if !p.reception_session_id.is_empty() && SessionId::parse(&p.reception_session_id).is_err() {
        v.add(
            "petition.reception_session_id",
            "not a reception session id (RS<YYYYMMDD>-<suffix>, e.g. RS20261211-7K3Q)",
        );
    }

    if v.0.is_empty() { Ok(()) } else { Err(v.0) }
}

fn petitioner(v: &mut Violations, p: &Petitioner, limits: &GatewaySettings) {
    v.max_chars("petition.petitioner.name", &p.name, 100);
    v.no_control("petition.petitioner.name", &p.name, false);
    if !p.id_number.is_empty() && !is_resident_id_number(&p.id_number) {
        v.add(
            "petition.petitioner.id_number",
            "not a valid 18-character resident ID number (check digit mismatch or wrong format)",
        );
    }
    if !p.phone.is_empty() {
        let valid_chars = p
            .phone
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || c == ' ' || c == '-' || (i == 0 && c == '+'));
        let digits = p.phone.chars().filter(char::is_ascii_digit).count();
        if !valid_chars || !(5..=20).contains(&digits) {
            v.add(
                "petition.petitioner.phone",
                "must be 5 to 20 digits, optionally with a leading +, spaces or dashes",
            );
        }
    }
    v.max_chars(
        "petition.petitioner.contact_address",
        &p.contact_address,
        limits.max_address_chars,
    );
    v.no_control(
        "petition.petitioner.contact_address",
        &p.contact_address,
        false,
    );
}

fn attachment(v: &mut Violations, path: &str, a: &Attachment, limits: &GatewaySettings) {
    let uri = a.uri.as_str();
    if uri.is_empty() {
        v.add(format!("{path}.uri"), "required");
    } else if !(uri.starts_with("https://") || uri.starts_with("s3://"))
        || uri.len() > limits.max_attachment_uri_chars
        || uri.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        v.add(
            format!("{path}.uri"),
            format!(
                "must be an https:// or s3:// URI of at most {} characters without spaces",
                limits.max_attachment_uri_chars
            ),
        );
    }
    let media_type_ok = a.media_type.split_once('/').is_some_and(|(t, s)| {
        !t.is_empty()
            && !s.is_empty()
            && a.media_type.len() <= 127
            && a.media_type.bytes().all(|b| b.is_ascii_graphic())
    });
    if !media_type_ok {
        v.add(
            format!("{path}.media_type"),
            "must be a media type such as image/jpeg",
        );
    }
    if a.size_bytes == 0 || a.size_bytes > limits.max_attachment_bytes {
        v.add(
            format!("{path}.size_bytes"),
            format!("must be 1 to {} bytes", limits.max_attachment_bytes),
        );
    }
    let digest_ok = a.digest.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if !digest_ok {
        v.add(
            format!("{path}.digest"),
            "must be sha256: followed by 64 lowercase hex digits",
        );
    }
}

/// GB 11643-1999: 17 digits and a check character (digit or X) from a weighted sum mod 11.
fn is_resident_id_number(id: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let bytes = id.as_bytes();
    if bytes.len() != 18 || !bytes[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = bytes[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    bytes[17].to_ascii_uppercase() == CHECK[(sum % 11) as usize]
}

/// Whether `value` holds a control character (Unicode Cc), line breaks and tabs aside when
/// `multiline`. Read as UTF-8 bytes, since every body passes here: C0 and DEL are single
/// bytes below 0x20 and 0x7F, and C1 (U+0080–U+009F) is 0xC2 followed by 0x80–0x9F, bytes that
/// appear nowhere else in valid UTF-8 as that pair.
fn has_control(value: &str, multiline: bool) -> bool {
    let bytes = value.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| match b {
        b'\n' | b'\r' | b'\t' => !multiline,
        0..0x20 | 0x7f => true,
        0xc2 => bytes
            .get(i + 1)
            .is_some_and(|next| (0x80..0xa0).contains(next)),
        _ => false,
    })
}

#[derive(Default)]
struct Violations(Vec<FieldViolation>);

impl Violations {
    fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Limits count characters, not bytes: a Chinese character is one character.
    fn max_chars(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.add(field, format!("at most {max} characters"));
        }
    }

    fn no_control(&mut self, field: &str, value: &str, multiline: bool) {
        let bad = has_control(value, multiline);
        if bad {
            let allowed = if multiline {
                " (line breaks and tabs are allowed)"
            } else {
                ""
            };
            self.add(
                field,
                format!("must not contain control characters{allowed}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_contracts::v1::{ChannelHints, Coordinates, Location};
    use minhu_core::config::Settings;

    fn limits() -> GatewaySettings {
        Settings::defaults().gateway
    }

    fn valid() -> Petition {
        Petition {
            channel_message_id: "web-0001".into(),
            title: "小区噪音扰民".into(),
            body: "每天夜里施工。\n请处理。".into(),
            ..Default::default()
        }
    }

    fn fields(p: &Petition) -> Vec<String> {
        match validate(Some(p), &limits(), OffsetDateTime::now_utc()) {
            Ok(()) => vec![],
            Err(v) => v.into_iter().map(|v| v.field).collect(),
        }
    }

    #[test]
    fn a_minimal_anonymous_petition_is_valid() {
        assert_eq!(fields(&valid()), Vec::<String>::new());
    }

    #[test]
    fn every_broken_rule_is_reported_at_once() {
        let mut p = valid();
        p.channel_message_id.clear();
        p.body = "  ".into();
        p.title = "a\u{0007}b".into();
        assert_eq!(
            fields(&p),
            [
                "petition.channel_message_id",
                "petition.title",
                "petition.body"
            ]
        );
    }

    #[test]
    fn limits_count_chinese_characters_not_bytes() {
        let mut p = valid();
        p.title = "噪".repeat(200);
        assert!(fields(&p).is_empty());
        p.title.push('噪');
        assert_eq!(fields(&p), ["petition.title"]);
    }

    #[test]
    fn id_numbers_need_a_valid_check_digit() {
        assert!(is_resident_id_number("11010519491231002X"));
        assert!(is_resident_id_number("11010519491231002x"));
        assert!(!is_resident_id_number("110105194912310021"));
        assert!(!is_resident_id_number("11010519491231002"));
        let mut p = valid();
        p.petitioner = Some(Petitioner {
            id_number: "110105194912310021".into(),
            phone: "call me".into(),
            ..Default::default()
        });
        assert_eq!(
            fields(&p),
            ["petition.petitioner.id_number", "petition.petitioner.phone"]
        );
    }

    #[test]
    fn locations_and_hints_are_checked() {
        let mut p = valid();
        p.location = Some(Location {
            division_code: "33072".into(),
            address: String::new(),
            coordinates: Some(Coordinates {
                latitude: 91.0,
                longitude: f64::NAN,
            }),
        });
        p.hints = Some(ChannelHints {
            category: String::new(),
            request_type: 42,
        });
        assert_eq!(
            fields(&p),
            [
                "petition.location.division_code",
                "petition.location.coordinates.latitude",
                "petition.location.coordinates.longitude",
                "petition.hints.request_type"
            ]
        );
    }

    #[test]
    fn a_reception_session_reference_must_be_well_formed() {
        for (reference, refused) in [
            ("", false),
            ("RS20261211-7K3Q", false),
            ("next-friday", true),
            ("RS20261211-7k3q", true),
        ] {
            let mut p = valid();
            p.reception_session_id = reference.into();
            let expected: &[&str] = if refused {
                &["petition.reception_session_id"]
            } else {
                &[]
            };
            assert_eq!(fields(&p), expected, "{reference:?}");
        }
    }

    #[test]
    fn attachments_are_checked_one_by_one_and_counted() {
        let good = Attachment {
            uri: "https://files.example.org/a.jpg".into(),
            media_type: "image/jpeg".into(),
            size_bytes: 1024,
            digest: format!("sha256:{}", "a".repeat(64)),
        };
        let mut p = valid();
        p.attachments = vec![
            good.clone(),
            Attachment {
                uri: "ftp://x".into(),
                media_type: "jpeg".into(),
                size_bytes: 200 * 1024 * 1024,
                digest: "md5:abc".into(),
            },
        ];
        assert_eq!(
            fields(&p),
            [
                "petition.attachments[1].uri",
                "petition.attachments[1].media_type",
                "petition.attachments[1].size_bytes",
                "petition.attachments[1].digest"
            ]
        );
        p.attachments = vec![good; 21];
        assert_eq!(fields(&p), ["petition.attachments"]);
        p.attachments = vec![Attachment::default(); 100_000];
        assert_eq!(fields(&p), ["petition.attachments"]);
    }

    #[test]
    fn submitted_at_in_the_future_is_refused() {
        let now = OffsetDateTime::now_utc();
        let mut p = valid();
        p.submitted_at = Some(prost_types::Timestamp {
            seconds: now.unix_timestamp() + 3600,
            nanos: 0,
        });
        assert_eq!(fields(&p), ["petition.submitted_at"]);
        p.submitted_at = Some(prost_types::Timestamp {
            seconds: now.unix_timestamp() - 3600,
            nanos: 0,
        });
        assert!(fields(&p).is_empty());
    }

    #[test]
    fn a_missing_petition_is_reported() {
        let err = validate(None, &limits(), OffsetDateTime::now_utc()).unwrap_err();
        assert_eq!(err[0].field, "petition");
    }

    proptest::proptest! {
        /// The byte-level reading finds exactly the characters Unicode calls control.
        #[test]
        fn control_characters_are_found_as_unicode_defines_them(
            value in "(\\PC|\\p{Cc}|[\u{80}-\u{a0}\u{100}-\u{2100}\n\r\t]){0,40}",
            multiline: bool,
        ) {
            let by_chars = value
                .chars()
                .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')));
            proptest::prop_assert_eq!(has_control(&value, multiline), by_chars);
        }
    }
}
