//! Text to sparse feature vectors: hashed character n-grams.
//!
//! Chinese has no spaces, and a word segmenter is a large dictionary to ship and to keep in step
//! with the training data; character n-grams cover words (物业, 拖欠, 噪音) without one, and most
//! Chinese words are two characters. Hashing the n-grams into a fixed number of buckets keeps the
//! model a flat table of known size, and needs no vocabulary at prediction time.

use serde::{Deserialize, Serialize};

/// Texts longer than this (in characters, per field) are cut: the matter of a petition is stated
/// in its first pages, and the bound keeps positions within the packed occurrence word.
pub const MAX_FIELD_CHARS: usize = 100_000;

/// How text becomes features. Stored in the model file: a model is always applied with the
/// features it was trained with. Fields left out of a configuration take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureConfig {
    /// The feature table has 2^`hash_bits` buckets (n-grams that share a bucket share a weight).
    pub hash_bits: u32,
    /// Shortest character n-gram.
    pub min_n: u32,
    /// Longest character n-gram (at most 8).
    pub max_n: u32,
    /// Weight of a title occurrence relative to a body occurrence in the shared title+body space:
    /// a title (标题) states the matter in a few words.
    pub title_weight: f32,
    /// Weight of the title-only space, in which title n-grams get weights of their own; 0 turns
    /// it off.
    pub title_space_weight: f32,
    /// Map every digit to 0: dates, phone numbers and the anonymised place codes (A3区, K4县) say
    /// little about the matter, their shape says more.
    pub fold_digits: bool,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            hash_bits: 20,
            min_n: 1,
            max_n: 2,
            title_weight: 2.0,
            title_space_weight: 1.0,
            fold_digits: true,
        }
    }
}

impl FeatureConfig {
    pub fn buckets(&self) -> usize {
        1 << self.hash_bits
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(8..=26).contains(&self.hash_bits) {
            return Err(format!("hash_bits {} is not in 8..=26", self.hash_bits));
        }
        if self.min_n == 0 || self.min_n > self.max_n || self.max_n > MAX_N {
            return Err(format!(
                "n-gram lengths {}..={} are not within 1..={MAX_N}",
                self.min_n, self.max_n
            ));
        }
        if !(self.title_weight.is_finite() && self.title_weight > 0.0) {
            return Err(format!(
                "title_weight {} is not positive",
                self.title_weight
            ));
        }
        if !(self.title_space_weight.is_finite() && self.title_space_weight >= 0.0) {
            return Err(format!(
                "title_space_weight {} is negative",
                self.title_space_weight
            ));
        }
        Ok(())
    }
}

const MAX_N: u32 = 8;
/// Separates runs of text: n-grams never span whitespace, punctuation or the title/body border.
const SEPARATOR: u32 = 0;
const SHARED_SPACE: u64 = 0x5348_4152_4544_0001;
const TITLE_SPACE: u64 = 0x5449_544c_4500_0002;

/// One n-gram's place in the text, packed into 32 bits: start position (28 bits), the space
/// (1 bit) and n - 1 (3 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin(u32);

impl Origin {
    fn new(start: usize, title_space: bool, n: u32) -> Origin {
        Origin(((start as u32) << 4) | (u32::from(title_space) << 3) | (n - 1))
    }
    fn start(self) -> usize {
        (self.0 >> 4) as usize
    }
    fn title_space(self) -> bool {
        self.0 & 0b1000 != 0
    }
    fn n(self) -> usize {
        (self.0 & 0b111) as usize + 1
    }
}

/// One distinct feature of a text: its bucket, its value (the weighted term frequency when
/// counted, then its TF-IDF value) and where it first occurred (for explanations).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Feature {
    pub bucket: u32,
    pub value: f32,
    pub origin: Origin,
}

/// Reusable buffers: featurising allocates nothing once they have grown.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Normalised code points of title, separator, body.
    chars: Vec<u32>,
    title_len: usize,
    /// Open-addressing table from bucket to its index in `features`, for one text.
    slots: Vec<u32>,
    pub features: Vec<Feature>,
    /// The model's row of each feature, looked up before scoring.
    pub rows: Vec<u32>,
}

const EMPTY_SLOT: u32 = u32::MAX;

impl Scratch {
    /// The n-gram behind a feature, as shown in explanations; title-only features are marked.
    pub fn describe(&self, origin: Origin) -> String {
        let gram: String = self.chars[origin.start()..origin.start() + origin.n()]
            .iter()
            .filter_map(|&c| char::from_u32(c))
            .collect();
        if origin.title_space() {
            format!("标题:{gram}")
        } else {
            gram
        }
    }
}

/// Full-width forms to ASCII, ASCII to lower case, digits to 0 (when asked); whitespace,
/// punctuation and symbols become separators.
fn normalise(c: char, fold_digits: bool) -> u32 {
    let code = c as u32;
    // CJK ideographs, nearly all of a petition: kept as they are, without the general (slow)
    // Unicode lookup.
    if (0x4E00..=0x9FFF).contains(&code) {
        return code;
    }
    let c = match code {
        0xFF01..=0xFF5E => char::from_u32(code - 0xFEE0).unwrap_or(c),
        _ => c,
    };
    if c.is_ascii_digit() && fold_digits {
        return '0' as u32;
    }
    if c.is_alphanumeric() {
        return c.to_ascii_lowercase() as u32;
    }
    SEPARATOR
}

/// FNV-1a step; the chain of steps over an n-gram is mixed once more when a bucket is taken.
#[inline]
fn step(hash: u64, c: u32) -> u64 {
    (hash ^ u64::from(c)).wrapping_mul(0x0000_0100_0000_01b3)
}

/// A strong final mix (from splitmix64), so that the high bits used as bucket are uniform.
#[inline]
fn bucket(chain: u64, space: u64, shift: u32) -> u32 {
    let mut x = chain ^ space;
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    // shift >= 38 (at most 26 hash bits): the bucket fits in 32 bits.
    (x >> shift) as u32
}

impl FeatureConfig {
    /// Fills `scratch.features` with the distinct features of a text and their (weighted) term
    /// frequencies, in order of first occurrence.
    pub(crate) fn count(&self, title: &str, body: &str, scratch: &mut Scratch) {
        let Scratch {
            chars,
            title_len,
            slots,
            features,
            ..
        } = scratch;
        chars.clear();
        chars.extend(
            title
                .chars()
                .take(MAX_FIELD_CHARS)
                .map(|c| normalise(c, self.fold_digits)),
        );
        *title_len = chars.len();
        chars.push(SEPARATOR);
        chars.extend(
            body.chars()
                .take(MAX_FIELD_CHARS)
                .map(|c| normalise(c, self.fold_digits)),
        );

        let title_space = self.title_space_weight > 0.0;
        let (min_n, max_n) = (self.min_n as usize, self.max_n as usize);
        let lengths = max_n + 1 - min_n;
        let most = (chars.len() + if title_space { *title_len } else { 0 }) * lengths;
        // At most half full, so that probes stay short.
        let capacity = (2 * most).next_power_of_two().max(64);
        slots.clear();
        slots.resize(capacity, EMPTY_SLOT);
        features.clear();
        let mask = capacity - 1;
        let shift = 64 - self.hash_bits;
        let mut add = |bucket: u32, origin: Origin, weight: f32| {
            // Buckets are uniformly mixed hash bits: their low bits make a good slot.
            let mut slot = bucket as usize & mask;
            loop {
                match slots[slot] {
                    EMPTY_SLOT => {
                        slots[slot] = features.len() as u32;
                        features.push(Feature {
                            bucket,
                            value: weight,
                            origin,
                        });
                        return;
                    }
                    index if features[index as usize].bucket == bucket => {
                        features[index as usize].value += weight;
                        return;
                    }
                    _ => slot = (slot + 1) & mask,
                }
            }
        };
        for start in 0..chars.len() {
            let in_title = start < *title_len;
            let shared_weight = if in_title { self.title_weight } else { 1.0 };
            let mut chain = 0xcbf2_9ce4_8422_2325u64;
            for (k, &c) in chars[start..].iter().take(max_n).enumerate() {
                if c == SEPARATOR {
                    break;
                }
                chain = step(chain, c);
                let n = k as u32 + 1;
                if (n as usize) < min_n {
                    continue;
                }
                let shared = bucket(chain, SHARED_SPACE, shift);
                add(shared, Origin::new(start, false, n), shared_weight);
                if title_space && in_title {
                    let own = bucket(chain, TITLE_SPACE, shift);
                    add(own, Origin::new(start, true, n), 1.0);
                }
            }
        }
    }

    /// A counted feature's value before normalisation: sublinear TF (1 + ln tf, so that ten
    /// repetitions do not count ten times) times IDF, times the title space's weight.
    #[inline]
    pub(crate) fn raw_value(&self, feature: &Feature, idf: f32) -> f32 {
        let tf = feature.value;
        let tf = if tf > 1.0 { 1.0 + tf.ln() } else { tf };
        let space = if feature.origin.title_space() {
            self.title_space_weight
        } else {
            1.0
        };
        tf * idf * space
    }

    /// Turns counted term frequencies into the model's input: [`Self::raw_value`], L2-normalised
    /// so that long and short texts score on one scale.
    pub(crate) fn weigh(&self, scratch: &mut Scratch, idf: impl Fn(u32) -> f32) {
        let mut norm = 0.0f32;
        for feature in &mut scratch.features {
            feature.value = self.raw_value(feature, idf(feature.bucket));
            norm += feature.value * feature.value;
        }
        if norm > 0.0 {
            let scale = norm.sqrt().recip();
            for feature in &mut scratch.features {
                feature.value *= scale;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grams(config: &FeatureConfig, title: &str, body: &str) -> Vec<String> {
        let mut scratch = Scratch::default();
        config.count(title, body, &mut scratch);
        let mut grams: Vec<String> = scratch
            .features
            .iter()
            .map(|f| scratch.describe(f.origin))
            .collect();
        grams.sort();
        grams
    }

    #[test]
    fn ngrams_stop_at_separators_and_the_title_border() {
        let config = FeatureConfig {
            min_n: 1,
            max_n: 2,
            title_space_weight: 0.0,
            ..FeatureConfig::default()
        };
        // Full-width letters fold to ASCII lower case, digits to 0, punctuation separates.
        assert_eq!(
            grams(&config, "Ａ3区", "停水，停电"),
            [
                "0", "0区", "a", "a0", "停", "停水", "停电", "区", "水", "电"
            ]
        );
    }

    #[test]
    fn title_ngrams_get_a_space_of_their_own_and_count_more() {
        let config = FeatureConfig {
            min_n: 2,
            max_n: 2,
            title_weight: 2.0,
            title_space_weight: 1.0,
            ..FeatureConfig::default()
        };
        assert_eq!(grams(&config, "噪音", "噪音"), ["噪音", "标题:噪音"]);
        let mut scratch = Scratch::default();
        config.count("噪音", "噪音", &mut scratch);
        let mut values: Vec<f32> = scratch.features.iter().map(|f| f.value).collect();
        values.sort_by(f32::total_cmp);
        // Shared space: 2 (title) + 1 (body); title space: 1.
        assert_eq!(values, [1.0, 3.0]);
    }

    #[test]
    fn weighing_is_sublinear_and_normalised() {
        let config = FeatureConfig {
            min_n: 1,
            max_n: 1,
            title_space_weight: 0.0,
            ..FeatureConfig::default()
        };
        let mut scratch = Scratch::default();
        config.count("", "水水水电", &mut scratch);
        config.weigh(&mut scratch, |_| 1.0);
        let mut values: Vec<f32> = scratch.features.iter().map(|f| f.value).collect();
        values.sort_by(f32::total_cmp);
        let water = 1.0 + 3.0f32.ln();
        let norm = (water * water + 1.0).sqrt();
        assert!((values[0] - 1.0 / norm).abs() < 1e-6);
        assert!((values[1] - water / norm).abs() < 1e-6);
    }

    #[test]
    fn empty_text_has_no_features() {
        let mut scratch = Scratch::default();
        let config = FeatureConfig::default();
        config.count("", " ，。 ", &mut scratch);
        config.weigh(&mut scratch, |_| 1.0);
        assert!(scratch.features.is_empty());
    }

    #[test]
    fn invalid_configurations_are_refused() {
        let ok = FeatureConfig::default();
        assert!(ok.validate().is_ok());
        for bad in [
            FeatureConfig {
                hash_bits: 40,
                ..ok.clone()
            },
            FeatureConfig {
                min_n: 0,
                ..ok.clone()
            },
            FeatureConfig {
                min_n: 3,
                max_n: 2,
                ..ok.clone()
            },
            FeatureConfig {
                max_n: 9,
                ..ok.clone()
            },
            FeatureConfig {
                title_weight: 0.0,
                ..ok.clone()
            },
            FeatureConfig {
                title_space_weight: f32::NAN,
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
