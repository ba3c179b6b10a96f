//! `minhu train`, `minhu eval classify` and `minhu bench classify`: thin wrappers around the
//! classifier core (`minhu-classify`) that read the files, say what they did and print the
//! core's reports, whose last lines scripts read.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use minhu_classify::{
    Example, Model, TrainConfig, bench, cross_validate, default_model, evaluate, read_jsonl, train,
};

/// Labelled examples from a JSON-lines file; an empty file is an error, since every command
/// here needs at least one example to say anything.
fn read_examples(data: &Path) -> anyhow::Result<Vec<Example>> {
    let examples = read_jsonl(data).context("reading the labelled examples")?;
    if examples.is_empty() {
        bail!("{} holds no labelled examples", data.display());
    }
    Ok(examples)
}

fn load_model(path: &Path) -> anyhow::Result<Model> {
    Model::load(path).with_context(|| format!("loading the model {}", path.display()))
}

/// `minhu train --data FILE --out MODEL`: trains with the default settings (those that measured
/// best on real petitions) and writes the model file.
pub fn run_train(data: &Path, out_path: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let examples = read_examples(data)?;
    let started = Instant::now();
    let model = train(&examples, &TrainConfig::default())
        .with_context(|| format!("training on {}", data.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    model.save(out_path).context("saving the trained model")?;
    let bytes = std::fs::metadata(out_path)
        .with_context(|| format!("reading the size of {}", out_path.display()))?
        .len();
    writeln!(out, "labels: {}", model.labels().join(", "))?;
    writeln!(out, "model: {} ({bytes} bytes)", out_path.display())?;
    writeln!(
        out,
        "examples={} labels={} seconds={seconds:.2} version={} bytes={bytes}",
        examples.len(),
        model.labels().len(),
        model.version()
    )?;
    Ok(())
}

/// How `minhu eval classify` gets its predictions.
pub enum EvalSource<'a> {
    /// A model file.
    Model(&'a Path),
    /// The embedded default model.
    Default,
    /// Stratified k-fold cross-validation on the data itself, with the training defaults.
    CrossValidation(usize),
}

/// `minhu eval classify`: per-class precision, recall and F1, the confusion matrix, and as the
/// last line `accuracy=0.xxxx macro_f1=0.xxxx n=N`.
pub fn run_eval(source: EvalSource<'_>, data: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let examples = read_examples(data)?;
    let report = match source {
        EvalSource::CrossValidation(folds) => {
            let started = Instant::now();
            let report = cross_validate(&examples, folds, &TrainConfig::default())
                .with_context(|| format!("{folds}-fold cross-validation on {}", data.display()))?;
            writeln!(
                out,
                "{folds}-fold stratified cross-validation on {} examples in {:.1}s",
                examples.len(),
                started.elapsed().as_secs_f64()
            )?;
            report
        }
        EvalSource::Model(path) => {
            let model = load_model(path)?;
            check_labels(&model, &examples, data)?;
            writeln!(
                out,
                "model {} ({} labels, trained on {} examples) on {} examples",
                model.version(),
                model.labels().len(),
                model.trained_examples(),
                examples.len()
            )?;
            evaluate(&model, &examples)
        }
        EvalSource::Default => {
            let model = default_model();
            check_labels(model, &examples, data)?;
            writeln!(
                out,
                "embedded default model {} on {} examples",
                model.version(),
                examples.len()
            )?;
            evaluate(model, &examples)
        }
    };
    writeln!(out, "{report}")?;
    Ok(())
}

/// Data labelled in another taxonomy than the model's would give meaningless figures: that is
/// an error. A few labels the model does not know are counted as wrong, with a warning.
fn check_labels(model: &Model, examples: &[Example], data: &Path) -> anyhow::Result<()> {
    let known: BTreeSet<&str> = model.labels().iter().map(String::as_str).collect();
    let labels: BTreeSet<&str> = examples.iter().map(|e| e.label.as_str()).collect();
    let unknown: Vec<&str> = labels.difference(&known).copied().collect();
    if unknown.len() == labels.len() {
        bail!(
            "none of the labels in {} is a label of the model: the data has {}; the model knows {}",
            data.display(),
            unknown.join(", "),
            model.labels().join(", ")
        );
    }
    if !unknown.is_empty() {
        eprintln!(
            "warning: labels the model does not know, counted as misclassified: {}",
            unknown.join(", ")
        );
    }
    Ok(())
}

/// `minhu bench classify`: loads the model (the default one when none is given), then classifies
/// every message of the file (title and body) on this thread after a warm-up. Ends with
/// `docs_per_s=N p99_us=N`.
pub fn run_bench(model: Option<&Path>, data: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    // The model first, so that the memory it adds is not mixed up with the data's.
    let before = resident_kib();
    let started = Instant::now();
    let loaded;
    let (model, what) = match model {
        Some(path) => {
            loaded = load_model(path)?;
            (&loaded, "loaded")
        }
        None => (default_model(), "trained (embedded default)"),
    };
    let load_ms = started.elapsed().as_secs_f64() * 1000.0;
    let model_kib = resident_kib().zip(before).map(|(a, b)| a.saturating_sub(b));
    let examples = read_examples(data)?;
    writeln!(out, "model {} {what} in {load_ms:.0} ms", model.version())?;
    let report = bench(model, &examples);
    writeln!(
        out,
        "model_load_ms={load_ms:.0} model_rss_mb={} rss_mb={} threads=1",
        mib(model_kib),
        mib(resident_kib())
    )?;
    writeln!(out, "{report}")?;
    Ok(())
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("-".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
}

/// This process's resident memory (VmRSS) in KiB; Linux only.
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
