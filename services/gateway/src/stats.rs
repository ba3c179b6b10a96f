//! Each channel's recent figures (submissions, retries, rejections by reason) for
//! `QueueHealth`. Counts sit in fixed time slots, so recording is O(1) and the window slides
//! without keeping one entry per request.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use minhu_contracts::v1::ChannelHealth;
use minhu_core::deadlines::timestamp;
use time::OffsetDateTime;

const SLOT: Duration = Duration::from_secs(10);

pub struct ChannelStats {
    window: Duration,
    started: Instant,
    channels: Mutex<HashMap<String, Channel>>,
}

#[derive(Default)]
struct Channel {
    /// (slot number, counts), oldest first.
    slots: VecDeque<(u64, Counts)>,
    last_accepted_at: Option<OffsetDateTime>,
}

#[derive(Default, Clone)]
struct Counts {
    submissions: u64,
    retries: u64,
    rejections: BTreeMap<&'static str, u64>,
}

impl ChannelStats {
    pub fn new(window: Duration) -> ChannelStats {
        ChannelStats {
            window,
            started: Instant::now(),
            channels: Mutex::new(HashMap::new()),
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    fn slot_now(&self) -> u64 {
        self.started.elapsed().as_secs() / SLOT.as_secs()
    }

    fn slots_in_window(&self) -> u64 {
        (self.window.as_secs() / SLOT.as_secs()).max(1)
    }

    /// `outcome` as in the intake metrics: accepted, replayed, or a rejection reason.
    pub fn record(&self, channel: &str, outcome: &'static str) {
        let slot = self.slot_now();
        let oldest = slot.saturating_sub(self.slots_in_window() - 1);
        // A std Mutex: the critical section is a few integer updates, never held across .await.
        let mut channels = self.channels.lock().expect("stats lock");
        let entry = channels.entry(channel.to_owned()).or_default();
        while entry.slots.front().is_some_and(|(s, _)| *s < oldest) {
            entry.slots.pop_front();
        }
        if entry.slots.back().is_none_or(|(s, _)| *s != slot) {
            entry.slots.push_back((slot, Counts::default()));
        }
        let counts = &mut entry.slots.back_mut().expect("pushed").1;
        match outcome {
            "accepted" => {
                counts.submissions += 1;
                entry.last_accepted_at = Some(OffsetDateTime::now_utc());
            }
            "replayed" => counts.retries += 1,
            reason => *counts.rejections.entry(reason).or_default() += 1,
        }
    }

    /// The figures of every channel seen, over the window ending now.
    pub fn snapshot(&self) -> Vec<ChannelHealth> {
        let oldest = self.slot_now().saturating_sub(self.slots_in_window() - 1);
        let channels = self.channels.lock().expect("stats lock");
        let mut out: Vec<ChannelHealth> = channels
            .iter()
            .map(|(id, channel)| {
                let mut health = ChannelHealth {
                    channel_id: id.clone(),
                    last_accepted_at: channel.last_accepted_at.map(timestamp),
                    ..Default::default()
                };
                for (_, counts) in channel.slots.iter().filter(|(s, _)| *s >= oldest) {
                    health.submissions += counts.submissions;
                    health.retries += counts.retries;
                    for (reason, n) in &counts.rejections {
                        *health.rejections.entry((*reason).to_owned()).or_default() += n;
                    }
                }
                health.rate_limited = health
                    .rejections
                    .get("rate_limited")
                    .copied()
                    .unwrap_or_default();
                health
            })
            .collect();
        out.sort_by(|a, b| a.channel_id.cmp(&b.channel_id));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_counted_per_channel_and_reason() {
        let stats = ChannelStats::new(Duration::from_secs(300));
        stats.record("web", "accepted");
        stats.record("web", "accepted");
        stats.record("web", "replayed");
        stats.record("web", "invalid");
        stats.record("hotline", "unavailable");
        stats.record("hotline", "rate_limited");
        stats.record("hotline", "rate_limited");
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.len(), 2);
        let hotline = &snapshot[0];
        assert_eq!(hotline.channel_id, "hotline");
        assert_eq!(hotline.rejections["unavailable"], 1);
        assert_eq!(hotline.rate_limited, 2);
        assert!(hotline.last_accepted_at.is_none());
        let web = &snapshot[1];
        assert_eq!((web.submissions, web.retries), (2, 1));
        assert_eq!(web.rejections["invalid"], 1);
        assert!(web.last_accepted_at.is_some());
    }
}
