//! The index shared by triage instances that share nothing but the bus: a journal of decided
//! petitions in JetStream KV bucket `minhu_dedup`, which every instance folds into an
//! in-memory [`Index`].
//!
//! | key | value |
//! |---|---|
//! | `doc.<case id>` ([`doc_key`]) | [`StoredDoc`]: scheme, band keys, fingerprint, facts, lead, original (`minhu.v1.DedupJournalEntry` on the bus, or JSON in entries written before it; the encoding is the triage edge's) |
//!
//! Whether a matter is open is the status of its lead case (`minhu_cases`), not stored here.
//!
//! Every instance folds the bucket's stream in stream order ([`JournalIndex::fold`]), so all
//! number the documents alike and hold the same index at the same sequence. Decisions are
//! serialised on that sequence: an instance decides against the journal as folded up to
//! sequence S and writes its entry with an expected last stream sequence of S. Had another
//! entry landed meanwhile, the write is refused: fold it, decide again. So two near-duplicates
//! decided at the same moment never both become originals, and a petition costs one write —
//! where the index as KV entries per band needed 22 (a document, 20 bands, a link).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::decide::{Candidate, Decision, Facts, Outcome, Policy};
use crate::detector::Detector;
use crate::index::Index;
use crate::sketch::{BandKey, Fingerprint, Sketch};
use crate::store::DocId;

pub fn doc_key(case_id: &str) -> String {
    format!("doc.{case_id}")
}

/// What the journal keeps of a case: enough to index it again (its band keys and fingerprint,
/// not its text) and the decision taken for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDoc {
    pub case_id: String,
    /// The sketch scheme ([`crate::sketch::Scheme::version`]): entries of another scheme are
    /// not comparable and are left out of the index.
    pub scheme: String,
    pub bands: Vec<BandKey>,
    pub fingerprint: Fingerprint,
    pub facts: Facts,
    /// The case that carries the matter: the decision's lead, or the case itself.
    pub lead: String,
    /// The original, when the case is a repeat.
    pub original: Option<String>,
}

impl StoredDoc {
    /// The entry for `case_id`, decided as `decision`.
    pub fn decided(
        case_id: &str,
        detector: &Detector,
        sketch: &Sketch,
        facts: Facts,
        decision: &Decision<String>,
    ) -> StoredDoc {
        StoredDoc {
            case_id: case_id.to_owned(),
            scheme: detector.scheme.version(),
            bands: sketch.bands.clone(),
            fingerprint: sketch.fingerprint.clone(),
            facts,
            lead: decision.lead.clone().unwrap_or_else(|| case_id.to_owned()),
            original: match &decision.outcome {
                Outcome::Repeat { original } => Some(original.clone()),
                _ => None,
            },
        }
    }
}

/// The journal folded into memory, up to a stream sequence.
pub struct JournalIndex {
    index: Index,
    scheme: String,
    /// Case id of each document, by number.
    case_ids: Vec<String>,
    numbers: HashMap<String, DocId>,
    sequence: u64,
}

/// What the journal offers for a petition.
pub struct Lookup {
    /// Verified earlier cases; `open` is left true for the caller to settle from the lead's
    /// status.
    pub candidates: Vec<Candidate<String>>,
    /// Whether the petition has an entry already (decided before, e.g. by a delivery whose
    /// instance then crashed): the candidates are then those it was first decided against.
    pub recorded: bool,
}

impl JournalIndex {
    pub fn new(detector: Detector, policy: Policy) -> JournalIndex {
        JournalIndex {
            scheme: detector.scheme.version(),
            index: Index::new(detector, policy),
            case_ids: Vec::new(),
            numbers: HashMap::new(),
            sequence: 0,
        }
    }

    pub fn detector(&self) -> &Detector {
        self.index.detector()
    }

    /// The last stream sequence folded: a new entry is written expecting it as the stream's last.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    pub fn len(&self) -> usize {
        self.case_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.case_ids.is_empty()
    }

    /// Folds the message at stream `sequence`: `entry` is its document, `None` for anything
    /// else in the stream (which still moves the sequence on). A sequence already folded — an
    /// instance's own write folded when it was acknowledged, then delivered — changes nothing.
    pub fn fold(&mut self, sequence: u64, entry: Option<&StoredDoc>) {
        if sequence <= self.sequence {
            return;
        }
        self.sequence = sequence;
        let Some(doc) = entry else {
            return;
        };
        if doc.scheme != self.scheme
            || doc.fingerprint.minima.len() != self.detector().scheme.hashes
            || self.numbers.contains_key(&doc.case_id)
        {
            return;
        }
        let sketch = Sketch {
            bands: doc.bands.clone(),
            fingerprint: doc.fingerprint.clone(),
        };
        let lead = self.numbers.get(&doc.lead).copied();
        let original = doc
            .original
            .as_ref()
            .and_then(|o| self.numbers.get(o).copied());
        let number = self
            .index
            .insert_decided(&sketch, doc.facts, lead, original);
        self.case_ids.push(doc.case_id.clone());
        self.numbers.insert(doc.case_id.clone(), number);
    }

    /// Folds an entry this instance wrote and saw acknowledged at `sequence`, if that is the
    /// next sequence: otherwise another message came between, and the entry is left for the
    /// follower of the stream to fold in its turn.
    pub fn fold_written(&mut self, sequence: u64, entry: &StoredDoc) {
        if sequence == self.sequence + 1 {
            self.fold(sequence, Some(entry));
        }
    }

    /// The verified earlier cases for `case_id`, as [`Index::lookup`] finds them, and among
    /// `pending`: entries decided just before it and not yet in the journal, which it must
    /// meet as if they were (an instance writes its decisions in batches).
    pub fn lookup_after(
        &self,
        case_id: &str,
        sketch: &Sketch,
        facts: &Facts,
        pending: &[StoredDoc],
    ) -> Lookup {
        let mut found = self.lookup(case_id, sketch, facts);
        if found.recorded {
            return found;
        }
        for earlier in pending {
            let shares_a_band = earlier.bands.iter().any(|band| sketch.bands.contains(band));
            if !shares_a_band {
                continue;
            }
            let Some(similarity) = self
                .detector()
                .verify(&sketch.fingerprint, &earlier.fingerprint)
            else {
                continue;
            };
            found.candidates.push(Candidate {
                id: earlier.case_id.clone(),
                facts: earlier.facts,
                lead: earlier.lead.clone(),
                original: earlier.original.clone(),
                open: true,
                similarity,
            });
        }
        found
    }

    /// The verified earlier cases for `case_id`, as [`Index::lookup`] finds them.
    pub fn lookup(&self, case_id: &str, sketch: &Sketch, facts: &Facts) -> Lookup {
        let known = self.numbers.get(case_id).copied();
        let before = known.unwrap_or(DocId::MAX);
        let candidates = self
            .index
            .candidates(sketch, facts, before)
            .into_iter()
            .map(|c| Candidate {
                id: self.case_ids[c.id as usize].clone(),
                facts: c.facts,
                lead: self.case_ids[c.lead as usize].clone(),
                original: c.original.map(|o| self.case_ids[o as usize].clone()),
                open: true,
                similarity: c.similarity,
            })
            .collect();
        Lookup {
            candidates,
            recorded: known.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::{Division, PetitionerKey, decide};

    const BODY: &str =
        "黄宅镇某小区路灯坏了三个月，晚上出行很不方便，老人孩子容易摔倒，请物业尽快修理。";

    fn facts(who: &str, time: i64) -> Facts {
        Facts {
            petitioner: PetitionerKey::of(who),
            division: Division::of("330726"),
            time,
        }
    }

    /// Decides `case_id` against `journal` and returns its entry, as a triage instance does.
    fn decide_entry(journal: &JournalIndex, case_id: &str, body: &str, facts: Facts) -> StoredDoc {
        let sketch = journal.detector().sketch("路灯损坏", body);
        let found = journal.lookup(case_id, &sketch, &facts);
        let decision = decide(&facts, &found.candidates, &Policy::default());
        StoredDoc::decided(case_id, journal.detector(), &sketch, facts, &decision)
    }

    #[test]
    fn keys_are_valid_kv_keys() {
        let key = doc_key("MH20261127-0000042");
        assert_eq!(key, "doc.MH20261127-0000042");
        assert!(
            key.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b))
        );
    }

    #[test]
    fn an_entry_round_trips_and_a_folded_journal_decides_like_the_index() {
        let mut journal = JournalIndex::new(Detector::default(), Policy::default());
        let first = decide_entry(&journal, "MH1", BODY, facts("alice", 0));
        assert_eq!(first.lead, "MH1");
        let json = serde_json::to_string(&first).unwrap();
        journal.fold(1, Some(&serde_json::from_str(&json).unwrap()));

        let again = decide_entry(
            &journal,
            "MH2",
            &format!("您好！{BODY}谢谢！"),
            facts("alice", 60),
        );
        assert_eq!(again.original.as_deref(), Some("MH1"));
        assert_eq!(again.lead, "MH1");
        journal.fold(2, Some(&again));
        let neighbour = decide_entry(&journal, "MH3", BODY, facts("bob", 120));
        assert_eq!(neighbour.original, None, "another petitioner: a member");
        assert_eq!(neighbour.lead, "MH1");
    }

    #[test]
    fn every_instance_folding_the_same_stream_holds_the_same_index() {
        let mut a = JournalIndex::new(Detector::default(), Policy::default());
        let mut b = JournalIndex::new(Detector::default(), Policy::default());
        let first = decide_entry(&a, "MH1", BODY, facts("alice", 0));
        // Instance a folds its own write when acknowledged, and again when delivered.
        a.fold(1, Some(&first));
        a.fold(1, Some(&first));
        // Something that is not a document still moves the sequence on.
        a.fold(2, None);
        b.fold(1, Some(&first));
        b.fold(2, None);
        assert_eq!((a.sequence(), a.len()), (2, 1));
        assert_eq!((b.sequence(), b.len()), (2, 1));
        let by_a = decide_entry(&a, "MH3", BODY, facts("bob", 60));
        let by_b = decide_entry(&b, "MH3", BODY, facts("bob", 60));
        assert_eq!(by_a, by_b);
    }

    #[test]
    fn a_petition_decided_again_meets_only_what_came_before_it() {
        let mut journal = JournalIndex::new(Detector::default(), Policy::default());
        let first = decide_entry(&journal, "MH1", BODY, facts("alice", 0));
        journal.fold(1, Some(&first));
        let later = decide_entry(&journal, "MH2", BODY, facts("bob", 60));
        journal.fold(2, Some(&later));
        let sketch = journal.detector().sketch("路灯损坏", BODY);
        let again = journal.lookup("MH1", &sketch, &facts("alice", 0));
        assert!(again.recorded);
        assert!(again.candidates.is_empty(), "MH2 came after MH1");
        let unknown = journal.lookup("MH9", &sketch, &facts("carol", 90));
        assert!(!unknown.recorded);
        assert_eq!(unknown.candidates.len(), 2);
    }

    #[test]
    fn a_petition_meets_the_pending_decisions_before_it() {
        let journal = JournalIndex::new(Detector::default(), Policy::default());
        let first = decide_entry(&journal, "MH1", BODY, facts("alice", 0));
        let unrelated = decide_entry(
            &journal,
            "MH2",
            "浦阳街道某路段窨井盖缺失，夜间行人车辆通行存在很大安全隐患，请尽快补装。",
            facts("carol", 30),
        );
        let pending = [first, unrelated];
        let sketch = journal.detector().sketch("路灯损坏", BODY);
        let neighbour = facts("bob", 60);
        let found = journal.lookup_after("MH3", &sketch, &neighbour, &pending);
        let ids: Vec<&str> = found.candidates.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["MH1"]);
        let decision = decide(&neighbour, &found.candidates, &Policy::default());
        assert_eq!(decision.lead.as_deref(), Some("MH1"));
    }

    #[test]
    fn entries_of_another_scheme_are_left_out() {
        let mut journal = JournalIndex::new(Detector::default(), Policy::default());
        let mut entry = decide_entry(&journal, "MH1", BODY, facts("alice", 0));
        entry.scheme = "s2h64b16r4".to_owned();
        journal.fold(1, Some(&entry));
        assert_eq!((journal.sequence(), journal.len()), (1, 0));
    }
}
