//! `minhu train`, `minhu eval classify` and `minhu bench classify` as a user runs them: the built
//! binary on a small labelled file written for this test (`fixtures/classify.jsonl`: 36
//! petitions, 3 labels), checked by what it prints, the last lines scripts read and the exit
//! status.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FIXTURE_ROWS: usize = 36;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/classify.jsonl")
}

fn minhu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_minhu"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run minhu")
}

/// Stdout of a run that must succeed.
fn succeeds(args: &[&str]) -> String {
    let output = minhu(args);
    assert!(
        output.status.success(),
        "minhu {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Stderr of a run that must fail.
fn fails(args: &[&str]) -> String {
    let output = minhu(args);
    assert!(
        !output.status.success(),
        "minhu {args:?} succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stderr).expect("UTF-8 output")
}

fn last_line(text: &str) -> &str {
    text.lines().last().expect("some output")
}

/// `key=value` fields of a line, in order.
fn fields(line: &str) -> Vec<(&str, &str)> {
    line.split(' ')
        .map(|f| {
            f.split_once('=')
                .unwrap_or_else(|| panic!("{f:?} in {line:?}"))
        })
        .collect()
}

/// Checks `accuracy=0.xxxx macro_f1=0.xxxx n=N` exactly and returns (accuracy, macro-F1, n).
fn eval_line(output: &str) -> (f64, f64, usize) {
    let line = last_line(output);
    let fields = fields(line);
    let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, ["accuracy", "macro_f1", "n"], "{line}");
    let ratio = |value: &str| {
        let (whole, decimals) = value.split_once('.').expect("a decimal point");
        assert!(
            (whole == "0" || value == "1.0000")
                && decimals.len() == 4
                && decimals.bytes().all(|b| b.is_ascii_digit()),
            "{line}"
        );
        value.parse::<f64>().unwrap()
    };
    (
        ratio(fields[0].1),
        ratio(fields[1].1),
        fields[2].1.parse().expect("n is a count"),
    )
}

#[test]
fn train_then_evaluate_cross_validate_and_bench() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.bin");
    let data = fixture();
    let data = data.to_str().unwrap();
    let model_arg = model.to_str().unwrap();

    let trained = succeeds(&["train", "--data", data, "--out", model_arg]);
    let summary = fields(last_line(&trained));
    let get = |key: &str| {
        summary
            .iter()
            .find(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("no {key} in {trained}"))
            .1
    };
    assert_eq!(get("examples"), FIXTURE_ROWS.to_string());
    assert_eq!(get("labels"), "3");
    assert!(get("seconds").parse::<f64>().unwrap() >= 0.0);
    assert!(get("version").starts_with("linear-v1:"), "{trained}");
    let bytes: u64 = get("bytes").parse().unwrap();
    assert_eq!(bytes, std::fs::metadata(&model).unwrap().len());
    assert!(
        trained.contains("交通运输, 城乡建设, 环境保护"),
        "{trained}"
    );

    // On its own training data the model is (nearly) always right; the report names the
    // labels, their figures and the confusion matrix.
    let evaluated = succeeds(&["eval", "classify", "--model", model_arg, "--data", data]);
    let (accuracy, macro_f1, n) = eval_line(&evaluated);
    assert_eq!(n, FIXTURE_ROWS);
    assert!(accuracy >= 0.9 && macro_f1 >= 0.9, "{evaluated}");
    assert!(evaluated.contains(get("version")), "{evaluated}");
    for expected in ["precision", "recall", "f1", "环境保护", "confusion"] {
        assert!(evaluated.contains(expected), "no {expected}: {evaluated}");
    }

    let crossed = succeeds(&["eval", "classify", "--cv", "2", "--data", data]);
    let (accuracy, _, n) = eval_line(&crossed);
    assert_eq!(n, FIXTURE_ROWS);
    // Unseen folds: better than chance among three labels.
    assert!(accuracy > 1.0 / 3.0, "{crossed}");
    assert!(crossed.contains("2-fold"), "{crossed}");

    // Neither --model nor --cv: the embedded default model, whose labels include these three.
    let default = succeeds(&["eval", "classify", "--data", data]);
    let (accuracy, _, n) = eval_line(&default);
    assert_eq!(n, FIXTURE_ROWS);
    assert!(accuracy > 1.0 / 3.0, "{default}");
    assert!(default.contains("default model"), "{default}");

    for args in [
        vec!["bench", "classify", "--data", data, "--model", model_arg],
        vec!["bench", "classify", "--data", data],
    ] {
        let benched = succeeds(&args);
        let line = last_line(&benched);
        let fields = fields(line);
        let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["docs_per_s", "p99_us"], "{line}");
        let docs_per_s: u64 = fields[0].1.parse().expect("whole docs per second");
        fields[1].1.parse::<u64>().expect("whole microseconds");
        assert!(docs_per_s > 0, "{benched}");
        assert!(
            benched.contains(&format!("docs={FIXTURE_ROWS}")),
            "{benched}"
        );
    }
}

#[test]
fn errors_say_what_is_wrong_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model.bin");
    let out = out.to_str().unwrap();

    let missing = dir.path().join("missing.jsonl");
    let stderr = fails(&["train", "--data", missing.to_str().unwrap(), "--out", out]);
    assert!(stderr.contains("missing.jsonl"), "{stderr}");

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"title\": \"路灯不亮\", \"body\": \"\", \"label\": \"城乡建设\"}\n\n{\"title\": \"没有标签\"}\n",
    )
    .unwrap();
    let stderr = fails(&["train", "--data", bad.to_str().unwrap(), "--out", out]);
    assert!(stderr.contains("bad.jsonl line 3"), "{stderr}");
    assert!(stderr.contains("label"), "{stderr}");
    assert!(!Path::new(out).exists());

    let one_label = dir.path().join("one.jsonl");
    std::fs::write(
        &one_label,
        "{\"title\": \"路灯不亮\", \"label\": \"城乡建设\"}\n{\"title\": \"电梯故障\", \"label\": \"城乡建设\"}\n",
    )
    .unwrap();
    let stderr = fails(&["train", "--data", one_label.to_str().unwrap(), "--out", out]);
    assert!(stderr.contains("two labels"), "{stderr}");

    // Another taxonomy than the model's: no figures, an error naming both label sets.
    let renamed = dir.path().join("renamed.jsonl");
    let text = std::fs::read_to_string(fixture())
        .unwrap()
        .replace("交通运输", "transport")
        .replace("城乡建设", "housing")
        .replace("环境保护", "environment");
    std::fs::write(&renamed, text).unwrap();
    let stderr = fails(&["eval", "classify", "--data", renamed.to_str().unwrap()]);
    assert!(
        stderr.contains("environment, housing, transport") && stderr.contains("城乡建设"),
        "{stderr}"
    );

    let not_a_model = bad.to_str().unwrap();
    let data = fixture();
    let data = data.to_str().unwrap();
    let stderr = fails(&["eval", "classify", "--model", not_a_model, "--data", data]);
    assert!(
        stderr.contains("bad.jsonl") && stderr.contains("not a minhu classifier model"),
        "{stderr}"
    );
    let stderr = fails(&["bench", "classify", "--model", not_a_model, "--data", data]);
    assert!(stderr.contains("not a minhu classifier model"), "{stderr}");

    let stderr = fails(&["eval", "classify", "--cv", "1", "--data", data]);
    assert!(stderr.contains("--cv"), "{stderr}");
    let stderr = fails(&[
        "eval", "classify", "--cv", "2", "--model", out, "--data", data,
    ]);
    assert!(
        stderr.contains("--cv") && stderr.contains("--model"),
        "{stderr}"
    );

    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    let stderr = fails(&["bench", "classify", "--data", empty.to_str().unwrap()]);
    assert!(stderr.contains("no labelled examples"), "{stderr}");
}
