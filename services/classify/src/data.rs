//! Labelled examples and the JSON-lines files that hold them.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

/// One labelled petition: `{"title": "...", "body": "...", "label": "..."}`. Either text may be
/// empty, null or missing; other fields of a line (ids, timestamps) are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// 标题, may be empty.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub title: String,
    /// 内容 (the petition text), may be empty.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub body: String,
    /// The domain label (一级分类), e.g. "城乡建设".
    pub label: String,
}

impl Example {
    pub fn new(
        title: impl Into<String>,
        body: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        Example {
            title: title.into(),
            body: body.into(),
            label: label.into(),
        }
    }

    /// True when both title and body carry text: the kind of message a portal submits.
    pub fn has_title_and_body(&self) -> bool {
        !self.title.trim().is_empty() && !self.body.trim().is_empty()
    }
}

fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
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

/// Reads labelled examples from a JSON-lines file. Blank lines are skipped; a line that is not a
/// JSON object with a string `label` is an error naming the file and line.
pub fn read_jsonl(path: impl AsRef<Path>) -> Result<Vec<Example>, DataError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })?;
    read_jsonl_from(file, &path.display().to_string())
}

/// Reads labelled examples from any reader; `source_name` names it in errors.
pub fn read_jsonl_from(reader: impl Read, source_name: &str) -> Result<Vec<Example>, DataError> {
    let line_error = |line: usize, message: String| DataError::Line {
        source_name: source_name.to_owned(),
        line,
        message,
    };
    let mut examples = Vec::new();
    for (index, line) in BufReader::new(reader).lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| line_error(number, e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let example: Example =
            serde_json::from_str(&line).map_err(|e| line_error(number, e.to_string()))?;
        if example.label.trim().is_empty() {
            return Err(line_error(number, "empty label".to_owned()));
        }
        examples.push(example);
    }
    Ok(examples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_fields_and_missing_texts_are_tolerated() {
        let text = concat!(
            r#"{"id": 7, "title": "小区停水", "body": "", "label": "城乡建设", "pairing": "none"}"#,
            "\n\n",
            r#"{"title": null, "body": "工厂夜里偷排污水", "label": "环境保护"}"#,
            "\n"
        );
        let examples = read_jsonl_from(text.as_bytes(), "inline").unwrap();
        assert_eq!(
            examples,
            vec![
                Example::new("小区停水", "", "城乡建设"),
                Example::new("", "工厂夜里偷排污水", "环境保护"),
            ]
        );
        assert!(!examples[0].has_title_and_body());
    }

    #[test]
    fn errors_name_the_line() {
        let text = "{\"title\": \"a\", \"label\": \"x\"}\n{\"title\": \"b\"}\n";
        let error = read_jsonl_from(text.as_bytes(), "data.jsonl").unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with("data.jsonl line 2: "), "{message}");
        assert!(message.contains("label"), "{message}");

        let error = read_jsonl_from("not json\n".as_bytes(), "x").unwrap_err();
        assert!(error.to_string().starts_with("x line 1: "));

        let error = read_jsonl_from(r#"{"label": " "}"#.as_bytes(), "x").unwrap_err();
        assert_eq!(error.to_string(), "x line 1: empty label");
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let error = read_jsonl("/nonexistent/minhu.jsonl").unwrap_err();
        assert!(matches!(error, DataError::Io { .. }));
        assert!(error.to_string().contains("/nonexistent/minhu.jsonl"));
    }
}
