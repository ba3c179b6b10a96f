//! `cargo run --release -p minhu-dedup --example bench_dedup -- FILE`: index the messages of a
//! JSON-lines file, edited and repeated to 10k, 100k and 1M documents, and time lookups.
use std::process::ExitCode;

use minhu_dedup::bench::{BenchConfig, bench};
use minhu_dedup::data::read_messages;
use minhu_dedup::detector::Detector;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: bench_dedup FILE");
        return ExitCode::from(2);
    };
    let texts = match read_messages(&path) {
        Ok(texts) => texts,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    match bench(&Detector::default(), &texts, &BenchConfig::default()) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
