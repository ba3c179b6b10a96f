//! [`Router`]: where the matter arose, who the catalogue gives it to, and whether the
//! accusation guard must take it elsewhere.

use crate::catalogue::{Catalogue, Natural};
use crate::code::Code;
use crate::config::{RequestType, RouterConfig};
use crate::directory::Directory;
use crate::gazetteer::{Gazetteer, Mention, Resolution};
use crate::guard::{Guard, Named, Redirect, UnitHit};
use crate::scan::{IndexBuilder, NameIndex};
use crate::{ConfigErrors, FALLBACK_RULE_ID, GUARD_RULE_ID};

/// What routing needs to know about a petition.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteInput<'a> {
    /// 类别: the taxonomy label the classifier gave; empty when unclassified (then no rule
    /// matches and the area's government takes the case).
    pub category: &'a str,
    /// 诉求类型, when known.
    pub request_type: Option<RequestType>,
    /// The division code the channel sent (6, 9 or 12 digits); empty when none. A code that
    /// is not a well-formed division code is ignored and the text is read instead.
    pub division_code: &'a str,
    /// 事发地址: the incident address the petitioner gave.
    pub address: &'a str,
    /// The petition's title.
    pub title: &'a str,
    /// The petition's text.
    pub body: &'a str,
    /// 检举控告: an accusation against public bodies or their staff (a 信访 category; not a
    /// 12345 举报 of private wrongdoing, which is [`RequestType::Report`]).
    pub is_accusation: bool,
    /// The reporter agreed that their identity may be disclosed to the handling unit.
    pub reporter_consents: bool,
}

/// Where a case goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOutcome {
    /// To units.
    Dispatch(Dispatch),
    /// To the dispatch centre's queue (派单中心待派), for a person to decide.
    CentreQueue(CentreQueue),
}

/// A case for units: 主办 and 协办.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    /// 主办 lead unit id.
    pub lead: String,
    /// 协办 assisting unit ids.
    pub assisting: Vec<String>,
    /// The catalogue rule that matched; [`FALLBACK_RULE_ID`] when none did and the area's
    /// government took the case; [`GUARD_RULE_ID`] when the accusation guard chose the lead.
    pub rule_id: String,
    /// 派单目录版本 of the catalogue that decided.
    pub catalogue_version: String,
    /// Where the matter arose; none only for a guarded accusation naming no place.
    pub location: Option<Location>,
    /// True when no rule matched and the area's government took the case (属地兜底).
    pub fallback: bool,
    /// Present for every accusation (检举控告).
    pub guard: Option<GuardInfo>,
}

/// A case for the dispatch centre.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CentreQueue {
    /// Why no unit was chosen.
    pub reason: CentreReason,
    /// 派单目录版本 of the catalogue that tried.
    pub catalogue_version: String,
    /// Where the matter arose, if found.
    pub location: Option<Location>,
    /// Present for every accusation (检举控告): the centre must respect it too.
    pub guard: Option<GuardInfo>,
}

/// Why a case went to the dispatch centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CentreReason {
    /// 事发地不明: no channel code, and no configured area named in the address or text.
    NoLocation,
    /// The area is known but no rule matches and no government covers it (outside the
    /// directory).
    NoResponsibleUnit,
    /// An accusation whose every possible handler is accused or below an accused unit.
    GuardExhausted,
}

/// Where a matter arose, and how that was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// 行政区划代码, 6, 9 or 12 digits (a province or city padded to 6).
    pub division_code: String,
    /// How it was found.
    pub source: LocationSource,
}

/// How a location was found, most reliable first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationSource {
    /// The channel sent a division code.
    ChannelCode,
    /// An area name in the incident address.
    AddressText,
    /// An area name in the title or body.
    BodyText,
}

/// What the accusation guard did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardInfo {
    /// The units the accusation names, in the order first named; the case reaches none of
    /// them nor any unit they supervise.
    pub accused: Vec<String>,
    /// The reporter's identity must be withheld from handling units (no consent given).
    pub identity_withheld: bool,
    /// How the lead was chosen, when the guard chose it.
    pub redirect: Option<Redirect>,
}

impl GuardInfo {
    /// Whether the accusation names a unit, so the guard decided the route.
    pub fn guarded(&self) -> bool {
        !self.accused.is_empty()
    }
}

impl RouteOutcome {
    /// Where the matter arose, if found.
    pub fn location(&self) -> Option<&Location> {
        match self {
            RouteOutcome::Dispatch(d) => d.location.as_ref(),
            RouteOutcome::CentreQueue(c) => c.location.as_ref(),
        }
    }

    /// The guard's record, for an accusation.
    pub fn guard(&self) -> Option<&GuardInfo> {
        match self {
            RouteOutcome::Dispatch(d) => d.guard.as_ref(),
            RouteOutcome::CentreQueue(c) => c.guard.as_ref(),
        }
    }

    /// The catalogue version that decided.
    pub fn catalogue_version(&self) -> &str {
        match self {
            RouteOutcome::Dispatch(d) => &d.catalogue_version,
            RouteOutcome::CentreQueue(c) => &c.catalogue_version,
        }
    }
}

/// The routing configuration, validated and indexed. Immutable and `Send + Sync`: share one
/// behind an `Arc` and swap in a new one to reload.
#[derive(Debug)]
pub struct Router {
    directory: Directory,
    catalogue: Catalogue,
    gazetteer: Gazetteer,
    guard: Guard,
    names: NameIndex,
    /// Every category a rule or a unit's functions name, `*` included.
    categories: Vec<String>,
}

/// One text's names.
struct Scanned<'r> {
    mentions: Vec<Mention<'r>>,
    units: Vec<UnitHit<'r>>,
}

impl Router {
    /// Checks `config` as a whole (every problem at once) and indexes it.
    pub fn new(config: &RouterConfig) -> Result<Router, ConfigErrors> {
        let mut problems = Vec::new();
        let mut names = IndexBuilder::default();
        let directory = Directory::build(config, &mut problems);
        let gazetteer = Gazetteer::build(&config.areas, &mut names, &mut problems);
        let catalogue = Catalogue::build(config, &directory, &mut problems);
        let guard = Guard::build(config, &directory, &mut names, &mut problems);
        ConfigErrors::check(problems)?;
        let categories: std::collections::BTreeSet<&String> = config
            .rules
            .iter()
            .map(|r| &r.category)
            .chain(config.units.iter().flat_map(|u| &u.functions))
            .collect();
        Ok(Router {
            categories: categories.into_iter().cloned().collect(),
            directory,
            catalogue,
            gazetteer,
            guard,
            names: names.finish(),
        })
    }

    /// The unit directory.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Every category the catalogue's rules and the units' functions name (`*` included), so
    /// a new classifier model can be checked against them.
    pub fn categories(&self) -> impl Iterator<Item = &str> {
        self.categories.iter().map(String::as_str)
    }

    /// 派单目录版本.
    pub fn catalogue_version(&self) -> &str {
        self.catalogue.version()
    }

    /// Routes one petition.
    pub fn route(&self, input: &RouteInput<'_>) -> RouteOutcome {
        let reading = self.read(input);
        let location = reading.location;
        let natural = location.map(|(code, _)| {
            self.catalogue
                .decide(input.category, input.request_type, code, &self.directory)
        });
        let accused = input.is_accusation.then(|| {
            self.guard.accused(
                &self.directory,
                &self.gazetteer,
                &reading.named(input),
                location.map(|(code, _)| code),
            )
        });

        let location = location.map(|(code, source)| Location {
            division_code: code.standard(),
            source,
        });
        let catalogue_version = self.catalogue.version().to_owned();
        let id = |unit: u32| self.directory.id(unit).to_owned();
        let centre = |reason, location, guard| {
            RouteOutcome::CentreQueue(CentreQueue {
                reason,
                catalogue_version: catalogue_version.clone(),
                location,
                guard,
            })
        };
        let identity_withheld = !input.reporter_consents;
        if let Some(accused) = accused.as_ref().filter(|a| !a.is_empty()) {
            let handler = self.guard.handler(&self.directory, accused);
            let guard = GuardInfo {
                accused: accused.iter().map(|&u| id(u)).collect(),
                identity_withheld,
                redirect: handler.map(|(_, how)| how),
            };
            let Some((lead, _)) = handler else {
                return centre(CentreReason::GuardExhausted, location, Some(guard));
            };
            // The catalogue's assisting units worked with the lead it chose; a discipline
            // body gathers its own help, and fewer units see the material.
            return RouteOutcome::Dispatch(Dispatch {
                lead: id(lead),
                assisting: Vec::new(),
                rule_id: GUARD_RULE_ID.to_owned(),
                catalogue_version,
                location,
                fallback: false,
                guard: Some(guard),
            });
        }
        let guard = accused.map(|_| GuardInfo {
            accused: Vec::new(),
            identity_withheld,
            redirect: None,
        });
        let (lead, assisting, rule_id, fallback): (u32, &[u32], &str, bool) = match natural {
            Some(Natural::Rule(rule)) => {
                let rule = self.catalogue.rule(rule);
                (rule.lead, &rule.assist, &rule.id, false)
            }
            Some(Natural::Government(unit)) => (unit, &[], FALLBACK_RULE_ID, true),
            Some(Natural::Nobody) => {
                return centre(CentreReason::NoResponsibleUnit, location, guard);
            }
            None => return centre(CentreReason::NoLocation, location, guard),
        };
        RouteOutcome::Dispatch(Dispatch {
            lead: id(lead),
            assisting: assisting.iter().map(|&u| id(u)).collect(),
            rule_id: rule_id.to_owned(),
            catalogue_version,
            location,
            fallback,
            guard,
        })
    }

    /// Finds the location: the channel's code, else the address, else title and body. Each
    /// source is read only when the ones before found nothing; an accusation is read whole
    /// and for unit names too, since any of it may name the accused.
    fn read(&self, input: &RouteInput<'_>) -> Reading<'_> {
        let whole = input.is_accusation;
        let channel = Code::parse(input.division_code);
        let address = (channel.is_none() || whole).then(|| {
            let scanned = self.scan(input.address, whole);
            let found = self.gazetteer.resolve(&scanned.mentions);
            (scanned, found)
        });
        let mut location = channel
            .map(|code| (code, LocationSource::ChannelCode))
            .or_else(|| {
                let area = address.as_ref()?.1.location?;
                Some((self.gazetteer.code(area), LocationSource::AddressText))
            });
        let text = (location.is_none() || whole).then(|| {
            let title = self.scan(input.title, whole);
            let body = self.scan(input.body, whole);
            let found = self
                .gazetteer
                .resolve(title.mentions.iter().chain(&body.mentions));
            (title, body, found)
        });
        if location.is_none()
            && let Some(area) = text.as_ref().and_then(|(_, _, found)| found.location)
        {
            location = Some((self.gazetteer.code(area), LocationSource::BodyText));
        }
        Reading {
            address,
            text,
            location,
        }
    }

    fn scan(&self, text: &str, units: bool) -> Scanned<'_> {
        let mut mentions = Vec::new();
        let mut hits = Vec::new();
        self.names.scan(
            text,
            units,
            |start, len, entries| match Gazetteer::mention(text, start, len, entries) {
                Some(mention) => {
                    let end = mention.end;
                    mentions.push(mention);
                    end
                }
                None => start + len,
            },
            |start, _, entries| hits.push(UnitHit { start, entries }),
        );
        Scanned {
            mentions,
            units: hits,
        }
    }
}

/// A petition's texts as read, and the location they gave.
struct Reading<'r> {
    address: Option<(Scanned<'r>, Resolution)>,
    /// Title, body, and what they say together.
    text: Option<(Scanned<'r>, Scanned<'r>, Resolution)>,
    location: Option<(Code, LocationSource)>,
}

impl<'r> Reading<'r> {
    /// Each text read, with what each of its mentions was decided to name.
    fn named<'a>(&'a self, input: &RouteInput<'a>) -> Vec<Named<'a, 'r>> {
        let mut named = Vec::with_capacity(3);
        if let Some((scanned, found)) = &self.address {
            named.push(Named {
                text: input.address,
                mentions: &scanned.mentions,
                areas: &found.named,
                units: &scanned.units,
            });
        }
        if let Some((title, body, found)) = &self.text {
            let (title_areas, body_areas) = found.named.split_at(title.mentions.len());
            for (text, scanned, areas) in [
                (input.title, title, title_areas),
                (input.body, body, body_areas),
            ] {
                named.push(Named {
                    text,
                    mentions: &scanned.mentions,
                    areas,
                    units: &scanned.units,
                });
            }
        }
        named
    }
}
