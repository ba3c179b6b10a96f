//! Behaviour of [`Router`] as the triage role sees it: the demo catalogue, rule specificity,
//! fallbacks, the centre queue, the gazetteer, the accusation guard and validation.

use crate::*;

use LocationSource::{AddressText, BodyText, ChannelCode};

const LABELS: [&str; 7] = [
    "城乡建设",
    "环境保护",
    "交通运输",
    "教育文体",
    "劳动和社会保障",
    "商贸旅游",
    "卫生计生",
];

fn demo() -> Router {
    Router::new(&RouterConfig::demo()).expect("the demo configuration is valid")
}

fn dispatch(outcome: &RouteOutcome) -> &Dispatch {
    match outcome {
        RouteOutcome::Dispatch(d) => d,
        other => panic!("expected a dispatch, got {other:?}"),
    }
}

fn at(code: &str) -> RouteInput<'_> {
    RouteInput {
        division_code: code,
        ..Default::default()
    }
}

fn rule(id: &str, category: &str, kind: Option<RequestType>, area: &str, lead: &str) -> RuleConfig {
    RuleConfig {
        id: id.into(),
        category: category.into(),
        request_type: kind,
        area_prefix: area.into(),
        lead: lead.into(),
        assist: Vec::new(),
    }
}

#[test]
fn the_demo_is_the_pujiang_catalogue() {
    let config = RouterConfig::demo();
    assert_eq!(
        (config.units.len(), config.areas.len(), config.rules.len()),
        (27, 16, 22)
    );
    config
        .check_categories(LABELS)
        .expect("demo categories are labels");
    let router = demo();
    assert_eq!(router.catalogue_version(), "pujiang-demo-2026.1");
    assert_eq!(
        router
            .directory()
            .unit("pujiang-huangzhai")
            .map(|u| u.name.as_str()),
        Some("黄宅镇人民政府")
    );
}

#[test]
fn routes_the_demo_catalogue() {
    let router = demo();
    let cases: [(&str, &str, &str, &str, &[&str]); 9] = [
        // (category, division code, rule, lead, assist)
        (
            "城乡建设",
            "330726101",
            "huangzhai-construction",
            "pujiang-huangzhai",
            &["pujiang-housing"],
        ),
        (
            "城乡建设",
            "330726101203",
            "huangzhai-construction",
            "pujiang-huangzhai",
            &["pujiang-housing"],
        ),
        (
            "城乡建设",
            "330726",
            "county-housing",
            "pujiang-housing",
            &[],
        ),
        (
            "环境保护",
            "330726101001",
            "county-environment",
            "pujiang-environment",
            &[],
        ),
        (
            "劳动和社会保障",
            "330726204",
            "county-hrss",
            "pujiang-hrss",
            &[],
        ),
        // No rule: the most local government (属地兜底), not the county by default.
        (
            "不存在的类别",
            "330726101",
            FALLBACK_RULE_ID,
            "pujiang-huangzhai",
            &[],
        ),
        ("", "330726101", FALLBACK_RULE_ID, "pujiang-huangzhai", &[]),
        ("", "330726", FALLBACK_RULE_ID, "pujiang-county", &[]),
        // Another county of 金华市: no rule, and the city is the most local government.
        ("城乡建设", "330727101", FALLBACK_RULE_ID, "jinhua", &[]),
    ];
    for (category, code, rule_id, lead, assist) in cases {
        let outcome = router.route(&RouteInput {
            category,
            ..at(code)
        });
        let d = dispatch(&outcome);
        let case = format!("{category:?} in {code}");
        assert_eq!(d.rule_id, rule_id, "{case}");
        assert_eq!(d.lead, lead, "{case}");
        assert_eq!(d.assisting, assist, "{case}");
        assert_eq!(d.fallback, rule_id == FALLBACK_RULE_ID, "{case}");
        assert_eq!(d.catalogue_version, "pujiang-demo-2026.1", "{case}");
        assert_eq!(d.guard, None, "{case}");
    }
}

#[test]
fn the_most_specific_rule_wins() {
    use RequestType::{Complaint, Help, Report};
    let mut config = RouterConfig::demo();
    config.rules = vec![
        rule("any-county", "*", None, "330726", "pujiang-county"),
        rule("any-baima", "*", None, "330726102", "pujiang-baima"),
        rule(
            "housing-county",
            "城乡建设",
            None,
            "330726",
            "pujiang-housing",
        ),
        rule(
            "housing-complaints",
            "城乡建设",
            Some(Complaint),
            "330726",
            "pujiang-county",
        ),
        rule(
            "env-first",
            "环境保护",
            None,
            "330726",
            "pujiang-environment",
        ),
        rule("env-second", "环境保护", None, "330726", "pujiang-county"),
        rule(
            "any-dafan-help",
            "*",
            Some(Help),
            "330726200",
            "pujiang-dafan",
        ),
        rule("any-dafan", "*", None, "330726200", "pujiang-dafan"),
        rule("health-city", "卫生计生", None, "330700", "jinhua"),
        rule("reports-city", "*", Some(Report), "3307", "jinhua"),
    ];
    let router = Router::new(&config).expect("valid");
    let cases = [
        // (category, request type, code, rule)
        // 1. The longest area prefix, even over an exact category.
        ("城乡建设", None, "330726102", "any-baima"),
        ("城乡建设", Some(Complaint), "330726102", "any-baima"),
        // 2. At the same prefix, an exact category over "*".
        ("城乡建设", None, "330726101", "housing-county"),
        ("交通运输", None, "330726101", "any-county"),
        ("卫生计生", None, "330726101", "any-county"),
        // 3. At the same prefix and category, an exact request type over any.
        (
            "城乡建设",
            Some(Complaint),
            "330726101",
            "housing-complaints",
        ),
        ("城乡建设", Some(Help), "330726101", "housing-county"),
        ("环境保护", Some(Help), "330726200", "any-dafan-help"),
        ("环境保护", None, "330726200", "any-dafan"),
        // 4. Then the earlier rule.
        ("环境保护", None, "330726", "env-first"),
        // Shorter prefixes when nothing more local matches; a typed rule needs that type.
        ("卫生计生", None, "330727", "health-city"),
        ("交通运输", Some(Report), "330727", "reports-city"),
        ("交通运输", None, "330727", FALLBACK_RULE_ID),
        // An unclassified case matches no rule, not even "*".
        ("", None, "330726102", FALLBACK_RULE_ID),
    ];
    for (category, request_type, code, rule_id) in cases {
        let outcome = router.route(&RouteInput {
            category,
            request_type,
            ..at(code)
        });
        assert_eq!(
            dispatch(&outcome).rule_id,
            rule_id,
            "{category:?} {request_type:?} in {code}"
        );
    }
}

#[test]
fn cases_no_unit_can_take_go_to_the_centre_queue() {
    let router = demo();
    let cases = [
        // (input, reason, location)
        (
            RouteInput {
                category: "城乡建设",
                title: "路灯坏了",
                body: "某小区3幢门口的路灯坏了，请尽快修理。",
                address: "某小区3幢",
                ..Default::default()
            },
            CentreReason::NoLocation,
            None,
        ),
        // Guangdong: found, but outside the directory.
        (
            RouteInput {
                category: "城乡建设",
                ..at("440106")
            },
            CentreReason::NoResponsibleUnit,
            Some("440106"),
        ),
    ];
    for (input, reason, code) in cases {
        match router.route(&input) {
            RouteOutcome::CentreQueue(c) => {
                assert_eq!(c.reason, reason, "{input:?}");
                assert_eq!(c.location.as_ref().map(|l| l.division_code.as_str()), code);
                assert_eq!(c.catalogue_version, "pujiang-demo-2026.1");
                assert_eq!(c.guard, None);
            }
            other => panic!("{input:?} went to {other:?}"),
        }
    }
}

#[test]
fn locates_by_the_most_reliable_source() {
    let router = demo();
    let cases = [
        // (channel code, address, title, body, code, source)
        (
            "330726104",
            "浦江县黄宅镇某村",
            "",
            "白马镇",
            Some(("330726104", ChannelCode)),
        ),
        ("330726104000", "", "", "", Some(("330726104", ChannelCode))),
        (
            "330726104001",
            "",
            "",
            "",
            Some(("330726104001", ChannelCode)),
        ),
        // A malformed code is ignored; the text is read instead.
        (
            "33072610",
            "浦江县黄宅镇某村",
            "",
            "",
            Some(("330726101", AddressText)),
        ),
        (
            "",
            "浦江县黄宅镇某村",
            "",
            "白马镇",
            Some(("330726101", AddressText)),
        ),
        (
            "",
            "浦江县城东路8号",
            "",
            "白马镇",
            Some(("330726", AddressText)),
        ),
        ("", "黄宅", "", "", Some(("330726101", AddressText))),
        (
            "",
            "杭州市西湖区",
            "",
            "我家在白马，村口路灯坏了",
            Some(("330726102", BodyText)),
        ),
        ("", "", "白马镇路灯不亮", "", Some(("330726102", BodyText))),
        ("", "某小区3幢", "路灯坏了", "请尽快修理。", None),
        ("", "", "", "", None),
    ];
    for (division_code, address, title, body, expected) in cases {
        let outcome = router.route(&RouteInput {
            category: "城乡建设",
            division_code,
            address,
            title,
            body,
            ..Default::default()
        });
        let found = outcome
            .location()
            .map(|l| (l.division_code.as_str(), l.source));
        assert_eq!(
            found, expected,
            "{division_code:?} / {address:?} / {title:?} / {body:?}"
        );
    }
}

/// A gazetteer with the hard cases: the same township name in two counties, two townships of
/// one county sharing a bare name, villages, a one-character stem, an alias.
const GAZETTEER: &str = r#"
version = "gazetteer-test"
default_discipline_unit = "discipline"

[[units]]
id = "zhejiang"
name = "浙江省人民政府"
level = "province"
division_code = "330000"
government = true
functions = ["*"]

[[units]]
id = "discipline"
name = "浙江省纪委监委"
level = "province"
division_code = "330000"

[[areas]]
code = "330726"
name = "浦江县"
[[areas]]
code = "330782"
name = "义乌市"
[[areas]]
code = "350427"
name = "沙县"
[[areas]]
code = "330726001"
name = "浦南街道"
aliases = ["浦南新区"]
[[areas]]
code = "330726101"
name = "黄宅镇"
[[areas]]
code = "330726102"
name = "白马镇"
[[areas]]
code = "330782102"
name = "白马镇"
[[areas]]
code = "330782104"
name = "大陈镇"
[[areas]]
code = "330782201"
name = "大陈乡"
[[areas]]
code = "330726105"
name = "岩头镇"
[[areas]]
code = "330726105001"
name = "岩头村"
[[areas]]
code = "330726101201"
name = "新华村"
"#;

#[test]
fn the_gazetteer_reads_variants_abbreviations_and_ambiguity() {
    let config = RouterConfig::from_toml(GAZETTEER).expect("parses");
    let router = Router::new(&config).expect("valid");
    let cases = [
        // (title, body, code)
        // Own suffix, another suffix of the level, and the bare name.
        ("", "黄宅镇", Some("330726101")),
        ("", "黄宅乡", Some("330726101")),
        ("", "黄宅街道办事处", Some("330726101")),
        ("", "黄宅", Some("330726101")),
        ("", "浦南街道办事处", Some("330726001")),
        ("", "浦江区", Some("330726")),
        ("", "浦江", Some("330726")),
        ("", "浦南新区", Some("330726001")),
        // The most local area; among equals the first named.
        ("", "浦江县黄宅镇", Some("330726101")),
        ("", "黄宅镇，浦江县", Some("330726101")),
        ("黄宅", "岩头", Some("330726101")),
        ("", "岩头和黄宅", Some("330726105")),
        // One name in two counties: decided by a county named anywhere in the text.
        ("", "白马", None),
        ("", "白马镇", None),
        ("", "浦江县的白马", Some("330726102")),
        ("义乌市", "白马镇", Some("330782102")),
        ("", "白马，义乌", Some("330782102")),
        // Two townships of one county share 大陈: the bare name is no abbreviation, but each
        // full name is exact, above the other's variant.
        ("", "大陈", None),
        ("", "大陈乡", Some("330782201")),
        ("", "大陈镇", Some("330782104")),
        // A bare village name counts only next to its township or county.
        ("", "新华", None),
        ("", "新华村", Some("330726101201")),
        ("", "黄宅新华", Some("330726101201")),
        ("浦江县", "新华", Some("330726101201")),
        // A village and a township sharing a stem: the suffix decides, bare is the township.
        ("", "岩头村", Some("330726105001")),
        ("", "岩头", Some("330726105")),
        // A one-character stem is found only with its suffix.
        ("", "沙县", Some("350427")),
        ("", "沙子", None),
        // No name is read across the join of title and body.
        ("岩头", "村里停水", Some("330726105")),
    ];
    for (title, body, code) in cases {
        let outcome = router.route(&RouteInput {
            title,
            body,
            ..Default::default()
        });
        assert_eq!(
            outcome.location().map(|l| l.division_code.as_str()),
            code,
            "{title:?} / {body:?}"
        );
        if code.is_some() {
            assert_eq!(outcome.location().map(|l| l.source), Some(BodyText));
        }
    }
}

struct GuardCase {
    name: &'static str,
    category: &'static str,
    address: &'static str,
    body: &'static str,
    /// The route without the accusation flag: the catalogue's natural target.
    natural: Option<&'static str>,
    accused: &'static [&'static str],
    lead: &'static str,
    redirect: Option<Redirect>,
}

#[test]
fn accusations_never_reach_the_accused_or_those_below_it() {
    let router = demo();
    let cases = [
        GuardCase {
            name: "the accused unit is the catalogue's natural target",
            category: "城乡建设",
            address: "浦江县黄宅镇",
            body: "举报黄宅镇政府违规审批违章建筑，包庇亲属。",
            natural: Some("pujiang-huangzhai"),
            accused: &["pujiang-huangzhai"],
            lead: "pujiang-discipline",
            redirect: Some(Redirect::DisciplineUnit),
        },
        GuardCase {
            name: "the accused unit supervises the natural target",
            category: "城乡建设",
            address: "黄宅镇",
            body: "举报浦江县县长违规干预土地审批。",
            natural: Some("pujiang-huangzhai"),
            accused: &["pujiang-county"],
            lead: "jinhua-discipline",
            redirect: Some(Redirect::DisciplineUnit),
        },
        GuardCase {
            name: "named by an alias, natural target of a county rule",
            category: "城乡建设",
            address: "浦江县",
            body: "举报县住建局局长收受开发商贿赂。",
            natural: Some("pujiang-housing"),
            accused: &["pujiang-housing"],
            lead: "pujiang-discipline",
            redirect: Some(Redirect::DisciplineUnit),
        },
        GuardCase {
            name: "a generic organ is the location's",
            category: "城乡建设",
            address: "浦江县白马镇",
            body: "举报镇政府工作人员吃拿卡要。",
            natural: Some("pujiang-baima"),
            accused: &["pujiang-baima"],
            lead: "pujiang-discipline",
            redirect: Some(Redirect::DisciplineUnit),
        },
        GuardCase {
            name: "an area's organ is that area's, not the location's",
            category: "城乡建设",
            address: "浦江县黄宅镇",
            body: "举报白马镇政府违规征地。",
            natural: Some("pujiang-huangzhai"),
            accused: &["pujiang-baima"],
            lead: "pujiang-discipline",
            redirect: Some(Redirect::DisciplineUnit),
        },
        GuardCase {
            name: "a post after a shortened name, natural target by fallback",
            category: "",
            address: "",
            body: "黄宅镇长挪用扶贫款。",
            natural: Some("pujiang-huangzhai"),
            accused: &["pujiang-huangzhai"],
            lead: "pujiang-discipline",
            redirect: Some(Redirect::DisciplineUnit),
        },
        GuardCase {
            name: "the discipline unit itself is accused",
            category: "",
            address: "浦江县",
            body: "举报县纪委干部收受红包。",
            natural: Some("pujiang-county"),
            accused: &["pujiang-discipline"],
            lead: "jinhua-discipline",
            redirect: Some(Redirect::DisciplineUnit),
        },
        GuardCase {
            name: "no discipline unit: the supervising unit",
            category: "城乡建设",
            address: "浦江县黄宅镇",
            body: "举报金华市政府有关领导插手工程招标。",
            natural: Some("pujiang-huangzhai"),
            accused: &["jinhua"],
            lead: "zhejiang",
            redirect: Some(Redirect::SupervisingUnit),
        },
        GuardCase {
            name: "a person named by a post alias",
            category: "城乡建设",
            address: "浦江县黄宅镇",
            body: "举报金华市长干预土地出让。",
            natural: Some("pujiang-huangzhai"),
            accused: &["jinhua"],
            lead: "zhejiang",
            redirect: Some(Redirect::SupervisingUnit),
        },
        GuardCase {
            name: "several accused: the most senior one's discipline unit",
            category: "城乡建设",
            address: "浦江县白马镇",
            body: "举报白马镇书记和浦江县住建局勾结。",
            natural: Some("pujiang-baima"),
            accused: &["pujiang-baima", "pujiang-housing"],
            lead: "pujiang-discipline",
            redirect: Some(Redirect::DisciplineUnit),
        },
        GuardCase {
            name: "no place named: the accused still decides",
            category: "城乡建设",
            address: "",
            body: "举报县住建局局长。",
            natural: None,
            accused: &["pujiang-housing"],
            lead: "pujiang-discipline",
            redirect: Some(Redirect::DisciplineUnit),
        },
        GuardCase {
            name: "no unit named: the catalogue's route",
            category: "环境保护",
            address: "浦江县黄宅镇",
            body: "举报某化工厂夜间偷排污水。",
            natural: Some("pujiang-environment"),
            accused: &[],
            lead: "pujiang-environment",
            redirect: None,
        },
    ];
    let directory = router.directory();
    for case in cases {
        let input = RouteInput {
            category: case.category,
            address: case.address,
            body: case.body,
            is_accusation: true,
            ..Default::default()
        };
        let plain = router.route(&RouteInput {
            is_accusation: false,
            ..input
        });
        let natural = match &plain {
            RouteOutcome::Dispatch(d) => Some(d.lead.as_str()),
            RouteOutcome::CentreQueue(_) => None,
        };
        assert_eq!(natural, case.natural, "{}: natural target", case.name);
        assert_eq!(
            plain.guard(),
            None,
            "{}: no guard without accusation",
            case.name
        );

        let outcome = router.route(&input);
        let d = dispatch(&outcome);
        let guard = d.guard.as_ref().expect("every accusation is recorded");
        assert_eq!(guard.accused, case.accused, "{}", case.name);
        assert_eq!(guard.guarded(), !case.accused.is_empty(), "{}", case.name);
        assert!(guard.identity_withheld, "{}", case.name);
        assert_eq!(guard.redirect, case.redirect, "{}", case.name);
        assert_eq!(d.lead, case.lead, "{}", case.name);
        if guard.guarded() {
            assert_eq!(d.rule_id, GUARD_RULE_ID, "{}", case.name);
            assert!(d.assisting.is_empty(), "{}", case.name);
        }
        // The rule itself: nobody accused, nobody below an accused unit.
        for unit in std::iter::once(&d.lead).chain(&d.assisting) {
            for accused in &guard.accused {
                assert_ne!(unit, accused, "{}", case.name);
                assert!(
                    !directory.is_supervised_by(unit, accused),
                    "{}: {unit} is under {accused}",
                    case.name
                );
            }
        }
    }
}

#[test]
fn the_reporter_identity_is_withheld_unless_they_consent() {
    let router = demo();
    for consents in [false, true] {
        let outcome = router.route(&RouteInput {
            category: "城乡建设",
            address: "黄宅镇",
            body: "举报黄宅镇镇长。",
            is_accusation: true,
            reporter_consents: consents,
            ..Default::default()
        });
        let guard = outcome.guard().expect("recorded");
        assert_eq!(guard.identity_withheld, !consents);
        assert!(guard.guarded());
    }
}

#[test]
fn unit_names_outside_accusations_change_nothing() {
    let router = demo();
    let outcome = router.route(&RouteInput {
        category: "城乡建设",
        address: "黄宅镇",
        body: "黄宅镇政府旁边的路灯坏了，住建局电话打不通。",
        ..Default::default()
    });
    let d = dispatch(&outcome);
    assert_eq!(
        (d.lead.as_str(), d.guard.as_ref()),
        ("pujiang-huangzhai", None)
    );
}

#[test]
fn an_accusation_no_unit_may_take_goes_to_the_centre() {
    // The default discipline unit sits under the accused county government, which has neither
    // a discipline nor a supervising unit.
    let mut config = RouterConfig::demo();
    for unit in &mut config.units {
        match unit.id.as_str() {
            "pujiang-county" => (unit.discipline, unit.supervisor) = (None, None),
            "pujiang-discipline" => {
                (unit.discipline, unit.supervisor) = (None, Some("pujiang-county".into()));
            }
            _ => {}
        }
    }
    let router = Router::new(&config).expect("valid");
    let outcome = router.route(&RouteInput {
        category: "城乡建设",
        address: "浦江县黄宅镇",
        body: "举报浦江县政府违规举债。",
        is_accusation: true,
        ..Default::default()
    });
    match outcome {
        RouteOutcome::CentreQueue(c) => {
            assert_eq!(c.reason, CentreReason::GuardExhausted);
            let guard = c.guard.expect("recorded");
            assert_eq!(guard.accused, ["pujiang-county"]);
            assert_eq!(guard.redirect, None);
            assert!(guard.identity_withheld);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_directory_knows_who_supervises_whom() {
    let router = demo();
    let directory = router.directory();
    let chain: Vec<&str> = directory
        .supervising_chain("pujiang-huangzhai")
        .map(|u| u.id.as_str())
        .collect();
    assert_eq!(chain, ["pujiang-county", "jinhua", "zhejiang"]);
    assert_eq!(directory.supervising_chain("zhejiang").count(), 0);
    assert_eq!(directory.supervising_chain("nobody").count(), 0);
    let cases = [
        // (unit, supervisor, supervised)
        ("pujiang-huangzhai", "pujiang-county", true),
        ("pujiang-huangzhai", "zhejiang", true),
        ("pujiang-environment", "jinhua", true),
        ("pujiang-environment", "pujiang-county", false),
        ("pujiang-county", "pujiang-huangzhai", false),
        ("pujiang-county", "pujiang-county", false),
        ("pujiang-discipline", "pujiang-county", false),
        ("nobody", "zhejiang", false),
    ];
    for (unit, supervisor, expected) in cases {
        assert_eq!(
            directory.is_supervised_by(unit, supervisor),
            expected,
            "{unit} under {supervisor}"
        );
    }
}

fn unit_mut<'c>(config: &'c mut RouterConfig, id: &str) -> &'c mut UnitConfig {
    config
        .units
        .iter_mut()
        .find(|u| u.id == id)
        .expect("a demo unit")
}

fn rule_mut<'c>(config: &'c mut RouterConfig, id: &str) -> &'c mut RuleConfig {
    config
        .rules
        .iter_mut()
        .find(|r| r.id == id)
        .expect("a demo rule")
}

fn yiwu() -> UnitConfig {
    UnitConfig {
        id: "yiwu".into(),
        name: "义乌市人民政府".into(),
        aliases: Vec::new(),
        level: Level::County,
        division_code: "330782".into(),
        government: true,
        functions: vec!["*".into()],
        supervisor: Some("jinhua".into()),
        discipline: None,
        delivery: DeliveryConfig::default(),
    }
}

type Mutation = fn(&mut RouterConfig);

/// (what is broken, the problem reported).
const BROKEN: [(Mutation, &str); 26] = [
    (
        |c| c.units.push(c.units[0].clone()),
        "units[zhejiang] is defined twice",
    ),
    (
        |c| {
            c.units.push(UnitConfig {
                id: "bad id!".into(),
                ..yiwu()
            })
        },
        "units[bad id!].id \"bad id!\" must be 1 to 64 ASCII letters",
    ),
    (
        |c| unit_mut(c, "pujiang-yantou").supervisor = Some("nowhere".into()),
        "units[pujiang-yantou].supervisor \"nowhere\" is not a configured unit",
    ),
    (
        |c| unit_mut(c, "pujiang-discipline").discipline = Some("pujiang-discipline".into()),
        "units[pujiang-discipline].discipline is the unit itself",
    ),
    (
        |c| unit_mut(c, "zhejiang").supervisor = Some("jinhua".into()),
        "units zhejiang → jinhua → zhejiang form a supervision cycle",
    ),
    (
        |c| unit_mut(c, "zhejiang").supervisor = Some("jinhua".into()),
        "units[zhejiang].supervisor \"jinhua\" is at city level, below the unit's province level",
    ),
    (
        |c| unit_mut(c, "pujiang-baima").level = Level::County,
        "units[pujiang-baima].level is county but division_code 330726102 is a township code",
    ),
    (
        |c| unit_mut(c, "pujiang-hangping").division_code = "33072610".into(),
        "units[pujiang-hangping].division_code \"33072610\" is not a division code",
    ),
    (
        |c| {
            c.units.push(yiwu());
            unit_mut(c, "pujiang-huangzhai").supervisor = Some("yiwu".into());
        },
        "units[pujiang-huangzhai].supervisor \"yiwu\" serves 330782, which does not contain the unit's area 330726101",
    ),
    (
        |c| {
            c.units.push(UnitConfig {
                id: "pujiang-2".into(),
                division_code: "330726".into(),
                ..yiwu()
            })
        },
        "units[pujiang-county] and units[pujiang-2] are both flagged government of 330726",
    ),
    (
        |c| c.areas[4].government = Some("pujiang-baima".into()),
        "areas[330726101].government \"pujiang-baima\" serves 330726102, not this area",
    ),
    (
        |c| unit_mut(c, "pujiang-huangzhai").functions = vec!["*".into(), "*".into()],
        "units[pujiang-huangzhai].functions lists \"*\" twice",
    ),
    (
        |c| {
            unit_mut(c, "pujiang-baima").delivery.webhook_url =
                Some("https://example.org/hook".into())
        },
        "units[pujiang-baima].delivery needs both webhook_url and secret_name",
    ),
    (
        |c| {
            let delivery = &mut unit_mut(c, "pujiang-huangzhai").delivery;
            delivery.webhook_url = Some("ftp://example.org/hook".into());
            delivery.secret_name = Some("hook-huangzhai".into());
        },
        "units[pujiang-huangzhai].delivery.webhook_url \"ftp://example.org/hook\" must be an http(s) URL",
    ),
    (
        |c| c.default_discipline_unit = "nobody".into(),
        "default_discipline_unit \"nobody\" is not a configured unit",
    ),
    (
        |c| rule_mut(c, "county-housing").lead = "nobody".into(),
        "rules[county-housing].lead \"nobody\" is not a configured unit",
    ),
    (
        |c| rule_mut(c, "county-housing").lead = "pujiang-health".into(),
        "rules[county-housing].lead \"pujiang-health\" does not handle \"城乡建设\"",
    ),
    (
        |c| rule_mut(c, "huangzhai-construction").lead = "pujiang-baima".into(),
        "rules[huangzhai-construction].lead \"pujiang-baima\" serves 330726102, which does not cover the rule's area 330726101",
    ),
    (
        |c| rule_mut(c, "county-housing").area_prefix = "3307261".into(),
        "rules[county-housing].area_prefix \"3307261\" is not a division code",
    ),
    (
        |c| c.rules.push(c.rules[0].clone()),
        "rules[county-housing] is defined twice",
    ),
    (
        |c| rule_mut(c, "county-housing").id = FALLBACK_RULE_ID.into(),
        "rules[fallback].id is reserved",
    ),
    (
        |c| {
            rule_mut(c, "huangzhai-construction")
                .assist
                .push("pujiang-housing".into())
        },
        "rules[huangzhai-construction].assist repeats \"pujiang-housing\"",
    ),
    (
        |c| c.areas[0].code = "3307260".into(),
        "areas[3307260].code is not a division code",
    ),
    (
        |c| c.areas.push(c.areas[1].clone()),
        "areas[330726001] is defined twice",
    ),
    (
        |c| c.areas[1].name = "浦".into(),
        "areas[330726001].name \"浦\" must be at least 2 characters",
    ),
    (
        |c| c.version = "demo 1".into(),
        "version \"demo 1\" must be 1 to 64 characters",
    ),
];

#[test]
fn validation_names_each_problem() {
    for (break_it, problem) in BROKEN {
        let mut config = RouterConfig::demo();
        break_it(&mut config);
        let errors = Router::new(&config).expect_err(problem);
        assert!(
            errors.problems.iter().any(|p| p.starts_with(problem)),
            "expected {problem:?} in {:#?}",
            errors.problems
        );
    }
}

#[test]
fn validation_reports_every_problem_at_once() {
    let mut config = RouterConfig::demo();
    for (break_it, _) in BROKEN {
        break_it(&mut config);
    }
    let errors = Router::new(&config).expect_err("broken");
    for (_, problem) in BROKEN {
        // Breaking the rule id first hides the later breaks of the same rule.
        if problem.starts_with("rules[county-housing]") {
            continue;
        }
        assert!(
            errors.problems.iter().any(|p| p.starts_with(problem)),
            "expected {problem:?} in {:#?}",
            errors.problems
        );
    }
    let shown = errors.to_string();
    assert!(shown.starts_with("routing configuration is invalid:\n  - "));
    assert_eq!(shown.lines().count(), errors.problems.len() + 1);
}

#[test]
fn categories_are_checked_against_the_taxonomy() {
    let mut config = RouterConfig::demo();
    rule_mut(&mut config, "county-health").category = "卫生健康".into();
    unit_mut(&mut config, "pujiang-health")
        .functions
        .push("卫生健康".into());
    let errors = config.check_categories(LABELS).expect_err("unknown label");
    assert_eq!(
        errors.problems,
        [
            "rules[county-health].category \"卫生健康\" is not a taxonomy label",
            "units[pujiang-health].functions: \"卫生健康\" is not a taxonomy label",
        ]
    );
}

#[test]
fn the_configuration_round_trips_through_toml() {
    let config = RouterConfig::demo();
    let text = toml::to_string(&config).expect("serializes");
    assert_eq!(RouterConfig::from_toml(&text).expect("parses"), config);
    let unknown = format!("{text}\nhome_division = \"330726\"\n");
    assert!(RouterConfig::from_toml(&unknown).is_err());
}

#[test]
fn a_router_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Router>();
}
