//! The routing configuration: the unit directory (承办单位), the area names of the gazetteer and
//! the dispatch catalogue (派单目录). Plain serde data that the deployment's settings embed;
//! [`crate::Router::new`] checks it as a whole and reports every problem at once.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ConfigErrors;

/// The 浦江县 (330726) demo: 浙江省 → 金华市 → 浦江县 with its departments, 15 townships and
/// discipline units, and the county's catalogue.
pub const DEMO_TOML: &str = include_str!("demo.toml");

/// Everything routing needs. Every id it names is a unit of `units`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// 派单目录版本: recorded with every decision, so a decision can be explained and replayed
    /// against the catalogue that made it. Change it whenever rules or units change.
    pub version: String,
    /// 默认纪检监察单位: takes an accusation (检举控告) whose accused unit has neither its own
    /// discipline unit nor a supervising unit that may receive it.
    pub default_discipline_unit: String,
    /// The unit directory: every unit that can receive a case, with its place in the hierarchy.
    pub units: Vec<UnitConfig>,
    /// Area names for finding a petition's location in its address and text (地名库).
    #[serde(default)]
    pub areas: Vec<AreaConfig>,
    /// The catalogue's rules; see [`RuleConfig`] for which one wins.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

/// A unit (承办单位): a government, a department, a discipline commission, a village committee.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitConfig {
    /// Stable id, `[A-Za-z0-9_-]{1,64}`: it names the unit's dispatch subject, so it never
    /// changes once cases were sent to it.
    pub id: String,
    /// Official name, e.g. 浦江县住房和城乡建设局. An accusation that contains it names the unit.
    pub name: String,
    /// Other names people write (简称), e.g. 县住建局; they name the unit in accusations too.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// 层级: must agree with `division_code`.
    pub level: Level,
    /// 行政区划代码 of the area the unit serves: 2, 4, 6, 9 or 12 digits (330000 or 33 for
    /// 浙江省; trailing zero groups mean the level above).
    pub division_code: String,
    /// 属地政府: this unit is its area's own organ (人民政府, 街道办事处, and for a village the
    /// 村(居)民委员会 if it should take village matters). It takes the area's cases no rule
    /// covers, and "<area> + 镇长/书记/政府..." in an accusation names it.
    #[serde(default)]
    pub government: bool,
    /// 职能: the categories it handles, or `*` for all (a government). A rule may only make it
    /// lead or assist for a category it handles.
    #[serde(default)]
    pub functions: Vec<String>,
    /// 上级主管单位: the unit that supervises it (a township → its county government). None
    /// at the top.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor: Option<String>,
    /// 纪检监察单位: receives accusations against this unit (e.g. 浦江县纪委监委 for the county
    /// departments and townships).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discipline: Option<String>,
    /// How the unit receives its cases besides its dispatch subject.
    #[serde(default)]
    pub delivery: DeliveryConfig,
}

/// Delivery settings of a unit (data only here; the delivery role uses them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Webhook that receives the unit's case events (`https://`, or `http://` inside a trusted
    /// network). Needs `secret_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Name (not value) of the secret that signs webhook bodies, `[A-Za-z0-9_-]{1,64}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
}

/// An area of the gazetteer (地名库).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreaConfig {
    /// 行政区划代码: 2, 4, 6, 9 or 12 digits.
    pub code: String,
    /// Official name with its suffix, e.g. 黄宅镇, 仙华街道, 浦江县, at least 2 characters.
    /// Suffix variants (黄宅乡, 仙华街道办事处) and the bare name (黄宅) are recognised without
    /// listing them: the bare name when no sibling area shares it (for a village, only next to
    /// a name of its township or county).
    pub name: String,
    /// Further names matched exactly as written, e.g. a former name after 撤县设区.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The unit that is this area's government when no unit with this code is flagged
    /// `government` (e.g. a 管委会 governing a development zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub government: Option<String>,
}

/// A catalogue rule: matters of `category` (and `request_type`) arising in `area_prefix` go to
/// `lead`, with `assist` as 协办.
///
/// Which rule wins, in this order (the first difference decides):
/// 1. the longest `area_prefix` (属地: the most local rule), among the location's own code and
///    each enclosing one;
/// 2. an exact `category` over `*`;
/// 3. an exact `request_type` over none (any);
/// 4. the earlier rule in the configuration.
///
/// A case without a category (unclassified) matches no rule, not even `*`: no functional
/// department gets it by default; the area's government does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Stable id recorded with each decision, `[A-Za-z0-9_-]{1,64}`.
    pub id: String,
    /// A taxonomy label, or `*` for any category.
    pub category: String,
    /// 诉求类型 the rule is limited to; none for any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_type: Option<RequestType>,
    /// The area the rule covers: a division code of 2, 4, 6, 9 or 12 digits; it covers the
    /// area and everything inside it.
    pub area_prefix: String,
    /// 主办 lead unit: must serve an area that contains the rule's area.
    pub lead: String,
    /// 协办 assisting units.
    #[serde(default)]
    pub assist: Vec<String>,
}

/// 层级 of a unit or area, from the top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// 省级
    Province,
    /// 地市级
    City,
    /// 县级
    County,
    /// 乡级 (乡、镇、街道)
    Township,
    /// 村级 (村、社区)
    Village,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Province => "province",
            Level::City => "city",
            Level::County => "county",
            Level::Township => "township",
            Level::Village => "village",
        })
    }
}

/// 诉求类型 of a request, as channels and the classifier give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestType {
    /// 咨询
    Consultation,
    /// 求助
    Help,
    /// 投诉
    Complaint,
    /// 举报 (a report of wrongdoing; an accusation against officials is the separate
    /// [`crate::RouteInput::is_accusation`])
    Report,
    /// 建议
    Suggestion,
}

impl RequestType {
    /// Every request type, in the order of the contract's enum.
    pub const ALL: [RequestType; 5] = [
        RequestType::Consultation,
        RequestType::Help,
        RequestType::Complaint,
        RequestType::Report,
        RequestType::Suggestion,
    ];
}

impl RouterConfig {
    /// The embedded 浦江县 demo configuration.
    pub fn demo() -> RouterConfig {
        RouterConfig::from_toml(DEMO_TOML).expect("the embedded demo configuration parses")
    }

    /// Parses a configuration written as TOML at top level (as in [`DEMO_TOML`]).
    pub fn from_toml(text: &str) -> Result<RouterConfig, toml::de::Error> {
        toml::from_str(text)
    }

    /// Checks that every category named by a rule or a unit's functions is one of `labels`
    /// (the deployment's taxonomy), so that a typo cannot leave a rule unreachable.
    pub fn check_categories<'a>(
        &self,
        labels: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), ConfigErrors> {
        let labels: BTreeSet<&str> = labels.into_iter().collect();
        let known = |category: &str| category == crate::ANY_CATEGORY || labels.contains(category);
        let mut problems = Vec::new();
        for rule in &self.rules {
            if !known(&rule.category) {
                problems.push(format!(
                    "rules[{}].category {:?} is not a taxonomy label",
                    rule.id, rule.category
                ));
            }
        }
        for unit in &self.units {
            for function in unit.functions.iter().filter(|f| !known(f)) {
                problems.push(format!(
                    "units[{}].functions: {function:?} is not a taxonomy label",
                    unit.id
                ));
            }
        }
        ConfigErrors::check(problems)
    }
}
