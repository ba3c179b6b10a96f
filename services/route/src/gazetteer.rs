//! The gazetteer (地名库): which area a petition's address or text names.
//!
//! Each area is indexed once, by its name without the level suffix (黄宅 for 黄宅镇); what
//! follows a match decides how well it names the area:
//! - its own suffix (黄宅镇, and 仙华街道办事处 for 仙华街道): exactly;
//! - another suffix of its level (黄宅乡, 浦江区 — writers mix them up, and areas are renamed):
//!   a variant, ranked below an area whose own name it is;
//! - nothing (黄宅): a bare name, accepted only when no sibling area shares it; a bare village
//!   name (新华, 胜利) is a common word too, so it counts only when an area around it (its
//!   township, county...) is named in the same text.
//!
//! A name several areas share (白马 in two counties) goes to the one inside an area found
//! elsewhere in the same text ("浦江县……白马" → 白马镇 of 330726); otherwise it is left out.
//! The location is the most local area found; between equally local ones, the first named.

use std::collections::{HashMap, HashSet};

use crate::code::Code;
use crate::config::{AreaConfig, Level};
use crate::directory::check_name;
use crate::hash::IntSet;
use crate::scan::IndexBuilder;

/// Level suffixes, longest first (the first a text starts with is the longest), each with its
/// group at each level (province, city, county, township, village): suffixes of one group
/// name the same kind of area (街道 = 街道办事处 = 街道办), another group of the same level is
/// a variant (黄宅乡 for 黄宅镇).
const SUFFIXES: [(&str, [Option<u8>; 5]); 26] = [
    ("社区居民委员会", village(1)),
    ("街道办事处", township(0)),
    ("村民委员会", village(0)),
    ("居民委员会", village(1)),
    ("社区居委会", village(1)),
    ("自治区", [Some(1), None, None, None, None]),
    ("自治州", [None, Some(2), None, None, None]),
    ("自治县", [None, None, Some(0), None, None]),
    ("自治旗", [None, None, Some(3), None, None]),
    ("街道办", township(0)),
    ("民族乡", township(2)),
    ("村委会", village(0)),
    ("居委会", village(1)),
    ("地区", [None, Some(1), None, None, None]),
    ("街道", township(0)),
    ("苏木", township(3)),
    ("社区", village(1)),
    ("嘎查", village(2)),
    ("镇", township(1)),
    ("乡", township(2)),
    ("村", village(0)),
    ("省", [Some(0), None, None, None, None]),
    // 直辖市, 地级市, 县级市.
    ("市", [Some(2), Some(0), Some(2), None, None]),
    ("盟", [None, Some(3), None, None, None]),
    ("县", [None, None, Some(0), None, None]),
    ("区", [None, None, Some(1), None, None]),
];

const fn township(group: u8) -> [Option<u8>; 5] {
    [None, None, None, Some(group), None]
}

const fn village(group: u8) -> [Option<u8>; 5] {
    [None, None, None, None, Some(group)]
}

/// The longest level suffix `text` starts with.
fn suffix_at(text: &str) -> Option<usize> {
    // Every suffix starts with a three-byte character: compare that first, inline.
    let head = text.as_bytes().get(..3)?;
    SUFFIXES
        .iter()
        .position(|(s, _)| s.as_bytes()[..3] == *head && text.starts_with(s))
}

/// How well a mention names an area; the better class wins among a name's areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Class {
    /// A bare village name: needs its township or county named too.
    WeakBare,
    Bare,
    Variant,
    Exact,
}

/// One way an index pattern names an area, with what judging a match needs, so that a
/// pattern shared by many areas (a common village name) is judged without leaving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AreaEntry {
    area: u32,
    /// The pattern is the name without its suffix (黄宅 of 黄宅镇): what follows decides how
    /// well it matches. Otherwise it is matched exactly as written (an alias, or a name too
    /// short to have a stem).
    stem: bool,
    /// Index of the area's level in a `SUFFIXES` row.
    level: u8,
    /// The group of the suffix of the area's official name; none when it has none.
    own_group: Option<u8>,
    /// How a bare mention counts; none when bare mentions do not count.
    bare: Option<Class>,
}

#[cfg(test)]
impl AreaEntry {
    /// An entry matched as written, for tests of the scanner.
    pub(crate) fn whole(area: u32) -> AreaEntry {
        AreaEntry {
            area,
            stem: false,
            level: 0,
            own_group: None,
            bare: None,
        }
    }
}

/// One place in a text where areas are named.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mention<'s> {
    pub(crate) start: usize,
    /// Where the matched name ends, before any suffix.
    pub(crate) stem_end: usize,
    /// Where the mention ends, suffix included.
    pub(crate) end: usize,
    /// The class of its best areas, its candidates.
    class: Class,
    /// The suffix after the name, as an index of `SUFFIXES`.
    suffix: Option<usize>,
    /// The entries of the name matched.
    entries: &'s [AreaEntry],
}

/// What a group of mentions says.
#[derive(Debug)]
pub(crate) struct Resolution {
    /// The most local area named.
    pub(crate) location: Option<u32>,
    /// For each mention, the area it names, if that could be decided.
    pub(crate) named: Vec<Option<u32>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Gazetteer {
    /// Each area's code, by the area numbers of the index entries.
    codes: Vec<Code>,
}

impl Gazetteer {
    pub(crate) fn build(
        configs: &[AreaConfig],
        names: &mut IndexBuilder,
        problems: &mut Vec<String>,
    ) -> Gazetteer {
        /// An area as read, before its bare name can be judged against its siblings'.
        struct Read<'c> {
            config: &'c AreaConfig,
            code: Code,
            own_group: Option<u8>,
            /// None when shorter than two characters: such an area (沙县) is found by its
            /// whole name only, as one character would match everywhere.
            stem: Option<&'c str>,
        }
        let mut read = Vec::with_capacity(configs.len());
        let mut seen = HashSet::new();
        for config in configs {
            let at = format!("areas[{}]", config.code);
            check_name(&at, "name", &config.name, problems);
            for alias in &config.aliases {
                check_name(&at, "aliases", alias, problems);
            }
            let Some(code) = Code::parse(&config.code) else {
                problems.push(format!(
                    "{at}.code is not a division code (2, 4, 6, 9 or 12 digits)"
                ));
                continue;
            };
            if !seen.insert(code) {
                problems.push(format!("{at} is defined twice"));
                continue;
            }
            // The official name's own suffix: the longest of its level that leaves a stem.
            let own = SUFFIXES.iter().find_map(|&(text, groups)| {
                let group = groups[code.level() as usize]?;
                let stem = config.name.strip_suffix(text)?;
                (!stem.is_empty()).then_some((stem, group))
            });
            let stem = own.map_or(config.name.as_str(), |(stem, _)| stem);
            read.push(Read {
                config,
                code,
                own_group: own.map(|(_, group)| group),
                stem: stem.chars().nth(1).is_some().then_some(stem),
            });
        }
        // A bare name is an abbreviation only where it is unambiguous among its siblings.
        let mut siblings: HashMap<(Option<Code>, &str), u32> = HashMap::new();
        for area in &read {
            if let Some(stem) = area.stem {
                *siblings.entry((area.code.parent(), stem)).or_default() += 1;
            }
        }
        for (i, area) in read.iter().enumerate() {
            let unique = area
                .stem
                .is_some_and(|stem| siblings[&(area.code.parent(), stem)] == 1);
            let bare = (unique && area.own_group.is_some()).then_some(
                if area.code.level() == Level::Village {
                    Class::WeakBare
                } else {
                    Class::Bare
                },
            );
            let entry = |stem| AreaEntry {
                area: i as u32,
                stem,
                level: area.code.level() as u8,
                own_group: area.own_group,
                bare,
            };
            // Names shorter than two characters are reported above; they are not searched for.
            let whole = Some(&area.config.name).filter(|n| n.chars().nth(1).is_some());
            match (area.stem, whole) {
                (Some(stem), _) => names.add_area(stem, entry(true)),
                (None, Some(name)) => names.add_area(name, entry(false)),
                (None, None) => {}
            }
            for alias in area
                .config
                .aliases
                .iter()
                .filter(|a| a.chars().nth(1).is_some())
            {
                names.add_area(alias, entry(false));
            }
        }
        Gazetteer {
            codes: read.iter().map(|area| area.code).collect(),
        }
    }

    pub(crate) fn code(&self, area: u32) -> Code {
        self.codes[area as usize]
    }

    /// The mention of the area name of `len` bytes and `entries` found at `start` of `text`;
    /// none when what follows makes it name none of its areas.
    pub(crate) fn mention<'s>(
        text: &str,
        start: usize,
        len: usize,
        entries: &'s [AreaEntry],
    ) -> Option<Mention<'s>> {
        let stem_end = start + len;
        let suffix = suffix_at(&text[stem_end..]);
        let (class, end) = entries
            .iter()
            .filter_map(|entry| Self::judge(entry, suffix))
            .max_by_key(|&(class, end)| (class, end))?;
        Some(Mention {
            start,
            stem_end,
            end: stem_end + end,
            class,
            suffix,
            entries,
        })
    }

    /// How well the entry's area is named when `suffix` follows, and how much of what
    /// follows the mention takes; none if it does not name the area at all.
    fn judge(entry: &AreaEntry, suffix: Option<usize>) -> Option<(Class, usize)> {
        let level_group = suffix.and_then(|i| {
            let (text, groups) = SUFFIXES[i];
            Some((text, groups[usize::from(entry.level)]?))
        });
        match (entry.stem, entry.own_group, level_group) {
            (false, _, _) | (true, None, _) => Some((Class::Exact, 0)),
            (true, Some(own), Some((text, group))) => {
                let class = if group == own {
                    Class::Exact
                } else {
                    Class::Variant
                };
                Some((class, text.len()))
            }
            (true, Some(_), None) => entry.bare.map(|class| (class, 0)),
        }
    }

    /// The areas a mention may name: those of its best class.
    pub(crate) fn candidates<'m>(
        &'m self,
        mention: &'m Mention<'_>,
    ) -> impl Iterator<Item = u32> + 'm {
        mention
            .entries
            .iter()
            .filter(move |entry| {
                Self::judge(entry, mention.suffix).is_some_and(|(class, _)| class == mention.class)
            })
            .map(|entry| entry.area)
    }

    /// The one area a mention names by itself, if it does.
    fn sole(&self, mention: &Mention<'_>) -> Option<u32> {
        if mention.class == Class::WeakBare {
            return None;
        }
        let mut candidates = self.candidates(mention);
        let first = candidates.next()?;
        // An area can appear twice (by its stem and by an alias).
        candidates.all(|area| area == first).then_some(first)
    }

    /// Decides which areas a group of mentions (one text, or title and body) names.
    pub(crate) fn resolve<'m, 's: 'm>(
        &self,
        mentions: impl IntoIterator<Item = &'m Mention<'s>>,
    ) -> Resolution {
        let mentions: Vec<&Mention<'_>> = mentions.into_iter().collect();
        let mut named: Vec<Option<u32>> = mentions.iter().map(|m| self.sole(m)).collect();
        let mut found: IntSet = named
            .iter()
            .flatten()
            .map(|&a| self.code(a).key())
            .collect();
        // A decided mention can decide another one level down (浦江县 → 白马 → a village of
        // 白马镇), so repeat while that happens: at most once per level.
        while !found.is_empty() {
            let decided: Vec<(usize, u32)> = mentions
                .iter()
                .enumerate()
                .filter(|&(i, _)| named[i].is_none())
                .filter_map(|(i, mention)| Some((i, self.inside_found(mention, &found)?)))
                .collect();
            if decided.is_empty() {
                break;
            }
            for (i, area) in decided {
                named[i] = Some(area);
                found.insert(self.code(area).key());
            }
        }
        let location = named
            .iter()
            .flatten()
            .copied()
            // The most local; `min_by_key` keeps the first of equals: the first named.
            .min_by_key(|&area| std::cmp::Reverse(self.code(area).len()));
        Resolution { location, named }
    }

    /// The one candidate inside the most local area already found, if exactly one is.
    fn inside_found(&self, mention: &Mention<'_>, found: &IntSet) -> Option<u32> {
        let mut best: Option<(usize, u32)> = None;
        let mut tied = false;
        for candidate in self.candidates(mention) {
            let Some(depth) = self
                .code(candidate)
                .self_and_ancestors()
                .skip(1)
                .find(|area| found.contains(&area.key()))
                .map(Code::len)
            else {
                continue;
            };
            match best {
                Some((d, _)) if d > depth => {}
                Some((d, area)) if d == depth => tied |= area != candidate,
                _ => {
                    best = Some((depth, candidate));
                    tied = false;
                }
            }
        }
        best.filter(|_| !tied).map(|(_, area)| area)
    }
}
