//! The dispatch catalogue (派单目录): which unit leads a case, by category and area. The most
//! local rule wins (属地管理), and every decision names its rule and catalogue version, so it can
//! be explained and replayed. A case no rule covers is never dropped: the area's government
//! takes it.

use std::collections::HashMap;

use minhu_contracts::v1::{LocationSource, RouteDecision};
use minhu_core::config::{CatalogueSettings, RuleSettings};

/// The rule id of a decision no catalogue rule made.
const FALLBACK_RULE: &str = "fallback";
const ANY_CATEGORY: &str = "*";

#[derive(Debug, Clone)]
pub struct Catalogue {
    version: String,
    fallback_unit: String,
    unit_names: HashMap<String, String>,
    rules: Vec<RuleSettings>,
}

impl Catalogue {
    pub fn new(catalogue: &CatalogueSettings) -> Catalogue {
        Catalogue {
            version: catalogue.version.clone(),
            fallback_unit: catalogue.fallback_unit.clone(),
            unit_names: catalogue
                .units
                .iter()
                .map(|u| (u.id.clone(), u.name.clone()))
                .collect(),
            rules: catalogue.rules.clone(),
        }
    }

    pub fn route(
        &self,
        category: &str,
        division_code: &str,
        located_by: LocationSource,
    ) -> RouteDecision {
        let decision =
            |rule_id: &str, lead: &str, assist: &[String], fallback: bool| RouteDecision {
                lead_unit_id: lead.to_owned(),
                assisting_unit_ids: assist.to_vec(),
                catalogue_version: self.version.clone(),
                rule_id: rule_id.to_owned(),
                division_code: division_code.to_owned(),
                location_source: located_by.into(),
                fallback,
                lead_unit_name: self.unit_name(lead).unwrap_or_default().to_owned(),
            };
        match self.best_rule(category, division_code) {
            Some(rule) => decision(&rule.id, &rule.lead, &rule.assist, false),
            None => decision(FALLBACK_RULE, &self.fallback_unit, &[], true),
        }
    }

    /// The longest matching area prefix; then an exact category over "*"; then the earlier rule.
    /// An unclassified case matches no rule: no functional department should get it by default.
    fn best_rule(&self, category: &str, division_code: &str) -> Option<&RuleSettings> {
        if category.is_empty() {
            return None;
        }
        let mut best: Option<(&RuleSettings, (usize, bool))> = None;
        for rule in &self.rules {
            let exact = rule.category == category;
            if !(exact || rule.category == ANY_CATEGORY)
                || !division_code.starts_with(&rule.area_prefix)
            {
                continue;
            }
            let rank = (rule.area_prefix.len(), exact);
            if best.is_none_or(|(_, best_rank)| rank > best_rank) {
                best = Some((rule, rank));
            }
        }
        best.map(|(rule, _)| rule)
    }

    pub fn unit_name(&self, unit_id: &str) -> Option<&str> {
        self.unit_names.get(unit_id).map(String::as_str)
    }

    pub fn version(&self) -> &str {
        &self.version
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_core::config::Settings;

    use LocationSource::{AddressText, BodyText, ChannelCode, DefaultArea};

    fn rule(id: &str, category: &str, area_prefix: &str, lead: &str) -> RuleSettings {
        RuleSettings {
            id: id.into(),
            category: category.into(),
            area_prefix: area_prefix.into(),
            lead: lead.into(),
            assist: Vec::new(),
        }
    }

    #[test]
    fn routes_the_pujiang_catalogue() {
        let catalogue = Catalogue::new(&Settings::defaults().catalogue);
        let cases: [(&str, &str, &str, &str, &[&str]); 8] = [
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
            (
                "不存在的类别",
                "330726101",
                "fallback",
                "pujiang-county",
                &[],
            ),
            ("", "330726101", "fallback", "pujiang-county", &[]),
            ("城乡建设", "330727101", "fallback", "pujiang-county", &[]),
        ];
        for (category, code, rule_id, lead, assist) in cases {
            let decision = catalogue.route(category, code, AddressText);
            assert_eq!(decision.rule_id, rule_id, "{category:?} in {code}");
            assert_eq!(decision.lead_unit_id, lead, "{category:?} in {code}");
            assert_eq!(
                decision.assisting_unit_ids, assist,
                "{category:?} in {code}"
            );
            assert_eq!(
                decision.fallback,
                rule_id == "fallback",
                "{category:?} in {code}"
            );
            assert_eq!(decision.division_code, code);
            assert_eq!(decision.catalogue_version, "pujiang-demo-2026.1");
            assert_eq!(decision.location_source, AddressText as i32);
        }
    }

    #[test]
    fn the_decision_records_how_the_location_was_found() {
        let catalogue = Catalogue::new(&Settings::defaults().catalogue);
        for source in [ChannelCode, AddressText, BodyText, DefaultArea] {
            let decision = catalogue.route("城乡建设", "330726", source);
            assert_eq!(decision.location_source, source as i32);
            let decision = catalogue.route("", "330726", source);
            assert_eq!(decision.location_source, source as i32);
        }
    }

    #[test]
    fn ties_go_to_the_exact_category_then_the_earlier_rule() {
        let mut settings = Settings::defaults().catalogue;
        settings.rules = vec![
            rule("any-county", "*", "330726", "pujiang-county"),
            rule("any-baima", "*", "330726102", "pujiang-baima"),
            rule("housing-county", "城乡建设", "330726", "pujiang-housing"),
            rule("env-first", "环境保护", "330726", "pujiang-environment"),
            rule("env-second", "环境保护", "330726", "pujiang-health"),
            rule("any-dafan-first", "*", "330726200", "pujiang-dafan"),
            rule("any-dafan-second", "*", "330726200", "pujiang-county"),
        ];
        let catalogue = Catalogue::new(&settings);
        let cases = [
            // (category, division code, rule)
            ("城乡建设", "330726101", "housing-county"),
            ("城乡建设", "330726102", "any-baima"),
            ("交通运输", "330726101", "any-county"),
            ("环境保护", "330726", "env-first"),
            ("环境保护", "330726200", "any-dafan-first"),
            ("", "330726102", "fallback"),
        ];
        for (category, code, rule_id) in cases {
            let decision = catalogue.route(category, code, DefaultArea);
            assert_eq!(decision.rule_id, rule_id, "{category:?} in {code}");
        }
    }

    #[test]
    fn names_units_and_version() {
        let catalogue = Catalogue::new(&Settings::defaults().catalogue);
        assert_eq!(
            catalogue.unit_name("pujiang-huangzhai"),
            Some("黄宅镇人民政府")
        );
        assert_eq!(
            catalogue.unit_name("pujiang-county"),
            Some("浦江县人民政府")
        );
        assert_eq!(catalogue.unit_name("nowhere"), None);
        assert_eq!(catalogue.version(), "pujiang-demo-2026.1");
    }
}
