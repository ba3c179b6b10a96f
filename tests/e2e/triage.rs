//! Triage as the centre, units and petitioners meet it: the trained classifier's explained
//! decision, the dispatch centre's queue (诉访分离, the confidence gate) and its manual
//! classification, the accusation guard, and a new model taking over without a restart.

use std::time::{Duration, Instant};

use minhu_classify::{TrainConfig, default_examples, train};
use minhu_contracts::bus;
use minhu_contracts::v1::case_service_client::CaseServiceClient;
use minhu_contracts::v1::{
    CaseRef, CaseStatus, CaseView, CentreReason, ClassifyRequest, ListCasesRequest, Location,
    Petition, Receipt, RequestType,
};
use minhu_e2e::{NatsServer, WEB_TOKEN, authorized, petition, spawn_app, spawn_app_with};
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

const CENTRE: &str = "demo-centre-token";
const HUANGZHAI: &str = "demo-unit-huangzhai";
const DISCIPLINE: &str = "demo-unit-discipline";

async fn listed(client: &mut CaseServiceClient<Channel>, token: &str) -> Vec<String> {
    client
        .list_cases(authorized(token, ListCasesRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .cases
        .into_iter()
        .map(|c| c.case_id)
        .collect()
}

/// Waits until `token`'s listing does (or does not) hold the case.
async fn wait_listing(
    client: &mut CaseServiceClient<Channel>,
    token: &str,
    case_id: &str,
    present: bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while listed(client, token).await.iter().any(|c| c == case_id) != present {
        assert!(
            Instant::now() < deadline,
            "{case_id} listed for {token}: never {present}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn litigation(id: &str) -> Petition {
    Petition {
        title: "房屋买卖合同纠纷".into(),
        body: "我与开发商的房屋买卖合同纠纷已经向法院起诉，法院已经立案，案件正在审理中，请求督促开发商交房。"
            .into(),
        ..petition(id)
    }
}

fn subjects_of(messages: &[(String, bytes::Bytes)], prefix: &str) -> Vec<String> {
    messages
        .iter()
        .map(|(s, _)| s.clone())
        .filter(|s| s.starts_with(prefix))
        .collect()
}

#[tokio::test]
async fn a_matter_in_litigation_waits_for_the_centre_which_classifies_and_dispatches_it() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    let receipt: Receipt = app.submit(WEB_TOKEN, litigation("lit-1")).await.unwrap();
    let case_id = receipt.tracking_number.clone();
    let view = app.wait_for_case(&case_id).await;
    assert_eq!(view.status, CaseStatus::CentreQueue as i32);
    let route = view.route.clone().unwrap();
    assert_eq!(route.centre_reason, CentreReason::LegalPathway as i32);
    assert!(route.lead_unit_id.is_empty());

    // The petitioner learns where the matter belongs, and nothing of the model.
    let tracked = app.track(&receipt).await.unwrap();
    assert_eq!(tracked.status, CaseStatus::CentreQueue as i32);
    assert!(tracked.guidance.contains("诉讼"), "{}", tracked.guidance);
    assert!(tracked.unit.is_none());
    assert!(
        tracked.history.iter().all(|h| !h.note.contains("置信度")),
        "{:?}",
        tracked.history
    );

    // The centre's feed and listing hold it; no unit's feed does.
    let messages = app.stream_messages(bus::DISPATCH_STREAM).await;
    assert_eq!(
        subjects_of(&messages, "minhu.dispatch."),
        [bus::dispatch_subject(bus::CENTRE_QUEUE_ID, &case_id, 2)]
    );
    let mut client = app.cases().await;
    wait_listing(&mut client, CENTRE, &case_id, true).await;
    assert!(!listed(&mut client, HUANGZHAI).await.contains(&case_id));

    // The centre's view explains the decision.
    let seen: CaseView = client
        .get_case(authorized(
            CENTRE,
            CaseRef {
                case_id: case_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let classification = seen.classification.clone().unwrap();
    assert!(classification.model_version.starts_with("linear-v1:"));
    assert_eq!(classification.scores.len(), 3);
    assert!(!classification.top_features.is_empty());
    assert!(!classification.rules_fired.is_empty());
    assert_eq!(classification.pathway.unwrap().kind, "litigation");

    // Only the centre classifies, and only into the catalogue's categories.
    let classify = |token: &str, category: &str| {
        authorized(
            token,
            ClassifyRequest {
                case_id: case_id.clone(),
                category: category.into(),
                request_type: RequestType::Complaint as i32,
                reason: "经核实: 交房逾期属住建部门监管事项".into(),
            },
        )
    };
    let refused = client.classify(classify(HUANGZHAI, "城乡建设")).await;
    assert_eq!(refused.unwrap_err().code(), Code::Unauthenticated);
    let invalid = client
        .classify(classify(CENTRE, "天气预报"))
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let violations = invalid.get_details_bad_request().unwrap().field_violations;
    assert_eq!(violations[0].field, "category");

    let classified = client
        .classify(classify(CENTRE, "城乡建设"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(classified.status, CaseStatus::Dispatched as i32);
    let classification = classified.classification.unwrap();
    assert_eq!(classification.category, "城乡建设");
    assert_eq!(classification.decided_by, "centre");
    assert_eq!(classification.request_type, RequestType::Complaint as i32);
    let route = classified.route.unwrap();
    assert_eq!(route.lead_unit_id, "pujiang-huangzhai");
    assert_eq!(route.centre_reason, 0);
    assert!(!classified.deadlines.is_empty());
    wait_listing(&mut client, HUANGZHAI, &case_id, true).await;
    wait_listing(&mut client, CENTRE, &case_id, false).await;
    // The model's decision stays on the record beside the centre's.
    let first = app.stream_messages(bus::CASE_EVENTS_STREAM).await;
    assert!(first.iter().any(|(s, _)| s.ends_with(".1.triaged")));
    assert!(first.iter().any(|(s, _)| s.ends_with(".3.reclassified")));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn below_the_confidence_gate_a_case_waits_for_a_person() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &minhu::Role::ALL, |s| {
        s.classifier.min_confidence = 1.0;
    })
    .await;
    let view = app.triaged(WEB_TOKEN, petition("gate-1")).await;
    let case_id = view.case_id.clone();
    assert_eq!(view.status, CaseStatus::CentreQueue as i32);
    let route = view.route.unwrap();
    assert_eq!(route.centre_reason, CentreReason::LowConfidence as i32);
    // Where it arose was still found, for the person who decides.
    assert_eq!(route.division_code, "330726101");
    assert!(view.classification.unwrap().below_confidence_gate);
    let mut client = app.cases().await;
    wait_listing(&mut client, CENTRE, &case_id, true).await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_accusation_goes_to_the_discipline_unit_and_never_reaches_the_accused() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    let accusation = Petition {
        title: "举报黄宅镇干部".into(),
        body: "我实名举报黄宅镇人民政府工作人员在违章建筑拆除中收受贿赂，对违建不管不问。".into(),
        location: Some(Location {
            address: "浦江县黄宅镇".into(),
            ..Default::default()
        }),
        ..petition("acc-1")
    };
    let view = app.triaged(WEB_TOKEN, accusation).await;
    let case_id = view.case_id.clone();
    let route = view.route.clone().unwrap();
    assert_eq!(route.lead_unit_id, "pujiang-discipline");
    assert_eq!(route.accused_unit_ids, ["pujiang-huangzhai"]);
    assert!(route.identity_withheld);
    assert!(view.identity_confidential);

    let mut client = app.cases().await;
    wait_listing(&mut client, DISCIPLINE, &case_id, true).await;
    let messages = app.stream_messages(bus::DISPATCH_STREAM).await;
    assert!(subjects_of(&messages, "minhu.dispatch.pujiang-huangzhai.").is_empty());
    let hidden = client
        .get_case(authorized(HUANGZHAI, CaseRef { case_id }))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_new_model_file_takes_over_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.bin");
    let examples = default_examples();
    let first = train(&examples, &TrainConfig::default()).unwrap();
    first.save(&path).unwrap();
    let second = train(
        &examples,
        &TrainConfig {
            c: TrainConfig::default().c * 2.0,
            ..TrainConfig::default()
        },
    )
    .unwrap();
    assert_ne!(first.version(), second.version());

    let server = NatsServer::start();
    let model_file = path.clone();
    let app = spawn_app_with(&server.url(), &minhu::Role::ALL, move |s| {
        s.classifier.model_file = Some(model_file);
        s.triage.reload_check_secs = 1;
    })
    .await;
    let version_of = |view: CaseView| view.classification.unwrap().model_version;
    let view = app.triaged(WEB_TOKEN, petition("model-1")).await;
    assert_eq!(version_of(view), first.version());

    // Written beside it and renamed over it, as a deployment replaces the file.
    let staged = dir.path().join("model.bin.new");
    second.save(&staged).unwrap();
    std::fs::rename(&staged, &path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    for n in 0.. {
        let mut p = minhu_e2e::distinct_petition(&format!("model-{}", n + 2), n);
        p.title = "小区违章搭建".into();
        let view = app.triaged(WEB_TOKEN, p).await;
        if version_of(view) == second.version() {
            break;
        }
        assert!(Instant::now() < deadline, "the new model never took over");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_changed_catalogue_routes_new_petitions_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("minhu.toml");
    std::fs::write(&file, "[catalogue]\nversion = \"reload-1\"\n").unwrap();
    let server = NatsServer::start();
    let app = minhu_e2e::spawn_app_reloading(
        &server.url(),
        &minhu::Role::ALL,
        |s| {
            s.catalogue.version = "reload-1".into();
            s.triage.reload_check_secs = 1;
        },
        Some(file.clone()),
    )
    .await;
    // Each from another petitioner, each with text of its own: no repeats, no clusters.
    let bus_petition = |id: &str, n: u64| {
        let mut p = minhu_e2e::distinct_petition(id, n);
        let detail = p.body.split('：').nth(1).unwrap_or_default().to_owned();
        p.title = "公交车班次太少".into();
        p.body = format!("浦江县城的公交车班次太少，等车要一个小时，希望增加班次。{detail}");
        p
    };
    let route = app
        .triaged(WEB_TOKEN, bus_petition("cat-1", 1))
        .await
        .route
        .unwrap();
    assert_eq!(
        (
            route.catalogue_version.as_str(),
            route.lead_unit_id.as_str()
        ),
        ("reload-1", "pujiang-transport")
    );

    // The county takes everything from now on.
    let staged = dir.path().join("minhu.toml.new");
    std::fs::write(
        &staged,
        "[catalogue]\nversion = \"reload-2\"\n[[catalogue.rules]]\nid = \"county-all\"\ncategory = \"*\"\narea_prefix = \"330726\"\nlead = \"pujiang-county\"\n",
    )
    .unwrap();
    std::fs::rename(&staged, &file).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    for n in 2.. {
        let route = app
            .triaged(WEB_TOKEN, bus_petition(&format!("cat-{n}"), n))
            .await
            .route
            .unwrap();
        if route.catalogue_version == "reload-2" {
            assert_eq!(route.lead_unit_id, "pujiang-county");
            assert_eq!(route.rule_id, "county-all");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new catalogue never took over"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn replay_shows_then_applies_what_a_new_catalogue_changes() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    let since = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let mut p = minhu_e2e::distinct_petition("replay-1", 1);
    p.title = "公交车班次太少".into();
    p.body = "浦江县城的公交车班次太少，等车要一个小时，希望增加班次。".into();
    let receipt = app.submit(WEB_TOKEN, p).await.unwrap();
    let case_id = receipt.tracking_number.clone();
    let view = app.wait_for_case(&case_id).await;
    assert_eq!(view.route.unwrap().lead_unit_id, "pujiang-transport");

    let mut settings = app.settings.clone();
    settings.catalogue.version = "replay-2".into();
    settings.catalogue.rules = vec![minhu_route::RuleConfig {
        id: "county-all".into(),
        category: "*".into(),
        request_type: None,
        area_prefix: "330726".into(),
        lead: "pujiang-county".into(),
        assist: Vec::new(),
    }];
    let client = minhu_core::bus::connect(&server.url(), "replay-test")
        .await
        .unwrap();
    let bus = minhu_core::bus::Bus::provision(client, 1, Duration::from_secs(5))
        .await
        .unwrap();

    let mut out = Vec::new();
    let report = minhu::replay::replay(&settings, &bus, since, true, &mut out)
        .await
        .unwrap();
    let printed = String::from_utf8(out).unwrap();
    assert_eq!(report.to_string(), "cases=1 changed=1 applied=0 skipped=0");
    assert!(
        printed.contains(&format!(
            "{case_id} pujiang-transport -> pujiang-county rule county-all (pujiang-demo-2026.1 -> replay-2)"
        )),
        "{printed}"
    );
    // A dry run changes nothing.
    let view = app.wait_for_case(&case_id).await;
    assert_eq!(view.route.unwrap().lead_unit_id, "pujiang-transport");

    let mut out = Vec::new();
    let report = minhu::replay::replay(&settings, &bus, since, false, &mut out)
        .await
        .unwrap();
    assert_eq!(report.to_string(), "cases=1 changed=1 applied=1 skipped=0");
    let view = app.wait_for_case(&case_id).await;
    assert_eq!(view.status, CaseStatus::Dispatched as i32);
    assert_eq!(view.route.unwrap().lead_unit_id, "pujiang-county");
    let mut cases = app.cases().await;
    wait_listing(&mut cases, "demo-unit-county", &case_id, true).await;

    // Replayed again, nothing is left to change.
    let report = minhu::replay::replay(&settings, &bus, since, false, &mut Vec::new())
        .await
        .unwrap();
    assert_eq!(report.to_string(), "cases=1 changed=0 applied=0 skipped=0");
    app.stop().await.unwrap();
}
