//! Which signature to index: MinHash LSH schemes against SimHash, on the labelled pairs of a real
//! corpus, with exact shingle similarity as the ceiling.
//!
//! `cargo run --release -p minhu-dedup --example compare_signatures -- FILE`
//!
//! Per method: recall per kind of pair, false merges, index entries per document, and how many
//! unrelated documents a lookup would have to verify in an index of a million (the band or block
//! collision rate of random pairs, scaled).

use std::process::ExitCode;

use minhu_dedup::data::{Message, read_messages};
use minhu_dedup::detector::{Detector, Thresholds};
use minhu_dedup::eval::{LabelledCorpus, label_corpus};
use minhu_dedup::normalize::normalize;
use minhu_dedup::sketch::{Scheme, shingles};

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: compare_signatures FILE");
        return ExitCode::from(2);
    };
    let messages = match read_messages(&path) {
        Ok(messages) => messages,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let corpus = label_corpus(&messages, Scheme::V1.shingle);
    print!("{:<34} {:>8} {:>12}", "method", "entries", "random@1M");
    for kind in &corpus.kinds {
        print!(" {:>10}", abbreviate(&kind.name));
    }
    println!();

    for (shingle, bands, rows) in [(3, 16, 4), (3, 20, 3), (3, 24, 3), (2, 20, 3), (4, 20, 3)] {
        let scheme = Scheme {
            shingle,
            hashes: 128,
            bands,
            rows,
        };
        let detector = Detector {
            scheme,
            thresholds: Thresholds::V1,
        };
        let sketches: Vec<_> = corpus
            .messages
            .iter()
            .map(|m| detector.sketch(&m.title, &m.body))
            .collect();
        report(
            &format!("minhash {}", scheme.version()),
            bands,
            &corpus,
            |i, j| sketches[i].shares_a_band(&sketches[j]),
            |i, j| detector.compare(&sketches[i], &sketches[j]).is_some(),
        );
    }

    let sets: Vec<Vec<u64>> = corpus
        .messages
        .iter()
        .map(|m| shingles(&text(m), Scheme::V1.shingle))
        .collect();
    let simhashes: Vec<u64> = sets.iter().map(|s| simhash(s)).collect();
    for distance in [3u32, 6, 10, 16] {
        // Pigeonhole: within `distance` bits, one of `distance + 1` blocks agrees exactly.
        let blocks = distance + 1;
        let block_bits = 64 / blocks;
        let block = |h: u64, b: u32| (h >> (b * block_bits)) & ((1u64 << block_bits) - 1);
        report(
            &format!("simhash64 hamming<={distance}"),
            blocks as usize,
            &corpus,
            |i, j| (0..blocks).any(|b| block(simhashes[i], b) == block(simhashes[j], b)),
            |i, j| (simhashes[i] ^ simhashes[j]).count_ones() <= distance,
        );
    }

    let t = Thresholds::V1;
    report(
        "exact shingles (no index)",
        0,
        &corpus,
        |_, _| true,
        |i, j| {
            let (jaccard, containment, shorter) = exact(&sets[i], &sets[j]);
            jaccard >= f64::from(t.jaccard)
                || (containment >= f64::from(t.containment)
                    && jaccard >= f64::from(t.containment_jaccard)
                    && shorter >= t.containment_shingles as usize)
        },
    );
    ExitCode::SUCCESS
}

fn text(message: &Message) -> String {
    normalize(&message.title) + &normalize(&message.body)
}

fn report(
    name: &str,
    entries: usize,
    corpus: &LabelledCorpus,
    candidate: impl Fn(usize, usize) -> bool,
    same: impl Fn(usize, usize) -> bool,
) {
    let random = corpus
        .kinds
        .iter()
        .find(|k| k.name == "random-pairs")
        .map_or(&[][..], |k| &k.pairs[..]);
    let collisions = random.iter().filter(|&&(i, j)| candidate(i, j)).count();
    let per_million = 1e6 * collisions as f64 / random.len().max(1) as f64;
    print!("{name:<34} {entries:>8} {per_million:>12.0}");
    for kind in &corpus.kinds {
        let linked = kind
            .pairs
            .iter()
            .filter(|&&(i, j)| candidate(i, j) && same(i, j))
            .count();
        print!(" {:>10.4}", linked as f64 / kind.pairs.len().max(1) as f64);
    }
    println!();
}

fn abbreviate(kind: &str) -> String {
    kind.chars().take(10).collect()
}

/// Charikar's SimHash over the shingle hashes, unweighted.
fn simhash(set: &[u64]) -> u64 {
    let mut votes = [0i32; 64];
    for &h in set {
        for (bit, vote) in votes.iter_mut().enumerate() {
            *vote += if h >> bit & 1 == 1 { 1 } else { -1 };
        }
    }
    votes
        .iter()
        .enumerate()
        .filter(|(_, v)| **v > 0)
        .fold(0, |acc, (bit, _)| acc | 1 << bit)
}

fn exact(a: &[u64], b: &[u64]) -> (f64, f64, usize) {
    let (mut i, mut j, mut shared) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
        }
    }
    let shorter = a.len().min(b.len());
    let union = a.len() + b.len() - shared;
    (
        shared as f64 / union.max(1) as f64,
        shared as f64 / shorter.max(1) as f64,
        shorter,
    )
}
