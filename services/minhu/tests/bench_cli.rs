//! `minhu bench intake` and `minhu bench e2e` as a user runs them, briefly: the last line of
//! each is a contract scripts read (its keys, in order, with numbers), and the figures before it
//! say what the run measured. Speed is not judged here (timings are noisy on shared machines);
//! only that the commands run the real pipeline and report in the promised shape.

use std::process::{Command, Output};

fn minhu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_minhu"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run minhu")
}

/// The lines of a run that must succeed.
fn succeeds(args: &[&str]) -> Vec<String> {
    let output = minhu(args);
    assert!(
        output.status.success(),
        "minhu {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8 output")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `key=value` pairs of `line`, checked to be exactly `keys` in that order with numeric values.
fn figures(line: &str, keys: &[&str]) -> Vec<f64> {
    let pairs: Vec<(&str, &str)> = line
        .split_whitespace()
        .map(|pair| pair.split_once('=').expect("key=value"))
        .collect();
    let found: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
    assert_eq!(found, keys, "in {line:?}");
    pairs
        .iter()
        .map(|(k, v)| {
            v.parse()
                .unwrap_or_else(|_| panic!("{k}={v} is not a number in {line:?}"))
        })
        .collect()
}

#[test]
fn the_intake_bench_reports_submits_against_its_baselines() {
    let lines = succeeds(&["bench", "intake", "--concurrency", "4", "--duration", "1"]);
    let last = figures(
        lines.last().expect("output"),
        &[
            "submits_per_s",
            "p50_ms",
            "p99_ms",
            "echo_per_s",
            "ratio_to_echo",
            "js_per_s",
        ],
    );
    assert!(last.iter().all(|&f| f > 0.0), "{lines:?}");
    let cpu = figures(
        &lines[lines.len() - 3],
        &[
            "cpu_us_per_submit",
            "cpu_us_per_echo",
            "cpu_us_per_write",
            "cpu_ratio_bound",
        ],
    );
    // Each call costs some CPU, and the bound is a share of the echo rate.
    assert!(cpu[..3].iter().all(|&us| us > 0.0), "{lines:?}");
    assert!(cpu[3] > 0.0 && cpu[3] < 1.0, "{lines:?}");
    assert!(
        lines[lines.len() - 2].starts_with("roles=all concurrency=4 "),
        "{lines:?}"
    );
}

#[test]
fn the_intake_bench_runs_the_gateway_alone_when_asked_and_nothing_without_it() {
    let lines = succeeds(&[
        "bench",
        "intake",
        "--concurrency",
        "2",
        "--duration",
        "1",
        "--roles",
        "gateway",
    ]);
    assert!(
        lines[lines.len() - 2].starts_with("roles=gateway concurrency=2 "),
        "{lines:?}"
    );
    let refused = minhu(&["bench", "intake", "--duration", "1", "--roles", "triage"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--roles must include it"), "{stderr}");
}

#[test]
fn the_end_to_end_bench_dispatches_every_submission() {
    let lines = succeeds(&["bench", "e2e", "--rate", "40", "--duration", "1"]);
    let last = figures(
        lines.last().expect("output"),
        &["rate", "p50_ms", "p99_ms", "lost"],
    );
    assert_eq!(last[0], 40.0);
    assert!(last[1] > 0.0 && last[2] >= last[1], "{lines:?}");
    assert_eq!(last[3], 0.0, "{lines:?}");
}
