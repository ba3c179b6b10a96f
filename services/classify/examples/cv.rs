//! Stratified cross-validation of a training configuration on one labelled file:
//!
//! ```sh
//! cargo run --release -p minhu-classify --example cv -- FILE [FOLDS] [TRAIN_CONFIG_JSON]
//! ```
//!
//! Prints the report for all rows, for the rows with both title and body, and what a confidence
//! gate at several thresholds would do: the share of cases routed automatically and their
//! accuracy (the rest go to the dispatch centre).

use std::time::Instant;

use minhu_classify::{EvalReport, Example, Prediction, TrainConfig, cross_predict, read_jsonl};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        return Err("usage: cv FILE [FOLDS] [TRAIN_CONFIG_JSON]".into());
    };
    let examples = read_jsonl(path)?;
    let folds: usize = args.get(2).map_or(Ok(5), |f| f.parse())?;
    let config: TrainConfig = match args.get(3) {
        Some(json) => serde_json::from_str(json)?,
        None => TrainConfig::default(),
    };

    let started = Instant::now();
    let (labels, predictions) = cross_predict(&examples, folds, &config)?;
    println!(
        "{folds}-fold cross-validation of {} examples in {:.1}s\n",
        examples.len(),
        started.elapsed().as_secs_f64()
    );
    let (both, both_predictions): (Vec<Example>, Vec<Prediction>) = examples
        .iter()
        .zip(&predictions)
        .filter(|(e, _)| e.has_title_and_body())
        .map(|(e, p)| (e.clone(), p.clone()))
        .unzip();
    println!(
        "rows with title and body:\n{}\n",
        EvalReport::from_predictions(&labels, &both, &both_predictions)
    );

    println!("confidence gate: threshold, share routed automatically, accuracy of those");
    for threshold in [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9] {
        let routed: Vec<bool> = examples
            .iter()
            .zip(&predictions)
            .filter(|(_, p)| p.probability >= threshold)
            .map(|(e, p)| e.label == p.label)
            .collect();
        let correct = routed.iter().filter(|&&c| c).count();
        println!(
            "  {threshold:.1}  {:.3}  {:.4}",
            routed.len() as f64 / examples.len() as f64,
            correct as f64 / routed.len().max(1) as f64
        );
    }
    println!(
        "\nall rows:\n{}",
        EvalReport::from_predictions(&labels, &examples, &predictions)
    );
    Ok(())
}
