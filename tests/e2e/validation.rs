//! Every validation rule, through the real gateway: INVALID_ARGUMENT with the field violation a
//! channel developer needs, and nothing stored.

use minhu_contracts::bus;
use minhu_contracts::v1::{Attachment, ChannelHints, Coordinates, Location, Petition, Petitioner};
use minhu_e2e::{NatsServer, WEB_TOKEN, petition, spawn_app};
use tonic::Code;
use tonic_types::StatusExt;

fn attachment() -> Attachment {
    Attachment {
        uri: "https://files.example.org/photo.jpg".into(),
        media_type: "image/jpeg".into(),
        size_bytes: 2048,
        digest: format!("sha256:{}", "0".repeat(64)),
    }
}

/// (what is wrong, the petition, the field that must be named)
fn broken_petitions() -> Vec<(&'static str, Petition, &'static str)> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let with = |f: &dyn Fn(&mut Petition)| {
        let mut p = petition("bad-1");
        f(&mut p);
        p
    };
    vec![
        (
            "missing channel message id",
            with(&|p| p.channel_message_id.clear()),
            "petition.channel_message_id",
        ),
        (
            "channel message id too long",
            with(&|p| p.channel_message_id = "x".repeat(129)),
            "petition.channel_message_id",
        ),
        (
            "control character in id",
            with(&|p| p.channel_message_id = "a\u{0}b".into()),
            "petition.channel_message_id",
        ),
        ("empty body", with(&|p| p.body.clear()), "petition.body"),
        (
            "blank body",
            with(&|p| p.body = " \n\t ".into()),
            "petition.body",
        ),
        (
            "body over the limit",
            with(&|p| p.body = "字".repeat(20_001)),
            "petition.body",
        ),
        (
            "control character in body",
            with(&|p| p.body.push('\u{1b}')),
            "petition.body",
        ),
        (
            "title over the limit",
            with(&|p| p.title = "题".repeat(201)),
            "petition.title",
        ),
        (
            "line break in title",
            with(&|p| p.title = "a\nb".into()),
            "petition.title",
        ),
        (
            "malformed division code",
            with(&|p| {
                p.location = Some(Location {
                    division_code: "3307-26".into(),
                    ..Default::default()
                })
            }),
            "petition.location.division_code",
        ),
        (
            "latitude out of range",
            with(&|p| {
                p.location = Some(Location {
                    coordinates: Some(Coordinates {
                        latitude: 95.0,
                        longitude: 120.0,
                    }),
                    ..Default::default()
                })
            }),
            "petition.location.coordinates.latitude",
        ),
        (
            "submitted in the future",
            with(&|p| {
                p.submitted_at = Some(prost_types::Timestamp {
                    seconds: now + 86_400,
                    nanos: 0,
                })
            }),
            "petition.submitted_at",
        ),
        (
            "bad ID number",
            with(&|p| {
                p.petitioner = Some(Petitioner {
                    id_number: "110105194912310021".into(),
                    ..Default::default()
                })
            }),
            "petition.petitioner.id_number",
        ),
        (
            "bad phone",
            with(&|p| {
                p.petitioner = Some(Petitioner {
                    phone: "138-call-me".into(),
                    ..Default::default()
                })
            }),
            "petition.petitioner.phone",
        ),
        (
            "too many attachments",
            with(&|p| p.attachments = vec![attachment(); 21]),
            "petition.attachments",
        ),
        (
            "oversized attachment",
            with(&|p| {
                p.attachments = vec![Attachment {
                    size_bytes: 200 * 1024 * 1024,
                    ..attachment()
                }]
            }),
            "petition.attachments[0].size_bytes",
        ),
        (
            "attachment without uri",
            with(&|p| {
                p.attachments = vec![Attachment {
                    uri: String::new(),
                    ..attachment()
                }]
            }),
            "petition.attachments[0].uri",
        ),
        (
            "attachment over plain http",
            with(&|p| {
                p.attachments = vec![Attachment {
                    uri: "http://x.example/a".into(),
                    ..attachment()
                }]
            }),
            "petition.attachments[0].uri",
        ),
        (
            "bad attachment digest",
            with(&|p| {
                p.attachments = vec![Attachment {
                    digest: "md5:abc".into(),
                    ..attachment()
                }]
            }),
            "petition.attachments[0].digest",
        ),
        (
            "bad media type",
            with(&|p| {
                p.attachments = vec![Attachment {
                    media_type: "jpeg".into(),
                    ..attachment()
                }]
            }),
            "petition.attachments[0].media_type",
        ),
        (
            "unknown request type",
            with(&|p| {
                p.hints = Some(ChannelHints {
                    category: String::new(),
                    request_type: 99,
                })
            }),
            "petition.hints.request_type",
        ),
    ]
}

#[tokio::test]
async fn every_rule_is_reported_as_a_field_violation_and_nothing_is_stored() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    for (what, petition, field) in broken_petitions() {
        let status = app.submit(WEB_TOKEN, petition).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{what}");
        let bad_request = status
            .get_details_bad_request()
            .unwrap_or_else(|| panic!("{what}: no BadRequest details"));
        let fields: Vec<_> = bad_request
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, [field], "{what}");
        assert!(!bad_request.field_violations[0].description.is_empty());
    }
    let status = app
        .client()
        .await
        .submit(minhu_e2e::authorized(
            WEB_TOKEN,
            minhu_contracts::v1::SubmitRequest { petition: None },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    assert!(app.stream_messages(bus::INTAKE_STREAM).await.is_empty());
    // And a valid petition with the same id is accepted as new afterwards.
    let receipt = app.submit(WEB_TOKEN, petition("bad-1")).await.unwrap();
    assert!(!receipt.replayed);
    app.stop().await.unwrap();
}
