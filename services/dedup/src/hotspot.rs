//! Hotspots (热点): a matter that many people raise within a short time is a group demand
//! (群体性诉求) and is escalated early, before it grows further.

use serde::{Deserialize, Serialize};

use crate::decide::{DAY, PetitionerKey};

/// When a cluster is a hotspot: at least `min_petitioners` different people within any window of
/// `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotspotRule {
    pub window_secs: i64,
    pub min_petitioners: usize,
}

impl Default for HotspotRule {
    /// Residents of one estate complaining about the same thing within a day.
    fn default() -> HotspotRule {
        HotspotRule {
            window_secs: DAY,
            min_petitioners: 5,
        }
    }
}

/// One petition of a cluster: the lead or a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub petitioner: PetitionerKey,
    /// Unix seconds.
    pub time: i64,
}

/// A cluster's size in the window that ends at the assessed moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hotspot {
    /// Different people: one person re-posting twenty times is a repeat, not a group. Every
    /// anonymous petition counts as its own person, since nothing says otherwise.
    pub petitioners: usize,
    pub petitions: usize,
    pub window_start: i64,
    pub window_end: i64,
}

impl HotspotRule {
    /// The cluster's size in the window ending at `now`; `Some` when it makes a hotspot.
    pub fn assess(&self, members: &[Member], now: i64) -> Option<Hotspot> {
        let size = self.size(members, now);
        (size.petitioners >= self.min_petitioners).then_some(size)
    }

    /// Whether `newest` turns the cluster into a hotspot: it is one with the member and was not
    /// one without. The moment to put a hotspot event on the bus, once.
    pub fn crossed(&self, earlier: &[Member], newest: Member) -> bool {
        let before = self.size(earlier, newest.time).petitioners;
        let mut all = earlier.to_vec();
        all.push(newest);
        let after = self.size(&all, newest.time).petitioners;
        before < self.min_petitioners && after >= self.min_petitioners
    }

    pub fn size(&self, members: &[Member], now: i64) -> Hotspot {
        let window_start = now - self.window_secs;
        let inside: Vec<&Member> = members
            .iter()
            .filter(|m| (window_start..=now).contains(&m.time))
            .collect();
        let mut identified: Vec<PetitionerKey> = inside
            .iter()
            .map(|m| m.petitioner)
            .filter(|p| !p.is_anonymous())
            .collect();
        let anonymous = inside.len() - identified.len();
        identified.sort_unstable_by_key(|p| p.digest());
        identified.dedup();
        Hotspot {
            petitioners: identified.len() + anonymous,
            petitions: inside.len(),
            window_start,
            window_end: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(petitioner: &str, hours: i64) -> Member {
        Member {
            petitioner: PetitionerKey::of(petitioner),
            time: hours * 3600,
        }
    }

    #[test]
    fn five_people_within_a_day_make_a_hotspot() {
        let rule = HotspotRule::default();
        let members: Vec<Member> = ["a", "b", "c", "d", "e"]
            .iter()
            .enumerate()
            .map(|(i, p)| member(p, 100 + i as i64))
            .collect();
        let hot = rule
            .assess(&members, 105 * 3600)
            .expect("five within a day");
        assert_eq!((hot.petitioners, hot.petitions), (5, 5));
        assert_eq!(rule.assess(&members[..4], 105 * 3600), None);
        // A day later the first four have left the window.
        assert_eq!(rule.assess(&members, 128 * 3600), None);
    }

    #[test]
    fn one_person_re_posting_is_not_a_group() {
        let rule = HotspotRule::default();
        let members: Vec<Member> = (0..10).map(|h| member("a", h)).collect();
        assert_eq!(rule.size(&members, 10 * 3600).petitioners, 1);
        assert_eq!(rule.assess(&members, 10 * 3600), None);
    }

    #[test]
    fn anonymous_petitions_count_one_each() {
        let rule = HotspotRule::default();
        let members: Vec<Member> = (0..5).map(|h| member("", h)).collect();
        assert!(rule.assess(&members, 5 * 3600).is_some());
    }

    #[test]
    fn the_crossing_is_reported_once() {
        let rule = HotspotRule::default();
        let members: Vec<Member> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .enumerate()
            .map(|(i, p)| member(p, i as i64))
            .collect();
        let crossings: Vec<usize> = (1..members.len())
            .filter(|&i| rule.crossed(&members[..i], members[i]))
            .collect();
        assert_eq!(crossings, [4]);
    }
}
