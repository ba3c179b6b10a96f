//! What a near-duplicate means for the case: a repeat of the petitioner's own case (重复件), a
//! repeat after it was closed (复查/复核), a member of another petitioner's case on the same
//! matter (并单), or a new matter. Text similarity says two petitions are alike; who filed them,
//! where and when decides what follows.

use serde::{Deserialize, Serialize};

use crate::sketch::Similarity;

/// Who filed a petition, as far as dedup may know: the keyed hash the gateway computes from the
/// ID number or phone (never the clear value), reduced to 64 bits. Anonymous petitions have none,
/// and two anonymous petitions are never the same person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PetitionerKey(Option<u64>);

impl PetitionerKey {
    pub const ANONYMOUS: PetitionerKey = PetitionerKey(None);

    /// From the keyed hash as the intake record carries it; empty is anonymous. Reduced with a
    /// fixed hash, so the same petitioner has the same key in every triage instance.
    pub fn of(keyed_hash: &str) -> PetitionerKey {
        if keyed_hash.is_empty() {
            return PetitionerKey::ANONYMOUS;
        }
        PetitionerKey(Some(crate::sketch::digest(keyed_hash.as_bytes())))
    }

    pub fn digest(&self) -> Option<u64> {
        self.0
    }

    /// The key of a stored [`PetitionerKey::digest`].
    pub fn from_digest(digest: Option<u64>) -> PetitionerKey {
        PetitionerKey(digest)
    }

    pub fn is_anonymous(&self) -> bool {
        self.0.is_none()
    }

    /// Both identified and the same person.
    pub fn same_person(&self, other: &PetitionerKey) -> bool {
        self.0.is_some() && self.0 == other.0
    }
}

/// Where the matter is: a 行政区划代码 (6, 9 or 12 digits), or unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Division {
    /// The county part (the first six digits); 0 when unknown.
    county: u32,
}

impl Division {
    pub const UNKNOWN: Division = Division { county: 0 };

    /// Anything but 6, 9 or 12 digits is unknown: the gateway has validated the code already, and
    /// an unreadable location must not keep two petitions apart.
    pub fn of(code: &str) -> Division {
        if !matches!(code.len(), 6 | 9 | 12) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Division::UNKNOWN;
        }
        Division {
            county: code[..6].parse().unwrap_or(0),
        }
    }

    /// Petitions about one matter lie in one county (属地管理). A code that stops at the city
    /// (`330700`) or province (`330000`) level, or an unknown location, does not say which county,
    /// so it is compatible with every county inside it.
    /// The county's 6-digit division code as a number; 0 when unknown.
    pub fn county(&self) -> u32 {
        self.county
    }

    /// The division of a stored [`Division::county`].
    pub fn from_county(county: u32) -> Division {
        Division { county }
    }

    pub fn same_county(&self, other: &Division) -> bool {
        if self.county == 0 || other.county == 0 {
            return true;
        }
        let scale = |county: u32| match county {
            c if c % 10_000 == 0 => 10_000,
            c if c % 100 == 0 => 100,
            _ => 1,
        };
        let scale = scale(self.county).max(scale(other.county));
        self.county / scale == other.county / scale
    }
}

/// What dedup knows about a petition besides its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub petitioner: PetitionerKey,
    pub division: Division,
    /// Acceptance time, Unix seconds.
    pub time: i64,
}

/// An earlier case the index offered and the detector verified: the same text, as far as text
/// goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate<Id> {
    pub id: Id,
    pub facts: Facts,
    /// The case that carries the candidate's matter: its cluster lead, the original it repeats,
    /// or itself.
    pub lead: Id,
    /// When the candidate is itself a repeat (重复件), the petitioner's case it repeats.
    pub original: Option<Id>,
    /// Whether the matter is still being handled: the status of `lead`.
    pub open: bool,
    pub similarity: Similarity,
}

/// Time and place limits on links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// How long after an earlier petition a closed case is re-examined (复查/复核) rather than
    /// taken as a new matter. An open case has no limit: it is still being handled.
    pub repeat_window_secs: i64,
    /// How close in time petitions of different people must be to be one matter: a complaint
    /// about the same estate a year later is a new occurrence.
    pub cluster_window_secs: i64,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            repeat_window_secs: 365 * DAY,
            cluster_window_secs: 30 * DAY,
        }
    }
}

pub const DAY: i64 = 24 * 60 * 60;

/// What becomes of a new petition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome<Id> {
    /// A new matter: dispatched on its own.
    New,
    /// 重复件: the same petitioner's matter is still open. Linked to the original, not dispatched
    /// again.
    Repeat { original: Id },
    /// The same petitioner's matter was closed: dispatched with the link, for 复查/复核.
    RepeatAfterClosure { original: Id },
    /// 并单: another petitioner's open matter. Linked to the lead case, which is handled once.
    ClusterMember { lead: Id },
}

/// The outcome with the reason for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision<Id> {
    pub outcome: Outcome<Id>,
    /// The case that carries the new petition's matter when the petition does not carry it
    /// itself: a member's lead, or the lead of the matter a repeat belongs to. A repeat after
    /// closure is handled again, so it carries its own.
    pub lead: Option<Id>,
    /// The earlier case whose text matched and how closely; `None` for a new matter.
    pub evidence: Option<Evidence<Id>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence<Id> {
    pub matched: Id,
    pub similarity: Similarity,
}

impl<Id> Decision<Id> {
    pub fn new_matter() -> Decision<Id> {
        Decision {
            outcome: Outcome::New,
            lead: None,
            evidence: None,
        }
    }
}

/// Decides a new petition against the verified candidates.
///
/// 1. The petitioner's own earlier petitions on the matter come first: open → [`Outcome::Repeat`]
///    of the original, closed within the repeat window → [`Outcome::RepeatAfterClosure`]. An
///    anonymous petition is nobody's repeat.
/// 2. Otherwise another petitioner's open matter within the cluster window →
///    [`Outcome::ClusterMember`] of its lead.
/// 3. Otherwise [`Outcome::New`]. Candidates in another county never count.
///
/// Among eligible candidates the most similar wins, then the earliest, so the choice does not
/// depend on the order the index returned them in.
pub fn decide<Id: Clone>(
    new: &Facts,
    candidates: &[Candidate<Id>],
    policy: &Policy,
) -> Decision<Id> {
    let here = || {
        candidates
            .iter()
            .filter(|c| c.facts.division.same_county(&new.division))
    };
    let own = || here().filter(|c| c.facts.petitioner.same_person(&new.petitioner));
    if let Some(c) = best(own().filter(|c| c.open)) {
        return Decision {
            outcome: Outcome::Repeat {
                original: c.original.clone().unwrap_or_else(|| c.id.clone()),
            },
            lead: Some(c.lead.clone()),
            evidence: Some(evidence(c)),
        };
    }
    let closed = own().filter(|c| !c.open && new.time - c.facts.time <= policy.repeat_window_secs);
    if let Some(c) = best(closed) {
        return Decision {
            outcome: Outcome::RepeatAfterClosure {
                original: c.original.clone().unwrap_or_else(|| c.id.clone()),
            },
            lead: None,
            evidence: Some(evidence(c)),
        };
    }
    let others = here().filter(|c| {
        !c.facts.petitioner.same_person(&new.petitioner)
            && c.open
            && (new.time - c.facts.time).abs() <= policy.cluster_window_secs
    });
    if let Some(c) = best(others) {
        return Decision {
            outcome: Outcome::ClusterMember {
                lead: c.lead.clone(),
            },
            lead: Some(c.lead.clone()),
            evidence: Some(evidence(c)),
        };
    }
    Decision::new_matter()
}

fn best<'a, Id: 'a>(
    candidates: impl Iterator<Item = &'a Candidate<Id>>,
) -> Option<&'a Candidate<Id>> {
    candidates.max_by(|a, b| {
        a.similarity
            .jaccard
            .total_cmp(&b.similarity.jaccard)
            .then(b.facts.time.cmp(&a.facts.time))
    })
}

fn evidence<Id: Clone>(candidate: &Candidate<Id>) -> Evidence<Id> {
    Evidence {
        matched: candidate.id.clone(),
        similarity: candidate.similarity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const BOB: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";
    const HOUR: i64 = 3600;

    fn facts(petitioner: &str, division: &str, time: i64) -> Facts {
        Facts {
            petitioner: PetitionerKey::of(petitioner),
            division: Division::of(division),
            time,
        }
    }

    fn candidate(id: u32, facts: Facts, open: bool, jaccard: f32) -> Candidate<u32> {
        Candidate {
            id,
            facts,
            lead: id,
            original: None,
            open,
            similarity: Similarity {
                jaccard,
                containment: jaccard,
                shared_shingles: 40,
            },
        }
    }

    fn outcome(new: Facts, candidates: &[Candidate<u32>]) -> Outcome<u32> {
        decide(&new, candidates, &Policy::default()).outcome
    }

    #[test]
    fn nothing_similar_is_a_new_matter() {
        let decision = decide(&facts(ALICE, "330726", 0), &[], &Policy::default());
        assert_eq!(decision, Decision::<u32>::new_matter());
    }

    #[test]
    fn the_same_petitioner_with_an_open_case_is_a_repeat() {
        let earlier = candidate(7, facts(ALICE, "330726", 0), true, 0.8);
        let decision = decide(
            &facts(ALICE, "330726100", 40 * DAY),
            &[earlier],
            &Policy::default(),
        );
        assert_eq!(decision.outcome, Outcome::Repeat { original: 7 });
        assert_eq!(decision.lead, Some(7));
        let evidence = decision.evidence.expect("a repeat records its evidence");
        assert_eq!((evidence.matched, evidence.similarity.jaccard), (7, 0.8));
    }

    #[test]
    fn a_repeat_of_a_repeat_points_to_the_first_case() {
        let mut second = candidate(9, facts(ALICE, "330726", HOUR), true, 0.9);
        second.original = Some(7);
        second.lead = 7;
        assert_eq!(
            outcome(facts(ALICE, "330726", 2 * HOUR), &[second]),
            Outcome::Repeat { original: 7 }
        );
    }

    #[test]
    fn a_closed_case_is_re_examined_within_the_window_and_new_after_it() {
        let closed = candidate(7, facts(ALICE, "330726", 0), false, 0.8);
        assert_eq!(
            outcome(
                facts(ALICE, "330726", 100 * DAY),
                std::slice::from_ref(&closed)
            ),
            Outcome::RepeatAfterClosure { original: 7 }
        );
        let decision = decide(
            &facts(ALICE, "330726", 100 * DAY),
            std::slice::from_ref(&closed),
            &Policy::default(),
        );
        assert_eq!(
            decision.lead, None,
            "a repeat after closure is handled again"
        );
        assert_eq!(
            outcome(facts(ALICE, "330726", 400 * DAY), &[closed]),
            Outcome::New
        );
    }

    #[test]
    fn an_open_case_of_the_petitioner_wins_over_a_closed_one() {
        let closed = candidate(3, facts(ALICE, "330726", 0), false, 0.95);
        let open = candidate(8, facts(ALICE, "330726", 50 * DAY), true, 0.6);
        assert_eq!(
            outcome(facts(ALICE, "330726", 60 * DAY), &[closed, open]),
            Outcome::Repeat { original: 8 }
        );
    }

    #[test]
    fn different_petitioners_on_one_open_matter_are_a_cluster() {
        let mut member = candidate(12, facts(BOB, "330726", 0), true, 0.7);
        member.lead = 5;
        let decision = decide(&facts(ALICE, "330726", HOUR), &[member], &Policy::default());
        assert_eq!(decision.outcome, Outcome::ClusterMember { lead: 5 });
        assert_eq!(decision.lead, Some(5));
        assert_eq!(decision.evidence.map(|e| e.matched), Some(12));
    }

    #[test]
    fn anonymous_petitions_are_never_repeats() {
        let anonymous_earlier = candidate(1, facts("", "330726", 0), true, 1.0);
        let identified_earlier = candidate(2, facts(ALICE, "330726", 0), true, 1.0);
        for earlier in [anonymous_earlier, identified_earlier] {
            assert_eq!(
                outcome(facts("", "330726", HOUR), std::slice::from_ref(&earlier)),
                Outcome::ClusterMember { lead: earlier.id }
            );
        }
        let closed = candidate(3, facts("", "330726", 0), false, 1.0);
        assert_eq!(outcome(facts("", "330726", HOUR), &[closed]), Outcome::New);
    }

    #[test]
    fn clusters_need_an_open_matter_within_the_window() {
        let closed = candidate(1, facts(BOB, "330726", 0), false, 0.9);
        assert_eq!(
            outcome(facts(ALICE, "330726", HOUR), &[closed]),
            Outcome::New
        );
        let old = candidate(2, facts(BOB, "330726", 0), true, 0.9);
        assert_eq!(
            outcome(facts(ALICE, "330726", 31 * DAY), &[old]),
            Outcome::New
        );
    }

    #[test]
    fn another_county_never_counts() {
        let there = candidate(1, facts(ALICE, "330727", 0), true, 1.0);
        assert_eq!(
            outcome(facts(ALICE, "330726", HOUR), std::slice::from_ref(&there)),
            Outcome::New
        );
        assert_eq!(
            outcome(facts(BOB, "330726001", HOUR), &[there]),
            Outcome::New
        );
    }

    #[test]
    fn the_most_similar_candidate_wins_whatever_the_order() {
        let weak = candidate(1, facts(BOB, "330726", 0), true, 0.5);
        let strong = candidate(2, facts("", "330726", HOUR), true, 0.9);
        let new = facts(ALICE, "330726", 2 * HOUR);
        assert_eq!(
            outcome(new, &[weak.clone(), strong.clone()]),
            Outcome::ClusterMember { lead: 2 }
        );
        assert_eq!(
            outcome(new, &[strong, weak]),
            Outcome::ClusterMember { lead: 2 }
        );
        let first = candidate(4, facts(BOB, "330726", 0), true, 0.8);
        let second = candidate(3, facts(BOB, "330726", HOUR), true, 0.8);
        assert_eq!(
            outcome(new, &[second, first]),
            Outcome::ClusterMember { lead: 4 }
        );
    }

    #[test]
    fn counties_compare_at_the_level_both_codes_know() {
        let county = Division::of("330726");
        assert!(county.same_county(&Division::of("330726100")));
        assert!(county.same_county(&Division::of("330726100200")));
        assert!(!county.same_county(&Division::of("330727")));
        // A city or province code does not say which county: it does not separate.
        assert!(county.same_county(&Division::of("330700")));
        assert!(county.same_county(&Division::of("330000")));
        assert!(!county.same_county(&Division::of("330800")));
        assert!(!county.same_county(&Division::of("320000")));
        assert!(county.same_county(&Division::UNKNOWN));
        assert_eq!(Division::of("33072"), Division::UNKNOWN);
        assert_eq!(Division::of("33072a"), Division::UNKNOWN);
    }

    #[test]
    fn petitioner_keys_compare_identified_people_only() {
        assert!(PetitionerKey::of(ALICE).same_person(&PetitionerKey::of(ALICE)));
        assert!(!PetitionerKey::of(ALICE).same_person(&PetitionerKey::of(BOB)));
        assert!(!PetitionerKey::of("").same_person(&PetitionerKey::of("")));
        assert!(PetitionerKey::of("").is_anonymous());
    }
}
