//! The index: every petition's band keys in a [`BandStore`], its fingerprint and facts beside
//! them, and the lookup that turns a new petition into a [`Decision`]. The in-memory form serves
//! the benchmark and the tests and is the reference for the JetStream KV form ([`crate::kv`]).

use crate::decide::{Candidate, Decision, Facts, Outcome, Policy, decide};
use crate::detector::Detector;
use crate::sketch::{Fingerprint, Similarity, Sketch, mix};
use crate::store::{BandStore, DocId, MemoryBandStore};

#[derive(Debug, Clone)]
pub struct Index<S = MemoryBandStore> {
    detector: Detector,
    policy: Policy,
    store: S,
    docs: Docs,
}

/// Per document, by number: what verification and the decision read.
#[derive(Debug, Clone, Default)]
struct Docs {
    /// `hashes` bytes per document, back to back: one allocation for a million fingerprints.
    minima: Vec<u8>,
    shingles: Vec<u32>,
    facts: Vec<Facts>,
    leads: Vec<DocId>,
    /// `NO_ORIGINAL` unless the document is a repeat.
    originals: Vec<DocId>,
    /// Whether the matter this document leads is still being handled.
    open: Vec<bool>,
}

const NO_ORIGINAL: DocId = DocId::MAX;

impl<S: BandStore + Default> Index<S> {
    pub fn new(detector: Detector, policy: Policy) -> Index<S> {
        Index {
            detector,
            policy,
            store: S::default(),
            docs: Docs::default(),
        }
    }
}

impl<S: BandStore> Index<S> {
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    pub fn len(&self) -> usize {
        self.docs.facts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.facts.is_empty()
    }

    /// Decides a new petition without indexing it.
    ///
    /// 1. Documents under any of its band keys are candidates.
    /// 2. Each candidate's fingerprint is verified ([`Detector::verify`]).
    /// 3. For an identified petitioner, each matched matter's lead is followed to the petitioner's
    ///    own first document on it (the petitioner link): in a matter hundreds re-post, the
    ///    buckets hold only the latest members, and the petitioner's own may not be among them.
    /// 4. [`decide`] applies petitioner, place and time.
    pub fn lookup(&self, sketch: &Sketch, facts: &Facts) -> Decision<DocId> {
        let candidates = self.candidates(sketch, facts, DocId::MAX);
        decide(facts, &candidates, &self.policy)
    }

    /// Steps 1 to 3 of [`Index::lookup`], among the documents numbered below `before`: what
    /// the index knew when a petition indexed as `before` was first decided, so deciding it
    /// again comes to the same candidates.
    pub fn candidates(
        &self,
        sketch: &Sketch,
        facts: &Facts,
        before: DocId,
    ) -> Vec<Candidate<DocId>> {
        let before = before.min(DocId::try_from(self.len()).unwrap_or(DocId::MAX));
        let mut candidates: Vec<Candidate<DocId>> = self
            .probe(sketch)
            .into_iter()
            // A store shared with other indexes may know documents this one has not seen.
            .filter(|&id| id < before)
            .filter_map(|id| {
                let similarity = self.similarity(&sketch.fingerprint, id);
                let shorter = sketch
                    .fingerprint
                    .shingles
                    .min(self.docs.shingles[id as usize]);
                let similarity = self.detector.accept(similarity, shorter)?;
                Some(self.candidate(id, similarity))
            })
            .collect();
        if let Some(petitioner) = facts.petitioner.digest() {
            let mut leads: Vec<DocId> = candidates.iter().map(|c| c.lead).collect();
            leads.sort_unstable();
            leads.dedup();
            let mut linked = Vec::new();
            for lead in leads {
                linked.clear();
                self.store.get(link_key(petitioner, lead), &mut linked);
                for &id in &linked {
                    // Keys are truncated in the store: the link must really be this
                    // petitioner's, in this matter.
                    let own = id < before
                        && self.docs.facts[id as usize].petitioner == facts.petitioner
                        && self.docs.leads[id as usize] == lead
                        && !candidates.iter().any(|c| c.id == id);
                    if own {
                        // Linked through its matter, not its text: the evidence is the texts'
                        // similarity as it stands, unthresholded.
                        let similarity = self.similarity(&sketch.fingerprint, id);
                        candidates.push(self.candidate(id, similarity));
                    }
                }
            }
        }
        candidates
    }

    /// How many documents a lookup of `sketch` verifies: how crowded its band keys are.
    pub fn candidate_count(&self, sketch: &Sketch) -> usize {
        self.probe(sketch).len()
    }

    /// The documents under any of the sketch's band keys, once each.
    fn probe(&self, sketch: &Sketch) -> Vec<DocId> {
        let mut ids = Vec::with_capacity(sketch.bands.len() * 2);
        for band in &sketch.bands {
            self.store.get(band.digest, &mut ids);
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Indexes a petition with the decision taken for it; returns its number.
    pub fn insert(&mut self, sketch: &Sketch, facts: Facts, decision: &Decision<DocId>) -> DocId {
        let original = match decision.outcome {
            Outcome::Repeat { original } => Some(original),
            _ => None,
        };
        self.insert_decided(sketch, facts, decision.lead, original)
    }

    /// Indexes a petition decided elsewhere: `lead` is the matter's lead (`None`: the petition
    /// leads its own), `original` set when it is a repeat. Returns its number.
    pub fn insert_decided(
        &mut self,
        sketch: &Sketch,
        facts: Facts,
        lead: Option<DocId>,
        original: Option<DocId>,
    ) -> DocId {
        let id = DocId::try_from(self.len()).expect("fewer than 4 billion documents");
        let lead = lead.unwrap_or(id);
        let docs = &mut self.docs;
        assert_eq!(
            sketch.fingerprint.minima.len(),
            self.detector.scheme.hashes,
            "a sketch of this index's scheme"
        );
        docs.minima.extend_from_slice(&sketch.fingerprint.minima);
        docs.shingles.push(sketch.fingerprint.shingles);
        docs.facts.push(facts);
        docs.leads.push(lead);
        docs.originals.push(original.unwrap_or(NO_ORIGINAL));
        docs.open.push(true);
        for band in &sketch.bands {
            self.store.insert(band.digest, id);
        }
        // A repeat's petitioner is linked to the matter already, through the original.
        let first_in_matter = original.is_none();
        if let Some(petitioner) = facts.petitioner.digest()
            && first_in_matter
            && !sketch.bands.is_empty()
        {
            self.store.insert(link_key(petitioner, lead), id);
        }
        id
    }

    /// Looks a petition up and indexes it: what triage does with each one.
    pub fn submit(&mut self, title: &str, body: &str, facts: Facts) -> (DocId, Decision<DocId>) {
        let sketch = self.detector.sketch(title, body);
        let decision = self.lookup(&sketch, &facts);
        let id = self.insert(&sketch, facts, &decision);
        (id, decision)
    }

    /// The matter `lead` carries is closed (办结): later petitions on it are repeats after
    /// closure or new matters, no longer members.
    pub fn close(&mut self, lead: DocId) {
        if let Some(open) = self.docs.open.get_mut(lead as usize) {
            *open = false;
        }
    }

    /// Bytes of the band and link entries: what grows with every document and what the KV form
    /// stores under band keys.
    pub fn index_bytes(&self) -> usize {
        self.store.heap_bytes()
    }

    /// Bytes of the fingerprints and facts: in the KV form these live with each case.
    pub fn document_bytes(&self) -> usize {
        let d = &self.docs;
        d.minima.capacity()
            + d.shingles.capacity() * size_of::<u32>()
            + d.facts.capacity() * size_of::<Facts>()
            + d.leads.capacity() * size_of::<DocId>()
            + d.originals.capacity() * size_of::<DocId>()
            + d.open.capacity()
    }

    fn similarity(&self, fingerprint: &Fingerprint, id: DocId) -> Similarity {
        let hashes = self.detector.scheme.hashes;
        let at = id as usize * hashes;
        Similarity::estimate(
            &fingerprint.minima,
            fingerprint.shingles,
            &self.docs.minima[at..at + hashes],
            self.docs.shingles[id as usize],
        )
    }

    fn candidate(&self, id: DocId, similarity: Similarity) -> Candidate<DocId> {
        let i = id as usize;
        let lead = self.docs.leads[i];
        Candidate {
            id,
            facts: self.docs.facts[i],
            lead,
            original: Some(self.docs.originals[i]).filter(|&o| o != NO_ORIGINAL),
            open: self.docs.open[lead as usize],
            similarity,
        }
    }
}

/// Where a petitioner's first document on a matter is found: a key in the same store as the
/// bands, from the petitioner and the matter's lead.
fn link_key(petitioner: u64, lead: DocId) -> u64 {
    mix(petitioner ^ mix(u64::from(lead) | LINK_TAG))
}

/// Keeps link keys apart from band keys, which mix a band number in the same way.
const LINK_TAG: u64 = 1 << 40;
