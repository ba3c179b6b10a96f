//! Messages and labelled pairs, and the JSON-lines files that hold them.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// One petition's text: `{"title": "...", "body": "..."}`. Either may be missing; other fields
/// of a line (ids, users, times) are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Message {
    /// 标题.
    #[serde(default)]
    pub title: String,
    /// 内容.
    #[serde(default)]
    pub body: String,
}

impl Message {
    pub fn new(title: impl Into<String>, body: impl Into<String>) -> Message {
        Message {
            title: title.into(),
            body: body.into(),
        }
    }
}

/// Two messages and whether they are one matter:
/// `{"a": {"title", "body"}, "b": {"title", "body"}, "same": true}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelledPair {
    pub a: Message,
    pub b: Message,
    pub same: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{source_name} line {line}: {message}")]
    Line {
        source_name: String,
        line: usize,
        message: String,
    },
}

pub fn read_messages(path: impl AsRef<Path>) -> Result<Vec<Message>, DataError> {
    read_file(path.as_ref())
}

pub fn read_messages_from(reader: impl Read, source_name: &str) -> Result<Vec<Message>, DataError> {
    read_lines(reader, source_name)
}

pub fn read_pairs(path: impl AsRef<Path>) -> Result<Vec<LabelledPair>, DataError> {
    read_file(path.as_ref())
}

pub fn read_pairs_from(
    reader: impl Read,
    source_name: &str,
) -> Result<Vec<LabelledPair>, DataError> {
    read_lines(reader, source_name)
}

fn read_file<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, DataError> {
    let file = File::open(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })?;
    read_lines(file, &path.display().to_string())
}

/// Blank lines are skipped; any other line that does not parse is an error naming the line.
fn read_lines<T: DeserializeOwned>(
    reader: impl Read,
    source_name: &str,
) -> Result<Vec<T>, DataError> {
    let line_error = |line: usize, message: String| DataError::Line {
        source_name: source_name.to_owned(),
        line,
        message,
    };
    let mut items = Vec::new();
    for (index, line) in BufReader::new(reader).lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| line_error(number, e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        items.push(serde_json::from_str(&line).map_err(|e| line_error(number, e.to_string()))?);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_fields_and_missing_texts_are_tolerated() {
        let text = concat!(
            r#"{"id": "188006", "user": "A0001", "title": "小区停水", "time": "2019-02-28"}"#,
            "\n\n",
            r#"{"body": "工厂夜里偷排污水", "likes": 3}"#,
            "\n"
        );
        let messages = read_messages_from(text.as_bytes(), "inline").unwrap();
        assert_eq!(
            messages,
            [
                Message::new("小区停水", ""),
                Message::new("", "工厂夜里偷排污水")
            ]
        );
    }

    #[test]
    fn pairs_need_both_messages_and_the_label() {
        let text = concat!(
            r#"{"a": {"title": "路灯坏了", "body": "请修"}, "b": {"body": "路灯坏了"}, "same": true, "note": "x"}"#,
            "\n",
            r#"{"a": {"title": "路灯坏了"}, "b": {"title": "停水"}}"#,
            "\n"
        );
        let error = read_pairs_from(text.as_bytes(), "pairs.jsonl").unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with("pairs.jsonl line 2: "), "{message}");
        assert!(message.contains("same"), "{message}");
        let pairs = read_pairs_from(text.lines().next().unwrap().as_bytes(), "x").unwrap();
        assert_eq!(
            pairs,
            [LabelledPair {
                a: Message::new("路灯坏了", "请修"),
                b: Message::new("", "路灯坏了"),
                same: true,
            }]
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let error = read_messages("/nonexistent/messages.jsonl").unwrap_err();
        assert!(error.to_string().contains("/nonexistent/messages.jsonl"));
    }
}
