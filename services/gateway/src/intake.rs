//! Durable, idempotent intake and tracking.
//!
//! Each submission is published on its own subject of the intake stream,
//! `minhu.intake.<channel>.<digest of channel_message_id>`, with an expected last subject
//! sequence of 0. The first write wins; every retry, at any later time and from any number of
//! concurrent callers, fails that check and reads the original back, so one JetStream operation
//! both stores the petition and makes the idempotency record, forever. (A KV record created
//! before the publish would cost a second round trip and leave a window where the key exists
//! but the petition does not.)
//!
//! The receipt is derived from the stored message alone: the tracking number from its stream
//! sequence and the gateway's receive time inside it, the query code by HMAC of the tracking
//! number. A retry therefore rebuilds exactly the original receipt.

use std::collections::HashMap;
use std::sync::Arc;

use async_nats::connection::State;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use minhu_contracts::bus;
use minhu_contracts::v1::{
    CaseStatus, CaseView, HistoryEntry, IntakeRecord, Petition, Petitioner, Receipt, ReceptionCase,
    TrackResponse, Unit,
};
use minhu_core::bus::Bus;
use minhu_core::channels::LiveChannel;
use minhu_core::config::{DeadlineSettings, GatewaySettings};
use minhu_core::deadlines::{self, timestamp};
use minhu_core::domain::{ChannelId, TrackingNumber};
use minhu_core::metrics;
use minhu_core::privacy::Identity;
use prost::Message;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tonic::Status;
use tonic_types::StatusExt;

use crate::error::{IntakeError, internal};
use crate::limits::{OwnLimit, SubmitLimiter, TrackGuard};
use crate::stats::ChannelStats;
use crate::validate::validate;

/// Everything Submit and Track need, shared by all calls.
#[derive(Clone)]
pub struct Intake {
    pub(crate) bus: Bus,
    pub(crate) identity: Identity,
    pub(crate) limits: GatewaySettings,
    pub(crate) deadlines: DeadlineSettings,
    pub(crate) tracking_prefix: String,
    /// Unit id → unit name, for Track answers.
    pub(crate) unit_names: HashMap<String, String>,
    pub(crate) stats: Arc<ChannelStats>,
    pub(crate) submit_limiter: Arc<SubmitLimiter>,
    pub(crate) track_guard: Arc<TrackGuard>,
}

impl Intake {
    /// Validates, stores durably (or finds the original), and returns the receipt; counts the
    /// outcome for the metrics and the channel's figures.
    pub async fn submit(
        &self,
        live: &LiveChannel,
        petition: Option<Petition>,
    ) -> Result<Receipt, IntakeError> {
        let started = std::time::Instant::now();
        let channel = &live.id;
        let own = OwnLimit {
            rate: live.record.rate_per_second,
            burst: live.record.burst,
        };
        let result = match self.submit_limiter.take(channel.as_str(), own) {
            Ok(()) => {
                self.store(channel, &live.record.division_code, petition)
                    .await
            }
            Err(wait) => Err(IntakeError::RateLimited(wait)),
        };
        let outcome = match &result {
            Ok(receipt) if receipt.replayed => "replayed",
            Ok(_) => "accepted",
            Err(e) => e.outcome(),
        };
        metrics::intake_request(channel.as_str(), outcome, started.elapsed());
        if outcome == "accepted" {
            metrics::channel_accepted(
                channel.as_str(),
                OffsetDateTime::now_utc().unix_timestamp() as f64,
            );
        }
        self.stats.record(channel.as_str(), outcome);
        result
    }

    async fn store(
        &self,
        channel: &ChannelId,
        channel_division_code: &str,
        petition: Option<Petition>,
    ) -> Result<Receipt, IntakeError> {
        let now = OffsetDateTime::now_utc();
        validate(petition.as_ref(), &self.limits, now).map_err(IntakeError::Invalid)?;
        let mut petition = petition.expect("validated: present");
        // prost encodes fields in number order, so the same petition always digests the same.
        let content_digest = hex::encode(Sha256::digest(petition.encode_to_vec()));
        let petitioner = petition.petitioner.take().filter(|p| !is_anonymous(p));
        let record = IntakeRecord {
            channel_id: channel.to_string(),
            sealed_petitioner: petitioner.as_ref().map(|p| self.identity.seal(p)),
            petitioner_key: petitioner
                .as_ref()
                .and_then(|p| self.identity.petitioner_key(p))
                .unwrap_or_default(),
            content_digest,
            received_at: Some(timestamp(now)),
            petition: Some(petition),
            channel_division_code: channel_division_code.to_owned(),
        };
        let message_id = &record
            .petition
            .as_ref()
            .expect("set above")
            .channel_message_id;
        let subject = bus::intake_subject(channel.as_str(), &intake_key(message_id));

        // The client queues publishes while disconnected and sends them on reconnect; a
        // petition stored after we answered UNAVAILABLE would be stored without a receipt.
        if self.bus.client.connection_state() != State::Connected {
            return Err(IntakeError::Unavailable("not connected to NATS".into()));
        }
        let publish = PublishMessage::build()
            .payload(record.encode_to_vec().into())
            .expected_last_subject_sequence(0);
        let acked = match self.bus.js.send_publish(subject.clone(), publish).await {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match acked {
            Ok(ack) => {
                let receipt = self.receipt(ack.sequence, now, false);
                tracing::debug!(
                    channel = %channel,
                    tracking_number = %receipt.tracking_number,
                    "petition accepted"
                );
                Ok(receipt)
            }
            Err(e) if minhu_core::bus::lost_first_write(&e) => self.replay(&subject, &record).await,
            Err(e) => {
                tracing::warn!(channel = %channel, error = %e, "intake publish failed");
                Err(IntakeError::Unavailable(e.into()))
            }
        }
    }

    /// A retry: the original is stored; return its receipt if it is the same petition.
    async fn replay(&self, subject: &str, record: &IntakeRecord) -> Result<Receipt, IntakeError> {
        let stored = self
            .bus
            .intake
            .get_last_raw_message_by_subject(subject)
            .await
            .map_err(|e| IntakeError::Unavailable(e.into()))?;
        let original =
            IntakeRecord::decode(stored.payload).map_err(|e| IntakeError::Internal(e.into()))?;
        let message_id = &record.petition.as_ref().expect("set").channel_message_id;
        if original.content_digest != record.content_digest {
            return Err(IntakeError::ReusedMessageId(message_id.clone()));
        }
        let received_at = received_at(&original).map_err(IntakeError::Internal)?;
        let receipt = self.receipt(stored.sequence, received_at, true);
        tracing::debug!(
            channel = %record.channel_id,
            tracking_number = %receipt.tracking_number,
            "retry answered with the original receipt"
        );
        Ok(receipt)
    }

    fn receipt(&self, sequence: u64, accepted_at: OffsetDateTime, replayed: bool) -> Receipt {
        let tracking = TrackingNumber::new(&self.tracking_prefix, accepted_at, sequence);
        Receipt {
            query_code: self.identity.query_code(tracking.as_str()),
            tracking_number: tracking.to_string(),
            accepted_at: Some(timestamp(accepted_at)),
            replayed,
        }
    }

    /// Tracking number + query code → the case as the petitioner may see it. Wrong codes and
    /// unknown numbers get the same NOT_FOUND, so the API never confirms that a case exists.
    pub async fn track(
        &self,
        tracking_number: &str,
        query_code: &str,
    ) -> Result<TrackResponse, Status> {
        let not_found = || Status::not_found("no case with this tracking number and query code");
        let tracking = TrackingNumber::parse(&self.tracking_prefix, tracking_number)
            .map_err(|_| not_found())?;
        if let Err(wait) = self.track_guard.check(tracking.as_str()) {
            return Err(Status::with_error_details(
                tonic::Code::ResourceExhausted,
                "too many wrong query codes for this tracking number; retry later",
                tonic_types::ErrorDetails::with_retry_info(Some(wait)),
            ));
        }
        if !self
            .identity
            .verify_query_code(tracking.as_str(), query_code)
        {
            self.track_guard.failed(tracking.as_str());
            return Err(not_found());
        }
        if let Some(view) = self.case_view(tracking.as_str()).await? {
            return self.answer_from_view(view).await;
        }
        // Not triaged yet: the intake archive proves it was accepted.
        let stored = match self
            .bus
            .intake
            .get_raw_message(tracking.intake_sequence())
            .await
        {
            Ok(m) => m,
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => {
                return Err(not_found());
            }
            Err(e) => return Err(unavailable(e.into())),
        };
        let record = IntakeRecord::decode(stored.payload)
            .map_err(|e| internal("intake record does not decode", e.into()))?;
        let accepted_at =
            received_at(&record).map_err(|e| internal("intake record has no time", e))?;
        if TrackingNumber::new(&self.tracking_prefix, accepted_at, stored.sequence) != tracking {
            return Err(not_found());
        }
        Ok(TrackResponse {
            tracking_number: tracking.to_string(),
            status: CaseStatus::Received as i32,
            accepted_at: Some(timestamp(accepted_at)),
            deadlines: deadlines::initial(accepted_at, &self.deadlines),
            history: vec![HistoryEntry {
                at: Some(timestamp(accepted_at)),
                status: CaseStatus::Received as i32,
                note: "已受理，正在分类交办".into(),
            }],
            ..Default::default()
        })
    }

    async fn case_view(&self, case_id: &str) -> Result<Option<CaseView>, Status> {
        match self.bus.cases.get(case_id).await {
            Ok(Some(bytes)) => CaseView::decode(bytes)
                .map(Some)
                .map_err(|e| internal("case view does not decode", e.into())),
            Ok(None) => Ok(None),
            Err(e) => Err(unavailable(e.into())),
        }
    }

    async fn answer_from_view(&self, view: CaseView) -> Result<TrackResponse, Status> {
        // A repeat or a merged petition is answered by the case that carries the matter.
        let carrier = if view.cluster_lead.is_empty() {
            view.duplicate_of.clone()
        } else {
            view.cluster_lead.clone()
        };
        let (original_status, reply, route) = if carrier.is_empty() {
            (
                CaseStatus::Unspecified as i32,
                view.reply.clone(),
                view.route.clone(),
            )
        } else {
            match self.case_view(&carrier).await? {
                Some(original) => (original.status, original.reply, original.route),
                None => (CaseStatus::Received as i32, String::new(), None),
            }
        };
        let guidance = match &route {
            Some(r)
                if r.centre_reason == minhu_contracts::v1::CentreReason::LegalPathway as i32 =>
            {
                view.classification
                    .as_ref()
                    .and_then(|c| c.pathway.as_ref())
                    .map(|p| p.route.clone())
                    .unwrap_or_default()
            }
            _ => String::new(),
        };
        // Only the category leaves the classification: the model's scores, features and
        // rules are for the centre, never for the petitioner.
        let unit = route
            .as_ref()
            .filter(|r| !r.lead_unit_id.is_empty())
            .map(|r| Unit {
                name: self
                    .unit_names
                    .get(&r.lead_unit_id)
                    .cloned()
                    .unwrap_or_default(),
                id: r.lead_unit_id.clone(),
            });
        Ok(TrackResponse {
            tracking_number: view.tracking_number,
            status: view.status,
            accepted_at: view.accepted_at,
            category: view.classification.map(|c| c.category).unwrap_or_default(),
            unit,
            deadlines: view.deadlines,
            history: view.history,
            duplicate_of: carrier,
            original_status,
            reply,
            guidance,
            // The units' investigation findings are for the units and the leader.
            reception: view.reception.map(|reception| ReceptionCase {
                findings: String::new(),
                findings_at: None,
                findings_unit_id: String::new(),
                ..reception
            }),
        })
    }
}

/// Subject token for a channel message id: its SHA-256 in URL-safe base64, so any id (dots,
/// spaces, Chinese) becomes a fixed-length, subject-safe token.
pub fn intake_key(channel_message_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(channel_message_id.as_bytes()))
}

fn is_anonymous(p: &Petitioner) -> bool {
    p.name.trim().is_empty()
        && p.id_number.trim().is_empty()
        && p.phone.trim().is_empty()
        && p.contact_address.trim().is_empty()
}

fn received_at(record: &IntakeRecord) -> Result<OffsetDateTime, async_nats::Error> {
    let ts = record
        .received_at
        .as_ref()
        .ok_or("intake record without received_at")?;
    Ok(OffsetDateTime::from_unix_timestamp(ts.seconds)?
        + time::Duration::nanoseconds(i64::from(ts.nanos)))
}

fn unavailable(e: async_nats::Error) -> Status {
    tracing::warn!(error = %e, "bus read failed");
    Status::unavailable("the case store is unavailable; retry later")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intake_keys_are_subject_safe_and_distinct() {
        let key = intake_key("hotline/2026.11.27 第 42 号");
        assert_eq!(key.len(), 43);
        assert!(
            key.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(intake_key("a"), intake_key("b"));
        assert_eq!(intake_key("a"), intake_key("a"));
    }
}
