//! The accusation guard (检举控告保护). 信访工作条例 Art. 30: accusation material must never be
//! passed to the accused person or unit; 浙江省信访条例 Art. 26: nor the reporter's identity,
//! without their consent. An accusation that names a unit therefore never goes to that unit
//! nor to any unit it supervises (it could hand the material up or down its own line); it goes
//! to a discipline body (纪检监察) instead.
//!
//! A unit is named by its name or an alias, by an area followed by a post or organ
//! ("黄宅镇镇长", "黄宅镇政府" → that area's government), or by a generic organ of a level
//! ("镇政府", "村干部") → the government of the petition's location at that level. The guard
//! errs towards naming: a false accusation of a unit only moves the case to a discipline unit.

use crate::code::{Code, LEVEL_ENDS};
use crate::config::{Level, RouterConfig};
use crate::directory::Directory;
use crate::gazetteer::{Gazetteer, Mention};
use crate::hash::IntSet;
use crate::scan::{IndexBuilder, UnitEntry};

/// Words that, right after an area name, make it name the area's government or its people.
const POSTS: [&str; 38] = [
    "人民政府",
    "政府",
    "党委",
    "党工委",
    "街道办事处",
    "街道办",
    "办事处",
    "村委会",
    "居委会",
    "村委",
    "两委",
    "领导",
    "干部",
    "工作人员",
    "书记",
    "副书记",
    "党委书记",
    "党工委书记",
    "支书",
    "主任",
    "副主任",
    "镇长",
    "副镇长",
    "乡长",
    "副乡长",
    "县长",
    "副县长",
    "区长",
    "副区长",
    "市长",
    "副市长",
    "省长",
    "副省长",
    "村长",
    "所长",
    "站长",
    "管委会",
    "负责人",
];

/// Generic organs and posts of a level, resolved against the petition's location. Short posts
/// that are also parts of common words (市长 in 超市长期, 区长 in 社区长期) are left out.
const ORGANS: [(&str, Level); 43] = [
    ("省政府", Level::Province),
    ("省人民政府", Level::Province),
    ("省委", Level::Province),
    ("市政府", Level::City),
    ("市人民政府", Level::City),
    ("市委", Level::City),
    ("县政府", Level::County),
    ("县人民政府", Level::County),
    ("县委", Level::County),
    ("县领导", Level::County),
    ("县长", Level::County),
    ("区政府", Level::County),
    ("区人民政府", Level::County),
    ("区委", Level::County),
    ("镇政府", Level::Township),
    ("镇人民政府", Level::Township),
    ("乡政府", Level::Township),
    ("乡人民政府", Level::Township),
    ("街道办", Level::Township),
    ("街道办事处", Level::Township),
    ("街道党工委", Level::Township),
    ("镇党委", Level::Township),
    ("乡党委", Level::Township),
    ("镇长", Level::Township),
    ("乡长", Level::Township),
    ("镇干部", Level::Township),
    ("乡干部", Level::Township),
    ("镇领导", Level::Township),
    ("乡领导", Level::Township),
    ("村委会", Level::Village),
    ("村委", Level::Village),
    ("居委会", Level::Village),
    ("村两委", Level::Village),
    ("村干部", Level::Village),
    ("村支书", Level::Village),
    ("村书记", Level::Village),
    ("村主任", Level::Village),
    ("村长", Level::Village),
    ("社区干部", Level::Village),
    ("社区书记", Level::Village),
    ("社区主任", Level::Village),
    ("村官", Level::Village),
    ("村里干部", Level::Village),
];

/// Who takes a guarded accusation, in the order tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirect {
    /// The accused unit's own discipline unit (纪检监察).
    DisciplineUnit,
    /// The accused unit's supervising unit (上级主管单位).
    SupervisingUnit,
    /// The configured default discipline unit.
    DefaultDisciplineUnit,
}

/// One text's unit names: where each starts and what it names.
pub(crate) struct UnitHit<'r> {
    pub(crate) start: usize,
    pub(crate) entries: &'r [UnitEntry],
}

/// One scanned text, as the guard reads it.
pub(crate) struct Named<'a, 'r> {
    pub(crate) text: &'a str,
    pub(crate) mentions: &'a [Mention<'r>],
    /// The area each mention names, where decided.
    pub(crate) areas: &'a [Option<u32>],
    pub(crate) units: &'a [UnitHit<'r>],
}

#[derive(Debug, Clone)]
pub(crate) struct Guard {
    default_discipline: Option<u32>,
}

impl Guard {
    pub(crate) fn build(
        config: &RouterConfig,
        directory: &Directory,
        names: &mut IndexBuilder,
        problems: &mut Vec<String>,
    ) -> Guard {
        let default_discipline = directory.index_of(&config.default_discipline_unit);
        if default_discipline.is_none() {
            problems.push(format!(
                "default_discipline_unit {:?} is not a configured unit",
                config.default_discipline_unit
            ));
        }
        for (i, unit) in config.units.iter().enumerate() {
            // The directory reports names too short to search for.
            for name in std::iter::once(&unit.name)
                .chain(&unit.aliases)
                .filter(|n| n.chars().nth(1).is_some())
            {
                names.add_unit(name, UnitEntry::Unit(i as u32));
            }
        }
        for (word, level) in ORGANS {
            names.add_unit(word, UnitEntry::Organ(level));
        }
        Guard { default_discipline }
    }

    /// Whether the mention is followed by a post or organ word ("黄宅镇长", "黄宅镇党委书记").
    fn names_post(text: &str, mention: &Mention<'_>) -> bool {
        [mention.stem_end, mention.end].into_iter().any(|at| {
            let rest = &text[at..];
            // Every post starts with a three-byte character: compare that first, inline.
            rest.as_bytes().get(..3).is_some_and(|head| {
                POSTS
                    .iter()
                    .any(|post| post.as_bytes()[..3] == *head && rest.starts_with(post))
            })
        })
    }

    /// The units an accusation names, in the order first named.
    pub(crate) fn accused(
        &self,
        directory: &Directory,
        gazetteer: &Gazetteer,
        texts: &[Named<'_, '_>],
        location: Option<Code>,
    ) -> Vec<u32> {
        // (text, position, unit), sorted afterwards: names and posts are found apart.
        let mut found: Vec<(usize, usize, u32)> = Vec::new();
        for (t, named) in texts.iter().enumerate() {
            for (mention, area) in named.mentions.iter().zip(named.areas) {
                if !Self::names_post(named.text, mention) {
                    continue;
                }
                // An undecided mention names every area it may mean: protecting too many
                // units is safe, missing the accused is not.
                let areas: Vec<u32> = match area {
                    Some(area) => vec![*area],
                    None => gazetteer.candidates(mention).collect(),
                };
                for area in areas {
                    if let Some(unit) = directory.government_of(gazetteer.code(area)) {
                        found.push((t, mention.start, unit));
                    }
                }
            }
            for hit in named.units {
                for entry in hit.entries {
                    match *entry {
                        UnitEntry::Unit(unit) => found.push((t, hit.start, unit)),
                        UnitEntry::Organ(level) => {
                            // "黄宅镇政府" is the area's post, read above; "镇政府" alone is the
                            // location's.
                            let before = named.mentions.partition_point(|m| m.start < hit.start);
                            let after_area =
                                before > 0 && hit.start <= named.mentions[before - 1].end;
                            let len = LEVEL_ENDS[level as usize];
                            if let Some(location) = location.filter(|l| l.len() >= len)
                                && !after_area
                                && let Some(unit) = directory.government_of(location.truncate(len))
                            {
                                found.push((t, hit.start, unit));
                            }
                        }
                    }
                }
            }
        }
        found.sort_unstable();
        let mut seen = IntSet::default();
        found
            .into_iter()
            .filter_map(|(_, _, unit)| seen.insert(u64::from(unit)).then_some(unit))
            .collect()
    }

    /// Whether `unit` is accused or below an accused unit.
    fn excluded(directory: &Directory, accused: &[u32], unit: u32) -> bool {
        accused
            .iter()
            .any(|&a| a == unit || directory.is_below(unit, a))
    }

    /// Who takes an accusation against `accused`: for the most senior accused unit first, its
    /// discipline unit, then its supervising unit; then the default discipline unit. Never an
    /// excluded unit; none if every candidate is.
    pub(crate) fn handler(
        &self,
        directory: &Directory,
        accused: &[u32],
    ) -> Option<(u32, Redirect)> {
        let mut senior_first = accused.to_vec();
        senior_first.sort_by_key(|&unit| directory.get(unit).level);
        senior_first
            .iter()
            .flat_map(|&unit| {
                [
                    (directory.discipline_of(unit), Redirect::DisciplineUnit),
                    (directory.supervisor_of(unit), Redirect::SupervisingUnit),
                ]
            })
            .chain([(self.default_discipline, Redirect::DefaultDisciplineUnit)])
            .filter_map(|(unit, how)| Some((unit?, how)))
            .find(|&(unit, _)| !Self::excluded(directory, accused, unit))
    }
}
