//! The near-duplicate index shared by every triage instance: a journal of decided petitions in
//! KV bucket `minhu_dedup`, which each instance follows and folds into memory; the layout and
//! the fold are [`minhu_dedup::kv`]'s.
//!
//! Two instances deciding near-duplicates at the same moment cannot both create an original:
//! an entry is written with the stream's last sequence as the instance last folded it, so a
//! write that finds a newer entry fails; the instance folds it and decides again. Within an
//! instance decisions take turns, so its own petitions never race each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::{self, kv, stream};
use futures::StreamExt;
use minhu_contracts::v1::{CaseStatus, CaseView, DedupEvidence};
use minhu_core::bus::{Bus, kv_subject, lost_first_write};
use minhu_dedup::decide::{Candidate, Decision, Facts, Policy, decide};
use minhu_dedup::detector::Detector;
use minhu_dedup::kv::{JournalIndex, StoredDoc, doc_key};
use prost::Message;
use tokio::sync::watch;

/// How often a decision is taken again after another instance's entry came first.
const ATTEMPTS: usize = 8;
/// How long a decision waits for the journal to be folded up to the stream's end: at start-up
/// an instance reads the whole journal first (about 100,000 entries a second).
const CATCH_UP: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("the dedup index is unavailable: {0}")]
    Unavailable(#[from] async_nats::Error),
    #[error("the dedup index kept changing during the lookup")]
    Contended,
    #[error("the dedup journal was not read up to its end within {0:?}")]
    Behind(Duration),
}

pub struct NearIndex {
    pub detector: Detector,
    pub policy: Policy,
    journal: Arc<Mutex<JournalIndex>>,
    /// The sequence the follower has folded up to; changes wake decisions waiting to catch up.
    folded: watch::Receiver<u64>,
    folded_sender: Arc<watch::Sender<u64>>,
    /// One decision at a time in this instance: they all write against the same last sequence.
    turn: tokio::sync::Mutex<()>,
    follower: OnceLock<Follower>,
}

/// The task folding the journal, stopped with the index.
struct Follower(tokio::task::JoinHandle<()>);

impl Drop for Follower {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl NearIndex {
    pub fn new(detector: Detector, policy: Policy) -> NearIndex {
        let (sender, folded) = watch::channel(0);
        NearIndex {
            journal: Arc::new(Mutex::new(JournalIndex::new(detector, policy))),
            detector,
            policy,
            folded,
            folded_sender: Arc::new(sender),
            turn: tokio::sync::Mutex::new(()),
            follower: OnceLock::new(),
        }
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
        self.follower.get_or_init(|| {
            Follower(tokio::spawn(follow(
                bus.dedup.clone(),
                self.journal.clone(),
                self.folded_sender.clone(),
            )))
        });
        let sketch = self.detector.sketch(title, body);
        let subject = kv_subject(&bus.dedup, &doc_key(case_id));
        let _turn = self.turn.lock().await;
        for _ in 0..ATTEMPTS {
            let (expected, found) = {
                let journal = self.journal.lock().expect("journal lock");
                (journal.sequence(), journal.lookup(case_id, &sketch, &facts))
            };
            let mut candidates = found.candidates;
            settle_open(&bus.cases, &mut candidates).await?;
            let decision = decide(&facts, &candidates, &self.policy);
            if found.recorded {
                return Ok(decision);
            }
            let entry = StoredDoc::decided(case_id, &self.detector, &sketch, facts, &decision);
            let payload = serde_json::to_vec(&entry).expect("a StoredDoc serialises");
            let publish = jetstream::message::PublishMessage::build()
                .payload(payload.into())
                .expected_last_sequence(expected);
            let acked = match bus.js.send_publish(subject.clone(), publish).await {
                Ok(ack) => ack.await,
                Err(e) => Err(e),
            };
            match acked {
                Ok(ack) => {
                    self.journal
                        .lock()
                        .expect("journal lock")
                        .fold(ack.sequence, Some(&entry));
                    return Ok(decision);
                }
                Err(e) if lost_first_write(&e) => self.catch_up(&bus.dedup.stream).await?,
                Err(e) => return Err(IndexError::Unavailable(e.into())),
            }
        }
        Err(IndexError::Contended)
    }

    /// Waits until the journal is folded up to the stream's last sequence.
    async fn catch_up(&self, stream: &stream::Stream) -> Result<(), IndexError> {
        let last = stream
            .get_info()
            .await
            .map_err(|e| IndexError::Unavailable(e.into()))?
            .state
            .last_sequence;
        let mut folded = self.folded.clone();
        let journal = &self.journal;
        let caught_up =
            folded.wait_for(|_| journal.lock().expect("journal lock").sequence() >= last);
        match tokio::time::timeout(CATCH_UP, caught_up).await {
            Ok(Ok(_)) => Ok(()),
            // The follower stops only with the index.
            Ok(Err(_)) | Err(_) => Err(IndexError::Behind(CATCH_UP)),
        }
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
            .map_err(|e| IndexError::Unavailable(e.into()))?
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
async fn follow(
    store: kv::Store,
    journal: Arc<Mutex<JournalIndex>>,
    folded: Arc<watch::Sender<u64>>,
) {
    let documents = kv_subject(&store, &doc_key(""));
    let mut backoff = Duration::from_millis(200);
    loop {
        let next_sequence = journal.lock().expect("journal lock").sequence() + 1;
        let config = pull::OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: next_sequence,
            },
            ..Default::default()
        };
        let messages = async {
            let consumer = store.stream.create_consumer(config).await?;
            Ok::<_, async_nats::Error>(consumer.messages().await?)
        };
        let mut messages = match messages.await {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(error = %e, "cannot follow the dedup journal; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        while let Some(next) = messages.next().await {
            let message = match next {
                Ok(message) => message,
                Err(e) => {
                    tracing::warn!(error = %e, "dedup journal feed interrupted");
                    break;
                }
            };
            let Ok(info) = message.info() else {
                continue;
            };
            let entry = message
                .subject
                .starts_with(documents.as_str())
                .then(|| serde_json::from_slice::<StoredDoc>(&message.payload).ok())
                .flatten();
            let sequence = {
                let mut journal = journal.lock().expect("journal lock");
                journal.fold(info.stream_sequence, entry.as_ref());
                journal.sequence()
            };
            folded.send_replace(sequence);
        }
    }
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
