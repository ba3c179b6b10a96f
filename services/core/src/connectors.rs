//! `[[connectors]]`: the pull connectors the connector role runs. Each polls one HTTP JSON
//! source and submits its items as petitions of one configured channel (README, "Pull
//! connectors"). None is configured by default.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::domain::ChannelId;

/// One HTTP JSON source.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSettings {
    /// The connector's id (`[A-Za-z0-9_-]`, at most 64): names its cursor, lease and health.
    pub id: String,
    /// The configured channel its items are submitted as. Each connector has a channel of its
    /// own: the source's item ids are the channel message ids, unique only within the source.
    pub channel: String,
    /// The source: an `http://` or `https://` URL answering GET with a JSON page.
    pub url: String,
    /// Seconds between polls once the source has nothing more (a full page is followed by the
    /// next one at once).
    pub interval_secs: u64,
    /// One request (connect, send, the whole answer) may take this long; then it failed.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// The longest wait between two attempts while the source fails (each failure doubles the
    /// wait from half a second, with jitter).
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// A header sent with every request, e.g. `{ header = "Authorization", value = "Bearer …" }`
    /// (the value is printed masked).
    #[serde(default)]
    pub auth: Option<ConnectorAuth>,
    /// JSON pointer (RFC 6901) to the array of items in a page, e.g. `/data/items`; empty:
    /// the page itself is the array.
    #[serde(default)]
    pub items: String,
    #[serde(default)]
    pub paging: ConnectorPaging,
    /// Where each petition field is in an item, as JSON pointers.
    pub fields: ConnectorFields,
}

fn default_request_timeout_ms() -> u64 {
    10_000
}

fn default_max_backoff_ms() -> u64 {
    300_000
}

/// A header with a secret value.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorAuth {
    pub header: String,
    pub value: Secret,
}

/// How the source pages. By cursor: `next_cursor` points at the next page's cursor in a page
/// (absent, null or empty: no next page yet) and `cursor_param` sends it back. By number:
/// `page_param` counts from `first_page`, and a page shorter than `page_size` is the last one
/// for now. Neither: every poll reads the one page the URL answers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorPaging {
    #[serde(default)]
    pub next_cursor: Option<String>,
    #[serde(default)]
    pub cursor_param: Option<String>,
    #[serde(default)]
    pub page_param: Option<String>,
    #[serde(default = "default_first_page")]
    pub first_page: u64,
    #[serde(default)]
    pub page_size_param: Option<String>,
    #[serde(default)]
    pub page_size: Option<u32>,
}

fn default_first_page() -> u64 {
    1
}

/// JSON pointers into one item. Values may be strings or numbers; `submitted_at` an RFC 3339
/// time or Unix seconds. An absent or null value leaves the field empty.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorFields {
    /// The item's id in the source (required): the petition's channel message id.
    pub id: String,
    /// The petition text (required).
    pub body: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub submitted_at: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub id_number: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub division_code: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
}

impl ConnectorFields {
    /// Every pointer with its key, for checking.
    fn pointers(&self) -> Vec<(&'static str, &str)> {
        let optional = [
            ("title", &self.title),
            ("submitted_at", &self.submitted_at),
            ("name", &self.name),
            ("phone", &self.phone),
            ("id_number", &self.id_number),
            ("address", &self.address),
            ("division_code", &self.division_code),
            ("category", &self.category),
        ];
        let mut all = vec![("id", self.id.as_str()), ("body", self.body.as_str())];
        all.extend(
            optional
                .into_iter()
                .filter_map(|(key, p)| p.as_deref().map(|p| (key, p))),
        );
        all
    }
}

/// Whether `pointer` is a JSON pointer: empty (the whole document) or `/`-separated tokens
/// whose `~` escapes are `~0` or `~1`.
fn is_json_pointer(pointer: &str) -> bool {
    if pointer.is_empty() {
        return true;
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return false;
    };
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return false;
        }
    }
    true
}

/// RFC 9110 token characters: what a header name may contain.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_query_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
}

/// What is wrong with `connectors` given the configured channel ids, every problem at once.
pub fn problems(connectors: &[ConnectorSettings], channel_ids: &HashSet<&str>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ids = HashSet::new();
    let mut channels = HashSet::new();
    for c in connectors {
        let at = format!("connectors[{}]", c.id);
        if let Err(e) = ChannelId::parse(&c.id) {
            problems.push(format!("{at}.id: {e}"));
        }
        if !ids.insert(c.id.as_str()) {
            problems.push(format!("{at} is defined twice"));
        }
        if !channel_ids.contains(c.channel.as_str()) {
            problems.push(format!(
                "{at}.channel {:?} is not a configured channel",
                c.channel
            ));
        } else if !channels.insert(c.channel.as_str()) {
            problems.push(format!(
                "{at}.channel {:?} is another connector's channel; each connector needs its own",
                c.channel
            ));
        }
        let scheme_ok = ["http://", "https://"].iter().any(|s| {
            c.url
                .get(..s.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(s))
                && c.url.len() > s.len()
        });
        if !scheme_ok
            || c.url
                .chars()
                .any(|ch| ch.is_whitespace() || ch.is_control())
        {
            problems.push(format!(
                "{at}.url must be an http:// or https:// URL without spaces"
            ));
        }
        for (key, value) in [
            ("interval_secs", c.interval_secs),
            ("request_timeout_ms", c.request_timeout_ms),
            ("max_backoff_ms", c.max_backoff_ms),
        ] {
            if value == 0 {
                problems.push(format!("{at}.{key} must be at least 1"));
            }
        }
        if let Some(auth) = &c.auth {
            if !is_header_name(&auth.header) {
                problems.push(format!(
                    "{at}.auth.header {:?} is not a valid header name",
                    auth.header
                ));
            }
            let value = auth.value.expose();
            if value.is_empty() || value.chars().any(|ch| ch.is_control()) {
                problems.push(format!(
                    "{at}.auth.value must be non-empty, without line breaks or control characters"
                ));
            }
        }
        if !is_json_pointer(&c.items) {
            problems.push(format!(
                "{at}.items {:?} is not a JSON pointer (empty, or starting with /)",
                c.items
            ));
        }
        for (key, pointer) in c.fields.pointers() {
            if pointer.is_empty() || !is_json_pointer(pointer) {
                problems.push(format!(
                    "{at}.fields.{key} {pointer:?} is not a JSON pointer into an item (e.g. \"/id\")"
                ));
            }
        }
        problems.extend(paging_problems(&at, &c.paging));
    }
    problems
}

fn paging_problems(at: &str, p: &ConnectorPaging) -> Vec<String> {
    let mut problems = Vec::new();
    match (&p.next_cursor, &p.cursor_param) {
        (Some(_), None) | (None, Some(_)) => problems.push(format!(
            "{at}.paging: next_cursor and cursor_param go together (where the cursor is, and how to send it back)"
        )),
        (Some(pointer), Some(_)) if pointer.is_empty() || !is_json_pointer(pointer) => problems
            .push(format!(
                "{at}.paging.next_cursor {pointer:?} is not a JSON pointer into a page"
            )),
        _ => {}
    }
    match (&p.page_size_param, p.page_size) {
        (Some(_), None) | (None, Some(_)) => problems.push(format!(
            "{at}.paging: page_size_param and page_size go together"
        )),
        (_, Some(0)) => problems.push(format!("{at}.paging.page_size must be at least 1")),
        _ => {}
    }
    if p.page_param.is_some() && p.page_size.is_none() && p.next_cursor.is_none() {
        problems.push(format!(
            "{at}.paging: page_param needs page_size (a shorter page is the last one for now)"
        ));
    }
    let names = [
        ("cursor_param", &p.cursor_param),
        ("page_param", &p.page_param),
        ("page_size_param", &p.page_size_param),
    ];
    for (key, name) in names {
        if let Some(name) = name
            && !is_query_name(name)
        {
            problems.push(format!(
                "{at}.paging.{key} {name:?} is not a plain query parameter name"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector() -> ConnectorSettings {
        ConnectorSettings {
            id: "mailbox".into(),
            channel: "county-mailbox".into(),
            url: "https://mailbox.example.gov.cn/api/letters".into(),
            interval_secs: 60,
            request_timeout_ms: 10_000,
            max_backoff_ms: 300_000,
            auth: Some(ConnectorAuth {
                header: "Authorization".into(),
                value: Secret::new("Bearer s3cret"),
            }),
            items: "/data/items".into(),
            paging: ConnectorPaging {
                next_cursor: Some("/data/next".into()),
                cursor_param: Some("after".into()),
                page_size_param: Some("size".into()),
                page_size: Some(50),
                ..Default::default()
            },
            fields: ConnectorFields {
                id: "/id".into(),
                body: "/content".into(),
                title: Some("/subject".into()),
                submitted_at: None,
                name: None,
                phone: Some("/writer/tel".into()),
                id_number: None,
                address: None,
                division_code: None,
                category: None,
            },
        }
    }

    #[test]
    fn a_well_formed_connector_passes() {
        let channels = HashSet::from(["county-mailbox"]);
        assert_eq!(problems(&[connector()], &channels), Vec::<String>::new());
    }

    #[test]
    fn every_problem_is_named_with_its_key() {
        let channels = HashSet::from(["county-mailbox"]);
        let mut bad = connector();
        bad.id = "mail box".into();
        bad.channel = "fax".into();
        bad.url = "ftp://x".into();
        bad.interval_secs = 0;
        bad.auth = Some(ConnectorAuth {
            header: "X Token".into(),
            value: Secret::new("a\r\nInjected: 1"),
        });
        bad.items = "data".into();
        bad.fields.id = String::new();
        bad.fields.title = Some("~2".into());
        bad.paging.cursor_param = None;
        bad.paging.page_size = Some(0);
        let found = problems(&[bad, connector(), connector()], &channels).join("\n");
        for expected in [
            "connectors[mail box].id",
            "connectors[mail box].channel \"fax\" is not a configured channel",
            "connectors[mail box].url",
            "connectors[mail box].interval_secs must be at least 1",
            "connectors[mail box].auth.header \"X Token\"",
            "connectors[mail box].auth.value",
            "connectors[mail box].items \"data\"",
            "connectors[mail box].fields.id",
            "connectors[mail box].fields.title",
            "next_cursor and cursor_param go together",
            "page_size must be at least 1",
            "connectors[mailbox] is defined twice",
            "another connector's channel",
        ] {
            assert!(
                found.contains(expected),
                "{expected:?} missing in:\n{found}"
            );
        }
        assert!(!found.contains("Injected"), "{found}");
    }

    #[test]
    fn json_pointers_follow_rfc_6901() {
        for good in ["", "/", "/a", "/a/0", "/a~1b", "/m~0n", "/数据/标题"] {
            assert!(is_json_pointer(good), "{good:?}");
        }
        for bad in ["a", "/a~", "/a~2", "#/a"] {
            assert!(!is_json_pointer(bad), "{bad:?}");
        }
    }
}
