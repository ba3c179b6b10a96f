//! The unit directory (承办单位名录): who exists, who supervises whom (分级负责), who receives
//! accusations against whom (纪检监察), and which unit is each area's government (属地).

use std::collections::{HashMap, HashSet};

use crate::code::Code;
use crate::config::{DeliveryConfig, RouterConfig, UnitConfig};
use crate::hash::IntMap;

/// The validated unit directory, indexed for lookups.
#[derive(Debug, Clone)]
pub struct Directory {
    units: Vec<UnitConfig>,
    index: HashMap<String, u32>,
    /// None only while building, for a code already reported as invalid.
    codes: Vec<Option<Code>>,
    supervisor: Vec<Option<u32>>,
    discipline: Vec<Option<u32>>,
    /// Area code key → its government unit.
    governments: IntMap<u32>,
}

impl Directory {
    /// The unit with this id.
    pub fn unit(&self, id: &str) -> Option<&UnitConfig> {
        self.index.get(id).map(|&i| &self.units[i as usize])
    }

    /// Every unit, in configuration order.
    pub fn units(&self) -> impl Iterator<Item = &UnitConfig> {
        self.units.iter()
    }

    /// The units above `id`, nearest first (its supervisor, that one's supervisor, ...). Empty
    /// for an unknown id or a unit at the top.
    pub fn supervising_chain(&self, id: &str) -> impl Iterator<Item = &UnitConfig> {
        let start = self
            .index
            .get(id)
            .and_then(|&i| self.supervisor[i as usize]);
        std::iter::successors(start, |&i| self.supervisor[i as usize])
            .map(|i| &self.units[i as usize])
    }

    /// Whether `supervisor` is above `unit`, directly or through other units. A unit is not
    /// supervised by itself; unknown ids are supervised by nobody.
    pub fn is_supervised_by(&self, unit: &str, supervisor: &str) -> bool {
        match (self.index.get(unit), self.index.get(supervisor)) {
            (Some(&unit), Some(&supervisor)) => self.is_below(unit, supervisor),
            _ => false,
        }
    }

    pub(crate) fn is_below(&self, unit: u32, above: u32) -> bool {
        std::iter::successors(self.supervisor[unit as usize], |&i| {
            self.supervisor[i as usize]
        })
        .any(|i| i == above)
    }

    pub(crate) fn index_of(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    pub(crate) fn id(&self, unit: u32) -> &str {
        &self.units[unit as usize].id
    }

    pub(crate) fn get(&self, unit: u32) -> &UnitConfig {
        &self.units[unit as usize]
    }

    pub(crate) fn supervisor_of(&self, unit: u32) -> Option<u32> {
        self.supervisor[unit as usize]
    }

    pub(crate) fn discipline_of(&self, unit: u32) -> Option<u32> {
        self.discipline[unit as usize]
    }

    /// The unit's area; none only for a code reported invalid.
    pub(crate) fn code_of(&self, unit: u32) -> Option<Code> {
        self.codes[unit as usize]
    }

    /// The government of exactly this area.
    pub(crate) fn government_of(&self, area: Code) -> Option<u32> {
        self.governments.get(&area.key()).copied()
    }

    /// The government of the most local area that has one and contains `code`.
    pub(crate) fn government_covering(&self, code: Code) -> Option<u32> {
        code.self_and_ancestors()
            .find_map(|area| self.government_of(area))
    }

    /// Builds the directory from `config`, adding a line to `problems` for each fault.
    pub(crate) fn build(config: &RouterConfig, problems: &mut Vec<String>) -> Directory {
        let mut index = HashMap::with_capacity(config.units.len());
        let mut codes = Vec::with_capacity(config.units.len());
        for (i, unit) in config.units.iter().enumerate() {
            let at = format!("units[{}]", unit.id);
            check_token(&at, "id", &unit.id, problems);
            // The first of two units with one id is the one every reference means.
            if index.contains_key(&unit.id) {
                problems.push(format!("{at} is defined twice"));
            } else {
                index.insert(unit.id.clone(), i as u32);
            }
            check_name(&at, "name", &unit.name, problems);
            for alias in &unit.aliases {
                check_name(&at, "aliases", alias, problems);
            }
            let code = Code::parse(&unit.division_code);
            match code {
                None => problems.push(format!(
                    "{at}.division_code {:?} is not a division code (2, 4, 6, 9 or 12 digits)",
                    unit.division_code
                )),
                Some(code) if code.level() != unit.level => problems.push(format!(
                    "{at}.level is {} but division_code {} is a {} code",
                    unit.level,
                    unit.division_code,
                    code.level()
                )),
                Some(_) => {}
            }
            codes.push(code);
            let mut functions = HashSet::new();
            for function in &unit.functions {
                if function.trim().is_empty() {
                    problems.push(format!("{at}.functions has an empty category"));
                } else if !functions.insert(function.as_str()) {
                    problems.push(format!("{at}.functions lists {function:?} twice"));
                }
            }
            check_delivery(&at, &unit.delivery, problems);
        }
        let first = |id: &str| index.get(id).copied();
        let mut supervisor = Vec::with_capacity(config.units.len());
        let mut discipline = Vec::with_capacity(config.units.len());
        for (i, unit) in config.units.iter().enumerate() {
            let at = format!("units[{}]", unit.id);
            let link = |field: &str, target: &Option<String>, problems: &mut Vec<String>| {
                let id = target.as_deref()?;
                let Some(target) = first(id) else {
                    problems.push(format!("{at}.{field} {id:?} is not a configured unit"));
                    return None;
                };
                if target as usize == i {
                    problems.push(format!("{at}.{field} is the unit itself"));
                    return None;
                }
                let other = &config.units[target as usize];
                if other.level > unit.level {
                    problems.push(format!(
                        "{at}.{field} {id:?} is at {} level, below the unit's {} level",
                        other.level, unit.level
                    ));
                }
                if let (Some(outer), Some(inner)) = (codes[target as usize], codes[i])
                    && !outer.contains(inner)
                {
                    problems.push(format!(
                        "{at}.{field} {id:?} serves {}, which does not contain the unit's area {}",
                        other.division_code, unit.division_code
                    ));
                }
                Some(target)
            };
            supervisor.push(link("supervisor", &unit.supervisor, problems));
            discipline.push(link("discipline", &unit.discipline, problems));
        }
        report_cycles(config, &supervisor, problems);

        let mut governments: IntMap<u32> = IntMap::default();
        for (i, unit) in config
            .units
            .iter()
            .enumerate()
            .filter(|(_, u)| u.government)
        {
            let Some(code) = codes[i] else { continue };
            if let Some(&other) = governments.get(&code.key()) {
                problems.push(format!(
                    "units[{}] and units[{}] are both flagged government of {}",
                    config.units[other as usize].id, unit.id, unit.division_code
                ));
            } else {
                governments.insert(code.key(), i as u32);
            }
        }
        for area in &config.areas {
            let Some(id) = &area.government else { continue };
            let at = format!("areas[{}].government", area.code);
            let Some(unit) = first(id) else {
                problems.push(format!("{at} {id:?} is not a configured unit"));
                continue;
            };
            let Some(code) = Code::parse(&area.code) else {
                // The gazetteer reports the bad code.
                continue;
            };
            if codes[unit as usize].is_some_and(|c| c != code) {
                problems.push(format!(
                    "{at} {id:?} serves {}, not this area",
                    config.units[unit as usize].division_code
                ));
            }
            match governments.insert(code.key(), unit) {
                Some(flagged) if flagged != unit => problems.push(format!(
                    "{at} is {id:?} but units[{}] is flagged government of this area",
                    config.units[flagged as usize].id
                )),
                _ => {}
            }
        }
        Directory {
            units: config.units.clone(),
            index,
            codes,
            supervisor,
            discipline,
            governments,
        }
    }
}

/// Reports each supervision cycle once, e.g. `a → b → a`; a directory with one is refused, so
/// walks up the hierarchy always end.
fn report_cycles(config: &RouterConfig, supervisor: &[Option<u32>], problems: &mut Vec<String>) {
    // 0: not visited, 1: on the current walk, 2: done.
    let mut state = vec![0u8; supervisor.len()];
    for start in 0..supervisor.len() {
        let mut walk = Vec::new();
        let mut at = Some(start as u32);
        while let Some(unit) = at {
            match state[unit as usize] {
                0 => {
                    state[unit as usize] = 1;
                    walk.push(unit);
                    at = supervisor[unit as usize];
                }
                1 => {
                    let from = walk.iter().position(|&u| u == unit).expect("on the walk");
                    let mut names: Vec<&str> = walk[from..]
                        .iter()
                        .map(|&u| config.units[u as usize].id.as_str())
                        .collect();
                    names.push(&config.units[unit as usize].id);
                    problems.push(format!(
                        "units {} form a supervision cycle",
                        names.join(" → ")
                    ));
                    break;
                }
                _ => break,
            }
        }
        for unit in walk {
            state[unit as usize] = 2;
        }
    }
}

/// A token safe in a NATS subject and a KV key.
pub(crate) fn check_token(at: &str, field: &str, value: &str, problems: &mut Vec<String>) {
    let valid = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        problems.push(format!(
            "{at}.{field} {value:?} must be 1 to 64 ASCII letters, digits, '-' or '_'"
        ));
    }
}

/// A name searched for in text: two characters at least (one would match everywhere), no
/// surrounding or control characters.
pub(crate) fn check_name(at: &str, field: &str, name: &str, problems: &mut Vec<String>) {
    if name.chars().count() < 2 || name.trim() != name || name.chars().any(char::is_control) {
        problems.push(format!(
            "{at}.{field} {name:?} must be at least 2 characters, without surrounding spaces or control characters"
        ));
    }
}

fn check_delivery(at: &str, delivery: &DeliveryConfig, problems: &mut Vec<String>) {
    match (&delivery.webhook_url, &delivery.secret_name) {
        (None, None) => {}
        (Some(url), Some(secret)) => {
            let scheme_ok = ["https://", "http://"]
                .iter()
                .any(|s| url.strip_prefix(s).is_some_and(|rest| !rest.is_empty()));
            if !scheme_ok || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                problems.push(format!(
                    "{at}.delivery.webhook_url {url:?} must be an http(s) URL"
                ));
            }
            check_token(&format!("{at}.delivery"), "secret_name", secret, problems);
        }
        _ => problems.push(format!(
            "{at}.delivery needs both webhook_url and secret_name, or neither (webhooks are signed)"
        )),
    }
}
