//! The petitioner's identity: sealed on the bus, opened only for the case's lead unit through
//! CaseService, every read recorded on the case before anything is returned.

use minhu_contracts::bus;
use minhu_contracts::v1::{Consent, RevealRequest};
use minhu_e2e::{NatsServer, WEB_TOKEN, authorized, petition, spawn_app};
use tonic::Code;

const HUANGZHAI: &str = "demo-unit-huangzhai";
const HOUSING: &str = "demo-unit-housing";
const CENTRE: &str = "demo-centre-token";

fn reveal(token: &str, case_id: &str) -> tonic::Request<RevealRequest> {
    authorized(
        token,
        RevealRequest {
            case_id: case_id.into(),
            reason: "电话回访".into(),
        },
    )
}

#[tokio::test]
async fn only_the_lead_unit_reads_the_identity_and_every_read_is_audited() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    let case_id = app.triaged(WEB_TOKEN, petition("who-1")).await.case_id;
    let mut client = app.cases().await;

    // Not before the unit signed for the case.
    let early = client.reveal_petitioner(reveal(HUANGZHAI, &case_id)).await;
    assert_eq!(early.unwrap_err().code(), Code::FailedPrecondition);
    app.sign_for(HUANGZHAI, &case_id).await.unwrap();

    // The assisting unit and the centre do not get it.
    let assisting = client.reveal_petitioner(reveal(HOUSING, &case_id)).await;
    assert_eq!(assisting.unwrap_err().code(), Code::PermissionDenied);
    let centre = client.reveal_petitioner(reveal(CENTRE, &case_id)).await;
    assert_eq!(centre.unwrap_err().code(), Code::Unauthenticated);

    let person = client
        .reveal_petitioner(reveal(HUANGZHAI, &case_id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(person.name, "王某某");
    assert_eq!(person.phone, "13812345678");

    let view = app.wait_for_case(&case_id).await;
    assert_eq!(view.identity_reads, 1);
    let events = app.stream_messages(bus::CASE_EVENTS_STREAM).await;
    let audit: Vec<_> = events
        .iter()
        .filter(|(s, _)| s.starts_with(&format!("minhu.case.{case_id}.")))
        .filter(|(s, _)| s.ends_with(".petitioner_revealed"))
        .collect();
    assert_eq!(audit.len(), 1);
    // The audit record names the unit and the reason, not the person.
    let payload = String::from_utf8_lossy(&audit[0].1);
    assert!(payload.contains("pujiang-huangzhai") && payload.contains("电话回访"));
    assert!(!payload.contains("王某某") && !payload.contains("13812345678"));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_confidential_identity_is_never_opened() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    let mut p = petition("who-2");
    p.consent = Some(Consent {
        keep_identity_confidential: true,
        ..Default::default()
    });
    let case_id = app.triaged(WEB_TOKEN, p).await.case_id;
    app.sign_for(HUANGZHAI, &case_id).await.unwrap();
    let refused = app
        .cases()
        .await
        .reveal_petitioner(reveal(HUANGZHAI, &case_id))
        .await;
    assert_eq!(refused.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(app.wait_for_case(&case_id).await.identity_reads, 0);
    app.stop().await.unwrap();
}
