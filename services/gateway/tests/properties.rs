//! Properties of the gateway's validation over generated petitions: any input gets an answer
//! (never a panic) naming only real fields, in bounded size; a petition within every rule
//! passes; breaking one rule is reported on that field and nowhere else.

use std::sync::LazyLock;

use minhu_contracts::v1::{
    Attachment, ChannelHints, Consent, Coordinates, Location, Petition, Petitioner,
};
use minhu_core::config::{GatewaySettings, Settings};
use minhu_gateway::validate::validate;
use proptest::prelude::*;
use time::OffsetDateTime;

/// Parsed once: the embedded configuration takes longer to read than a case to check.
fn limits() -> &'static GatewaySettings {
    static LIMITS: LazyLock<GatewaySettings> = LazyLock::new(|| Settings::defaults().gateway);
    &LIMITS
}

/// Text of any kind: controls, format characters, astral characters, empty.
fn short_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => "\\PC{0,40}",
        1 => "[\u{0}-\u{1f}\u{7f}-\u{9f}\u{200b}-\u{200f}\u{2028}\u{2029}\u{feff}]{0,8}",
    ]
}

/// [`short_text`], and now and then lengths around the title and body limits.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        16 => short_text(),
        1 => "噪{195,205}",
        1 => "\\PC{19990,20010}",
    ]
}

fn any_petition() -> impl Strategy<Value = Petition> {
    let petitioner = (any_text(), any_text(), any_text(), any_text()).prop_map(
        |(name, id_number, phone, contact_address)| Petitioner {
            name,
            id_number,
            phone,
            contact_address,
        },
    );
    let location = (
        any_text(),
        any_text(),
        proptest::option::of((any::<f64>(), any::<f64>())),
    )
        .prop_map(|(division_code, address, coordinates)| Location {
            division_code,
            address,
            coordinates: coordinates.map(|(latitude, longitude)| Coordinates {
                latitude,
                longitude,
            }),
        });
    let attachment = (short_text(), short_text(), any::<u64>(), short_text()).prop_map(
        |(uri, media_type, size_bytes, digest)| Attachment {
            uri,
            media_type,
            size_bytes,
            digest,
        },
    );
    let submitted_at = (any::<i64>(), any::<i32>())
        .prop_map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos });
    (
        (any_text(), any_text(), any_text()),
        proptest::option::of(submitted_at),
        proptest::option::of(petitioner),
        proptest::option::of(location),
        prop::collection::vec(attachment, 0..30),
        proptest::option::of((any_text(), any::<i32>())),
        (any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                (channel_message_id, title, body),
                submitted_at,
                petitioner,
                location,
                attachments,
                hints,
                (confidential, disclose),
            )| Petition {
                channel_message_id,
                submitted_at,
                title,
                body,
                petitioner,
                location,
                attachments,
                hints: hints.map(|(category, request_type)| ChannelHints {
                    category,
                    request_type,
                }),
                consent: Some(Consent {
                    keep_identity_confidential: confidential,
                    disclose_identity_to_handler: disclose,
                }),
                reception_session_id: String::new(),
            },
        )
}

/// The fields validation may name; attachments by index.
fn is_known_field(field: &str) -> bool {
    const FIELDS: &[&str] = &[
        "petition",
        "petition.channel_message_id",
        "petition.title",
        "petition.body",
        "petition.submitted_at",
        "petition.petitioner.name",
        "petition.petitioner.id_number",
        "petition.petitioner.phone",
        "petition.petitioner.contact_address",
        "petition.location.division_code",
        "petition.location.address",
        "petition.location.coordinates.latitude",
        "petition.location.coordinates.longitude",
        "petition.attachments",
        "petition.hints.category",
        "petition.hints.request_type",
    ];
    if let Some(rest) = field.strip_prefix("petition.attachments[") {
        let Some((index, leaf)) = rest.split_once("].") else {
            return false;
        };
        return index.parse::<usize>().is_ok()
            && ["uri", "media_type", "size_bytes", "digest"].contains(&leaf);
    }
    FIELDS.contains(&field)
}

/// GB 11643-1999 check character, written out again as the test's own oracle.
fn with_check_character(first17: &str) -> String {
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .bytes()
        .zip(weights)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{first17}{check}")
}

fn valid_attachment() -> impl Strategy<Value = Attachment> {
    (
        prop_oneof![
            "https://[a-z0-9.]{1,30}/[A-Za-z0-9_/.-]{0,80}",
            "s3://[a-z0-9-]{3,20}/[A-Za-z0-9_/.-]{1,80}"
        ],
        "(image|video|audio|application)/[a-z0-9.+-]{1,20}",
        1..=104_857_600u64,
        "[0-9a-f]{64}",
    )
        .prop_map(|(uri, media_type, size_bytes, hex)| Attachment {
            uri,
            media_type,
            size_bytes,
            digest: format!("sha256:{hex}"),
        })
}

fn valid_petition() -> impl Strategy<Value = Petition> {
    let petitioner = (
        "[^\\p{Cc}]{0,100}",
        proptest::option::of("[1-9][0-9]{16}"),
        proptest::option::of("\\+?[0-9]{3}([ -]?[0-9]{2,4}){1,4}"),
        "[^\\p{Cc}]{0,500}",
    )
        .prop_map(|(name, id, phone, contact_address)| Petitioner {
            name,
            id_number: id.map(|id| with_check_character(&id)).unwrap_or_default(),
            phone: phone.unwrap_or_default(),
            contact_address,
        });
    let location = (
        prop_oneof!["", "[0-9]{6}", "[0-9]{9}", "[0-9]{12}"],
        "[^\\p{Cc}]{0,500}",
        proptest::option::of((-90.0..=90.0f64, -180.0..=180.0f64)),
    )
        .prop_map(|(division_code, address, coordinates)| Location {
            division_code,
            address,
            coordinates: coordinates.map(|(latitude, longitude)| Coordinates {
                latitude,
                longitude,
            }),
        });
    (
        "[A-Za-z0-9][A-Za-z0-9:_./-]{0,127}",
        "[^\\p{Cc}]{0,200}",
        "[^\\p{Cc}\\s][^\\p{Cc}]{0,300}(\r?\n\t?[^\\p{Cc}]{0,60}){0,4}",
        proptest::option::of(0..(30 * 365 * 86_400i64)),
        proptest::option::of(petitioner),
        proptest::option::of(location),
        prop::collection::vec(valid_attachment(), 0..=20),
        proptest::option::of(("[^\\p{Cc}]{0,50}", 0..=5i32)),
    )
        .prop_map(
            |(id, title, body, age, petitioner, location, attachments, hints)| Petition {
                channel_message_id: id,
                submitted_at: age.map(|age| prost_types::Timestamp {
                    seconds: OffsetDateTime::now_utc().unix_timestamp() - age,
                    nanos: 0,
                }),
                title,
                body,
                petitioner,
                location,
                attachments,
                hints: hints.map(|(category, request_type)| ChannelHints {
                    category,
                    request_type,
                }),
                consent: None,
                reception_session_id: String::new(),
            },
        )
}

/// One rule broken on a valid petition, and the field that must be reported for it.
#[derive(Debug, Clone)]
enum Break {
    ControlInTitle(usize, char),
    TitleTooLong,
    BlankBody(String),
    ControlInBody(char),
    IdTooLong,
    FutureTimestamp(i64),
    BadIdNumber,
    BadPhone(String),
    BadDivisionCode(String),
    LatitudeOutOfRange(f64),
    BadDigest(String),
    TooManyAttachments(usize),
    UnknownRequestType(i32),
}

fn any_break() -> impl Strategy<Value = Break> {
    let control = prop_oneof![
        (0u32..0x20).prop_filter_map("not allowed in a title", char::from_u32),
        (0x7fu32..=0x9f).prop_filter_map("C1", char::from_u32),
    ];
    let body_control = control
        .clone()
        .prop_filter("line breaks and tabs are allowed in a body", |c| {
            !matches!(c, '\n' | '\r' | '\t')
        });
    prop_oneof![
        (0..200usize, control).prop_map(|(at, c)| Break::ControlInTitle(at, c)),
        Just(Break::TitleTooLong),
        "[ \t\r\n\u{3000}\u{a0}]{0,10}".prop_map(Break::BlankBody),
        body_control.prop_map(Break::ControlInBody),
        Just(Break::IdTooLong),
        (3600..i64::from(i32::MAX)).prop_map(Break::FutureTimestamp),
        Just(Break::BadIdNumber),
        prop_oneof!["[0-9]{1,4}", "[0-9]{21,30}", "[0-9]{3}[a-z#*][0-9]{3}"]
            .prop_map(Break::BadPhone),
        prop_oneof![
            "[0-9]{1,5}",
            "[0-9]{7,8}",
            "[0-9]{10,11}",
            "[0-9]{13,20}",
            "[0-9]{5}[a-zA-Z]"
        ]
        .prop_map(Break::BadDivisionCode),
        prop_oneof![
            (90.0001..1e300f64),
            (-1e300..-90.0001f64),
            Just(f64::NAN),
            Just(f64::INFINITY)
        ]
        .prop_map(Break::LatitudeOutOfRange),
        prop_oneof![
            "[0-9a-f]{63}",
            "[0-9A-F]{64}",
            "md5:[0-9a-f]{32}",
            "sha256:[0-9a-f]{65}"
        ]
        .prop_map(Break::BadDigest),
        (21usize..200).prop_map(Break::TooManyAttachments),
        prop_oneof![(6..i32::MAX), (i32::MIN..0)].prop_map(Break::UnknownRequestType),
    ]
}

fn apply(p: &mut Petition, b: &Break) -> String {
    let field = match b {
        Break::ControlInTitle(at, c) => {
            let mut title: Vec<char> = p.title.chars().take(199).collect();
            title.insert((*at).min(title.len()), *c);
            p.title = title.into_iter().collect();
            "petition.title"
        }
        Break::TitleTooLong => {
            p.title = "访".repeat(201);
            "petition.title"
        }
        Break::BlankBody(blank) => {
            p.body = blank.clone();
            "petition.body"
        }
        Break::ControlInBody(c) => {
            p.body.push(*c);
            "petition.body"
        }
        Break::IdTooLong => {
            p.channel_message_id = "x".repeat(129);
            "petition.channel_message_id"
        }
        Break::FutureTimestamp(ahead) => {
            p.submitted_at = Some(prost_types::Timestamp {
                seconds: OffsetDateTime::now_utc().unix_timestamp() + ahead,
                nanos: 0,
            });
            "petition.submitted_at"
        }
        Break::BadIdNumber => {
            let id = p
                .petitioner
                .get_or_insert_with(Petitioner::default)
                .id_number
                .clone();
            let good = if id.is_empty() {
                with_check_character("11010519491231002")
            } else {
                id
            };
            // Any other check character is wrong.
            let wrong = ['0', '1', 'X']
                .into_iter()
                .find(|c| !good.ends_with(*c))
                .unwrap();
            p.petitioner.as_mut().unwrap().id_number = format!("{}{wrong}", &good[..17]);
            "petition.petitioner.id_number"
        }
        Break::BadPhone(phone) => {
            p.petitioner.get_or_insert_with(Petitioner::default).phone = phone.clone();
            "petition.petitioner.phone"
        }
        Break::BadDivisionCode(code) => {
            p.location
                .get_or_insert_with(Location::default)
                .division_code = code.clone();
            "petition.location.division_code"
        }
        Break::LatitudeOutOfRange(latitude) => {
            p.location.get_or_insert_with(Location::default).coordinates = Some(Coordinates {
                latitude: *latitude,
                longitude: 120.0,
            });
            "petition.location.coordinates.latitude"
        }
        Break::BadDigest(digest) => {
            if p.attachments.is_empty() {
                p.attachments.push(Attachment {
                    uri: "https://files.example.org/a.jpg".into(),
                    media_type: "image/jpeg".into(),
                    size_bytes: 1,
                    digest: String::new(),
                });
            }
            let last = p.attachments.len() - 1;
            p.attachments[last].digest = digest.clone();
            return format!("petition.attachments[{last}].digest");
        }
        Break::TooManyAttachments(n) => {
            p.attachments = vec![Attachment::default(); *n];
            "petition.attachments"
        }
        Break::UnknownRequestType(t) => {
            p.hints
                .get_or_insert_with(ChannelHints::default)
                .request_type = *t;
            "petition.hints.request_type"
        }
    };
    field.to_owned()
}

fn fields(p: &Petition) -> Vec<String> {
    match validate(Some(p), limits(), OffsetDateTime::now_utc()) {
        Ok(()) => Vec::new(),
        Err(violations) => violations.into_iter().map(|v| v.field).collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_petition_gets_a_bounded_answer_naming_real_fields(p in any_petition()) {
        let limits = limits();
        if let Err(violations) = validate(Some(&p), limits, OffsetDateTime::now_utc()) {
            prop_assert!(!violations.is_empty());
            // Each field at most a few rules, each attachment four.
            prop_assert!(violations.len() <= 40 + 4 * limits.max_attachments, "{}", violations.len());
            for v in &violations {
                prop_assert!(is_known_field(&v.field), "unknown field {:?}", v.field);
                prop_assert!(!v.description.is_empty());
            }
        }
    }

    #[test]
    fn a_petition_within_every_rule_passes(p in valid_petition()) {
        prop_assert_eq!(fields(&p), Vec::<String>::new());
    }

    #[test]
    fn one_broken_rule_is_reported_on_its_field_alone(p in valid_petition(), b in any_break()) {
        let mut p = p;
        let field = apply(&mut p, &b);
        prop_assert_eq!(fields(&p), vec![field]);
    }

    #[test]
    fn titles_are_limited_in_characters_whatever_their_script(title in "[^\\p{Cc}]{190,210}") {
        let p = Petition {
            channel_message_id: "p-1".into(),
            title: title.clone(),
            body: "正文".into(),
            ..Default::default()
        };
        let too_long = title.chars().count() > 200;
        prop_assert_eq!(fields(&p).contains(&"petition.title".to_owned()), too_long);
    }
}
