//! How often each text rule fires on a file of petitions, to tune a rule set on real intake:
//!
//! ```sh
//! cargo run --release -p minhu-classify --example rules -- FILE.jsonl [RULES.toml] [RULE_ID]
//! ```
//!
//! Prints the distribution of request types, 信访 categories, urgency levels and pathways, and
//! how many texts fired each rule; with RULE_ID, the texts that fired it instead.

use std::collections::BTreeMap;

use minhu_classify::{Rules, read_jsonl};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        return Err("usage: rules FILE.jsonl [RULES.toml] [RULE_ID]".into());
    };
    let rules = match args.get(2) {
        Some(file) => Rules::from_toml(&std::fs::read_to_string(file)?)?,
        None => Rules::default(),
    };
    let wanted = args.get(3);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for example in read_jsonl(path)? {
        let analysis = rules.analyse(&example.title, &example.body);
        if let Some(wanted) = wanted {
            if analysis.fired.contains(wanted) {
                let text: String = format!("{} | {}", example.title, example.body)
                    .chars()
                    .take(120)
                    .collect();
                println!("[{}] {text}", analysis.urgency);
            }
            continue;
        }
        for key in [
            format!("request_type {}", analysis.request_type),
            format!("xinfang {}", analysis.xinfang_category),
            format!("urgency {}", analysis.urgency),
            format!("pathway {:?}", analysis.pathway.kind),
        ]
        .into_iter()
        .chain(analysis.fired.iter().map(|id| format!("rule {id}")))
        {
            *counts.entry(key).or_default() += 1;
        }
    }
    for (key, count) in counts {
        println!("{count:7} {key}");
    }
    Ok(())
}
