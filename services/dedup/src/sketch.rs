//! Signatures: character shingles of the normalised text, MinHash over them, LSH band keys for the
//! index, and a compact fingerprint that estimates how much two texts share.
//!
//! Every hash here is fixed by this file (no per-process seed): band keys are stored in a shared
//! index and must come out the same in every triage instance, today and after a restart. Changing
//! [`Scheme`] or any constant below changes every key; [`Scheme::version`] names them, so an
//! index built with one scheme is never probed with another.

use serde::{Deserialize, Serialize};

use crate::normalize::normalize;

/// How texts become signatures. Fixed per index: see [`Scheme::version`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheme {
    /// Characters per shingle. Chinese words are mostly two characters, so two-character
    /// shingles are shared by unrelated texts on the same topic; more than three and every
    /// changed character destroys too many of them.
    pub shingle: usize,
    /// MinHash values kept in a fingerprint; more estimate similarity more precisely.
    pub hashes: usize,
    /// LSH bands: a text is a candidate for another when any band agrees in all its rows.
    pub bands: usize,
    /// MinHash values per band, taken from the start of the signature (`bands * rows ≤ hashes`).
    pub rows: usize,
}

impl Scheme {
    /// The scheme minhu uses (measured on real petitions, see the crate documentation).
    pub const V1: Scheme = Scheme {
        shingle: 3,
        hashes: 128,
        bands: 20,
        rows: 3,
    };

    /// Names the scheme in every stored key, so that keys of different schemes never meet.
    pub fn version(&self) -> String {
        format!(
            "s{}h{}b{}r{}",
            self.shingle, self.hashes, self.bands, self.rows
        )
    }

    fn check(&self) {
        assert!(
            (1..=4).contains(&self.shingle),
            "shingles of 1 to 4 characters"
        );
        assert!(
            self.hashes <= MAX_HASHES && self.bands * self.rows <= self.hashes && self.rows > 0,
            "bands × rows must fit in at most {MAX_HASHES} hashes: {self:?}"
        );
    }
}

/// The hash functions' parameters are drawn once, here, from a fixed seed.
const MAX_HASHES: usize = 256;
const MULTIPLIERS: [u64; MAX_HASHES] = parameters(0x6d69_6e68_755f_6d75);
const INCREMENTS: [u64; MAX_HASHES] = parameters(0x6465_6475_705f_7631);

const fn parameters(seed: u64) -> [u64; MAX_HASHES] {
    let mut out = [0; MAX_HASHES];
    let mut state = seed;
    let mut i = 0;
    while i < MAX_HASHES {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        // An even multiplier would ignore the top bit of the shingle hash.
        out[i] = mix(state) | 1;
        i += 1;
    }
    out
}

/// MurmurHash3's 64-bit finaliser: every input bit reaches every output bit.
pub(crate) const fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// A fixed 64-bit digest of bytes, for keys that must be the same in every process.
pub(crate) fn digest(bytes: &[u8]) -> u64 {
    bytes.chunks(8).fold(mix(bytes.len() as u64), |acc, chunk| {
        let mut word = [0; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        mix(acc ^ u64::from_le_bytes(word))
    })
}

/// The distinct shingles of a normalised text, hashed, sorted. A text shorter than a shingle is
/// one shingle; an empty text has none.
pub fn shingles(normalized: &str, size: usize) -> Vec<u64> {
    let chars: Vec<char> = normalized.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let size = size.min(chars.len());
    let mut hashes: Vec<u64> = chars.windows(size).map(shingle_hash).collect();
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

/// A code point has 21 bits, so up to four of them and the length pack into a u128 exactly:
/// distinct shingles have distinct packings, and only the reduction to 64 bits can collide.
fn shingle_hash(window: &[char]) -> u64 {
    let packed = window
        .iter()
        .fold(window.len() as u128, |acc, &c| (acc << 21) | c as u128);
    mix((packed as u64) ^ mix((packed >> 64) as u64))
}

/// Lowers each `minima[i]` to the least hash `i` of any shingle: the MinHash signature.
///
/// This is most of a sketch's cost (a long petition has a thousand shingles, each hashed 128
/// times), and 64-bit lanes multiply in vectors only beyond the x86-64 baseline, so the same
/// arithmetic is compiled again for AVX-512 and for AVX2 and the best the processor has is
/// chosen: a sketch costs about 87 µs per 1,000 characters portable, 46 µs with AVX2 and 35 µs
/// with AVX-512 on the development machine (`examples/sketch_speed.rs`). Every path gives the
/// same bits: band keys must not depend on the machine.
fn lower_minima(minima: &mut [u32], shingles: &[u64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the processor has just been found to support these features.
            unsafe { lower_minima_avx512(minima, shingles) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            unsafe { lower_minima_avx2(minima, shingles) };
            return;
        }
    }
    lower_minima_portable(minima, shingles);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl")]
fn lower_minima_avx512(minima: &mut [u32], shingles: &[u64]) {
    lower_minima_portable(minima, shingles);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn lower_minima_avx2(minima: &mut [u32], shingles: &[u64]) {
    lower_minima_portable(minima, shingles);
}

#[inline(always)]
fn lower_minima_portable(minima: &mut [u32], shingles: &[u64]) {
    for &x in shingles {
        for ((min, &a), &b) in minima.iter_mut().zip(&MULTIPLIERS).zip(&INCREMENTS) {
            // Multiply-add-shift: the high half of a·x + b is a near-min-wise hash of x.
            let h = (x.wrapping_mul(a).wrapping_add(b) >> 32) as u32;
            *min = (*min).min(h);
        }
    }
}

/// What is kept of a text: the LSH band keys it is indexed under, and its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sketch {
    pub bands: Vec<BandKey>,
    pub fingerprint: Fingerprint,
}

impl Sketch {
    /// The sketch of a petition: its title and body together, the title first. A re-post under
    /// another title still shares its whole body, and a body that says "如题" shares its title.
    pub fn of_petition(scheme: &Scheme, title: &str, body: &str) -> Sketch {
        let mut text = normalize(title);
        text.push_str(&normalize(body));
        Sketch::of_normalized(scheme, &text)
    }

    fn of_normalized(scheme: &Scheme, normalized: &str) -> Sketch {
        scheme.check();
        let shingles = shingles(normalized, scheme.shingle);
        let mut minima = vec![u32::MAX; scheme.hashes];
        lower_minima(&mut minima, &shingles);
        let bands = if shingles.is_empty() {
            // Nothing to compare: an empty text (all boilerplate) is nobody's duplicate.
            Vec::new()
        } else {
            minima
                .chunks_exact(scheme.rows)
                .take(scheme.bands)
                .enumerate()
                .map(|(band, rows)| BandKey::new(band, rows))
                .collect()
        };
        Sketch {
            bands,
            fingerprint: Fingerprint {
                // The low byte of each minimum: b-bit MinHash. Two different minima agree in it
                // by chance 1 time in 256, which `Fingerprint::similarity` corrects for.
                minima: minima.iter().map(|&m| m as u8).collect(),
                shingles: u32::try_from(shingles.len()).unwrap_or(u32::MAX),
            },
        }
    }

    /// Whether an LSH index would offer one text as a candidate for the other.
    pub fn shares_a_band(&self, other: &Sketch) -> bool {
        self.bands.iter().zip(&other.bands).any(|(a, b)| a == b)
    }
}

/// One LSH band of one text: which band, and a digest of its rows. Texts that share a band key
/// are candidates for each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BandKey {
    pub band: u8,
    pub digest: u64,
}

impl BandKey {
    fn new(band: usize, rows: &[u32]) -> BandKey {
        let digest = rows
            .iter()
            .fold(mix(band as u64 + 1), |acc, &row| mix(acc ^ u64::from(row)));
        BandKey {
            band: u8::try_from(band).unwrap_or(u8::MAX),
            digest,
        }
    }

    /// The key's text form: `<band>.<digest>`, e.g. `07.3fa9c2d4e5b60718` — two decimal digits,
    /// a dot, sixteen lower-case hex digits; a valid NATS KV key token pair.
    pub fn to_key_string(&self) -> String {
        format!("{:02}.{:016x}", self.band, self.digest)
    }
}

/// What the index keeps of each text to verify a candidate: one byte of each MinHash minimum and
/// the number of distinct shingles. `hashes` + 4 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub minima: Vec<u8>,
    pub shingles: u32,
}

impl Fingerprint {
    /// How much two texts share, estimated from their fingerprints.
    pub fn similarity(&self, other: &Fingerprint) -> Similarity {
        Similarity::estimate(&self.minima, self.shingles, &other.minima, other.shingles)
    }
}

const CHANCE: f64 = 1.0 / 256.0;

/// Estimated overlap of two texts' shingle sets: the evidence a link between cases records.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Similarity {
    /// |A ∩ B| / |A ∪ B|.
    pub jaccard: f32,
    /// |A ∩ B| / min(|A|, |B|): how much of the shorter text the longer one contains.
    pub containment: f32,
    /// |A ∩ B|, estimated.
    pub shared_shingles: u32,
}

impl Similarity {
    pub const NONE: Similarity = Similarity {
        jaccard: 0.0,
        containment: 0.0,
        shared_shingles: 0,
    };

    /// From the parts of two fingerprints, so an index can compare them where they are stored.
    pub(crate) fn estimate(a: &[u8], a_shingles: u32, b: &[u8], b_shingles: u32) -> Similarity {
        let hashes = a.len().min(b.len());
        if hashes == 0 || a_shingles == 0 || b_shingles == 0 {
            return Similarity::NONE;
        }
        let agreeing = a.iter().zip(b).filter(|(x, y)| x == y).count();
        let agreement = agreeing as f64 / hashes as f64;
        // P(byte agrees) = J + (1 − J)/256, solved for J.
        let jaccard = ((agreement - CHANCE) / (1.0 - CHANCE)).clamp(0.0, 1.0);
        let (a, b) = (f64::from(a_shingles), f64::from(b_shingles));
        // |A ∩ B| = J·|A ∪ B| and |A ∪ B| = |A| + |B| − |A ∩ B|.
        let shared = (jaccard * (a + b) / (1.0 + jaccard)).min(a.min(b));
        Similarity {
            jaccard: jaccard as f32,
            containment: (shared / a.min(b)) as f32,
            shared_shingles: shared.round() as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREET_LIGHT: &str = "黄宅镇新华村的路灯坏了快三个月了，村口到小学那段路晚上一片漆黑，\
        上周还有一位老人骑电动车摔伤。希望有关部门尽快安排人员修复路灯，保障村民夜间出行安全。";

    #[test]
    fn shingles_are_distinct_and_cover_short_texts() {
        assert_eq!(shingles("", 3), Vec::<u64>::new());
        assert_eq!(shingles("路灯", 3).len(), 1, "shorter than a shingle: one");
        assert_eq!(shingles("路灯坏了", 3).len(), 2);
        assert_eq!(shingles("哈哈哈哈哈", 3).len(), 1, "repeats count once");
        assert_ne!(shingles("路灯坏", 3), shingles("坏路灯", 3));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_vector_minhashes_give_the_portable_bits() {
        let shingles = shingles(&normalize(STREET_LIGHT), 3);
        let mut portable = vec![u32::MAX; MAX_HASHES];
        lower_minima_portable(&mut portable, &shingles);
        if std::arch::is_x86_feature_detected!("avx2") {
            let mut vector = vec![u32::MAX; MAX_HASHES];
            // SAFETY: checked just above.
            unsafe { lower_minima_avx2(&mut vector, &shingles) };
            assert_eq!(portable, vector, "AVX2");
        }
        if std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            let mut vector = vec![u32::MAX; MAX_HASHES];
            // SAFETY: checked just above.
            unsafe { lower_minima_avx512(&mut vector, &shingles) };
            assert_eq!(portable, vector, "AVX-512");
        }
    }

    /// Band keys are stored in a shared index: if this fails, every stored key is orphaned, and
    /// the scheme needs a new version rather than a new expected value here.
    #[test]
    fn band_keys_are_fixed_across_processes_and_releases() {
        let sketch = Sketch::of_petition(&Scheme::V1, "新华村路灯坏了", STREET_LIGHT);
        assert_eq!(sketch.bands.len(), 20);
        assert_eq!(sketch.bands[0].to_key_string(), "00.43c0048e4dd381c9");
        assert_eq!(sketch.bands[19].to_key_string(), "19.5fe552ed8cb6b6f5");
        assert_eq!(Scheme::V1.version(), "s3h128b20r3");
    }

    #[test]
    fn fingerprints_estimate_the_exact_overlap() {
        let a = normalize(STREET_LIGHT);
        let half: String = a.chars().take(a.chars().count() / 2).collect();
        let edited = a.replace("三个月", "半年").replace("老人", "孩子");
        for b in [a.clone(), half, edited] {
            let (sa, sb) = (shingles(&a, 3), shingles(&b, 3));
            let shared = sa.iter().filter(|x| sb.binary_search(x).is_ok()).count();
            let exact = shared as f32 / (sa.len() + sb.len() - shared) as f32;
            let estimate = Sketch::of_normalized(&Scheme::V1, &a)
                .fingerprint
                .similarity(&Sketch::of_normalized(&Scheme::V1, &b).fingerprint);
            assert!(
                (estimate.jaccard - exact).abs() < 0.1,
                "{exact} estimated as {estimate:?}"
            );
            assert!(
                estimate.shared_shingles.abs_diff(shared as u32) <= 6,
                "{shared} estimated as {estimate:?}"
            );
        }
    }
}
