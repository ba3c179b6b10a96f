//! The near-duplicate index on JetStream KV (bucket `minhu_dedup`), shared by every triage
//! instance; the layout is [`minhu_dedup::kv`]'s.
//!
//! Two instances deciding near-duplicates at the same moment cannot both create an original:
//! near-duplicates share a band key, and every band entry is written at the revision it was
//! read at (`create` for a band never seen). A write that finds a newer revision means another
//! petition joined a bucket meanwhile: read again, decide again.

use std::collections::BTreeSet;

use async_nats::jetstream::kv::{self, CreateErrorKind, UpdateErrorKind};
use bytes::Bytes;
use minhu_contracts::v1::{CaseStatus, CaseView, DedupEvidence};
use minhu_core::bus::{Bus, kv_subject, last_messages};
use minhu_dedup::decide::{Candidate, Decision, Facts, Policy, decide};
use minhu_dedup::detector::Detector;
use minhu_dedup::kv::{StoredDoc, band_key, doc_key, link_key};
use minhu_dedup::store::{BUCKET_CAP, push_recent};
use prost::Message;

/// How often a lookup is retried after losing a race on a band entry.
const ATTEMPTS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("the dedup index is unavailable: {0}")]
    Unavailable(#[from] async_nats::Error),
    #[error("the dedup index kept changing during the lookup")]
    Contended,
}

pub struct NearIndex {
    pub detector: Detector,
    pub policy: Policy,
}

/// One band entry as read: the case ids and the revision to write against.
struct Band {
    key: String,
    ids: Vec<String>,
    revision: Option<u64>,
}

impl NearIndex {
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
        let (store, cases) = (&bus.dedup, &bus.cases);
        let sketch = self.detector.sketch(title, body);
        for _ in 0..ATTEMPTS {
            // All band entries in one batched read: most bands are new and have none.
            let keys: Vec<String> = sketch
                .bands
                .iter()
                .map(|band| band_key(&self.detector.scheme, band))
                .collect();
            let subjects: Vec<String> = keys.iter().map(|k| kv_subject(store, k)).collect();
            let mut entries = last_messages(
                &bus.client,
                &store.stream_name,
                &subjects,
                bus.request_timeout,
            )
            .await
            .map_err(|e| IndexError::Unavailable(e.into()))?;
            let bands: Vec<Band> = keys
                .into_iter()
                .zip(&subjects)
                .map(|(key, subject)| {
                    let entry = entries.remove(subject);
                    Band {
                        key,
                        ids: entry
                            .as_ref()
                            .and_then(|e| serde_json::from_slice(&e.payload).ok())
                            .unwrap_or_default(),
                        revision: entry.map(|e| e.sequence),
                    }
                })
                .collect();
            let seen: BTreeSet<String> = bands
                .iter()
                .flat_map(|b| b.ids.iter().cloned())
                .filter(|id| id != case_id)
                .collect();
            let mut candidates = Vec::new();
            for id in &seen {
                if let Some(c) = self
                    .candidate(store, cases, id, &sketch.fingerprint)
                    .await?
                {
                    candidates.push(c);
                }
            }
            // A petitioner's first case on a much re-posted matter may have left the buckets;
            // the link finds it from the matter's lead.
            let leads: BTreeSet<String> = candidates.iter().map(|c| c.lead.clone()).collect();
            for lead in leads {
                let Some(key) = link_key(&facts.petitioner, &lead) else {
                    continue;
                };
                if let Some(first) = store
                    .get(&key)
                    .await
                    .map_err(|e| IndexError::Unavailable(e.into()))?
                {
                    let first = String::from_utf8_lossy(&first).into_owned();
                    if first != case_id
                        && !candidates.iter().any(|c| c.id == first)
                        && let Some(c) = self
                            .candidate(store, cases, &first, &sketch.fingerprint)
                            .await?
                    {
                        candidates.push(c);
                    }
                }
            }
            let decision = decide(&facts, &candidates, &self.policy);

            let original = match &decision.outcome {
                minhu_dedup::decide::Outcome::Repeat { original } => Some(original.clone()),
                _ => None,
            };
            let doc = StoredDoc {
                fingerprint: sketch.fingerprint.clone(),
                facts,
                lead: decision.lead.clone().unwrap_or_else(|| case_id.to_owned()),
                original,
            };
            let doc_json = serde_json::to_vec(&doc).expect("a StoredDoc serialises");
            store
                .put(doc_key(case_id), doc_json.into())
                .await
                .map_err(|e| IndexError::Unavailable(e.into()))?;
            if !self.write_bands(store, case_id, bands).await? {
                continue;
            }
            if !matches!(
                decision.outcome,
                minhu_dedup::decide::Outcome::Repeat { .. }
            ) && let Some(key) = link_key(&facts.petitioner, &doc.lead)
            {
                match store.create(&key, Bytes::from(case_id.to_owned())).await {
                    Ok(_) => {}
                    Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {}
                    Err(e) => return Err(IndexError::Unavailable(e.into())),
                }
            }
            return Ok(decision);
        }
        Err(IndexError::Contended)
    }

    /// Writes `case_id` into every band at the revision read; false if any band moved on.
    /// One after another, in band order: of two near-duplicates racing, the first band they
    /// share lets one through and stops the other before it wrote any later band, so they can
    /// never both win some bands and wait for each other.
    async fn write_bands(
        &self,
        store: &kv::Store,
        case_id: &str,
        bands: Vec<Band>,
    ) -> Result<bool, IndexError> {
        for mut band in bands {
            if band.ids.iter().any(|id| id == case_id) {
                continue;
            }
            push_recent(&mut band.ids, case_id.to_owned(), BUCKET_CAP);
            let value: Bytes = serde_json::to_vec(&band.ids).expect("ids serialise").into();
            let written = match band.revision {
                Some(revision) => match store.update(&band.key, value, revision).await {
                    Ok(_) => true,
                    Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => false,
                    Err(e) => return Err(IndexError::Unavailable(e.into())),
                },
                None => match store.create(&band.key, value).await {
                    Ok(_) => true,
                    Err(e) if e.kind() == CreateErrorKind::AlreadyExists => false,
                    Err(e) => return Err(IndexError::Unavailable(e.into())),
                },
            };
            if !written {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// An indexed case as a candidate, if its text verifies against the new one.
    async fn candidate(
        &self,
        store: &kv::Store,
        cases: &kv::Store,
        id: &str,
        fingerprint: &minhu_dedup::sketch::Fingerprint,
    ) -> Result<Option<Candidate<String>>, IndexError> {
        let Some(raw) = store
            .get(doc_key(id))
            .await
            .map_err(|e| IndexError::Unavailable(e.into()))?
        else {
            return Ok(None);
        };
        let Ok(doc) = serde_json::from_slice::<StoredDoc>(&raw) else {
            return Ok(None);
        };
        let Some(similarity) = self.detector.verify(fingerprint, &doc.fingerprint) else {
            return Ok(None);
        };
        // Whether the matter is open is its lead's status; a lead still being triaged is open.
        let open = match cases
            .get(&doc.lead)
            .await
            .map_err(|e| IndexError::Unavailable(e.into()))?
        {
            Some(bytes) => CaseView::decode(bytes)
                .map(|v| v.status != CaseStatus::Closed as i32)
                .unwrap_or(true),
            None => true,
        };
        Ok(Some(doc.candidate(id, open, similarity)))
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
