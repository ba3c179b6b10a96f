//! `cargo run --release -p minhu-triage --example journal_fold -- [N]`: what a triage instance
//! pays to hold the dedup journal: N entries (default 200,000) of distinct petitions, encoded
//! the way the bus carries them, decoded and folded into a [`JournalIndex`]. Prints the size of
//! an entry (and of the same entry as JSON, as the journal was first written), the fold rate
//! and the memory the folded journal holds per entry (resident set growth).
use std::time::Instant;

use minhu_dedup::decide::{Decision, Division, Facts, Outcome, PetitionerKey, Policy};
use minhu_dedup::detector::Detector;
use minhu_dedup::kv::{JournalIndex, StoredDoc};
use minhu_triage::journal::{decode, encode};

/// Resident set size of this process, in bytes (Linux).
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// A distinct petition text of about 300 characters.
fn text(n: u64) -> String {
    const CHARS: &[char] = &[
        '路', '灯', '小', '区', '物', '业', '噪', '音', '施', '工', '停', '车', '垃', '圾', '水',
        '电', '维', '修', '学', '校', '医', '院', '补', '贴', '拆', '迁', '道', '桥', '污', '染',
        '投', '诉', '建', '议', '咨', '询', '违', '章', '搭', '建', '夜', '间', '村', '镇', '街',
        '河', '渠', '费', '用', '工', '资', '拖', '欠', '房', '屋', '漏', '雨', '公', '交', '站',
    ];
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..300)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            CHARS[(x % CHARS.len() as u64) as usize]
        })
        .collect()
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let detector = Detector::default();
    let decision = Decision {
        outcome: Outcome::New,
        lead: None,
        evidence: None,
    };
    let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
        .map(|i| {
            let facts = Facts {
                petitioner: PetitionerKey::of(&format!("{i:032x}")),
                division: Division::of("330726"),
                time: i as i64,
            };
            let sketch = detector.sketch("事项", &text(i));
            let case_id = format!("MH20261127-{i:07}");
            StoredDoc::decided(&case_id, &detector, &sketch, facts, &decision)
        })
        .map(|entry| {
            (
                encode(&entry),
                serde_json::to_vec(&entry).expect("serialises"),
            )
        })
        .collect();
    let average = |size: fn(&(Vec<u8>, Vec<u8>)) -> usize| {
        entries.iter().map(size).sum::<usize>() / entries.len().max(1)
    };
    let (entry_bytes, json_bytes) = (average(|e| e.0.len()), average(|e| e.1.len()));

    let before = resident_bytes();
    let mut journal = JournalIndex::new(detector, Policy::default());
    let started = Instant::now();
    for (sequence, (bytes, _)) in (1..).zip(&entries) {
        journal.fold(sequence, decode(bytes).as_ref());
    }
    let seconds = started.elapsed().as_secs_f64();
    // Measured while the encoded entries, there before too, are still held.
    let held = resident_bytes().saturating_sub(before);
    println!(
        "entries={} entry_bytes={entry_bytes} as_json_bytes={json_bytes} fold_per_s={:.0} bytes_per_entry={}",
        journal.len(),
        journal.len() as f64 / seconds,
        held / journal.len().max(1)
    );
}
