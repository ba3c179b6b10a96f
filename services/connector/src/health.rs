//! A connector's health as its holder keeps it (stored as `ConnectorHealth` under
//! `health.<id>`). Pure: each outcome of a poll or an item changes it in one place.

use minhu_contracts::v1::ConnectorHealth;
use minhu_core::deadlines::timestamp;
use time::OffsetDateTime;

/// What became of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemOutcome {
    Submitted,
    Replayed,
    Rejected,
}

impl ItemOutcome {
    /// The `outcome` label of `minhu_connector_items_total`.
    pub fn label(self) -> &'static str {
        match self {
            ItemOutcome::Submitted => "submitted",
            ItemOutcome::Replayed => "replayed",
            ItemOutcome::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Health(ConnectorHealth);

impl Health {
    /// The stored health (a new holder continues its counts), or a fresh one.
    pub fn resume(
        stored: Option<ConnectorHealth>,
        connector_id: &str,
        channel_id: &str,
        holder: &str,
    ) -> Health {
        let mut health = stored.unwrap_or_default();
        health.connector_id = connector_id.to_owned();
        health.channel_id = channel_id.to_owned();
        health.holder = holder.to_owned();
        Health(health)
    }

    pub fn item(&mut self, outcome: ItemOutcome) {
        match outcome {
            ItemOutcome::Submitted => self.0.items_submitted += 1,
            ItemOutcome::Replayed => self.0.items_replayed += 1,
            ItemOutcome::Rejected => self.0.items_rejected += 1,
        }
    }

    /// A refused item: `item_id` (empty when it had none) and why, in field names only.
    pub fn rejected(&mut self, item_id: &str, why: &str, now: OffsetDateTime) {
        self.item(ItemOutcome::Rejected);
        let id = if item_id.is_empty() {
            "(no id)"
        } else {
            item_id
        };
        self.0.last_rejection = format!("{id}: {why}");
        self.0.last_rejection_at = Some(timestamp(now));
    }

    /// A page read and every item of it answered; the next poll starts at `position`.
    pub fn succeeded(&mut self, position: String, now: OffsetDateTime) {
        self.0.consecutive_failures = 0;
        self.0.last_success_at = Some(timestamp(now));
        self.0.position = position;
    }

    /// A failed poll of `kind`; returns the failures in a row.
    pub fn failed(&mut self, kind: &str, message: &str, now: OffsetDateTime) -> u32 {
        self.0.consecutive_failures = self.0.consecutive_failures.saturating_add(1);
        self.0.last_error_kind = kind.to_owned();
        self.0.last_error = message.to_owned();
        self.0.last_error_at = Some(timestamp(now));
        self.0.consecutive_failures
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.0.consecutive_failures
    }

    /// The record to store, stamped `now`.
    pub fn snapshot(&self, now: OffsetDateTime) -> ConnectorHealth {
        ConnectorHealth {
            at: Some(timestamp(now)),
            ..self.0.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn counts_continue_across_holders_and_failures_reset_on_success() {
        let now = datetime!(2026-11-27 08:00 UTC);
        let stored = ConnectorHealth {
            items_submitted: 5,
            items_replayed: 1,
            consecutive_failures: 2,
            holder: "old".into(),
            ..Default::default()
        };
        let mut h = Health::resume(Some(stored), "mailbox", "county-mailbox", "new");
        h.item(ItemOutcome::Submitted);
        h.item(ItemOutcome::Replayed);
        h.rejected("", "petition.body: required", now);
        assert_eq!(h.failed("http_status", "HTTP 503", now), 3);
        let s = h.snapshot(now);
        assert_eq!(
            (s.items_submitted, s.items_replayed, s.items_rejected),
            (6, 2, 1)
        );
        assert_eq!(s.last_rejection, "(no id): petition.body: required");
        assert_eq!(
            (s.last_error_kind.as_str(), s.consecutive_failures),
            ("http_status", 3)
        );
        assert_eq!(
            (s.connector_id.as_str(), s.holder.as_str()),
            ("mailbox", "new")
        );
        h.succeeded("cursor c9".into(), now);
        let s = h.snapshot(now);
        assert_eq!(s.consecutive_failures, 0);
        assert_eq!(s.position, "cursor c9");
        // The last error stays on record after recovery.
        assert_eq!(s.last_error, "HTTP 503");
    }
}
