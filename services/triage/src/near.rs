//! The near-duplicate index shared by every triage instance: a journal of decided petitions in
//! KV bucket `minhu_dedup`, which each instance follows and folds into memory; the layout and
//! the fold are [`minhu_dedup::kv`]'s.
//!
//! Two instances deciding near-duplicates at the same moment cannot both create an original:
//! an instance decides against the journal as it last folded it and writes its entries
//! expecting the stream to end where it read it. A write that finds a newer entry fails; the
//! instance folds what came and decides again.
//!
//! Within an instance, the petitions waiting for a decision are decided together, one after
//! another, each meeting the ones decided before it in the batch, and their entries are written
//! in one go without waiting for each acknowledgement: the first expects the stream's last
//! sequence as folded, each later one expects the one before it as the stream's last message
//! (by message id). So an instance pays one round trip per batch, not per petition, and an
//! entry never lands behind a message it did not see.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_nats::jetstream::context::PublishError;
use async_nats::jetstream::{self, kv};
use minhu_contracts::v1::{CaseStatus, CaseView, DedupEvidence};
use minhu_core::bus::{Bus, kv_subject, lost_first_write};
use minhu_core::{consumer, metrics};
use minhu_dedup::decide::{Candidate, Decision, Facts, Policy, decide};
use minhu_dedup::detector::Detector;
use minhu_dedup::kv::{JournalIndex, StoredDoc, doc_key};
use minhu_dedup::sketch::Sketch;
use prost::Message;
use tokio::sync::{mpsc, oneshot, watch};

/// How often a petition is decided again after another instance's entry came first.
const ATTEMPTS: usize = 8;
/// How many waiting petitions are decided and written together.
const MAX_BATCH: usize = 64;
/// How long a decision waits for the journal to be folded up to the stream's end: at start-up
/// an instance reads the whole journal first.
const CATCH_UP: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, thiserror::Error)]
pub enum IndexError {
    #[error("the dedup index is unavailable: {0}")]
    Unavailable(String),
    #[error("the dedup index kept changing during the lookup")]
    Contended,
    #[error("the dedup journal was not read up to its end within {0:?}")]
    Behind(Duration),
}

pub struct NearIndex {
    shared: Arc<Shared>,
    /// The follower and the decider, started with the first decision, stopped with the index.
    running: OnceLock<Running>,
}

/// What the follower and the decider share.
struct Shared {
    detector: Detector,
    policy: Policy,
    journal: Mutex<JournalIndex>,
    /// The sequence the follower has folded up to; changes wake a decider catching up.
    folded: watch::Sender<u64>,
}

struct Running {
    requests: mpsc::Sender<Request>,
    follower: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // The decider ends by itself once the request sender is gone.
        self.follower.abort();
    }
}

/// A petition waiting for its decision.
struct Request {
    case_id: String,
    sketch: Sketch,
    facts: Facts,
    attempts: usize,
    reply: oneshot::Sender<Result<Decision<String>, IndexError>>,
}

impl NearIndex {
    pub fn new(detector: Detector, policy: Policy) -> NearIndex {
        NearIndex {
            shared: Arc::new(Shared {
                detector,
                policy,
                journal: Mutex::new(JournalIndex::new(detector, policy)),
                folded: watch::Sender::new(0),
            }),
            running: OnceLock::new(),
        }
    }

    pub fn detector(&self) -> &Detector {
        &self.shared.detector
    }

    /// Decides `case_id` against the index and records it there, atomically with respect to
    /// other instances.
    pub async fn decide_and_record(
        &self,
        bus: &Bus,
        case_id: &str,
        title: &str,
        body: &str,
        facts: Facts,
    ) -> Result<Decision<String>, IndexError> {
        let running = self.running.get_or_init(|| {
            let (requests, waiting) = mpsc::channel(4 * MAX_BATCH);
            tokio::spawn(decide_in_batches(self.shared.clone(), bus.clone(), waiting));
            Running {
                requests,
                follower: tokio::spawn(follow(bus.dedup.clone(), self.shared.clone())),
            }
        });
        let (reply, decided) = oneshot::channel();
        let request = Request {
            case_id: case_id.to_owned(),
            sketch: self.shared.detector.sketch(title, body),
            facts,
            attempts: 0,
            reply,
        };
        let stopped = || IndexError::Unavailable("the dedup decider stopped".into());
        running
            .requests
            .send(request)
            .await
            .map_err(|_| stopped())?;
        decided.await.map_err(|_| stopped())?
    }
}

/// Takes the waiting petitions in batches, until the index is dropped.
async fn decide_in_batches(shared: Arc<Shared>, bus: Bus, mut waiting: mpsc::Receiver<Request>) {
    let mut batch: VecDeque<Request> = VecDeque::new();
    loop {
        if batch.is_empty() {
            match waiting.recv().await {
                Some(request) => batch.push_back(request),
                None => return,
            }
        }
        while batch.len() < MAX_BATCH {
            match waiting.try_recv() {
                Ok(request) => batch.push_back(request),
                Err(_) => break,
            }
        }
        let lost = decide_batch(&shared, &bus, batch.drain(..).collect()).await;
        if lost.is_empty() {
            continue;
        }
        metrics::dedup_journal_conflicts(lost.len());
        let caught_up = catch_up(&shared, &bus).await;
        for mut request in lost {
            request.attempts += 1;
            match &caught_up {
                Err(e) => drop(request.reply.send(Err(e.clone()))),
                Ok(()) if request.attempts >= ATTEMPTS => {
                    drop(request.reply.send(Err(IndexError::Contended)))
                }
                Ok(()) => batch.push_back(request),
            }
        }
    }
}

/// Decides `batch` in order and writes the entries; answers each request, except those whose
/// entry lost to another instance's, which it returns to be decided again.
async fn decide_batch(shared: &Shared, bus: &Bus, batch: Vec<Request>) -> Vec<Request> {
    let expected = shared.journal.lock().expect("journal lock").sequence();
    let mut pending: Vec<StoredDoc> = Vec::new();
    let mut decided = Vec::new();
    for request in batch {
        let found = shared.journal.lock().expect("journal lock").lookup_after(
            &request.case_id,
            &request.sketch,
            &request.facts,
            &pending,
        );
        let mut candidates = found.candidates;
        if let Err(e) = settle_open(&bus.cases, &mut candidates).await {
            drop(request.reply.send(Err(e)));
            continue;
        }
        let decision = decide(&request.facts, &candidates, &shared.policy);
        // Decided before (a redelivery): its entry stands, and the decision meets the same
        // cases it met then.
        if found.recorded {
            drop(request.reply.send(Ok(decision)));
            continue;
        }
        let entry = StoredDoc::decided(
            &request.case_id,
            &shared.detector,
            &request.sketch,
            request.facts,
            &decision,
        );
        pending.push(entry);
        decided.push((request, decision));
    }

    let mut acks = Vec::with_capacity(pending.len());
    for (i, entry) in pending.iter().enumerate() {
        let payload = crate::journal::encode(entry);
        let publish = jetstream::message::PublishMessage::build()
            .payload(payload.into())
            .message_id(&entry.case_id);
        let publish = match i.checked_sub(1) {
            None => publish.expected_last_sequence(expected),
            Some(previous) => publish.expected_last_message_id(&pending[previous].case_id),
        };
        let subject = kv_subject(&bus.dedup, &doc_key(&entry.case_id));
        acks.push(bus.js.send_publish(subject, publish).await);
    }

    let mut lost = Vec::new();
    for (((request, decision), entry), ack) in decided.into_iter().zip(&pending).zip(acks) {
        let acked = match ack {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match acked {
            Ok(ack) => {
                if !ack.duplicate {
                    shared
                        .journal
                        .lock()
                        .expect("journal lock")
                        .fold_written(ack.sequence, entry);
                }
                drop(request.reply.send(Ok(decision)));
            }
            Err(e) if lost_to_another_write(&e) => lost.push(request),
            Err(e) => drop(
                request
                    .reply
                    .send(Err(IndexError::Unavailable(e.to_string()))),
            ),
        }
    }
    lost
}

/// Whether a write failed its expectation about the stream's end: another message landed
/// first, or the entry it was to follow did not land.
fn lost_to_another_write(error: &PublishError) -> bool {
    use async_nats::jetstream::ErrorCode;
    lost_first_write(error)
        || std::error::Error::source(error)
            .and_then(|source| source.downcast_ref::<async_nats::jetstream::Error>())
            .is_some_and(|e| e.error_code() == ErrorCode::STREAM_WRONG_LAST_MESSAGE_ID)
}

/// Waits until the journal is folded up to the stream's last sequence.
async fn catch_up(shared: &Shared, bus: &Bus) -> Result<(), IndexError> {
    let last = bus
        .dedup
        .stream
        .get_info()
        .await
        .map_err(|e| IndexError::Unavailable(e.to_string()))?
        .state
        .last_sequence;
    let mut folded = shared.folded.subscribe();
    let caught_up =
        folded.wait_for(|_| shared.journal.lock().expect("journal lock").sequence() >= last);
    match tokio::time::timeout(CATCH_UP, caught_up).await {
        Ok(Ok(_)) => Ok(()),
        // The follower stops only with the index.
        Ok(Err(_)) | Err(_) => Err(IndexError::Behind(CATCH_UP)),
    }
}

/// Whether each candidate's matter is open is its lead's status; a lead still being triaged
/// is open. Read once per lead.
async fn settle_open(
    cases: &kv::Store,
    candidates: &mut [Candidate<String>],
) -> Result<(), IndexError> {
    let mut open: HashMap<String, bool> = HashMap::new();
    for candidate in candidates.iter_mut() {
        if let Some(&known) = open.get(&candidate.lead) {
            candidate.open = known;
            continue;
        }
        let status = match cases
            .get(&candidate.lead)
            .await
            .map_err(|e| IndexError::Unavailable(e.to_string()))?
        {
            Some(bytes) => CaseView::decode(bytes)
                .map(|v| v.status != CaseStatus::Closed as i32)
                .unwrap_or(true),
            None => true,
        };
        open.insert(candidate.lead.clone(), status);
        candidate.open = status;
    }
    Ok(())
}

/// Folds the journal from its first entry, then every new one as it lands, until aborted.
async fn follow(store: kv::Store, shared: Arc<Shared>) {
    let documents = kv_subject(&store, &doc_key(""));
    let never = std::future::pending();
    consumer::follow(
        &store.stream,
        1,
        "dedup journal",
        never,
        |sequence, message| {
            let entry = message
                .subject
                .starts_with(documents.as_str())
                .then(|| crate::journal::decode(&message.payload))
                .flatten();
            let (folded, entries) = {
                let mut journal = shared.journal.lock().expect("journal lock");
                journal.fold(sequence, entry.as_ref());
                (journal.sequence(), journal.len())
            };
            shared.folded.send_replace(folded);
            metrics::dedup_journal(entries);
        },
    )
    .await;
}

/// The evidence as recorded on cases.
pub fn evidence(decision: &Decision<String>, scheme: &str) -> Option<DedupEvidence> {
    decision.evidence.as_ref().map(|e| DedupEvidence {
        matched_case_id: e.matched.clone(),
        jaccard: f64::from(e.similarity.jaccard),
        containment: f64::from(e.similarity.containment),
        shared_shingles: e.similarity.shared_shingles,
        scheme: scheme.to_owned(),
    })
}
