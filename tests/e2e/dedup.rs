//! One matter, one case: near-duplicates from many people merge into one lead case, a growing
//! cluster raises a hotspot, a wrong merge is split out again, racing triage instances never
//! both create an original, and an instance started later knows every earlier matter.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use minhu::Role;
use minhu_contracts::v1::{CaseStatus, HotspotsRequest, SplitRequest};
use minhu_e2e::{
    HOTLINE_TOKEN, NatsServer, TestApp, WEB_TOKEN, authorized, petition, retold, spawn_app_with,
};
use tonic::Code;

async fn wait_for_status(app: &TestApp, case_id: &str, wanted: CaseStatus) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let view = app.wait_for_case(case_id).await;
        if view.status == wanted as i32 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{case_id} never became {wanted:?}: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_growing_cluster_raises_a_hotspot_and_a_wrong_merge_is_split_out() {
    let server = NatsServer::start();
    let app = spawn_app_with(&server.url(), &Role::ALL, |s| {
        s.dedup.hotspot_min_petitioners = 3;
    })
    .await;
    let lead = app.submit(WEB_TOKEN, petition("hs-lead")).await.unwrap();
    wait_for_status(&app, &lead.tracking_number, CaseStatus::Dispatched).await;
    let mut members = Vec::new();
    for (n, phone) in ["13900000011", "13900000012"].into_iter().enumerate() {
        let receipt = app
            .submit(HOTLINE_TOKEN, retold(&format!("hs-{n}"), phone))
            .await
            .unwrap();
        wait_for_status(&app, &receipt.tracking_number, CaseStatus::Merged).await;
        members.push(receipt);
    }
    let view = app.wait_for_case(&members[0].tracking_number).await;
    assert_eq!(view.cluster_lead, lead.tracking_number);
    let evidence = view.dedup.unwrap();
    assert_eq!(evidence.matched_case_id, lead.tracking_number);
    assert!(evidence.containment > 0.6, "{evidence:?}");
    // The member's petitioner is pointed to the case that carries the matter, and its unit.
    let tracked = app.track(&members[0]).await.unwrap();
    assert_eq!(tracked.status, CaseStatus::Merged as i32);
    assert_eq!(tracked.duplicate_of, lead.tracking_number);
    assert_eq!(tracked.original_status, CaseStatus::Dispatched as i32);
    assert_eq!(tracked.unit.unwrap().id, "pujiang-huangzhai");

    // Three people on one matter: the lead is a hotspot.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let lead_view = app.wait_for_case(&lead.tracking_number).await;
        if lead_view.hotspot_raised_at.is_some() {
            assert_eq!(lead_view.cluster_members.len(), 2);
            break;
        }
        assert!(Instant::now() < deadline, "no hotspot: {lead_view:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut ops = app.ops().await;
    let hotspots = |area: &str| HotspotsRequest {
        area_prefix: area.into(),
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let cluster = loop {
        let listed = ops
            .hotspots(authorized("demo-ops-token", hotspots("330726")))
            .await
            .unwrap()
            .into_inner()
            .clusters;
        if let Some(c) = listed.into_iter().find(|c| c.hotspot) {
            break c;
        }
        assert!(Instant::now() < deadline, "the hotspot is not listed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(cluster.lead_case_id, lead.tracking_number);
    assert_eq!(cluster.petitions_in_window, 3);
    assert_eq!(cluster.category, "城乡建设");
    let elsewhere = ops
        .hotspots(authorized("demo-ops-token", hotspots("330727")))
        .await
        .unwrap()
        .into_inner();
    assert!(elsewhere.clusters.is_empty());

    // The centre splits one member out: it is dispatched on its own.
    let mut cases = app.cases().await;
    let split = |token: &str| {
        authorized(
            token,
            SplitRequest {
                case_id: members[1].tracking_number.clone(),
                reason: "不是同一事项".into(),
            },
        )
    };
    assert_eq!(
        cases
            .split(split("demo-unit-huangzhai"))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    let out = cases
        .split(split("demo-centre-token"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.status, CaseStatus::Dispatched as i32);
    assert!(out.cluster_lead.is_empty());
    let lead_view = app.wait_for_case(&lead.tracking_number).await;
    let left: Vec<_> = lead_view
        .cluster_members
        .iter()
        .map(|m| m.case_id.clone())
        .collect();
    assert_eq!(left, vec![members[0].tracking_number.clone()]);
    let again = cases.split(split("demo-centre-token")).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn racing_triage_instances_never_both_create_an_original() {
    let server = NatsServer::start();
    let gateway = spawn_app_with(&server.url(), &[Role::Gateway], |_| {}).await;
    // Pairs of the same matter from different people, all waiting before any triage runs.
    let mut pairs = Vec::new();
    for n in 0..8 {
        let mut first = petition(&format!("race-a-{n}"));
        first.title = format!("违章搭建{n}号楼");
        first.body = format!("黄宅镇第{n}栋楼违章搭建：{}", distinct_body(n));
        let mut second = first.clone();
        second.channel_message_id = format!("race-b-{n}");
        second.petitioner.as_mut().unwrap().id_number = String::new();
        second.petitioner.as_mut().unwrap().phone = format!("1380000{n:04}");
        second.body = format!("您好！{}谢谢。", first.body);
        let a = gateway.submit(WEB_TOKEN, first).await.unwrap();
        let b = gateway.submit(HOTLINE_TOKEN, second).await.unwrap();
        pairs.push((a.tracking_number, b.tracking_number));
    }
    // Two triage instances start at once and share the work.
    let one = spawn_app_with(&server.url(), &[Role::Triage], |_| {}).await;
    let two = spawn_app_with(&server.url(), &[Role::Triage], |_| {}).await;
    let mut leads = HashMap::new();
    for (a, b) in &pairs {
        let va = gateway.wait_for_case(a).await;
        let vb = gateway.wait_for_case(b).await;
        let merged = [&va, &vb]
            .iter()
            .filter(|v| v.status == CaseStatus::Merged as i32)
            .count();
        assert_eq!(merged, 1, "exactly one of {a} and {b} carries the matter");
        let (lead, member) = if va.status == CaseStatus::Merged as i32 {
            (&vb, &va)
        } else {
            (&va, &vb)
        };
        assert_eq!(member.cluster_lead, lead.case_id);
        leads.insert(lead.case_id.clone(), member.case_id.clone());
    }
    assert_eq!(leads.len(), pairs.len());
    one.stop().await.unwrap();
    two.stop().await.unwrap();
    gateway.stop().await.unwrap();
}

/// Every triage instance reads the whole journal of decided petitions before it decides: one
/// started after a restart, with nothing in memory, still merges a retelling of a matter an
/// earlier instance decided, and does so across many unrelated petitions in between.
#[tokio::test]
async fn a_triage_instance_started_later_knows_every_earlier_matter() {
    let server = NatsServer::start();
    let gateway = spawn_app_with(&server.url(), &[Role::Gateway], |_| {}).await;
    let first = spawn_app_with(&server.url(), &[Role::Triage], |_| {}).await;
    let original = gateway
        .submit(WEB_TOKEN, petition("journal-original"))
        .await
        .unwrap();
    for n in 0..30 {
        let mut other = petition(&format!("journal-other-{n}"));
        other.title = format!("违章搭建{n}号楼");
        other.body = format!("黄宅镇第{n}栋楼违章搭建：{}", distinct_body(n));
        other.petitioner.as_mut().unwrap().phone = format!("1390000{n:04}");
        other.petitioner.as_mut().unwrap().id_number = String::new();
        let receipt = gateway.submit(WEB_TOKEN, other).await.unwrap();
        gateway.wait_for_case(&receipt.tracking_number).await;
    }
    gateway.wait_for_case(&original.tracking_number).await;
    first.stop().await.unwrap();

    let second = spawn_app_with(&server.url(), &[Role::Triage], |_| {}).await;
    let retelling = gateway
        .submit(HOTLINE_TOKEN, retold("journal-retold", "13912345678"))
        .await
        .unwrap();
    wait_for_status(&gateway, &retelling.tracking_number, CaseStatus::Merged).await;
    let view = gateway.wait_for_case(&retelling.tracking_number).await;
    assert_eq!(view.cluster_lead, original.tracking_number);
    // What the new instance holds shows in /metrics: the 31 earlier petitions and the retelling.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = gateway.metrics().await;
        if metrics.contains("minhu_dedup_journal_entries 32") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "journal size not shown:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.stop().await.unwrap();
    gateway.stop().await.unwrap();
}

/// A matter text of its own for pair `n`, long enough for the detector.
fn distinct_body(n: u64) -> String {
    let mut x = (n + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..60)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_u32(0x4E00 + (x % 0x51A0) as u32).unwrap()
        })
        .collect()
}
