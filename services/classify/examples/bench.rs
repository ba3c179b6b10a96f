//! Training time, model size, loaded memory and classification speed on one labelled file:
//!
//! ```sh
//! cargo run --release -p minhu-classify --example bench -- FILE [TRAIN_CONFIG_JSON]
//! ```
//!
//! Trains on FILE, saves the model to a temporary file, measures the resident memory a fresh
//! process adds by loading it (Linux), and classifies every message of FILE single-threaded.

use std::process::Command;
use std::time::Instant;

use minhu_classify::{Model, TrainConfig, bench, read_jsonl, train};

/// Resident memory of this process in kB (Linux).
fn resident_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    // The child process: load one model and say what it cost.
    if let [_, flag, model] = &args[..]
        && flag == "--load"
    {
        let before = resident_kb().unwrap_or(0);
        let started = Instant::now();
        let model = Model::load(model)?;
        let elapsed = started.elapsed();
        let after = resident_kb().unwrap_or(0);
        println!(
            "loaded {} in {:.0}ms, resident memory +{} kB",
            model.version(),
            elapsed.as_secs_f64() * 1000.0,
            after.saturating_sub(before)
        );
        return Ok(());
    }
    let Some(path) = args.get(1) else {
        return Err("usage: bench FILE [TRAIN_CONFIG_JSON]".into());
    };
    let examples = read_jsonl(path)?;
    let config: TrainConfig = match args.get(2) {
        Some(json) => serde_json::from_str(json)?,
        None => TrainConfig::default(),
    };

    let started = Instant::now();
    let model = train(&examples, &config)?;
    println!(
        "trained on {} examples in {:.2}s: {}",
        examples.len(),
        started.elapsed().as_secs_f64(),
        model.version()
    );
    let file =
        std::env::temp_dir().join(format!("minhu-classify-bench-{}.model", std::process::id()));
    model.save(&file)?;
    println!("model file: {} bytes", std::fs::metadata(&file)?.len());
    let status = Command::new(std::env::current_exe()?)
        .arg("--load")
        .arg(&file)
        .status();
    std::fs::remove_file(&file)?;
    if !status?.success() {
        return Err("loading the saved model failed".into());
    }
    println!("{}", bench(&model, &examples));
    Ok(())
}
