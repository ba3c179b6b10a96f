//! How lookups scale: one index grown to each size in turn (by default 10k, 100k and 1M
//! documents: the caller's message texts with edits, repeated to size), and at each size the
//! latency of looking a new petition up.
//!
//! A lookup is what triage pays for a petition: normalise, sketch, probe the bands, verify the
//! candidates, decide. The probe alone (sketch given) is reported beside it. Repeating a few
//! thousand texts to a million documents makes every text a matter with hundreds of re-posts —
//! the worst case for candidate lists, which [`crate::store::BUCKET_CAP`] bounds.

use std::fmt;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use crate::data::Message;
use crate::decide::{DAY, Division, Facts, PetitionerKey, Policy};
use crate::detector::Detector;
use crate::edits::EditKind;
use crate::index::Index;
use crate::sketch::Sketch;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchConfig {
    /// Index sizes to measure at, ascending.
    pub sizes: Vec<usize>,
    /// Lookups timed at each size.
    pub lookups: usize,
    /// Threads that sketch documents while the index is built; lookups are timed on one.
    pub threads: usize,
}

impl Default for BenchConfig {
    fn default() -> BenchConfig {
        BenchConfig {
            sizes: vec![10_000, 100_000, 1_000_000],
            lookups: 20_000,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BenchError {
    #[error("no message has any text to index")]
    NoTexts,
    #[error("sizes must be ascending and not empty: {0:?}")]
    Sizes(Vec<usize>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    pub detector: String,
    pub rows: Vec<BenchRow>,
}

/// Figures at one index size.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    pub docs: usize,
    pub lookup_p50: Duration,
    pub lookup_p99: Duration,
    /// p99 of the first round alone, preemptions included.
    pub raw_p99: Duration,
    pub probe_p50: Duration,
    pub probe_p99: Duration,
    /// Band and link entries ([`Index::index_bytes`]).
    pub index_bytes: usize,
    /// Fingerprints and facts ([`Index::document_bytes`]).
    pub document_bytes: usize,
    /// Average candidates a probe verified.
    pub candidates: f64,
}

impl BenchReport {
    /// Index bytes per document at the largest size.
    pub fn bytes_per_doc(&self) -> usize {
        self.rows
            .last()
            .map_or(0, |r| r.index_bytes.div_ceil(r.docs.max(1)))
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "near-duplicate index benchmark, detector {}",
            self.detector
        )?;
        writeln!(
            f,
            "  {:>9} {:>11} {:>11} {:>11} {:>10} {:>10} {:>11} {:>11} {:>10}",
            "docs",
            "lookup p50",
            "lookup p99",
            "raw p99",
            "probe p50",
            "probe p99",
            "index B/doc",
            "docs B/doc",
            "candidates"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "  {:>9} {:>9}us {:>9}us {:>9}us {:>8}us {:>8}us {:>11} {:>11} {:>10.1}",
                r.docs,
                r.lookup_p50.as_micros(),
                r.lookup_p99.as_micros(),
                r.raw_p99.as_micros(),
                r.probe_p50.as_micros(),
                r.probe_p99.as_micros(),
                r.index_bytes.div_ceil(r.docs.max(1)),
                r.document_bytes.div_ceil(r.docs.max(1)),
                r.candidates
            )?;
        }
        let (Some(first), Some(last)) = (self.rows.first(), self.rows.last()) else {
            return Ok(());
        };
        write!(
            f,
            "p99_us_{}={} p99_us_{}={} bytes_per_doc={}",
            size_label(first.docs),
            first.lookup_p99.as_micros(),
            size_label(last.docs),
            last.lookup_p99.as_micros(),
            self.bytes_per_doc()
        )
    }
}

/// `10k`, `1m`: how the summary line names sizes.
fn size_label(docs: usize) -> String {
    match docs {
        d if d >= 1_000_000 && d % 1_000_000 == 0 => format!("{}m", d / 1_000_000),
        d if d >= 1_000 && d % 1_000 == 0 => format!("{}k", d / 1_000),
        d => d.to_string(),
    }
}

const SEED: u64 = 0x6d69_6e68_755f_6265;
/// Documents sketched per batch: enough to keep every thread busy, few enough to hold in memory.
const BATCH: usize = 1 << 15;
/// Seconds between indexed petitions: a million span a year, so time windows matter.
const SPACING_SECS: i64 = 30;
/// Counties the documents fall in: most candidates of a hot matter are in the right one.
const COUNTIES: &[&str] = &["330726", "330727", "330782", "330702"];

pub fn bench(
    detector: &Detector,
    texts: &[Message],
    config: &BenchConfig,
) -> Result<BenchReport, BenchError> {
    let texts: Vec<&Message> = texts
        .iter()
        .filter(|m| !detector.sketch(&m.title, &m.body).bands.is_empty())
        .collect();
    if texts.is_empty() {
        return Err(BenchError::NoTexts);
    }
    if config.sizes.is_empty() || !config.sizes.is_sorted() {
        return Err(BenchError::Sizes(config.sizes.clone()));
    }
    let mut index: Index = Index::new(*detector, Policy::default());
    let mut rows = Vec::new();
    for &size in &config.sizes {
        while index.len() < size {
            let start = index.len();
            let batch = sketch_batch(detector, &texts, start, (size - start).min(BATCH), config);
            for (sketch, facts) in batch {
                let decision = index.lookup(&sketch, &facts);
                index.insert(&sketch, facts, &decision);
            }
        }
        rows.push(measure(&index, &texts, config.lookups));
    }
    Ok(BenchReport {
        detector: detector.scheme.version(),
        rows,
    })
}

/// Documents `start..start + count`, sketched on all threads. Each document's text and facts
/// follow from its number alone, so the corpus is the same however it is split.
fn sketch_batch(
    detector: &Detector,
    texts: &[&Message],
    start: usize,
    count: usize,
    config: &BenchConfig,
) -> Vec<(Sketch, Facts)> {
    let threads = config.threads.max(1);
    let per_thread = count.div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let from = start + t * per_thread;
                let to = (from + per_thread).min(start + count);
                scope.spawn(move || {
                    (from..to)
                        .map(|n| document(detector, texts, n))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("sketching does not panic"))
            .collect()
    })
}

fn document(detector: &Detector, texts: &[&Message], n: usize) -> (Sketch, Facts) {
    let mut rng = StdRng::seed_from_u64(SEED ^ n as u64);
    let sketch = edited_sketch(detector, texts, &mut rng);
    let facts = random_facts(&mut rng, n as i64 * SPACING_SECS);
    (sketch, facts)
}

/// A random text, as it is or with one kind of edit.
fn edited_sketch(detector: &Detector, texts: &[&Message], rng: &mut StdRng) -> Sketch {
    let message = texts.choose(rng).expect("texts are not empty");
    let kind = EditKind::ALL.choose(rng).filter(|_| rng.random_bool(0.8));
    match kind {
        Some(kind) => detector.sketch(&message.title, &kind.apply(&message.body, rng)),
        None => detector.sketch(&message.title, &message.body),
    }
}

/// A third anonymous, the rest among many petitioners, so repeats and clusters both occur.
fn random_facts(rng: &mut StdRng, time: i64) -> Facts {
    let petitioner = if rng.random_bool(1.0 / 3.0) {
        PetitionerKey::ANONYMOUS
    } else {
        PetitionerKey::of(&format!("petitioner-{}", rng.random_range(0..200_000)))
    };
    Facts {
        petitioner,
        division: Division::of(COUNTIES.choose(rng).expect("counties are not empty")),
        time,
    }
}

/// Each lookup is timed in [`ROUNDS`] rounds over all the lookups, and its fastest time kept: on
/// a shared machine a lookup is now and then preempted, and one preemption is longer than the
/// lookup itself. Between two timings of a lookup all the others run, so its index entries are
/// out of the cache again and the fastest time is still a cold lookup. The first round alone is
/// reported too, as `raw`.
const ROUNDS: usize = 3;

fn measure(index: &Index, texts: &[&Message], lookups: usize) -> BenchRow {
    let mut rng = StdRng::seed_from_u64(SEED ^ index.len() as u64 ^ 0x5eed);
    let now = index.len() as i64 * SPACING_SECS + DAY;
    let queries: Vec<(&str, String, Facts)> = (0..lookups)
        .map(|_| {
            let message = texts.choose(&mut rng).expect("texts are not empty");
            let kind = *EditKind::ALL.choose(&mut rng).expect("kinds are not empty");
            let body = kind.apply(&message.body, &mut rng);
            (message.title.as_str(), body, random_facts(&mut rng, now))
        })
        .collect();
    let mut lookup = vec![Duration::MAX; lookups];
    let mut probe = vec![Duration::MAX; lookups];
    let mut raw = Vec::with_capacity(lookups);
    let mut candidates = 0usize;
    for round in 0..ROUNDS {
        for (i, (title, body, facts)) in queries.iter().enumerate() {
            let started = Instant::now();
            let sketch = index.detector().sketch(title, body);
            let decision = index.lookup(&sketch, facts);
            let whole = started.elapsed();
            let started = Instant::now();
            let again = index.lookup(&sketch, facts);
            let probe_only = started.elapsed();
            assert_eq!(decision, again, "a lookup does not change the index");
            lookup[i] = lookup[i].min(whole);
            probe[i] = probe[i].min(probe_only);
            if round == 0 {
                raw.push(whole);
                candidates += index.candidate_count(&sketch);
            }
        }
    }
    let (lookup_p50, lookup_p99) = percentiles(&mut lookup);
    let (probe_p50, probe_p99) = percentiles(&mut probe);
    let (_, raw_p99) = percentiles(&mut raw);
    BenchRow {
        docs: index.len(),
        lookup_p50,
        lookup_p99,
        raw_p99,
        probe_p50,
        probe_p99,
        index_bytes: index.index_bytes(),
        document_bytes: index.document_bytes(),
        candidates: candidates as f64 / lookups.max(1) as f64,
    }
}

fn percentiles(durations: &mut [Duration]) -> (Duration, Duration) {
    durations.sort_unstable();
    let at = |q: f64| {
        let rank = ((durations.len() as f64 * q).ceil() as usize).max(1);
        durations.get(rank - 1).copied().unwrap_or_default()
    };
    (at(0.50), at(0.99))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_the_sizes_and_ends_the_report() {
        let texts = [
            Message::new(
                "夜间施工噪音扰民",
                "仙华街道某工地每天夜里施工到凌晨，严重影响休息。",
            ),
            Message::new(
                "小区路灯损坏",
                "黄宅镇某小区的路灯已经坏了三个月，晚上出行很不方便。",
            ),
            Message::new(
                "",
                "工厂夜里偷排污水，河水发黑发臭，鱼都死了，请环保部门查处。",
            ),
        ];
        let config = BenchConfig {
            sizes: vec![1_000, 5_000],
            lookups: 200,
            threads: 2,
        };
        let report = bench(&Detector::default(), &texts, &config).unwrap();
        assert_eq!(report.rows.len(), 2);
        assert_eq!(report.rows[1].docs, 5_000);
        let text = report.to_string();
        let last = text.lines().last().unwrap();
        let fields: Vec<&str> = last.split(' ').collect();
        assert_eq!(fields.len(), 3, "{last}");
        assert!(fields[0].starts_with("p99_us_1k="), "{last}");
        assert!(fields[1].starts_with("p99_us_5k="), "{last}");
        assert_eq!(
            fields[2],
            format!("bytes_per_doc={}", report.bytes_per_doc())
        );
        assert!(report.bytes_per_doc() > 0);
    }

    #[test]
    fn bad_input_is_refused() {
        let detector = Detector::default();
        let config = BenchConfig::default();
        assert_eq!(
            bench(&detector, &[Message::new("您好", "谢谢")], &config),
            Err(BenchError::NoTexts)
        );
        let texts = [Message::new("路灯坏了", "小区路灯坏了三个月")];
        let config = BenchConfig {
            sizes: vec![100, 10],
            ..BenchConfig::default()
        };
        assert_eq!(
            bench(&detector, &texts, &config),
            Err(BenchError::Sizes(vec![100, 10]))
        );
    }

    #[test]
    fn sizes_are_labelled_as_the_summary_line_needs() {
        assert_eq!(size_label(10_000), "10k");
        assert_eq!(size_label(1_000_000), "1m");
        assert_eq!(size_label(2_500), "2500");
    }
}
