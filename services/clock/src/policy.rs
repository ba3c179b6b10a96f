//! SLA policies as configuration: which time limits a case runs against.
//!
//! A [`SlaConfig`] holds named profiles (信访 national, 浙江, 12345, ...) and the list of
//! profiles a deployment applies. Each profile holds policies; a policy is selected for a case
//! by its channel type, request type, category and urgency, and is a sequence of milestones
//! (签收, 首次联系, 受理告知, 答复, 办结, 复查, 复核, ...) each with its limit, warning share,
//! extension rule and escalation steps (督办).
//!
//! Selection: the most specific matching policy wins. A selector field left empty matches every
//! case; a constrained field outranks every less important one, in the order urgency, category,
//! request type, channel type. So an emergency outranks a utilities category, which outranks a
//! request type, whatever else is constrained: a threat to life or property must get the
//! shortest clock even when the request type alone would allow weeks. Two active policies that
//! constrain the same fields and could match the same case are refused when the configuration is
//! checked, so selection never has to guess.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The embedded default policies: 信访 national and 浙江 profiles and a 12345 profile.
pub const DEFAULT_POLICIES_TOML: &str = include_str!("policies.toml");

/// The SLA configuration: every known profile and the ones this deployment applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaConfig {
    /// The names of the profiles this deployment applies. Their policies are selected from
    /// together, so two active profiles must not both cover the same cases (e.g. the national
    /// and the 浙江 信访 profile).
    pub active: Vec<String>,
    /// Every profile this configuration defines, active or not.
    pub profiles: Vec<Profile>,
}

/// A named set of policies from one body of rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Unique name, referenced by [`SlaConfig::active`].
    pub name: String,
    /// What the profile is for and which rules it follows.
    pub description: String,
    /// The profile's policies.
    pub policies: Vec<Policy>,
}

/// The time limits of one kind of case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Unique across all profiles. A case records it, so its schedule can be explained and
    /// recomputed with the same rules when a pause or extension arrives.
    pub id: String,
    /// Which cases the policy is for.
    #[serde(default)]
    pub selector: Selector,
    /// The milestones, each at most once, in the order a case usually reaches them.
    pub milestones: Vec<MilestoneRule>,
}

/// The cases a policy is for. An empty list matches every case; a non-empty list matches a case
/// whose value is in it (a case without a value for that field does not match).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// 渠道类型: 信访 or the 12345 hotline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channel_types: Vec<ChannelType>,
    /// 诉求类型: 咨询, 求助, 投诉, 举报, 建议.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_types: Vec<RequestType>,
    /// Categories of the deployment's taxonomy, compared exactly (e.g. 水电气热).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// 紧急程度.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urgencies: Vec<Urgency>,
}

/// One milestone of a policy: its limit and what happens as it approaches and passes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MilestoneRule {
    /// Which milestone.
    pub milestone: Milestone,
    /// The event the limit is counted from.
    #[serde(default)]
    pub from: Anchor,
    /// The time limit (办理时限).
    pub limit: Limit,
    /// The share of the limit after which a warning (预警) is due, strictly between 0 and 1.
    #[serde(default = "default_warn_share")]
    pub warn_share: f64,
    /// Whether and how far the limit may be extended (延期); absent means no extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<ExtensionRule>,
    /// Escalation to supervising levels (督办) once the milestone is overdue, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalations: Vec<EscalationStep>,
    /// The rule the limit comes from (law and article), shown with the deadline.
    pub basis: String,
}

/// A length of time in one of the units the rules use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// How many units.
    pub value: u32,
    /// Hours, calendar days or working days.
    pub unit: Unit,
}

/// How a [`Limit`] is counted; see the crate documentation for the counting rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Continuous seconds from the instant of the event: for drills and tests of a
    /// deployment's clock, where a real limit would take days to run out.
    Seconds,
    /// Continuous minutes from the instant of the event (e.g. a call-back within 30 minutes).
    Minutes,
    /// Continuous hours from the instant of the event, nights and holidays included.
    Hours,
    /// 日: days counted from the day after the event, ending at 24:00 China time.
    CalendarDays,
    /// 工作日: working days of the holiday calendar, counted from the day after the event.
    WorkingDays,
}

/// How far a milestone's limit may be extended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionRule {
    /// The most all extensions together may add, in the unit of the milestone's limit.
    pub max_total: u32,
    /// How many extensions may be granted; absent means any number within `max_total`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u32>,
}

/// One step of escalation (督办) after a milestone is overdue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationStep {
    /// How long after the deadline the step is due (0 means at the deadline).
    pub after: Limit,
    /// The supervising level to escalate to: 1 is the level directly above the handling unit.
    pub level: u8,
}

/// The milestones a policy can time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Milestone {
    /// 签收: the handling unit signs for the case.
    SignFor,
    /// 首次联系: the unit first contacts the petitioner.
    FirstContact,
    /// 受理告知: the petitioner is told whether the matter is accepted (受理) and how it will be
    /// handled.
    AcceptanceNotice,
    /// 异议/退回: the window in which a unit may object that a transferred matter is not
    /// within its powers and send it back (退单).
    ObjectionWindow,
    /// 答复: the petitioner gets the answer (12345 反馈).
    Reply,
    /// 办结: the matter is handled and the written opinion (信访处理意见书) issued.
    Resolution,
    /// 复查: the next-higher organ reviews the handling opinion.
    Review,
    /// 复核: the organ above that re-reviews the 复查 opinion.
    ReReview,
}

impl Milestone {
    /// The name used in configuration and on the bus.
    pub fn name(self) -> &'static str {
        match self {
            Milestone::SignFor => "sign_for",
            Milestone::FirstContact => "first_contact",
            Milestone::AcceptanceNotice => "acceptance_notice",
            Milestone::ObjectionWindow => "objection_window",
            Milestone::Reply => "reply",
            Milestone::Resolution => "resolution",
            Milestone::Review => "review",
            Milestone::ReReview => "re_review",
        }
    }
}

impl fmt::Display for Milestone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A round of handling: the first, then the 复查 and the 复核 the petitioner may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    Handling,
    Review,
    ReReview,
}

impl Unit {
    /// `days` calendar days expressed in this unit: how an extension granted in days (信访工作条例
    /// Art. 34 grants days) adds to a limit. Working days take the same count: a unit granted
    /// ten days of more time gets ten of its own days, never fewer.
    pub fn of_days(self, days: u32) -> u32 {
        let per_day: u32 = match self {
            Unit::Seconds => 86_400,
            Unit::Minutes => 1_440,
            Unit::Hours => 24,
            Unit::CalendarDays | Unit::WorkingDays => 1,
        };
        days.saturating_mul(per_day)
    }
}

/// The event a milestone's limit is counted from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// 收到: minhu received the petition.
    #[default]
    Receipt,
    /// 受理: the handling organ accepted the matter (信访工作条例 Art. 34 counts from here).
    Acceptance,
    /// The petitioner's request for 复查 was received.
    ReviewRequest,
    /// The petitioner's request for 复核 was received.
    ReReviewRequest,
}

/// 渠道类型.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelType {
    /// 信访: letters, visits, online petitions (网上信访).
    Petition,
    /// The 12345 government service hotline and its online channels.
    Hotline,
}

/// 诉求类型, as in `minhu.v1.RequestType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestType {
    /// 咨询
    Consultation,
    /// 求助
    Help,
    /// 投诉
    Complaint,
    /// 举报
    Report,
    /// 建议
    Suggestion,
}

/// 紧急程度.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// 一般.
    Normal,
    /// 紧急: cannot wait without harm.
    Urgent,
    /// 特急: a threat to life or property, or serious consequences if not handled now.
    Emergency,
}

/// What policy selection looks at in a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseTraits<'a> {
    /// The channel type of the case's channel.
    pub channel_type: ChannelType,
    /// The request type, if known.
    pub request_type: Option<RequestType>,
    /// The category, if classified.
    pub category: Option<&'a str>,
    /// The urgency, if assessed.
    pub urgency: Option<Urgency>,
}

/// Why a policy configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("the SLA policies are not valid TOML of the expected shape: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("the SLA policies are invalid:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// Why no single policy could be selected for a case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("no active SLA policy matches {0}")]
    NoPolicy(String),
    #[error("SLA policies {0:?} match equally well; the configuration was not validated")]
    Ambiguous(Vec<String>),
}

fn default_warn_share() -> f64 {
    0.75
}

impl SlaConfig {
    /// The policies compiled into the crate ([`DEFAULT_POLICIES_TOML`]).
    pub fn embedded() -> SlaConfig {
        SlaConfig::from_toml(DEFAULT_POLICIES_TOML)
            .expect("the embedded policies are valid (tested)")
    }

    /// Reads and [validates](SlaConfig::validate) a policy file.
    pub fn from_toml(text: &str) -> Result<SlaConfig, PolicyError> {
        let config: SlaConfig = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks everything a parser cannot, reporting every problem at once. Call it on a
    /// configuration built any other way than [`SlaConfig::from_toml`] (e.g. as a section of a
    /// larger settings file).
    pub fn validate(&self) -> Result<(), PolicyError> {
        let mut problems = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        let mut ids: Vec<&str> = Vec::new();
        for profile in &self.profiles {
            if names.contains(&profile.name.as_str()) {
                problems.push(format!("profile {}: the name is used twice", profile.name));
            }
            names.push(&profile.name);
            for policy in &profile.policies {
                if ids.contains(&policy.id.as_str()) {
                    problems.push(format!("policy {}: the id is used twice", policy.id));
                }
                ids.push(&policy.id);
                check_policy(policy, &mut problems);
            }
        }
        for (i, name) in self.active.iter().enumerate() {
            if !names.contains(&name.as_str()) {
                problems.push(format!("active profile {name} is not defined"));
            }
            if self.active[..i].contains(name) {
                problems.push(format!("active profile {name} is listed twice"));
            }
        }
        let active: Vec<&Policy> = self.active_policies().collect();
        for (i, a) in active.iter().enumerate() {
            for b in &active[i + 1..] {
                if a.selector.rank() == b.selector.rank() && a.selector.overlaps(&b.selector) {
                    problems.push(format!(
                        "policies {} and {} are both active, constrain the same fields and can \
                         match the same case; make their selectors disjoint or one more specific",
                        a.id, b.id
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PolicyError::Invalid(problems))
        }
    }

    /// The most specific active policy matching `case`.
    pub fn select(&self, case: &CaseTraits<'_>) -> Result<&Policy, SelectError> {
        let mut best: Vec<&Policy> = Vec::new();
        for policy in self.active_policies().filter(|p| p.selector.matches(case)) {
            match best.first().map(|b| b.selector.rank()) {
                Some(rank) if rank > policy.selector.rank() => {}
                Some(rank) if rank == policy.selector.rank() => best.push(policy),
                _ => best = vec![policy],
            }
        }
        match best.as_slice() {
            [] => Err(SelectError::NoPolicy(format!("{case:?}"))),
            [one] => Ok(one),
            many => Err(SelectError::Ambiguous(
                many.iter().map(|p| p.id.clone()).collect(),
            )),
        }
    }

    /// The policy with this id, active or not: a case keeps the policy it was given even after
    /// the deployment switches profiles.
    pub fn policy(&self, id: &str) -> Option<&Policy> {
        self.profiles
            .iter()
            .flat_map(|p| &p.policies)
            .find(|p| p.id == id)
    }

    fn active_policies(&self) -> impl Iterator<Item = &Policy> {
        self.profiles
            .iter()
            .filter(|p| self.active.contains(&p.name))
            .flat_map(|p| &p.policies)
    }
}

impl Policy {
    /// The rule for `milestone`, if the policy times it.
    pub fn milestone(&self, milestone: Milestone) -> Option<&MilestoneRule> {
        self.milestones.iter().find(|m| m.milestone == milestone)
    }

    /// The milestone that ends a round of handling: its deadline is the one the handling unit
    /// works against (办结, or 答复 where the policy has no 办结), and an extension (延期)
    /// extends it.
    pub fn final_milestone(&self, round: Round) -> Option<&MilestoneRule> {
        let candidates: &[Milestone] = match round {
            Round::Handling => &[Milestone::Resolution, Milestone::Reply],
            Round::Review => &[Milestone::Review],
            Round::ReReview => &[Milestone::ReReview],
        };
        candidates.iter().find_map(|&m| self.milestone(m))
    }
}

impl Selector {
    /// Specificity as a bit set: each constrained field sets its bit, and the more important
    /// field has the higher bit, so comparing ranks compares the most important field first.
    fn rank(&self) -> u8 {
        u8::from(!self.urgencies.is_empty()) << 3
            | u8::from(!self.categories.is_empty()) << 2
            | u8::from(!self.request_types.is_empty()) << 1
            | u8::from(!self.channel_types.is_empty())
    }

    fn matches(&self, case: &CaseTraits<'_>) -> bool {
        fn field<T: PartialEq>(allowed: &[T], value: Option<T>) -> bool {
            allowed.is_empty() || value.is_some_and(|v| allowed.contains(&v))
        }
        field(&self.channel_types, Some(case.channel_type))
            && field(&self.request_types, case.request_type)
            && field(&self.urgencies, case.urgency)
            && (self.categories.is_empty()
                || case
                    .category
                    .is_some_and(|c| self.categories.iter().any(|s| s == c)))
    }

    /// Whether some case could match both selectors; only meaningful for equal ranks, where
    /// both constrain the same fields.
    fn overlaps(&self, other: &Selector) -> bool {
        fn field<T: PartialEq>(a: &[T], b: &[T]) -> bool {
            a.is_empty() || b.is_empty() || a.iter().any(|x| b.contains(x))
        }
        field(&self.channel_types, &other.channel_types)
            && field(&self.request_types, &other.request_types)
            && field(&self.categories, &other.categories)
            && field(&self.urgencies, &other.urgencies)
    }
}

fn check_policy(policy: &Policy, problems: &mut Vec<String>) {
    let id = &policy.id;
    if id.trim().is_empty() {
        problems.push("a policy has an empty id".to_owned());
    }
    if policy.milestones.is_empty() {
        problems.push(format!("policy {id}: it has no milestones"));
    }
    for (i, rule) in policy.milestones.iter().enumerate() {
        let m = rule.milestone;
        if policy.milestones[..i].iter().any(|r| r.milestone == m) {
            problems.push(format!("policy {id}: milestone {m} appears twice"));
        }
        if rule.limit.value == 0 {
            problems.push(format!("policy {id}, {m}: the limit must be at least 1"));
        }
        // The comparison is written so that NaN fails it too.
        if !(rule.warn_share > 0.0 && rule.warn_share < 1.0) {
            problems.push(format!(
                "policy {id}, {m}: warn_share {} must be strictly between 0 and 1",
                rule.warn_share
            ));
        }
        if rule.basis.trim().is_empty() {
            problems.push(format!(
                "policy {id}, {m}: the basis (source rule) must be given"
            ));
        }
        if let Some(extension) = rule.extension
            && (extension.max_total == 0 || extension.max_count == Some(0))
        {
            problems.push(format!(
                "policy {id}, {m}: an extension rule must allow something; omit it instead"
            ));
        }
        let mut last_level = 0;
        for step in &rule.escalations {
            if step.level <= last_level {
                problems.push(format!(
                    "policy {id}, {m}: escalation levels must start at 1 and rise ({} after {last_level})",
                    step.level
                ));
            }
            last_level = step.level;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traits(
        channel_type: ChannelType,
        request_type: Option<RequestType>,
        category: Option<&str>,
        urgency: Option<Urgency>,
    ) -> CaseTraits<'_> {
        CaseTraits {
            channel_type,
            request_type,
            category,
            urgency,
        }
    }

    #[test]
    fn the_most_specific_policy_wins() {
        use ChannelType::{Hotline, Petition};
        use RequestType::*;
        let config = SlaConfig::embedded();
        let cases = [
            (traits(Petition, None, None, None), "xinfang-zhejiang"),
            (
                traits(Petition, Some(Complaint), Some("城乡建设"), None),
                "xinfang-zhejiang",
            ),
            (traits(Hotline, None, None, None), "hotline-default"),
            (
                traits(Hotline, Some(Consultation), None, None),
                "hotline-consultation",
            ),
            (
                traits(Hotline, Some(Help), None, None),
                "hotline-help-suggestion",
            ),
            (
                traits(Hotline, Some(Suggestion), None, Some(Urgency::Normal)),
                "hotline-help-suggestion",
            ),
            (
                traits(Hotline, Some(Report), None, None),
                "hotline-complaint-report",
            ),
            // A category outranks the request type ...
            (
                traits(Hotline, Some(Complaint), Some("水电气热"), None),
                "hotline-utilities",
            ),
            // ... and urgency outranks both.
            (
                traits(
                    Hotline,
                    Some(Complaint),
                    Some("水电气热"),
                    Some(Urgency::Emergency),
                ),
                "hotline-emergency",
            ),
            (
                traits(Hotline, None, None, Some(Urgency::Urgent)),
                "hotline-default",
            ),
        ];
        for (case, id) in cases {
            assert_eq!(
                config.select(&case).map(|p| p.id.as_str()),
                Ok(id),
                "{case:?}"
            );
        }
    }

    #[test]
    fn each_round_ends_with_its_final_milestone() {
        let config = SlaConfig::embedded();
        let final_of = |policy: &str, round| {
            config
                .policy(policy)
                .unwrap()
                .final_milestone(round)
                .map(|r| r.milestone)
        };
        assert_eq!(
            final_of("xinfang-zhejiang", Round::Handling),
            Some(Milestone::Resolution)
        );
        assert_eq!(
            final_of("xinfang-zhejiang", Round::ReReview),
            Some(Milestone::ReReview)
        );
        assert_eq!(
            final_of("hotline-complaint-report", Round::Handling),
            Some(Milestone::Reply)
        );
        assert_eq!(final_of("hotline-complaint-report", Round::Review), None);
        assert_eq!(Unit::Hours.of_days(2), 48);
        assert_eq!(Unit::WorkingDays.of_days(10), 10);
        assert_eq!(Unit::Seconds.of_days(u32::MAX), u32::MAX);
    }

    #[test]
    fn switching_the_active_profile_switches_the_rules() {
        let mut config = SlaConfig::embedded();
        config.active = vec!["xinfang-national".into()];
        config.validate().unwrap();
        let case = traits(ChannelType::Petition, None, None, None);
        assert_eq!(config.select(&case).unwrap().id, "xinfang-national");
        assert!(matches!(
            config.select(&traits(ChannelType::Hotline, None, None, None)),
            Err(SelectError::NoPolicy(_))
        ));
        // Inactive policies stay reachable by id for cases that already carry them.
        assert!(config.policy("xinfang-zhejiang").is_some());
    }

    #[test]
    fn overlapping_active_profiles_are_refused() {
        let mut config = SlaConfig::embedded();
        config.active.push("xinfang-national".into());
        let Err(PolicyError::Invalid(problems)) = config.validate() else {
            panic!("national and Zhejiang 信访 profiles cover the same cases");
        };
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(
            problems[0]
                .starts_with("policies xinfang-national and xinfang-zhejiang are both active")
        );
    }

    #[test]
    fn every_embedded_milestone_cites_its_basis_and_counts_as_documented() {
        let config = SlaConfig::embedded();
        let limit =
            |policy: &str, m: Milestone| config.policy(policy).unwrap().milestone(m).unwrap().limit;
        let days = |value, unit| Limit { value, unit };
        use Milestone::*;
        use Unit::*;
        let table = [
            ("xinfang-national", AcceptanceNotice, days(15, CalendarDays)),
            ("xinfang-national", ObjectionWindow, days(5, WorkingDays)),
            ("xinfang-national", Resolution, days(60, CalendarDays)),
            ("xinfang-national", Review, days(30, CalendarDays)),
            ("xinfang-national", ReReview, days(30, CalendarDays)),
            ("xinfang-zhejiang", AcceptanceNotice, days(5, WorkingDays)),
            ("xinfang-zhejiang", Resolution, days(30, CalendarDays)),
            ("hotline-emergency", Reply, days(2, Hours)),
            ("hotline-utilities", Reply, days(24, Hours)),
            ("hotline-consultation", Reply, days(2, WorkingDays)),
            ("hotline-help-suggestion", Reply, days(10, WorkingDays)),
            ("hotline-complaint-report", Reply, days(15, WorkingDays)),
        ];
        for (policy, milestone, expected) in table {
            assert_eq!(limit(policy, milestone), expected, "{policy} {milestone}");
        }
        let extension = |policy: &str| {
            config
                .policy(policy)
                .unwrap()
                .milestone(Resolution)
                .unwrap()
                .extension
        };
        assert_eq!(
            extension("xinfang-national"),
            Some(ExtensionRule {
                max_total: 30,
                max_count: Some(1)
            })
        );
        assert_eq!(
            extension("xinfang-zhejiang"),
            Some(ExtensionRule {
                max_total: 60,
                max_count: None
            })
        );
        for policy in config.profiles.iter().flat_map(|p| &p.policies) {
            for rule in &policy.milestones {
                // Either the article is cited, or the basis says it could not be checked.
                let cites_article = rule.basis.contains('第') && rule.basis.contains('条');
                assert!(
                    rule.basis.starts_with('《')
                        && (cites_article || rule.basis.contains("条款号未核实")),
                    "{} {}: basis {:?} names no rule and article",
                    policy.id,
                    rule.milestone,
                    rule.basis
                );
            }
        }
    }

    #[test]
    fn the_configuration_survives_a_round_trip() {
        let config = SlaConfig::embedded();
        let text = toml::to_string(&config).unwrap();
        assert_eq!(SlaConfig::from_toml(&text).unwrap(), config);
    }

    #[test]
    fn every_problem_in_a_policy_file_is_reported_at_once() {
        let Err(PolicyError::Invalid(problems)) = SlaConfig::from_toml(
            r#"
            active = ["p", "missing", "p"]
            [[profiles]]
            name = "p"
            description = "test"
            [[profiles.policies]]
            id = "a"
            selector = { channel_types = ["hotline"] }
            [[profiles.policies.milestones]]
            milestone = "reply"
            limit = { value = 0, unit = "hours" }
            warn_share = 1.0
            basis = ""
            extension = { max_total = 0 }
            escalations = [{ after = { value = 1, unit = "hours" }, level = 2 }, { after = { value = 2, unit = "hours" }, level = 2 }]
            [[profiles.policies.milestones]]
            milestone = "reply"
            limit = { value = 1, unit = "hours" }
            basis = "x 第1条"
            [[profiles.policies]]
            id = "a"
            selector = { channel_types = ["hotline", "petition"] }
            milestones = []
            "#,
        ) else {
            panic!("the file must be refused");
        };
        let expected = [
            "policy a, reply: the limit must be at least 1",
            "policy a, reply: warn_share 1 must be strictly between 0 and 1",
            "policy a, reply: the basis (source rule) must be given",
            "policy a, reply: an extension rule must allow something; omit it instead",
            "policy a, reply: escalation levels must start at 1 and rise (2 after 2)",
            "policy a: milestone reply appears twice",
            "policy a: the id is used twice",
            "policy a: it has no milestones",
            "active profile missing is not defined",
            "active profile p is listed twice",
        ];
        for line in expected {
            assert!(
                problems.iter().any(|p| p == line),
                "missing {line:?} in {problems:#?}"
            );
        }
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("policies a and a are both active"))
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = r#"
            active = []
            [[profiles]]
            name = "p"
            description = "test"
            [[profiles.policies]]
            id = "a"
            [[profiles.policies.milestones]]
            milestone = "reply"
            limit = { value = 1, unit = "hours" }
            warning_share = 0.5
            basis = "x 第1条"
            "#;
        assert!(matches!(
            SlaConfig::from_toml(text),
            Err(PolicyError::Parse(_))
        ));
    }
}
