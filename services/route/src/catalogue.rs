//! The dispatch catalogue (派单目录): which unit leads a case, by category, request type and
//! area. Rules are hashed by (category, area code), so a decision probes the location's code
//! and each enclosing one, exact category then `*` — at most ten look-ups, skipping levels
//! where the category has no rule, whatever the number of rules. See [`crate::RuleConfig`] for
//! the order in which rules win.

use std::collections::{HashMap, HashSet};

use crate::code::Code;
use crate::config::{RequestType, RouterConfig};
use crate::directory::{Directory, check_token};
use crate::hash::IntMap;
use crate::{ANY_CATEGORY, FALLBACK_RULE_ID, GUARD_RULE_ID};

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) id: String,
    pub(crate) lead: u32,
    pub(crate) assist: Vec<u32>,
}

/// The rules of one (category, area): at most one per request type, and one for any; the
/// earliest configured wins each slot.
#[derive(Debug, Clone, Default)]
struct Slot {
    typed: Vec<(RequestType, u32)>,
    any: Option<u32>,
}

/// Who the catalogue gives a located case to, before the accusation guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Natural {
    Rule(u32),
    /// No rule matched: the area's government (属地兜底).
    Government(u32),
    /// No rule matched and no government covers the area.
    Nobody,
}

#[derive(Debug, Clone)]
pub(crate) struct Catalogue {
    version: String,
    /// Category → its id; `*` is 0.
    categories: HashMap<String, u32>,
    /// By category id: a bit per level (`Level as u8`) at which the category has rules. Most
    /// (category, level) pairs have none; skipping them spares a cache miss each in a table
    /// of province size.
    levels: Vec<u8>,
    slots: IntMap<Slot>,
    rules: Vec<Rule>,
}

impl Catalogue {
    pub(crate) fn build(
        config: &RouterConfig,
        directory: &Directory,
        problems: &mut Vec<String>,
    ) -> Catalogue {
        let version = &config.version;
        if version.is_empty()
            || version.len() > 64
            || version.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            problems.push(format!(
                "version {version:?} must be 1 to 64 characters without spaces"
            ));
        }
        let mut catalogue = Catalogue {
            version: version.clone(),
            categories: HashMap::from([(ANY_CATEGORY.to_owned(), 0)]),
            levels: vec![0],
            slots: IntMap::default(),
            rules: Vec::with_capacity(config.rules.len()),
        };
        let mut ids = HashSet::new();
        for rule in &config.rules {
            let at = format!("rules[{}]", rule.id);
            let before = problems.len();
            check_token(&at, "id", &rule.id, problems);
            if [FALLBACK_RULE_ID, GUARD_RULE_ID].contains(&rule.id.as_str()) {
                problems.push(format!("{at}.id is reserved for decisions no rule made"));
            }
            if !ids.insert(rule.id.as_str()) {
                problems.push(format!("{at} is defined twice"));
            }
            if rule.category.trim().is_empty() {
                problems.push(format!("{at}.category is empty (use \"*\" for any)"));
            }
            let area = Code::parse(&rule.area_prefix);
            if area.is_none() {
                problems.push(format!(
                    "{at}.area_prefix {:?} is not a division code (2, 4, 6, 9 or 12 digits)",
                    rule.area_prefix
                ));
            }
            let unit = |role: &str, id: &str, problems: &mut Vec<String>| {
                let Some(unit) = directory.index_of(id) else {
                    problems.push(format!("{at}.{role} {id:?} is not a configured unit"));
                    return None;
                };
                let functions = &directory.get(unit).functions;
                if !functions
                    .iter()
                    .any(|f| f == &rule.category || f == ANY_CATEGORY)
                {
                    problems.push(format!(
                        "{at}.{role} {id:?} does not handle {:?} (its functions: {functions:?})",
                        rule.category
                    ));
                }
                Some(unit)
            };
            let lead = unit("lead", &rule.lead, problems);
            if let (Some(lead), Some(area)) = (lead, area)
                && let Some(served) = directory.code_of(lead)
                && !served.contains(area)
            {
                problems.push(format!(
                    "{at}.lead {:?} serves {}, which does not cover the rule's area {}",
                    rule.lead,
                    directory.get(lead).division_code,
                    rule.area_prefix
                ));
            }
            let mut assist = Vec::with_capacity(rule.assist.len());
            let mut named = HashSet::from([rule.lead.as_str()]);
            for id in &rule.assist {
                if !named.insert(id.as_str()) {
                    problems.push(format!("{at}.assist repeats {id:?}"));
                }
                assist.extend(unit("assist", id, problems));
            }
            let (Some(lead), Some(area)) = (lead, area) else {
                continue;
            };
            if problems.len() > before {
                continue;
            }
            let next = catalogue.categories.len() as u32;
            let category = *catalogue
                .categories
                .entry(rule.category.clone())
                .or_insert(next);
            if category == next {
                catalogue.levels.push(0);
            }
            catalogue.levels[category as usize] |= 1 << area.level() as u8;
            let index = catalogue.rules.len() as u32;
            catalogue.rules.push(Rule {
                id: rule.id.clone(),
                lead,
                assist,
            });
            let slot = catalogue.slots.entry(slot_key(category, area)).or_default();
            match rule.request_type {
                None => {
                    slot.any.get_or_insert(index);
                }
                Some(kind) if slot.typed.iter().all(|&(k, _)| k != kind) => {
                    slot.typed.push((kind, index));
                }
                Some(_) => {}
            }
        }
        catalogue
    }

    pub(crate) fn version(&self) -> &str {
        &self.version
    }

    pub(crate) fn rule(&self, rule: u32) -> &Rule {
        &self.rules[rule as usize]
    }

    /// The catalogue's answer for a case located at `location`.
    pub(crate) fn decide(
        &self,
        category: &str,
        request_type: Option<RequestType>,
        location: Code,
        directory: &Directory,
    ) -> Natural {
        if let Some(rule) = self.best_rule(category, request_type, location) {
            return Natural::Rule(rule);
        }
        match directory.government_covering(location) {
            Some(unit) => Natural::Government(unit),
            None => Natural::Nobody,
        }
    }

    fn best_rule(
        &self,
        category: &str,
        request_type: Option<RequestType>,
        location: Code,
    ) -> Option<u32> {
        // An unclassified case matches no rule, not even `*`: see `RuleConfig`.
        if category.is_empty() {
            return None;
        }
        let exact = self.categories.get(category).copied().filter(|&c| c != 0);
        location.self_and_ancestors().find_map(|area| {
            let level = 1 << area.level() as u8;
            exact.into_iter().chain([0]).find_map(|category| {
                if self.levels[category as usize] & level == 0 {
                    return None;
                }
                let slot = self.slots.get(&slot_key(category, area))?;
                request_type
                    .and_then(|kind| slot.typed.iter().find(|&&(k, _)| k == kind))
                    .map(|&(_, rule)| rule)
                    .or(slot.any)
            })
        })
    }
}

fn slot_key(category: u32, area: Code) -> u64 {
    // Area keys stay below 2^44 (12 digits < 2^40, and 3 bits of level).
    (u64::from(category) << 44) | area.key()
}
