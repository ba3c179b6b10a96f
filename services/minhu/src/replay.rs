//! `minhu replay`: routes past intake again with the catalogue in force, to see (and, without
//! `--dry-run`, apply as the centre's 改派) what a catalogue change means for cases already
//! dispatched. Each case keeps its recorded category (the model's, or the centre's); only the
//! route is decided again, accusation guard included.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use futures::StreamExt;
use minhu_contracts::v1::{CaseStatus, IntakeRecord, RequestType, RouteDecision, XinfangCategory};
use minhu_core::bus::Bus;
use minhu_core::case::{CaseStore, StoreError};
use minhu_core::config::Settings;
use minhu_core::domain::TrackingNumber;
use minhu_dispatch::service::CaseApi;
use minhu_triage::{LiveRouting, Routing};
use prost::Message;
use time::OffsetDateTime;

/// What a replay found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Cases looked at (petitions triaged since the start time).
    pub cases: usize,
    /// Cases the catalogue in force routes to another lead unit.
    pub changed: usize,
    /// Changes recorded as reassignments.
    pub applied: usize,
    /// Changes not applied: the case is closed, or would now wait for the centre.
    pub skipped: usize,
}

impl std::fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cases={} changed={} applied={} skipped={}",
            self.cases, self.changed, self.applied, self.skipped
        )
    }
}

/// Replays the intake from `since`, writing one line per changed case to `out`.
pub async fn replay(
    settings: &Settings,
    bus: &Bus,
    since: OffsetDateTime,
    dry_run: bool,
    out: &mut impl Write,
) -> anyhow::Result<ReplayReport> {
    let routing = LiveRouting::new(Routing::new(settings).context("catalogue")?);
    let current = routing.current();
    let calendar = settings.clock.calendar().map_err(anyhow::Error::msg)?;
    let api = CaseApi::new(settings, bus.clone(), Arc::new(calendar), routing.clone());
    let store = CaseStore::new(bus.clone());
    let version = current.router().catalogue_version().to_owned();

    let consumer = bus
        .intake
        .create_consumer(pull::OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartTime { start_time: since },
            ..Default::default()
        })
        .await
        .context("reading the intake stream")?;
    let pending = consumer.cached_info().num_pending as usize;
    let mut messages = consumer.messages().await?.take(pending);
    let mut report = ReplayReport::default();
    while let Some(message) = messages.next().await {
        let message = message?;
        let sequence = message.info().map_err(anyhow::Error::msg)?.stream_sequence;
        let Ok(record) = IntakeRecord::decode(message.payload.clone()) else {
            continue;
        };
        let Some(accepted_at) = record
            .received_at
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        else {
            continue;
        };
        let case_id =
            TrackingNumber::new(&settings.identity.tracking_prefix, accepted_at, sequence)
                .to_string();
        let view = match store.load(&case_id).await {
            Ok(v) => v.view,
            // Not triaged yet: triage routes it with the catalogue in force anyway.
            Err(StoreError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        // Repeats and merged petitions travel with the case that carries their matter.
        let Some(old) = view
            .route
            .clone()
            .filter(|_| view.duplicate_of.is_empty() && view.cluster_lead.is_empty())
        else {
            continue;
        };
        report.cases += 1;
        let classification = view.classification.clone().unwrap_or_default();
        let petition = record.petition.unwrap_or_default();
        let new = current.route(
            &petition,
            &record.channel_id,
            &record.channel_division_code,
            &classification.category,
            RequestType::try_from(classification.request_type).unwrap_or_default(),
            classification.xinfang_category == XinfangCategory::Accusation as i32,
        );
        if same_units(&old, &new) {
            continue;
        }
        report.changed += 1;
        let describe = |r: &RouteDecision| {
            if r.lead_unit_id.is_empty() {
                "centre-queue".to_owned()
            } else {
                r.lead_unit_id.clone()
            }
        };
        write!(
            out,
            "{case_id} {} -> {} rule {} ({} -> {version})",
            describe(&old),
            describe(&new),
            if new.rule_id.is_empty() {
                "-"
            } else {
                &new.rule_id
            },
            old.catalogue_version,
        )?;
        let closed = matches!(
            CaseStatus::try_from(view.status).unwrap_or_default(),
            CaseStatus::Closed | CaseStatus::Duplicate | CaseStatus::Merged
        );
        if dry_run {
            writeln!(out)?;
        } else if closed || new.lead_unit_id.is_empty() {
            report.skipped += 1;
            writeln!(
                out,
                " skipped: {}",
                if closed {
                    "closed"
                } else {
                    "the centre decides"
                }
            )?;
        } else {
            let reason = format!("派单目录 {version} 重新派单 (minhu replay)");
            match api
                .reassign_by_centre(
                    &case_id,
                    new.lead_unit_id.clone(),
                    new.assisting_unit_ids.clone(),
                    reason,
                )
                .await
            {
                Ok(_) => {
                    report.applied += 1;
                    writeln!(out, " applied")?;
                }
                Err(status) => {
                    report.skipped += 1;
                    writeln!(out, " skipped: {}", status.message())?;
                }
            }
        }
    }
    Ok(report)
}

fn same_units(a: &RouteDecision, b: &RouteDecision) -> bool {
    a.lead_unit_id == b.lead_unit_id && a.assisting_unit_ids == b.assisting_unit_ids
}

/// `--since`: an RFC 3339 time, or a date (midnight China time).
pub fn parse_since(value: &str) -> anyhow::Result<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(value, &Rfc3339) {
        return Ok(t);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(value, &format)
        .with_context(|| format!("--since {value:?}: not an RFC 3339 time or a YYYY-MM-DD date"))?;
    Ok(date.midnight().assume_offset(time::macros::offset!(+8)))
}
