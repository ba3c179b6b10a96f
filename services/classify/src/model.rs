//! The domain classifier: training, prediction with calibrated probabilities and explanations,
//! and the model file.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::Example;
use crate::features::{Feature, FeatureConfig, Scratch};
use crate::svm::{self, Loss, SolverSettings, SparseRows, SplitMix};

/// How to train a model. The defaults are the settings that measured best in cross-validation on
/// real petitions (see the crate documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// How text becomes features.
    pub features: FeatureConfig,
    /// SVM regularisation: larger fits the training data more closely.
    pub c: f32,
    /// The SVM loss.
    pub loss: Loss,
    /// Weigh each label's examples inversely to the label's size, so that small labels (交通运输
    /// has a quarter of the examples of 劳动和社会保障) are not drowned out. It added 0.009
    /// macro-F1 to a plain SVM; with NB scaling the difference is within noise.
    pub balanced: bool,
    /// Naive-Bayes feature scaling (NBSVM, Wang & Manning 2012) with this smoothing: each label's
    /// SVM sees every feature scaled by how much more often it occurs in that label than in the
    /// others. 0 turns it off.
    pub nb_alpha: f32,
    /// Buckets that occur in fewer training texts are ignored: rare n-grams are mostly names and
    /// typos that fit the training set and nothing else.
    pub min_df: u32,
    /// Solver stopping tolerance (liblinear's default is 0.1).
    pub tolerance: f32,
    /// Upper bound on passes over the data per label.
    pub max_passes: usize,
    /// Folds whose held-out scores fit the probability calibration; below 2 nothing is fitted and
    /// probabilities are a plain softmax of the scores.
    pub calibration_folds: usize,
    /// Threads that train the one-vs-rest problems; 0 means one per available core. The model
    /// does not depend on it (and the model file records 0).
    pub threads: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            features: FeatureConfig::default(),
            c: 1.0,
            loss: Loss::SquaredHinge,
            balanced: true,
            nb_alpha: 0.1,
            min_df: 2,
            tolerance: 0.1,
            max_passes: 200,
            calibration_folds: 3,
            threads: 0,
        }
    }
}

impl TrainConfig {
    fn validate(&self) -> Result<(), TrainError> {
        let problem = |text: String| Err(TrainError::Config(text));
        if let Err(text) = self.features.validate() {
            return problem(text);
        }
        if !(self.c.is_finite() && self.c > 0.0) {
            return problem(format!("c {} is not positive", self.c));
        }
        if !(self.nb_alpha.is_finite() && self.nb_alpha >= 0.0) {
            return problem(format!("nb_alpha {} is negative", self.nb_alpha));
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return problem(format!("tolerance {} is not positive", self.tolerance));
        }
        if self.max_passes == 0 {
            return problem("max_passes is 0".to_owned());
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("no training examples")]
    NoExamples,
    #[error("at least two labels are needed, found {0:?}")]
    OneLabel(Vec<String>),
    #[error("invalid training configuration: {0}")]
    Config(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read model {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write model {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not a minhu classifier model file")]
    NotAModel,
    #[error("model format {0} is not supported (this build reads format {FORMAT})")]
    UnsupportedFormat(u32),
    #[error("model file is damaged: {0}")]
    Damaged(String),
}

/// What the classifier says about one petition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// The chosen domain label.
    pub label: String,
    /// Calibrated probability of `label` (0..1): compare it with the confidence gate.
    pub probability: f64,
    /// The best three labels with their probabilities, best first.
    pub top: Vec<(String, f64)>,
    /// Probability of every label, in [`Model::labels`] order.
    pub probabilities: Vec<f64>,
    /// The n-grams that weighed most for `label`: each with its contribution to the label's score
    /// (weight × feature value), largest first. "标题:" marks a feature of the title's own space.
    pub top_features: Vec<(String, f64)>,
}

/// Labels in [`Prediction::top`] and features in [`Prediction::top_features`].
const TOP_LABELS: usize = 3;
const TOP_FEATURES: usize = 8;

const MAGIC: &[u8; 8] = b"MINHUCLS";
const FORMAT: u32 = 1;
const VERSION_PREFIX: &str = "linear-v1";
const DIGEST_LEN: usize = 32;

/// The model file's description of itself; the weight rows follow it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    labels: Vec<String>,
    features: FeatureConfig,
    biases: Vec<f32>,
    /// Probabilities are softmax(scores × inverse_temperature).
    inverse_temperature: f32,
    /// Rows in the file: the buckets that carry an IDF (the others are ignored features).
    stored_rows: usize,
    trained_examples: usize,
    train: TrainConfig,
}

/// A trained domain classifier. `&Model` is `Sync`: share one behind an `Arc` and predict from
/// any number of threads, without a lock.
#[derive(Clone)]
pub struct Model {
    header: Header,
    /// Bucket → its row in `rows`; [`IGNORED`] for a bucket no training text reached often
    /// enough.
    index: Vec<u32>,
    /// `1 + labels` values per row: IDF, then one weight per label. Row 0 is all zero (IDF 0:
    /// the n-grams of ignored buckets count for nothing), so every lookup finds a row and the
    /// scoring loop has no branch. Only buckets in use have rows, most frequent first, so the
    /// rows a text needs sit on few memory pages: prediction is memory-bound, and a table of
    /// every bucket in bucket order measured 1.5 times slower.
    rows: Vec<f32>,
    version: String,
}

/// The row of ignored buckets.
const IGNORED: u32 = 0;

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("version", &self.version)
            .field("labels", &self.header.labels)
            .field("trained_examples", &self.header.trained_examples)
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// Prediction reuses one set of buffers per thread instead of allocating for every text.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Model {
    /// `linear-v1:` and 12 hex digits of the model file's SHA-256: two models with the same
    /// version give the same answers.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The labels, sorted.
    pub fn labels(&self) -> &[String] {
        &self.header.labels
    }

    /// How many examples trained the model.
    pub fn trained_examples(&self) -> usize {
        self.header.trained_examples
    }

    /// The configuration the model was trained with.
    pub fn train_config(&self) -> &TrainConfig {
        &self.header.train
    }

    fn stride(&self) -> usize {
        self.header.labels.len() + 1
    }

    /// The row of a bucket: IDF, then one weight per label.
    #[inline]
    fn row(&self, bucket: u32) -> &[f32] {
        let stride = self.stride();
        let row = self.index[bucket as usize] as usize;
        &self.rows[row * stride..(row + 1) * stride]
    }

    /// Classifies one petition; either text may be empty. With no evidence at all (empty texts)
    /// the probabilities are near uniform, so a confidence gate sends the case to a person.
    pub fn predict(&self, title: &str, body: &str) -> Prediction {
        SCRATCH.with(|scratch| self.predict_with(title, body, &mut scratch.borrow_mut()))
    }

    fn predict_with(&self, title: &str, body: &str, scratch: &mut Scratch) -> Prediction {
        let (scores, scale) = self.scores(title, body, scratch);
        let probabilities = softmax(&scores, self.header.inverse_temperature);
        let mut order: Vec<usize> = (0..scores.len()).collect();
        // Ties go to the first label, so that equal scores always give the same answer.
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        let best = order[0];
        let labels = &self.header.labels;
        Prediction {
            label: labels[best].clone(),
            probability: probabilities[best],
            top: order
                .iter()
                .take(TOP_LABELS)
                .map(|&k| (labels[k].clone(), probabilities[k]))
                .collect(),
            top_features: self.explain(best, scale, scratch),
            probabilities,
        }
    }

    /// One-vs-rest scores, one per label. Leaves the features in `scratch` with their values
    /// before normalisation, and returns the scale that normalises them: a score is the dot
    /// product with the normalised vector, so it can be summed first and scaled once.
    fn scores(&self, title: &str, body: &str, scratch: &mut Scratch) -> (Vec<f32>, f32) {
        let features = &self.header.features;
        features.count(title, body, scratch);
        // Prediction waits on memory: look every row up first, in a loop that does nothing else,
        // so that many lookups are in flight at once (measured faster than one loop).
        let stride = self.stride();
        scratch.rows.clear();
        scratch.rows.extend(
            scratch
                .features
                .iter()
                .map(|f| self.index[f.bucket as usize]),
        );
        let mut sums = vec![0.0f32; self.header.labels.len()];
        let mut norm = 0.0f32;
        for (feature, &row) in scratch.features.iter_mut().zip(&scratch.rows) {
            let row = &self.rows[row as usize * stride..(row as usize + 1) * stride];
            feature.value = features.raw_value(feature, row[0]);
            norm += feature.value * feature.value;
            for (sum, weight) in sums.iter_mut().zip(&row[1..]) {
                *sum += weight * feature.value;
            }
        }
        let scale = if norm > 0.0 { norm.sqrt().recip() } else { 0.0 };
        let scores = sums
            .iter()
            .zip(&self.header.biases)
            .map(|(sum, bias)| sum * scale + bias)
            .collect();
        (scores, scale)
    }

    /// The features with the largest positive contributions to `label`'s score; among equal
    /// contributions the earlier n-gram comes first.
    fn explain(&self, label: usize, scale: f32, scratch: &Scratch) -> Vec<(String, f64)> {
        let mut best: Vec<(f32, usize)> = Vec::with_capacity(TOP_FEATURES + 1);
        for (i, feature) in scratch.features.iter().enumerate() {
            let contribution = self.row(feature.bucket)[1 + label] * feature.value * scale;
            let full = best.len() == TOP_FEATURES;
            if contribution <= 0.0 || full && contribution <= best[TOP_FEATURES - 1].0 {
                continue;
            }
            let at = best.partition_point(|&(c, _)| c >= contribution);
            best.insert(at, (contribution, i));
            best.truncate(TOP_FEATURES);
        }
        best.into_iter()
            .map(|(c, i)| (scratch.describe(scratch.features[i].origin), f64::from(c)))
            .collect()
    }

    /// The model file: magic, format, header length, JSON header, the stored rows (bucket u32,
    /// then IDF and weights as f32, little endian), and the SHA-256 of all that, which is also
    /// the version.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(&self.header, &self.index, &self.rows)
    }

    /// Writes the model file. The file is written beside `path` and renamed over it, so a reader
    /// (a hot reload) never sees half a model.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        let path = path.as_ref();
        let write_error = |source| ModelError::Write {
            path: path.to_owned(),
            source,
        };
        let mut partial = path.as_os_str().to_owned();
        partial.push(format!(".partial-{}", std::process::id()));
        let partial = PathBuf::from(partial);
        std::fs::write(&partial, self.to_bytes()).map_err(write_error)?;
        std::fs::rename(&partial, path).map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            write_error(e)
        })
    }

    pub fn load(path: impl AsRef<Path>) -> Result<Model, ModelError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| ModelError::Read {
            path: path.to_owned(),
            source,
        })?;
        Model::from_bytes(&bytes)
    }

    /// Reads a model file's bytes (e.g. embedded with `include_bytes!`). The checksum is
    /// verified, so a damaged or truncated file is refused rather than giving wrong answers.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        let damaged = |what: String| ModelError::Damaged(what);
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            return Err(ModelError::NotAModel);
        }
        let format = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if format != FORMAT {
            return Err(ModelError::UnsupportedFormat(format));
        }
        if bytes.len() < 16 + DIGEST_LEN {
            return Err(damaged("truncated".to_owned()));
        }
        let (content, digest) = bytes.split_at(bytes.len() - DIGEST_LEN);
        if Sha256::digest(content).as_slice() != digest {
            return Err(damaged("checksum mismatch".to_owned()));
        }
        let header_len = u32::from_le_bytes(content[12..16].try_into().expect("4 bytes")) as usize;
        let (header, rows) = content[16..]
            .split_at_checked(header_len)
            .ok_or_else(|| damaged("header length beyond the file".to_owned()))?;
        let header: Header =
            serde_json::from_slice(header).map_err(|e| damaged(format!("header: {e}")))?;
        header
            .features
            .validate()
            .map_err(|e| damaged(format!("features: {e}")))?;
        let labels = header.labels.len();
        if labels < 2 || header.biases.len() != labels {
            return Err(damaged("labels and biases disagree".to_owned()));
        }
        let stride = labels + 1;
        let row_bytes = 4 + stride * 4;
        if header.stored_rows.checked_mul(row_bytes) != Some(rows.len()) {
            return Err(damaged("weight rows do not fill the file".to_owned()));
        }
        let mut index = vec![IGNORED; header.features.buckets()];
        let mut values = vec![0.0f32; stride];
        values.reserve(header.stored_rows * stride);
        for (row, bytes) in (1..).zip(rows.chunks_exact(row_bytes)) {
            let bucket = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
            match index.get_mut(bucket) {
                Some(slot) if *slot == IGNORED => *slot = row,
                _ => return Err(damaged(format!("bucket {bucket} out of range or repeated"))),
            }
            values.extend(
                bytes[4..]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))),
            );
        }
        Ok(Model {
            version: version_of(digest),
            header,
            index,
            rows: values,
        })
    }
}

fn version_of(digest: &[u8]) -> String {
    format!("{VERSION_PREFIX}:{}", &hex::encode(digest)[..12])
}

/// Rows in their order in memory, each with its bucket number; not the zero row.
fn encode(header: &Header, index: &[u32], rows: &[f32]) -> Vec<u8> {
    let stride = header.labels.len() + 1;
    let header_json = serde_json::to_vec(header).expect("the header serialises");
    let mut bytes = Vec::with_capacity(
        16 + header_json.len() + header.stored_rows * (4 + stride * 4) + DIGEST_LEN,
    );
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT.to_le_bytes());
    bytes.extend_from_slice(&(header_json.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&header_json);
    let mut bucket_of_row = vec![0u32; header.stored_rows + 1];
    for (bucket, &row) in index.iter().enumerate() {
        bucket_of_row[row as usize] = bucket as u32;
    }
    for (bucket, row) in bucket_of_row.iter().zip(rows.chunks_exact(stride)).skip(1) {
        bytes.extend_from_slice(&bucket.to_le_bytes());
        for value in row {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
    }
    let digest = Sha256::digest(&bytes);
    bytes.extend_from_slice(&digest);
    bytes
}

fn softmax(scores: &[f32], inverse_temperature: f32) -> Vec<f64> {
    let scaled: Vec<f64> = scores
        .iter()
        .map(|&s| f64::from(s) * f64::from(inverse_temperature))
        .collect();
    let max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = scaled.iter().map(|s| (s - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// Trains a classifier on labelled examples. Labels are sorted and training is deterministic, so
/// the same examples train the same model (and version) on any machine and thread count.
pub fn train(examples: &[Example], config: &TrainConfig) -> Result<Model, TrainError> {
    config.validate()?;
    if examples.is_empty() {
        return Err(TrainError::NoExamples);
    }
    let labels: Vec<String> = examples
        .iter()
        .map(|e| e.label.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if labels.len() < 2 {
        return Err(TrainError::OneLabel(labels));
    }
    let targets: Vec<usize> = examples
        .iter()
        .map(|e| {
            labels
                .binary_search(&e.label)
                .expect("every label is listed")
        })
        .collect();

    let counted = count_all(examples, &config.features);
    let inverse_temperature = if config.calibration_folds >= 2 {
        calibrate(&counted, &targets, labels.len(), config)
    } else {
        1.0
    };
    let fitted = fit(&counted, &targets, labels.len(), config);

    // A bucket without IDF never had a value in training, so it has no weights either. The
    // frequent n-grams come first: most of any text's rows then sit on a few memory pages
    // (measured about a fifth faster than rows in bucket order).
    let mut stored: Vec<u32> = (0..fitted.idf.len() as u32)
        .filter(|&b| fitted.idf[b as usize] != 0.0)
        .collect();
    stored.sort_by(|&a, &b| {
        fitted.idf[a as usize]
            .total_cmp(&fitted.idf[b as usize])
            .then(a.cmp(&b))
    });
    let mut index = vec![IGNORED; config.features.buckets()];
    let mut rows = vec![0.0f32; labels.len() + 1];
    rows.reserve(stored.len() * (labels.len() + 1));
    for (row, &bucket) in (1..).zip(&stored) {
        index[bucket as usize] = row;
        rows.push(fitted.idf[bucket as usize]);
        rows.extend(fitted.binaries.iter().map(|b| b.weights[bucket as usize]));
    }
    let stored_rows = stored.len();
    let header = Header {
        biases: fitted.binaries.iter().map(|b| b.bias).collect(),
        labels,
        features: config.features.clone(),
        inverse_temperature,
        stored_rows,
        trained_examples: examples.len(),
        // The thread count does not change the model, so it does not change the version.
        train: TrainConfig {
            threads: 0,
            ..config.clone()
        },
    };
    let bytes = encode(&header, &index, &rows);
    Ok(Model {
        version: version_of(&bytes[bytes.len() - DIGEST_LEN..]),
        header,
        index,
        rows,
    })
}

/// Distinct features and term frequencies of one text.
type Counted = Vec<Feature>;

fn count_all(examples: &[Example], features: &FeatureConfig) -> Vec<Counted> {
    let mut scratch = Scratch::default();
    examples
        .iter()
        .map(|e| {
            features.count(&e.title, &e.body, &mut scratch);
            scratch.features.clone()
        })
        .collect()
}

/// IDF and one-vs-rest weights, before they become a model table.
struct Fitted {
    idf: Vec<f32>,
    binaries: Vec<svm::Binary>,
}

impl Fitted {
    fn scores(&self, features: &[Feature]) -> Vec<f32> {
        self.binaries
            .iter()
            .map(|b| {
                b.bias
                    + features
                        .iter()
                        .map(|f| b.weights[f.bucket as usize] * f.value)
                        .sum::<f32>()
            })
            .collect()
    }
}

fn fit(counted: &[Counted], targets: &[usize], labels: usize, config: &TrainConfig) -> Fitted {
    let features = &config.features;
    let idf = inverse_document_frequency(counted, features.buckets(), config.min_df);
    let mut rows = SparseRows::new();
    let mut scratch = Scratch::default();
    for text in counted {
        scratch.features.clone_from(text);
        features.weigh(&mut scratch, |bucket| idf[bucket as usize]);
        rows.push(
            scratch
                .features
                .iter()
                .filter(|f| f.value != 0.0)
                .map(|f| (f.bucket, f.value)),
        );
    }
    let binaries = train_one_vs_rest(&rows, targets, labels, features.buckets(), config);
    Fitted { idf, binaries }
}

/// Smoothed IDF, ln((1 + n) / (1 + df)) + 1 as scikit-learn computes it; 0 (ignored) below
/// `min_df`.
fn inverse_document_frequency(counted: &[Counted], buckets: usize, min_df: u32) -> Vec<f32> {
    let mut df = vec![0u32; buckets];
    for text in counted {
        for feature in text {
            df[feature.bucket as usize] += 1;
        }
    }
    let n = counted.len() as f32;
    df.iter()
        .map(|&d| {
            if d == 0 || d < min_df {
                0.0
            } else {
                ((1.0 + n) / (1.0 + d as f32)).ln() + 1.0
            }
        })
        .collect()
}

fn train_one_vs_rest(
    rows: &SparseRows,
    targets: &[usize],
    labels: usize,
    dimensions: usize,
    config: &TrainConfig,
) -> Vec<svm::Binary> {
    let n = targets.len() as f32;
    let mut sizes = vec![0usize; labels];
    for &t in targets {
        sizes[t] += 1;
    }
    let settings = |label: usize| SolverSettings {
        c: config.c,
        loss: config.loss,
        tolerance: config.tolerance,
        max_passes: config.max_passes,
        bias: 1.0,
        // Balanced: a label's examples weigh as much in total as all the others'.
        positive_weight: if config.balanced {
            (n - sizes[label] as f32) / sizes[label].max(1) as f32
        } else {
            1.0
        },
    };
    let train_label = |label: usize| {
        let positive: Vec<bool> = targets.iter().map(|&t| t == label).collect();
        if config.nb_alpha == 0.0 {
            return svm::train_binary(rows, &positive, dimensions, &settings(label), seed(label));
        }
        // NBSVM: train on scaled features, then fold the scaling into the weights, so that
        // prediction stays one dot product per label.
        let ratios = nb_ratios(rows, &positive, dimensions, config.nb_alpha);
        let scaled = rows.scaled(&ratios);
        let mut binary = svm::train_binary(
            &scaled,
            &positive,
            dimensions,
            &settings(label),
            seed(label),
        );
        for (w, r) in binary.weights.iter_mut().zip(&ratios) {
            *w *= r;
        }
        binary
    };

    let threads = match config.threads {
        0 => std::thread::available_parallelism().map_or(1, |t| t.get()),
        t => t,
    }
    .min(labels);
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<svm::Binary>> = (0..labels).map(|_| None).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let label = next.fetch_add(1, Ordering::Relaxed);
                        if label >= labels {
                            break done;
                        }
                        done.push((label, train_label(label)));
                    }
                })
            })
            .collect();
        for worker in workers {
            for (label, binary) in worker.join().expect("a training thread panicked") {
                results[label] = Some(binary);
            }
        }
    });
    results
        .into_iter()
        .map(|b| b.expect("every label was trained"))
        .collect()
}

/// Each label's solver visits examples in its own fixed order.
fn seed(label: usize) -> u64 {
    0x6d69_6e68_7500_0000 + label as u64
}

/// |log((p / |p|) / (q / |q|))| per bucket: p and q are the smoothed sums of a feature's values
/// over the label's examples and over the others'.
fn nb_ratios(rows: &SparseRows, positive: &[bool], dimensions: usize, alpha: f32) -> Vec<f32> {
    let mut p = vec![0.0f32; dimensions];
    let mut q = vec![0.0f32; dimensions];
    for (i, &pos) in positive.iter().enumerate() {
        let (buckets, values) = rows.row(i);
        let sums = if pos { &mut p } else { &mut q };
        for (&b, &v) in buckets.iter().zip(values) {
            sums[b as usize] += v;
        }
    }
    // Only buckets in use are smoothed, so the table size does not change the smoothing.
    let used = |a: f32, b: f32| a > 0.0 || b > 0.0;
    let (mut p_total, mut q_total) = (0.0f32, 0.0f32);
    for (a, b) in p.iter_mut().zip(q.iter_mut()) {
        if used(*a, *b) {
            *a += alpha;
            *b += alpha;
            p_total += *a;
            q_total += *b;
        }
    }
    p.iter()
        .zip(&q)
        .map(|(&a, &b)| {
            if used(a, b) {
                ((a / p_total) / (b / q_total)).ln().abs()
            } else {
                0.0
            }
        })
        .collect()
}

/// Stratified fold assignment: each label's examples are shuffled (deterministically) and dealt
/// round-robin, so every fold holds every label in proportion.
pub(crate) fn stratified_folds(targets: &[usize], folds: usize, seed: u64) -> Vec<usize> {
    let labels = targets.iter().max().map_or(0, |m| m + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); labels];
    for (i, &t) in targets.iter().enumerate() {
        members[t].push(i);
    }
    let mut fold = vec![0; targets.len()];
    let mut rng = SplitMix(seed);
    let mut dealt = 0;
    for mut group in members {
        for i in (1..group.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            group.swap(i, j);
        }
        for i in group {
            fold[i] = dealt % folds;
            dealt += 1;
        }
    }
    fold
}

/// Fits the softmax inverse temperature that minimises the log-loss of held-out scores: SVM
/// scores rank labels well but are not probabilities, and scores on training texts are
/// overconfident, so the fit uses folds the scoring model did not see.
fn calibrate(counted: &[Counted], targets: &[usize], labels: usize, config: &TrainConfig) -> f32 {
    let fold = stratified_folds(targets, config.calibration_folds, 0x00ca_1b5a);
    let mut held_out: Vec<(Vec<f32>, usize)> = Vec::with_capacity(targets.len());
    let mut scratch = Scratch::default();
    for f in 0..config.calibration_folds {
        let (train, test): (Vec<usize>, Vec<usize>) =
            (0..targets.len()).partition(|&i| fold[i] != f);
        let train_targets: Vec<usize> = train.iter().map(|&i| targets[i]).collect();
        // A label missing from the training folds would get a classifier without examples.
        if train_targets.iter().collect::<BTreeSet<_>>().len() < labels || test.is_empty() {
            continue;
        }
        let train_counted: Vec<Counted> = train.iter().map(|&i| counted[i].clone()).collect();
        let fitted = fit(&train_counted, &train_targets, labels, config);
        for i in test {
            scratch.features.clone_from(&counted[i]);
            config
                .features
                .weigh(&mut scratch, |bucket| fitted.idf[bucket as usize]);
            held_out.push((fitted.scores(&scratch.features), targets[i]));
        }
    }
    fit_inverse_temperature(&held_out)
}

/// Golden-section search on log β: the log-loss of softmax(β·s) is convex in β.
fn fit_inverse_temperature(held_out: &[(Vec<f32>, usize)]) -> f32 {
    if held_out.is_empty() {
        return 1.0;
    }
    let loss = |log_beta: f64| -> f64 {
        let beta = log_beta.exp() as f32;
        held_out
            .iter()
            .map(|(scores, target)| -softmax(scores, beta)[*target].max(1e-12).ln())
            .sum()
    };
    let (mut lo, mut hi) = (0.01f64.ln(), 1000.0f64.ln());
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..50 {
        let a = hi - ratio * (hi - lo);
        let b = lo + ratio * (hi - lo);
        if loss(a) < loss(b) {
            hi = b;
        } else {
            lo = a;
        }
    }
    ((lo + hi) / 2.0).exp() as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::default_model::{default_examples, default_model, default_train_config};

    /// Small and fast: enough to test the mechanics.
    fn small_config() -> TrainConfig {
        TrainConfig {
            features: FeatureConfig {
                hash_bits: 12,
                ..FeatureConfig::default()
            },
            min_df: 1,
            calibration_folds: 0,
            ..TrainConfig::default()
        }
    }

    fn toy_examples() -> Vec<Example> {
        let mut examples = Vec::new();
        for i in 0..6 {
            examples.push(Example::new(
                format!("拖欠工资{i}"),
                "老板拖欠工资不发",
                "劳动",
            ));
            examples.push(Example::new("", format!("工厂排放废气污染{i}"), "环保"));
            examples.push(Example::new(
                format!("公交线路{i}"),
                "公交车班次太少",
                "交通",
            ));
        }
        examples
    }

    #[test]
    fn predicts_with_probabilities_top_labels_and_features() {
        let model = train(&toy_examples(), &small_config()).unwrap();
        assert_eq!(model.labels(), ["交通", "劳动", "环保"]);
        let prediction = model.predict("工资", "老板拖欠工资");
        assert_eq!(prediction.label, "劳动");
        assert_eq!(prediction.top.len(), 3);
        assert_eq!(
            prediction.top[0],
            ("劳动".to_owned(), prediction.probability)
        );
        assert!(prediction.top.windows(2).all(|w| w[0].1 >= w[1].1));
        let total: f64 = prediction.probabilities.iter().sum();
        assert!((total - 1.0).abs() < 1e-9);
        assert!(prediction.probability > 0.5);
        // The explanation names n-grams of this text, largest contribution first.
        let features: Vec<&str> = prediction
            .top_features
            .iter()
            .map(|(f, _)| f.as_str())
            .collect();
        assert!(!features.is_empty() && features.len() <= TOP_FEATURES);
        assert!(
            features
                .iter()
                .any(|f| f.contains("工资") || f.contains("拖欠")),
            "{features:?}"
        );
        assert!(prediction.top_features.windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(prediction.top_features.iter().all(|(_, c)| *c > 0.0));
    }

    #[test]
    fn empty_text_gets_an_unsure_answer() {
        let model = default_model();
        let prediction = model.predict("", "");
        assert!(prediction.top_features.is_empty());
        assert!(prediction.probability < 0.5, "{prediction:?}");
    }

    #[test]
    fn training_is_deterministic_whatever_the_thread_count() {
        let examples = toy_examples();
        let a = train(&examples, &small_config()).unwrap();
        let mut reversed = examples.clone();
        reversed.reverse();
        let threads = TrainConfig {
            threads: 1,
            ..small_config()
        };
        let b = train(&examples, &threads).unwrap();
        assert_eq!(a.version(), b.version());
        assert_eq!(a.to_bytes(), b.to_bytes());
        // Another order visits examples differently but learns the same labels.
        let c = train(&reversed, &small_config()).unwrap();
        assert_eq!(c.labels(), a.labels());
        assert_eq!(c.predict("", "废气污染").label, "环保");
    }

    #[test]
    fn save_and_load_give_the_same_model() {
        let model = default_model();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("default.model");
        model.save(&path).unwrap();
        let loaded = Model::load(&path).unwrap();
        assert_eq!(loaded.version(), model.version());
        assert_eq!(loaded.labels(), model.labels());
        assert_eq!(loaded.train_config(), &default_train_config());
        assert_eq!(loaded.trained_examples(), default_examples().len());
        for example in default_examples().iter().take(20) {
            assert_eq!(
                loaded.predict(&example.title, &example.body),
                model.predict(&example.title, &example.body)
            );
        }
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            Model::from_bytes(&bytes).unwrap().version(),
            model.version()
        );
        // Only the model is left in the directory: the partial file was renamed.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn damaged_files_are_refused() {
        let bytes = train(&toy_examples(), &small_config()).unwrap().to_bytes();
        assert!(Model::from_bytes(&bytes).is_ok());
        assert!(matches!(
            Model::from_bytes(b"hello"),
            Err(ModelError::NotAModel)
        ));
        let mut other_format = bytes.clone();
        other_format[8] = 9;
        assert!(matches!(
            Model::from_bytes(&other_format),
            Err(ModelError::UnsupportedFormat(9))
        ));
        let mut flipped = bytes.clone();
        let middle = bytes.len() / 2;
        flipped[middle] ^= 1;
        assert!(matches!(
            Model::from_bytes(&flipped),
            Err(ModelError::Damaged(_))
        ));
        assert!(matches!(
            Model::from_bytes(&bytes[..bytes.len() - 1]),
            Err(ModelError::Damaged(_))
        ));
        let error = Model::load("/nonexistent/minhu.model").unwrap_err();
        assert!(error.to_string().contains("/nonexistent/minhu.model"));
    }

    #[test]
    fn only_buckets_in_use_are_stored() {
        let model = train(&toy_examples(), &small_config()).unwrap();
        let stored = model.index.iter().filter(|&&r| r != IGNORED).count();
        assert_eq!(stored, model.header.stored_rows);
        assert!(stored > 0 && stored < model.index.len() / 4);
        // The zero row, then one row of IDF and 3 weights per stored bucket.
        assert_eq!(model.rows.len(), (1 + stored) * 4);
        assert!(model.rows[..4].iter().all(|&v| v == 0.0));
        // An n-gram no training text had is ignored, not an error.
        assert_eq!(model.predict("", "鑫鑫鑫").top_features, []);
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(matches!(
            train(&[], &small_config()),
            Err(TrainError::NoExamples)
        ));
        let one = [Example::new("a", "b", "x"), Example::new("c", "d", "x")];
        assert!(matches!(
            train(&one, &small_config()),
            Err(TrainError::OneLabel(_))
        ));
        let bad = TrainConfig {
            c: 0.0,
            ..small_config()
        };
        assert!(matches!(
            train(&toy_examples(), &bad),
            Err(TrainError::Config(_))
        ));
    }

    #[test]
    fn calibration_fits_a_temperature_on_held_out_folds() {
        let calibrated = train(&default_examples(), &default_train_config()).unwrap();
        let beta = calibrated.header.inverse_temperature;
        assert!(beta.is_finite() && beta > 0.0 && beta != 1.0, "{beta}");
        // A sharper softmax makes the same ranking more confident, never a different label.
        let scores = [0.5f32, -0.2, -1.0];
        let soft = softmax(&scores, 1.0);
        let sharp = softmax(&scores, 4.0);
        assert!(sharp[0] > soft[0]);
        assert_eq!(fit_inverse_temperature(&[]), 1.0);
    }

    #[test]
    fn stratified_folds_hold_every_label_in_proportion() {
        let targets: Vec<usize> = (0..100).map(|i| usize::from(i % 10 == 0)).collect();
        let folds = stratified_folds(&targets, 5, 1);
        for f in 0..5 {
            let members: Vec<usize> = (0..100).filter(|&i| folds[i] == f).collect();
            assert_eq!(members.len(), 20);
            assert_eq!(members.iter().filter(|&&i| targets[i] == 1).count(), 2);
        }
    }
}
