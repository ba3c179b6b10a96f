//! `cargo run --release -p minhu-dedup --example eval_dedup -- --data FILE | --pairs FILE`
use std::process::ExitCode;

use minhu_dedup::data::{read_messages, read_pairs};
use minhu_dedup::detector::Detector;
use minhu_dedup::eval::{eval_corpus, eval_pairs};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let detector = Detector::default();
    let report = match args.as_slice() {
        [flag, path] if flag == "--data" => read_messages(path).map(|m| eval_corpus(&detector, &m)),
        [flag, path] if flag == "--pairs" => read_pairs(path).map(|p| eval_pairs(&detector, &p)),
        _ => {
            eprintln!("usage: eval_dedup --data FILE | --pairs FILE");
            return ExitCode::from(2);
        }
    };
    match report {
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
