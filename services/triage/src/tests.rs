use std::sync::Arc;

use minhu_classify::{Example, TrainConfig, train};
use minhu_contracts::v1::{
    CentreReason, ChannelHints, Consent, Location, LocationSource, Petition, RequestType, Urgency,
    XinfangCategory,
};
use minhu_core::config::Settings;

use crate::Triage;

fn triage() -> Triage {
    Triage::new(&Settings::defaults()).unwrap()
}

fn petition(title: &str, body: &str, address: &str) -> Petition {
    Petition {
        title: title.into(),
        body: body.into(),
        location: Some(Location {
            address: address.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn a_township_construction_matter_goes_to_the_township_with_its_explanation() {
    let triaged = triage().assess(
        &petition(
            "小区违章搭建",
            "我们小区有业主在楼顶违章搭建阳光房，物业不管，请尽快处理。",
            "浦江县黄宅镇某小区",
        ),
        "web-portal",
        "",
    );
    let classification = triaged.classification.unwrap();
    let route = triaged.route.unwrap();
    assert_eq!(classification.category, "城乡建设");
    assert!(!classification.below_confidence_gate);
    assert_eq!(classification.decided_by, "model");
    assert!(classification.model_version.starts_with("linear-v1:"));
    assert_eq!(classification.scores.len(), 3);
    assert!(!classification.top_features.is_empty());
    assert_eq!(route.lead_unit_id, "pujiang-huangzhai");
    assert_eq!(route.lead_unit_name, "黄宅镇人民政府");
    assert_eq!(route.location_source, LocationSource::AddressText as i32);
    assert_eq!(route.division_code, "330726101");
    assert_eq!(route.catalogue_version, "pujiang-demo-2026.1");
    assert!(!route.rule_id.is_empty());
}

#[test]
fn an_accusation_never_reaches_the_accused_unit_even_when_it_is_the_natural_target() {
    let accusation = petition(
        "举报黄宅镇干部",
        "我实名举报黄宅镇人民政府工作人员在违章建筑拆除中收受贿赂，对违建不管不问。",
        "浦江县黄宅镇",
    );
    let triaged = triage().assess(&accusation, "web-portal", "");
    let classification = triaged.classification.unwrap();
    let route = triaged.route.unwrap();
    assert_eq!(
        classification.xinfang_category,
        XinfangCategory::Accusation as i32
    );
    assert_eq!(route.accused_unit_ids, ["pujiang-huangzhai"]);
    assert_ne!(route.lead_unit_id, "pujiang-huangzhai");
    assert_eq!(route.lead_unit_id, "pujiang-discipline");
    assert!(route.assisting_unit_ids.is_empty());
    assert!(route.identity_withheld);

    let consenting = Petition {
        consent: Some(Consent {
            keep_identity_confidential: false,
            disclose_identity_to_handler: true,
        }),
        ..accusation
    };
    let route = triage()
        .assess(&consenting, "web-portal", "")
        .route
        .unwrap();
    assert!(!route.identity_withheld);
}

#[test]
fn a_matter_in_litigation_waits_for_the_centre_with_its_proper_route() {
    let triaged = triage().assess(
        &petition(
            "房屋买卖合同纠纷",
            "我与开发商的房屋买卖合同纠纷已经向法院起诉，法院已经立案，现在案件正在审理中，请求督促开发商交房。",
            "浦江县黄宅镇",
        ),
        "web-portal",
        "",
    );
    let classification = triaged.classification.unwrap();
    let route = triaged.route.unwrap();
    assert_eq!(route.centre_reason, CentreReason::LegalPathway as i32);
    assert!(route.lead_unit_id.is_empty());
    let pathway = classification.pathway.unwrap();
    assert_eq!(pathway.kind, "litigation");
    assert!(!pathway.route.is_empty());
    assert!(!pathway.rule_id.is_empty());
}

#[test]
fn an_emergency_is_dispatched_very_urgent_with_its_hotline() {
    let triaged = triage().assess(
        &petition(
            "小区燃气泄漏",
            "我们小区楼道里燃气泄漏，味道很大，有老人晕倒，情况危急，请马上派人来。",
            "浦江县仙华街道",
        ),
        "hotline-12345",
        "",
    );
    let classification = triaged.classification.unwrap();
    assert_eq!(classification.urgency, Urgency::VeryUrgent as i32);
    assert!(!classification.rules_fired.is_empty());
    assert!(!triaged.route.unwrap().lead_unit_id.is_empty());
}

#[test]
fn below_the_confidence_gate_the_case_waits_unless_the_channel_chose_a_category() {
    let mut settings = Settings::defaults();
    // Every prediction is below a gate of 1.
    settings.classifier.min_confidence = 1.0;
    let triage = Triage::new(&settings).unwrap();
    let mut unsure = petition("请尽快处理", "事情拖了很久，请尽快处理。", "浦江县白马镇");
    let triaged = triage.assess(&unsure, "web-portal", "");
    let classification = triaged.classification.unwrap();
    let route = triaged.route.unwrap();
    assert!(classification.below_confidence_gate);
    assert_eq!(route.centre_reason, CentreReason::LowConfidence as i32);
    assert!(route.lead_unit_id.is_empty());
    assert_eq!(route.division_code, "330726102");

    unsure.hints = Some(ChannelHints {
        category: "卫生计生".into(),
        request_type: RequestType::Help as i32,
    });
    let triaged = triage.assess(&unsure, "web-portal", "");
    let classification = triaged.classification.unwrap();
    assert_eq!(classification.category, "卫生计生");
    assert_eq!(classification.decided_by, "channel");
    assert_eq!(classification.request_type, RequestType::Help as i32);
    assert!(!classification.below_confidence_gate);
    assert_eq!(triaged.route.unwrap().lead_unit_id, "pujiang-health");
}

#[test]
fn a_petition_naming_no_place_takes_the_channel_area_or_waits_for_the_centre() {
    let nowhere = petition(
        "公交车太少",
        "公交车班次太少，等车要一个小时，希望增加班次。",
        "",
    );
    let route = triage().assess(&nowhere, "web-portal", "").route.unwrap();
    assert_eq!(route.location_source, LocationSource::DefaultArea as i32);
    assert_eq!(route.division_code, "330726");
    assert_eq!(route.lead_unit_id, "pujiang-transport");

    let mut settings = Settings::defaults();
    settings.channels[0].division_code = None;
    let triage = Triage::new(&settings).unwrap();
    let route = triage.assess(&nowhere, "web-portal", "").route.unwrap();
    assert_eq!(route.centre_reason, CentreReason::NoLocation as i32);
    assert!(route.lead_unit_id.is_empty());

    // The area the channel registry gave the gateway (a channel created at run time) counts
    // as the channel's own.
    let route = triage
        .assess(&nowhere, "created-at-run-time", "330726")
        .route
        .unwrap();
    assert_eq!(route.location_source, LocationSource::DefaultArea as i32);
    assert_eq!(route.lead_unit_id, "pujiang-transport");
}

#[test]
fn a_new_model_must_know_every_catalogue_category() {
    let triage = triage();
    let examples: Vec<Example> = ["城乡建设", "交通运输"]
        .iter()
        .flat_map(|label| {
            (0..6).map(move |i| {
                Example::new(
                    format!("{label}问题{i}"),
                    format!("关于{label}的诉求{i}"),
                    *label,
                )
            })
        })
        .collect();
    let narrow = train(&examples, &TrainConfig::default()).unwrap();
    let err = triage.swap_model(Arc::new(narrow)).unwrap_err().to_string();
    assert!(err.contains("环境保护"), "{err}");
    let before = triage.model().version().to_owned();
    assert_eq!(triage.model().version(), before);

    let full = minhu_classify::default_model().clone();
    triage.swap_model(Arc::new(full)).unwrap();
}
