//! Train on one file, evaluate on another:
//! `cargo run --release -p minhu-classify --example evaluate -- TRAIN.jsonl TEST.jsonl [CONFIG_JSON]`.
use minhu_classify::{TrainConfig, evaluate, read_jsonl, train};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, train_path, test_path, rest @ ..] = &args[..] else {
        return Err("usage: evaluate TRAIN.jsonl TEST.jsonl [CONFIG_JSON]".into());
    };
    let config: TrainConfig = match rest.first() {
        Some(json) => serde_json::from_str(json)?,
        None => TrainConfig::default(),
    };
    let model = train(&read_jsonl(train_path)?, &config)?;
    println!("{}", evaluate(&model, &read_jsonl(test_path)?));
    Ok(())
}
