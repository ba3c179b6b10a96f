//! Evaluation (per-class precision, recall, F1, confusion matrix), stratified cross-validation
//! and the single-thread benchmark. The `minhu eval classify` and `minhu bench classify` commands
//! print these reports; scripts read their last lines.

use std::fmt;
use std::time::{Duration, Instant};

use crate::data::Example;
use crate::model::{Model, Prediction, TrainConfig, TrainError, stratified_folds, train};

/// Per-label figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassReport {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Examples whose true label this is.
    pub support: usize,
}

/// How well predictions match the true labels.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// Model labels first, then true labels the model does not know (always wrong).
    pub labels: Vec<String>,
    /// `confusion[true][predicted]`, indices into `labels`.
    pub confusion: Vec<Vec<usize>>,
    pub classes: Vec<ClassReport>,
    pub accuracy: f64,
    /// Unweighted mean of the per-class F1 over labels with support or predictions.
    pub macro_f1: f64,
    /// Expected calibration error of the top probability (10 equal-width bins): how far the
    /// stated confidence is from the observed accuracy, on average.
    pub calibration_error: f64,
    pub n: usize,
}

impl EvalReport {
    /// Builds the report from predictions of the given examples (same order and length).
    pub fn from_predictions(
        model_labels: &[String],
        examples: &[Example],
        predictions: &[Prediction],
    ) -> EvalReport {
        assert_eq!(
            examples.len(),
            predictions.len(),
            "one prediction per example"
        );
        let mut labels = model_labels.to_vec();
        let mut extra: Vec<&String> = examples
            .iter()
            .map(|e| &e.label)
            .filter(|l| !model_labels.contains(l))
            .collect();
        extra.sort();
        extra.dedup();
        labels.extend(extra.into_iter().cloned());
        let index = |label: &str| {
            labels
                .iter()
                .position(|l| l == label)
                .expect("every label is listed")
        };

        let k = labels.len();
        let mut confusion = vec![vec![0usize; k]; k];
        for (example, prediction) in examples.iter().zip(predictions) {
            confusion[index(&example.label)][index(&prediction.label)] += 1;
        }
        let n = examples.len();
        let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let classes: Vec<ClassReport> = (0..k)
            .map(|i| {
                let support: usize = confusion[i].iter().sum();
                let predicted: usize = confusion.iter().map(|row| row[i]).sum();
                let precision = ratio(confusion[i][i], predicted);
                let recall = ratio(confusion[i][i], support);
                let f1 = if precision + recall == 0.0 {
                    0.0
                } else {
                    2.0 * precision * recall / (precision + recall)
                };
                ClassReport {
                    label: labels[i].clone(),
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();
        // A model label that never occurs and is never predicted says nothing either way.
        let counted: Vec<&ClassReport> = classes
            .iter()
            .enumerate()
            .filter(|(i, c)| c.support > 0 || confusion.iter().any(|row| row[*i] > 0))
            .map(|(_, c)| c)
            .collect();
        let macro_f1 = if counted.is_empty() {
            0.0
        } else {
            counted.iter().map(|c| c.f1).sum::<f64>() / counted.len() as f64
        };
        EvalReport {
            calibration_error: calibration_error(examples, predictions),
            labels,
            confusion,
            classes,
            accuracy: ratio(correct, n),
            macro_f1,
            n,
        }
    }
}

fn calibration_error(examples: &[Example], predictions: &[Prediction]) -> f64 {
    const BINS: usize = 10;
    let mut confidence = [0.0f64; BINS];
    let mut correct = [0usize; BINS];
    let mut count = [0usize; BINS];
    for (example, prediction) in examples.iter().zip(predictions) {
        let bin = ((prediction.probability * BINS as f64) as usize).min(BINS - 1);
        confidence[bin] += prediction.probability;
        correct[bin] += usize::from(prediction.label == example.label);
        count[bin] += 1;
    }
    let n: usize = count.iter().sum();
    if n == 0 {
        return 0.0;
    }
    (0..BINS)
        .map(|b| (confidence[b] - correct[b] as f64).abs() / n as f64)
        .sum()
}

impl fmt::Display for EvalReport {
    /// Per-class table, confusion matrix (rows: true label, columns: predicted, numbered as in
    /// the table), calibration, and as the last line `accuracy=… macro_f1=… n=…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>3}  {:<16} {:>9} {:>9} {:>9} {:>8}",
            "#", "label", "precision", "recall", "f1", "support"
        )?;
        for (i, class) in self.classes.iter().enumerate() {
            writeln!(
                f,
                "{:>3}  {:<w$} {:>9.4} {:>9.4} {:>9.4} {:>8}",
                i + 1,
                class.label,
                class.precision,
                class.recall,
                class.f1,
                class.support,
                w = pad_width(&class.label, 16),
            )?;
        }
        writeln!(f)?;
        write!(f, "confusion (rows true, columns predicted):\n{:>3} ", "")?;
        for j in 0..self.labels.len() {
            write!(f, " {:>6}", j + 1)?;
        }
        writeln!(f)?;
        for (i, row) in self.confusion.iter().enumerate() {
            write!(f, "{:>3} ", i + 1)?;
            for count in row {
                write!(f, " {count:>6}")?;
            }
            writeln!(f)?;
        }
        writeln!(f)?;
        writeln!(f, "calibration_error={:.4}", self.calibration_error)?;
        write!(
            f,
            "accuracy={:.4} macro_f1={:.4} n={}",
            self.accuracy, self.macro_f1, self.n
        )
    }
}

/// Display width of CJK characters is two columns: pad by what the terminal shows.
fn pad_width(text: &str, columns: usize) -> usize {
    let shown: usize = text
        .chars()
        .map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 })
        .sum();
    columns.saturating_sub(shown) + text.chars().count()
}

/// Classifies every example with the model and compares with the true labels.
pub fn evaluate(model: &Model, examples: &[Example]) -> EvalReport {
    let predictions: Vec<Prediction> = examples
        .iter()
        .map(|e| model.predict(&e.title, &e.body))
        .collect();
    EvalReport::from_predictions(model.labels(), examples, &predictions)
}

/// Out-of-fold predictions, in the order of `examples`: stratified `folds`-fold, each fold
/// predicted by a model trained on the others. Also returns the labels of all the data.
pub fn cross_predict(
    examples: &[Example],
    folds: usize,
    config: &TrainConfig,
) -> Result<(Vec<String>, Vec<Prediction>), TrainError> {
    if folds < 2 {
        return Err(TrainError::Config(format!(
            "{folds} folds: at least 2 are needed"
        )));
    }
    let mut labels: Vec<String> = examples.iter().map(|e| e.label.clone()).collect();
    labels.sort();
    labels.dedup();
    let targets: Vec<usize> = examples
        .iter()
        .map(|e| labels.binary_search(&e.label).expect("listed"))
        .collect();
    let fold = stratified_folds(&targets, folds, 0x0f01_d5ed);
    let mut predictions: Vec<Option<Prediction>> = vec![None; examples.len()];
    for f in 0..folds {
        let training: Vec<Example> = examples
            .iter()
            .zip(&fold)
            .filter(|&(_, &g)| g != f)
            .map(|(e, _)| e.clone())
            .collect();
        let model = train(&training, config)?;
        for (i, example) in examples.iter().enumerate() {
            if fold[i] == f {
                predictions[i] = Some(model.predict(&example.title, &example.body));
            }
        }
    }
    let predictions = predictions
        .into_iter()
        .map(|p| p.expect("every example is in one fold"))
        .collect();
    Ok((labels, predictions))
}

/// Stratified cross-validation: predictions pooled over the folds, one report.
pub fn cross_validate(
    examples: &[Example],
    folds: usize,
    config: &TrainConfig,
) -> Result<EvalReport, TrainError> {
    let (labels, predictions) = cross_predict(examples, folds, config)?;
    Ok(EvalReport::from_predictions(
        &labels,
        examples,
        &predictions,
    ))
}

/// Single-thread classification speed.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    pub docs: usize,
    pub elapsed: Duration,
    pub docs_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl fmt::Display for BenchReport {
    /// Ends with the line `docs_per_s=N p99_us=N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "docs={} elapsed_s={:.3} p50_us={:.1} max_us={:.1}",
            self.docs,
            self.elapsed.as_secs_f64(),
            self.p50_us,
            self.max_us
        )?;
        write!(
            f,
            "docs_per_s={:.0} p99_us={:.0}",
            self.docs_per_s, self.p99_us
        )
    }
}

/// Examples classified before timing starts: caches and the thread's buffers warm up.
const WARM_UP: usize = 1000;

/// Classifies every example once on this thread, after a warm-up, timing each one. An empty
/// list gives a report of zeros.
pub fn bench(model: &Model, examples: &[Example]) -> BenchReport {
    for example in examples.iter().take(WARM_UP) {
        std::hint::black_box(model.predict(&example.title, &example.body));
    }
    let mut latencies: Vec<Duration> = Vec::with_capacity(examples.len());
    let started = Instant::now();
    for example in examples {
        let t = Instant::now();
        std::hint::black_box(model.predict(&example.title, &example.body));
        latencies.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    BenchReport {
        docs: examples.len(),
        elapsed,
        docs_per_s: if elapsed.is_zero() {
            0.0
        } else {
            examples.len() as f64 / elapsed.as_secs_f64()
        },
        p50_us: percentile(0.50),
        p99_us: percentile(0.99),
        max_us: percentile(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::default_model::{default_examples, default_model, default_train_config};
    use crate::features::FeatureConfig;

    fn prediction(label: &str, probability: f64) -> Prediction {
        Prediction {
            label: label.to_owned(),
            probability,
            top: vec![(label.to_owned(), probability)],
            probabilities: Vec::new(),
            top_features: Vec::new(),
        }
    }

    #[test]
    fn figures_are_computed_from_the_confusion_matrix() {
        let labels = ["a".to_owned(), "b".to_owned()];
        let examples: Vec<Example> = ["a", "a", "a", "b", "c"]
            .iter()
            .map(|l| Example::new("", "x", *l))
            .collect();
        let predictions: Vec<Prediction> = ["a", "a", "b", "b", "a"]
            .iter()
            .map(|l| prediction(l, 0.75))
            .collect();
        let report = EvalReport::from_predictions(&labels, &examples, &predictions);
        assert_eq!(report.labels, ["a", "b", "c"]);
        assert_eq!(report.confusion, [[2, 1, 0], [0, 1, 0], [1, 0, 0]]);
        assert_eq!(report.n, 5);
        assert!((report.accuracy - 0.6).abs() < 1e-12);
        let a = &report.classes[0];
        assert!((a.precision - 2.0 / 3.0).abs() < 1e-12 && (a.recall - 2.0 / 3.0).abs() < 1e-12);
        let b = &report.classes[1];
        assert!((b.precision - 0.5).abs() < 1e-12 && (b.recall - 1.0).abs() < 1e-12);
        assert_eq!(report.classes[2].f1, 0.0);
        let expected_macro = (2.0 / 3.0 + 2.0 / 3.0 + 0.0) / 3.0;
        assert!((report.macro_f1 - expected_macro).abs() < 1e-12);
        // Stated 0.75, right 60% of the time.
        assert!((report.calibration_error - 0.15).abs() < 1e-12);
        assert_eq!(
            report.to_string().lines().last().unwrap(),
            "accuracy=0.6000 macro_f1=0.4444 n=5"
        );
    }

    #[test]
    fn evaluation_of_the_default_model_on_its_own_examples() {
        let examples = default_examples();
        let report = evaluate(default_model(), &examples);
        assert_eq!(report.n, examples.len());
        assert!(report.accuracy > 0.95, "{report}");
        let text = report.to_string();
        assert!(text.contains("劳动和社会保障"));
        let last = text.lines().last().unwrap();
        let fields: Vec<(&str, &str)> = last
            .split(' ')
            .map(|f| f.split_once('=').unwrap())
            .collect();
        assert_eq!(fields.len(), 3, "{last}");
        assert_eq!(
            fields[0],
            ("accuracy", format!("{:.4}", report.accuracy).as_str())
        );
        assert_eq!(
            fields[1],
            ("macro_f1", format!("{:.4}", report.macro_f1).as_str())
        );
        assert_eq!(fields[2], ("n", examples.len().to_string().as_str()));
    }

    #[test]
    fn cross_validation_pools_out_of_fold_predictions() {
        let examples = default_examples();
        let config = TrainConfig {
            features: FeatureConfig {
                hash_bits: 14,
                ..FeatureConfig::default()
            },
            calibration_folds: 0,
            ..default_train_config()
        };
        let report = cross_validate(&examples, 3, &config).unwrap();
        assert_eq!(report.n, examples.len());
        assert_eq!(report.labels.len(), 7);
        // Unseen text is harder than seen text, but far better than chance.
        assert!(report.accuracy > 0.6 && report.accuracy < 1.0, "{report}");
        assert!(cross_validate(&examples, 1, &config).is_err());
    }

    #[test]
    fn bench_reports_speed_and_latency() {
        let examples = default_examples();
        let report = bench(default_model(), &examples);
        assert_eq!(report.docs, examples.len());
        assert!(report.docs_per_s > 0.0);
        assert!(report.p50_us <= report.p99_us && report.p99_us <= report.max_us);
        let last = report.to_string().lines().last().unwrap().to_owned();
        let fields: Vec<&str> = last.split(' ').collect();
        assert!(
            fields.len() == 2
                && fields[0].starts_with("docs_per_s=")
                && fields[1].starts_with("p99_us=")
        );
        assert!(
            fields
                .iter()
                .all(|f| f.split('=').nth(1).unwrap().parse::<u64>().is_ok()),
            "{last}"
        );
        assert_eq!(bench(default_model(), &[]).docs_per_s, 0.0);
    }
}
