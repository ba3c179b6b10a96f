//! Measuring the detector: on a corpus of real messages ([`eval_corpus`]) or on labelled pairs
//! ([`eval_pairs`]). Every pair is decided the way triage decides a petition against one indexed
//! case of the same petitioner: LSH band, fingerprint verification, then [`decide`].
//!
//! ## How the corpus is labelled
//!
//! Positives (one matter):
//! - exact duplicates in the data: messages with the same body of at least
//!   [`MIN_EXACT_BODY_CHARS`] characters (shorter bodies such as "如题" repeat across matters),
//!   whatever their titles;
//! - an edited copy of every message, one per [`EditKind`]: body edited, title kept.
//!
//! Negatives (different matters). Real data holds genuinely near-identical messages of different
//! people about one matter (a loan scheme, one estate's noise); merging those is what clustering
//! is for, so they must not count as false merges. Messages are therefore put in matter groups
//! first — chained by identical bodies or by an exact shingle containment of at least
//! [`SAME_MATTER_CONTAINMENT`] (half of the shorter text verbatim in the longer), computed on full
//! shingle sets, not on the sketches under test — and negatives are drawn only across groups:
//! - random pairs, as many as there are positives: what triage sees most;
//! - for every message, its nearest message of another group by exact containment: lexically the
//!   closest different matter (the same author's template about another project, another estate's
//!   similar complaint), the pair a detector is most likely to merge wrongly.
//!
//! Pairs within a group that are not exact duplicates are not scored; the report counts how many
//! the detector links. Pairs below the containment line stay negatives even where a reader would
//! call them one matter, so the false-merge rate errs against the detector. How much the line
//! matters, on hotspot.jsonl: drawn at 0.6, 0.7 or 0.8 instead of 0.5 (so that pairs sharing up to
//! 80% of their text verbatim count as different matters), the false merges are 0.016%, 0.086% and
//! 0.19% of the negatives.

use std::collections::{HashMap, HashSet};
use std::fmt;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::data::{LabelledPair, Message};
use crate::decide::{Candidate, Division, Facts, Outcome, PetitionerKey, Policy, decide};
use crate::detector::Detector;
use crate::edits::EditKind;
use crate::normalize::normalize;
use crate::sketch::{Sketch, shingles};

/// A body repeated verbatim is a re-post only if it says something: "如题" or "同上" repeat across
/// matters.
pub const MIN_EXACT_BODY_CHARS: usize = 20;
/// Half of the shorter text verbatim in the longer: a copy, so one matter.
pub const SAME_MATTER_CONTAINMENT: f64 = 0.5;
/// Corpora beyond this are sampled: finding each message's nearest other matter is quadratic in
/// the worst case.
pub const MAX_MESSAGES: usize = 20_000;
/// Exact-duplicate groups larger than this contribute pairs of their first members only.
const MAX_GROUP_PAIRS: usize = 45;
const SEED: u64 = 0x6d69_6e68_755f_6576;

/// Precision and recall by kind of pair.
#[derive(Debug, Clone, PartialEq)]
pub struct DedupReport {
    /// The detector's configuration, as the first line shows it.
    pub detector: String,
    pub rows: Vec<ReportRow>,
    /// Figures that are not scored, e.g. how much of the data's own clustering the detector finds.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub kind: String,
    /// Whether the pairs of this row are one matter.
    pub same: bool,
    pub pairs: usize,
    /// Pairs the detector linked: found duplicates in a `same` row, false merges otherwise.
    pub linked: usize,
}

impl DedupReport {
    pub fn true_positives(&self) -> usize {
        self.rows.iter().filter(|r| r.same).map(|r| r.linked).sum()
    }

    pub fn false_negatives(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.same)
            .map(|r| r.pairs - r.linked)
            .sum()
    }

    pub fn false_positives(&self) -> usize {
        self.rows.iter().filter(|r| !r.same).map(|r| r.linked).sum()
    }

    pub fn negatives(&self) -> usize {
        self.rows.iter().filter(|r| !r.same).map(|r| r.pairs).sum()
    }

    pub fn pairs(&self) -> usize {
        self.rows.iter().map(|r| r.pairs).sum()
    }

    /// 1 when nothing was linked: no link, no wrong link.
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives(),
            self.true_positives() + self.false_positives(),
        )
    }

    /// 1 when there was nothing to find.
    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives(),
            self.true_positives() + self.false_negatives(),
        )
    }

    /// Linked pairs of different matters among all pairs of different matters.
    pub fn false_merge_rate(&self) -> f64 {
        1.0 - ratio(self.negatives() - self.false_positives(), self.negatives())
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

impl fmt::Display for DedupReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "near-duplicate evaluation, detector {}", self.detector)?;
        writeln!(
            f,
            "  {:<24} {:<9} {:>7} {:>7} {:>7}",
            "kind", "label", "pairs", "linked", "rate"
        )?;
        for row in &self.rows {
            writeln!(
                f,
                "  {:<24} {:<9} {:>7} {:>7} {:>7.4}",
                row.kind,
                if row.same { "same" } else { "different" },
                row.pairs,
                row.linked,
                ratio(row.linked, row.pairs)
            )?;
        }
        for note in &self.notes {
            writeln!(f, "{note}")?;
        }
        writeln!(
            f,
            "false merges: {} of {} different-matter pairs ({:.3}%)",
            self.false_positives(),
            self.negatives(),
            100.0 * self.false_merge_rate()
        )?;
        write!(
            f,
            "precision={:.4} recall={:.4} pairs={}",
            self.precision(),
            self.recall(),
            self.pairs()
        )
    }
}

/// Decides labelled pairs, the petitioner taken to be the same: `b` arrives while `a` is open.
pub fn eval_pairs(detector: &Detector, pairs: &[LabelledPair]) -> DedupReport {
    let mut rows =
        [(true, "labelled-same"), (false, "labelled-different")].map(|(same, kind)| ReportRow {
            kind: kind.to_owned(),
            same,
            pairs: 0,
            linked: 0,
        });
    for pair in pairs {
        let a = detector.sketch(&pair.a.title, &pair.a.body);
        let b = detector.sketch(&pair.b.title, &pair.b.body);
        let row = &mut rows[usize::from(!pair.same)];
        row.pairs += 1;
        row.linked += usize::from(linked(detector, &a, &b));
    }
    DedupReport {
        detector: describe(detector),
        rows: rows.into(),
        notes: Vec::new(),
    }
}

/// A corpus turned into labelled pairs: the messages (the usable originals, then the edited
/// copies) and pairs of them by index, so each message is sketched once, by whatever detector is
/// measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledCorpus {
    pub messages: Vec<Message>,
    pub kinds: Vec<PairKind>,
    /// Different texts of one matter group: neither positive nor negative.
    pub unscored: Vec<(usize, usize)>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairKind {
    pub name: String,
    pub same: bool,
    pub pairs: Vec<(usize, usize)>,
}

/// Labels a corpus as the module documentation describes. Deterministic: the same messages give
/// the same pairs. `shingle` is the shingle size of the exact containment that forms matter
/// groups.
pub fn label_corpus(messages: &[Message], shingle: usize) -> LabelledCorpus {
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut corpus: Vec<(&Message, String)> = messages
        .iter()
        .map(|m| (m, normalize(&m.title) + &normalize(&m.body)))
        .filter(|(_, text)| !text.is_empty())
        .collect();
    let mut notes = Vec::new();
    if corpus.len() > MAX_MESSAGES {
        notes.push(format!(
            "sampled {MAX_MESSAGES} of {} messages",
            corpus.len()
        ));
        corpus.shuffle(&mut rng);
        corpus.truncate(MAX_MESSAGES);
    }
    let exact = exact_duplicates(&corpus);
    let groups = MatterGroups::new(&corpus, &exact, shingle);
    let mut kinds = vec![PairKind {
        name: "exact-duplicate".to_owned(),
        same: true,
        pairs: exact,
    }];
    let mut all: Vec<Message> = corpus.iter().map(|(m, _)| (*m).clone()).collect();
    for kind in EditKind::ALL {
        let mut pairs = Vec::with_capacity(corpus.len());
        for (i, (message, _)) in corpus.iter().enumerate() {
            // A title-only message is edited in its title: there is nothing else to edit.
            let copy = if normalize(&message.body).is_empty() {
                Message::new(kind.apply(&message.title, &mut rng), message.body.clone())
            } else {
                Message::new(message.title.clone(), kind.apply(&message.body, &mut rng))
            };
            pairs.push((i, all.len()));
            all.push(copy);
        }
        kinds.push(PairKind {
            name: kind.name().to_owned(),
            same: true,
            pairs,
        });
    }
    let positives: usize = kinds.iter().map(|k| k.pairs.len()).sum();
    kinds.push(PairKind {
        name: "random-pairs".to_owned(),
        same: false,
        pairs: groups.random_pairs(positives, &mut rng),
    });
    kinds.push(PairKind {
        name: "nearest-other-matter".to_owned(),
        same: false,
        pairs: groups.nearest_other,
    });
    LabelledCorpus {
        messages: all,
        kinds,
        unscored: groups.same_matter,
        notes,
    }
}

/// Evaluates on real messages, labelled by [`label_corpus`].
pub fn eval_corpus(detector: &Detector, messages: &[Message]) -> DedupReport {
    let corpus = label_corpus(messages, detector.scheme.shingle);
    let sketches: Vec<Sketch> = corpus
        .messages
        .iter()
        .map(|m| detector.sketch(&m.title, &m.body))
        .collect();
    let score = |pairs: &[(usize, usize)]| {
        pairs
            .iter()
            .filter(|&&(i, j)| linked(detector, &sketches[i], &sketches[j]))
            .count()
    };
    let rows = corpus
        .kinds
        .iter()
        .map(|kind| ReportRow {
            kind: kind.name.clone(),
            same: kind.same,
            pairs: kind.pairs.len(),
            linked: score(&kind.pairs),
        })
        .collect();
    let mut notes = corpus.notes.clone();
    notes.push(format!(
        "not scored: {} pairs of different texts in one matter group (containment >= {:.2}), {} linked",
        corpus.unscored.len(),
        SAME_MATTER_CONTAINMENT,
        score(&corpus.unscored)
    ));
    DedupReport {
        detector: describe(detector),
        rows,
        notes,
    }
}

/// Whether triage would link `b` to `a`: `a` indexed and open, `b` from the same petitioner, at
/// the same place and time.
fn linked(detector: &Detector, a: &Sketch, b: &Sketch) -> bool {
    let Some(similarity) = detector.compare(a, b) else {
        return false;
    };
    let facts = Facts {
        petitioner: PetitionerKey::of("evaluation"),
        division: Division::UNKNOWN,
        time: 0,
    };
    let earlier = Candidate {
        id: 0,
        facts,
        lead: 0,
        original: None,
        open: true,
        similarity,
    };
    decide(&facts, &[earlier], &Policy::default()).outcome != Outcome::New
}

fn describe(detector: &Detector) -> String {
    let t = &detector.thresholds;
    format!(
        "{}: jaccard >= {:.2}, or containment >= {:.2} with jaccard >= {:.2} and >= {} shingles",
        detector.scheme.version(),
        t.jaccard,
        t.containment,
        t.containment_jaccard,
        t.containment_shingles
    )
}

/// Pairs of messages with the same substantial body.
fn exact_duplicates(corpus: &[(&Message, String)]) -> Vec<(usize, usize)> {
    let mut by_body: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, (message, _)) in corpus.iter().enumerate() {
        let body = message.body.trim();
        if normalize(body).chars().count() >= MIN_EXACT_BODY_CHARS {
            by_body.entry(body).or_default().push(i);
        }
    }
    let mut groups: Vec<Vec<usize>> = by_body.into_values().filter(|g| g.len() > 1).collect();
    groups.sort_unstable();
    let mut pairs = Vec::new();
    for group in groups {
        let group_pairs = group
            .iter()
            .enumerate()
            .flat_map(|(n, &i)| group[n + 1..].iter().map(move |&j| (i, j)));
        pairs.extend(group_pairs.take(MAX_GROUP_PAIRS));
    }
    pairs
}

/// Messages chained into matters by exact shingle containment, and the pairs drawn from them.
struct MatterGroups {
    /// Each message's group, named by its first message.
    group: Vec<usize>,
    /// Different texts of one group: not scored.
    same_matter: Vec<(usize, usize)>,
    /// Each message with its nearest message of another group.
    nearest_other: Vec<(usize, usize)>,
}

/// Nearest messages kept per message while groups are still forming.
const NEAREST_KEPT: usize = 8;

impl MatterGroups {
    fn new(
        corpus: &[(&Message, String)],
        exact: &[(usize, usize)],
        shingle: usize,
    ) -> MatterGroups {
        let sets: Vec<Vec<u64>> = corpus
            .iter()
            .map(|(_, text)| shingles(text, shingle))
            .collect();
        let mut postings: HashMap<u64, Vec<u32>> = HashMap::new();
        for (i, set) in sets.iter().enumerate() {
            for &shingle in set {
                postings.entry(shingle).or_default().push(i as u32);
            }
        }
        let mut parent: Vec<usize> = (0..corpus.len()).collect();
        for &(i, j) in exact {
            union(&mut parent, i, j);
        }
        let mut same_matter = Vec::new();
        let mut shared = vec![0u32; corpus.len()];
        let mut touched = Vec::new();
        let mut nearest: Vec<Vec<(f64, usize)>> = Vec::with_capacity(corpus.len());
        for (i, set) in sets.iter().enumerate() {
            for shingle in set {
                for &j in &postings[shingle] {
                    let j = j as usize;
                    if shared[j] == 0 {
                        touched.push(j);
                    }
                    shared[j] += 1;
                }
            }
            let mut closest = Vec::new();
            for j in touched.drain(..) {
                let count = std::mem::take(&mut shared[j]);
                if j == i {
                    continue;
                }
                let containment = f64::from(count) / set.len().min(sets[j].len()) as f64;
                if containment >= SAME_MATTER_CONTAINMENT {
                    union(&mut parent, i, j);
                    if i < j && corpus[i].0.body.trim() != corpus[j].0.body.trim() {
                        same_matter.push((i, j));
                    }
                } else {
                    closest.push((containment, j));
                }
            }
            closest.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            closest.truncate(NEAREST_KEPT);
            nearest.push(closest);
        }
        let group: Vec<usize> = (0..corpus.len()).map(|i| find(&mut parent, i)).collect();
        let mut seen = HashSet::new();
        let mut nearest_other = Vec::new();
        for (i, closest) in nearest.iter().enumerate() {
            let other = closest
                .iter()
                .map(|&(_, j)| j)
                .find(|&j| group[i] != group[j]);
            if let Some(j) = other
                && seen.insert((i.min(j), i.max(j)))
            {
                nearest_other.push((i, j));
            }
        }
        MatterGroups {
            group,
            same_matter,
            nearest_other,
        }
    }

    /// Up to `count` pairs of messages of different groups.
    fn random_pairs(&self, count: usize, rng: &mut impl Rng) -> Vec<(usize, usize)> {
        let n = self.group.len();
        let mut pairs = Vec::with_capacity(count);
        if n < 2 {
            return pairs;
        }
        // Bounded, for a corpus that is one matter throughout.
        for _ in 0..count * 20 {
            if pairs.len() == count {
                break;
            }
            let (i, j) = (rng.random_range(0..n), rng.random_range(0..n));
            if self.group[i] != self.group[j] {
                pairs.push((i, j));
            }
        }
        pairs
    }
}

/// Union-find with path halving: chains of re-posts stay short to walk.
fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

fn union(parent: &mut [usize], i: usize, j: usize) {
    let (a, b) = (find(parent, i), find(parent, j));
    if a != b {
        parent[a.max(b)] = a.min(b);
    }
}
