//! Properties of [`Router::route`] over generated petitions, on the demo catalogue (浦江县) and
//! a small synthetic province (villages with shared and common names): any address, title,
//! body and code routes without a panic to a consistent decision; a well-formed division
//! code from the channel always decides the location, and nothing else is taken for one.

use std::collections::HashSet;
use std::sync::LazyLock;

use minhu_route::bench::{ProvinceShape, synthetic_province};
use minhu_route::{LocationSource, RequestType, RouteInput, RouteOutcome, Router, RouterConfig};
use proptest::prelude::*;

struct Catalogue {
    router: Router,
    units: HashSet<String>,
    categories: Vec<String>,
    /// Names to build texts from: areas, units, their aliases and the words around them.
    fragments: Vec<String>,
}

impl Catalogue {
    fn new(config: RouterConfig) -> Catalogue {
        let router = Router::new(&config).expect("valid configuration");
        let mut fragments: Vec<String> = [
            "镇",
            "乡",
            "村",
            "社区",
            "街道",
            "街道办事处",
            "居委会",
            "村委会",
            "县",
            "区",
            "市",
            "省",
            "自治县",
            "镇长",
            "书记",
            "政府",
            "局长",
            "派出所",
            "小区",
            "路",
            "号",
            "楼",
            "白马",
            "新华",
            "胜利",
            "中心",
            "东",
            "西",
            "南",
            "北",
            "的",
            "在",
            "和",
            "，",
            "。",
            "、",
            " ",
            "\n",
            "（",
            "）",
            "0",
            "12",
            "号楼",
            "\u{0301}",
            "\u{200b}",
            "🏠",
            "\u{0}",
        ]
        .map(str::to_owned)
        .into();
        for area in &config.areas {
            fragments.push(area.name.clone());
            // The bare name too: 黄宅 of 黄宅镇.
            let chars: Vec<char> = area.name.chars().collect();
            fragments.push(
                chars[..chars.len().saturating_sub(1).max(1)]
                    .iter()
                    .collect(),
            );
            fragments.extend(area.aliases.iter().cloned());
        }
        for unit in &config.units {
            fragments.push(unit.name.clone());
            fragments.extend(unit.aliases.iter().cloned());
        }
        let mut categories: Vec<String> = config
            .rules
            .iter()
            .map(|r| r.category.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        categories.sort();
        categories.extend(["".to_owned(), "未知类别".to_owned()]);
        Catalogue {
            router,
            units: config.units.iter().map(|u| u.id.clone()).collect(),
            categories,
            fragments,
        }
    }
}

static CATALOGUES: LazyLock<[Catalogue; 2]> = LazyLock::new(|| {
    let small = ProvinceShape {
        cities: 2,
        counties: 4,
        townships: 24,
        villages: 300,
        categories: 6,
        rules: 300,
        seed: 8,
    };
    [
        Catalogue::new(RouterConfig::demo()),
        Catalogue::new(synthetic_province(&small)),
    ]
});

/// A text made of names, parts of names and filler, or anything at all.
fn text() -> impl Strategy<Value = Vec<Piece>> {
    prop::collection::vec(
        prop_oneof![
            4 => any::<prop::sample::Index>().prop_map(Piece::Fragment),
            1 => any::<String>().prop_map(Piece::Raw),
        ],
        0..12,
    )
}

#[derive(Debug, Clone)]
enum Piece {
    Fragment(prop::sample::Index),
    Raw(String),
}

fn render(pieces: &[Piece], catalogue: &Catalogue) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Fragment(i) => i.get(&catalogue.fragments).as_str(),
            Piece::Raw(s) => s.as_str(),
        })
        .collect()
}

/// Division codes well formed or nearly: levels of 2, 2, 2, 3 and 3 digits, zero groups.
fn code_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{0,14}",
        "[0-3]{2}([0-2]{2}([0-2]{2}([0-1]{3}([0-1]{3})?)?)?)?",
        "33(07(26(10[0-9]|000)?)?)?0{0,6}",
        "\\PC{0,14}",
    ]
}

/// A well-formed code: the significant levels non-zero, then zero groups to a valid length.
/// Returns the code as sent and its standard form (significant digits, padded to 6).
fn well_formed_code() -> impl Strategy<Value = (String, String)> {
    const GROUPS: [usize; 5] = [2, 2, 2, 3, 3];
    (
        1..=5usize,
        0..=5usize,
        prop::collection::vec(any::<u16>(), 5),
    )
        .prop_map(|(significant, extra, seeds)| {
            let mut code = String::new();
            for (width, seed) in GROUPS.iter().zip(&seeds).take(significant) {
                let modulus = 10u32.pow(*width as u32);
                // 1..modulus: never an all-zero group.
                let value = 1 + u32::from(*seed) % (modulus - 1);
                code.push_str(&format!("{value:0width$}"));
            }
            let standard = format!("{code:0<6}");
            let total = (significant + extra).min(5);
            for width in &GROUPS[significant..total] {
                code.push_str(&"0".repeat(*width));
            }
            (code, standard)
        })
}

/// The rule for a division code, written out again as the test's own oracle: 2, 4, 6, 9 or
/// 12 digits, not all zero, no non-zero level below a zero one.
fn is_well_formed(code: &str) -> bool {
    const ENDS: [usize; 5] = [2, 4, 6, 9, 12];
    if !ENDS.contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let mut seen_zero_group = false;
    let mut start = 0;
    for end in ENDS.into_iter().filter(|&end| end <= code.len()) {
        let zero = code[start..end].bytes().all(|b| b == b'0');
        if zero {
            seen_zero_group = true;
        } else if seen_zero_group {
            return false;
        }
        start = end;
    }
    !code[..2].bytes().all(|b| b == b'0')
}

#[derive(Debug, Clone)]
struct Petition {
    catalogue: usize,
    category: prop::sample::Index,
    request_type: Option<prop::sample::Index>,
    address: Vec<Piece>,
    title: Vec<Piece>,
    body: Vec<Piece>,
    is_accusation: bool,
    reporter_consents: bool,
}

fn petition() -> impl Strategy<Value = Petition> {
    (
        0..2usize,
        any::<prop::sample::Index>(),
        proptest::option::of(any::<prop::sample::Index>()),
        (text(), text(), text()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(catalogue, category, request_type, (address, title, body), accusation, consents)| {
                Petition {
                    catalogue,
                    category,
                    request_type,
                    address,
                    title,
                    body,
                    is_accusation: accusation,
                    reporter_consents: consents,
                }
            },
        )
}

/// Routes `p` with `code`, checking what holds for every decision.
fn route(p: &Petition, code: &str) -> Result<RouteOutcome, TestCaseError> {
    let catalogue = &CATALOGUES[p.catalogue];
    let (address, title, body) = (
        render(&p.address, catalogue),
        render(&p.title, catalogue),
        render(&p.body, catalogue),
    );
    let input = RouteInput {
        category: p.category.get(&catalogue.categories).as_str(),
        request_type: p.request_type.map(|i| *i.get(&RequestType::ALL)),
        division_code: code,
        address: &address,
        title: &title,
        body: &body,
        is_accusation: p.is_accusation,
        reporter_consents: p.reporter_consents,
    };
    let outcome = catalogue.router.route(&input);
    prop_assert_eq!(
        outcome.catalogue_version(),
        catalogue.router.catalogue_version()
    );
    if let Some(location) = outcome.location() {
        let code = &location.division_code;
        prop_assert!(
            matches!(code.len(), 6 | 9 | 12) && code.bytes().all(|b| b.is_ascii_digit()),
            "location code {code:?}"
        );
    }
    prop_assert_eq!(outcome.guard().is_some(), p.is_accusation);
    if let RouteOutcome::Dispatch(d) = &outcome {
        prop_assert!(catalogue.units.contains(&d.lead), "lead {}", d.lead);
        for unit in &d.assisting {
            prop_assert!(catalogue.units.contains(unit), "assisting {unit}");
        }
        if let Some(guard) = &d.guard {
            // The accused never handle the accusation.
            prop_assert!(!guard.accused.contains(&d.lead));
            prop_assert!(!guard.accused.iter().any(|a| d.assisting.contains(a)));
        }
    }
    Ok(outcome)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_petition_routes_to_a_consistent_decision(p in petition(), code in code_like()) {
        let outcome = route(&p, &code)?;
        let from_channel = outcome
            .location()
            .is_some_and(|l| l.source == LocationSource::ChannelCode);
        prop_assert_eq!(from_channel, is_well_formed(&code), "code {:?}", code);
    }

    #[test]
    fn a_well_formed_channel_code_decides_the_location(
        p in petition(),
        (code, standard) in well_formed_code(),
    ) {
        prop_assert!(is_well_formed(&code), "generator and oracle disagree on {}", code);
        let outcome = route(&p, &code)?;
        let location = outcome.location().expect("a location");
        prop_assert_eq!(location.source, LocationSource::ChannelCode);
        prop_assert_eq!(&location.division_code, &standard);
    }
}
