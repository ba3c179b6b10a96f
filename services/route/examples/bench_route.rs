//! Measures routing at province scale on a JSON Lines message corpus (fields `title`, `body`):
//!
//! ```sh
//! cargo run --release -p minhu-route --example bench_route -- /work/shared/data/gov-messages/train.jsonl
//! ```
//!
//! The corpus is read in place, never copied.

use std::process::ExitCode;

use minhu_route::bench::{self, MessageText, ProvinceShape};

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: bench_route <messages.jsonl>");
        return ExitCode::FAILURE;
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut messages = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(value) => value,
            Err(e) => {
                eprintln!("{path}:{}: {e}", number + 1);
                return ExitCode::FAILURE;
            }
        };
        let field = |name: &str| value[name].as_str().unwrap_or_default().to_owned();
        messages.push(MessageText {
            title: field("title"),
            body: field("body"),
        });
    }
    match bench::run(&ProvinceShape::default(), &messages) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
