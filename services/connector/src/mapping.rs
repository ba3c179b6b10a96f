//! One JSON page of a source → its items as petitions, and the cursor of the next page. Pure:
//! the JSON pointers of `[[connectors]]` say where everything is.
//!
//! The mapping is lenient where the intake is strict: an absent or null value leaves its field
//! empty, and the intake's validation (the same as for Submit) says what a petition lacks. Only
//! what cannot be a petition field at all (an object where text belongs, a time that does not
//! parse) is refused here.

use minhu_contracts::v1::{ChannelHints, Location, Petition, Petitioner};
use minhu_core::connectors::{ConnectorFields, ConnectorSettings};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What one page held.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    /// The next page's cursor, if the source is paged by cursor and has one now.
    pub next_cursor: Option<String>,
}

/// One item of a page.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Petition(Box<Petition>),
    /// Not a petition: `id` (when it has one) and which field is at fault.
    Unusable {
        id: Option<String>,
        problem: String,
    },
}

/// A page that is not what the configuration describes: the whole page is a failed poll.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("no array of items at {0:?}")]
    NoItems(String),
    #[error("the next cursor at {0:?} is not a string or number")]
    BadCursor(String),
}

/// Reads `page` as `connector` describes it.
pub fn read_page(page: &Value, connector: &ConnectorSettings) -> Result<Page, PageError> {
    let items = page
        .pointer(&connector.items)
        .and_then(Value::as_array)
        .ok_or_else(|| PageError::NoItems(connector.items.clone()))?;
    let next_cursor = match &connector.paging.next_cursor {
        None => None,
        Some(pointer) => match page.pointer(pointer) {
            None | Some(Value::Null) => None,
            Some(value) => {
                let cursor =
                    scalar_text(value).ok_or_else(|| PageError::BadCursor(pointer.clone()))?;
                Some(cursor).filter(|c| !c.is_empty())
            }
        },
    };
    Ok(Page {
        items: items
            .iter()
            .map(|item| read_item(item, &connector.fields))
            .collect(),
        next_cursor,
    })
}

/// A string as it is, a number as it is written; anything else has no text.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn read_item(item: &Value, fields: &ConnectorFields) -> Item {
    let id = match text(item, "id", Some(&fields.id)) {
        Ok(id) => id,
        Err(problem) => return Item::Unusable { id: None, problem },
    };
    match petition(item, fields, &id) {
        Ok(petition) => Item::Petition(Box::new(petition)),
        Err(problem) => Item::Unusable {
            id: Some(id).filter(|id| !id.is_empty()),
            problem,
        },
    }
}

fn petition(item: &Value, f: &ConnectorFields, id: &str) -> Result<Petition, String> {
    let field = |key: &str, pointer: &Option<String>| text(item, key, pointer.as_ref());
    let petitioner = Petitioner {
        name: field("name", &f.name)?,
        id_number: field("id_number", &f.id_number)?,
        phone: field("phone", &f.phone)?,
        contact_address: String::new(),
    };
    let location = Location {
        division_code: field("division_code", &f.division_code)?,
        address: field("address", &f.address)?,
        coordinates: None,
    };
    let category = field("category", &f.category)?;
    let submitted_at = match &f.submitted_at {
        None => None,
        Some(pointer) => time_at(item, pointer)?,
    };
    Ok(Petition {
        channel_message_id: id.to_owned(),
        submitted_at,
        title: field("title", &f.title)?,
        body: text(item, "body", Some(&f.body))?,
        petitioner: (petitioner != Petitioner::default()).then_some(petitioner),
        location: (location != Location::default()).then_some(location),
        hints: (!category.is_empty()).then(|| ChannelHints {
            category,
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The text at `pointer` in `item`: empty when there is no pointer or no value there.
fn text(item: &Value, key: &str, pointer: Option<&String>) -> Result<String, String> {
    let Some(pointer) = pointer else {
        return Ok(String::new());
    };
    match item.pointer(pointer) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(value) => scalar_text(value)
            .ok_or_else(|| format!("fields.{key} ({pointer}) is not a string or number")),
    }
}

/// An RFC 3339 time or Unix seconds.
fn time_at(item: &Value, pointer: &str) -> Result<Option<prost_types::Timestamp>, String> {
    let invalid =
        || format!("fields.submitted_at ({pointer}) is not an RFC 3339 time or Unix seconds");
    let at = match item.pointer(pointer) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::String(s)) => OffsetDateTime::parse(s, &Rfc3339).map_err(|_| invalid())?,
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
            .ok_or_else(invalid)?,
        Some(_) => return Err(invalid()),
    };
    Ok(Some(minhu_core::deadlines::timestamp(at)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_core::connectors::ConnectorPaging;
    use serde_json::json;

    fn connector() -> ConnectorSettings {
        ConnectorSettings {
            id: "mailbox".into(),
            channel: "county-mailbox".into(),
            url: "http://127.0.0.1/letters".into(),
            interval_secs: 60,
            request_timeout_ms: 1_000,
            max_backoff_ms: 1_000,
            auth: None,
            items: "/data/letters".into(),
            paging: ConnectorPaging {
                next_cursor: Some("/data/next".into()),
                cursor_param: Some("after".into()),
                ..Default::default()
            },
            fields: ConnectorFields {
                id: "/no".into(),
                body: "/content/text".into(),
                title: Some("/subject".into()),
                submitted_at: Some("/written".into()),
                name: Some("/writer/name".into()),
                phone: Some("/writer/tel".into()),
                id_number: Some("/writer/id_card".into()),
                address: Some("/where".into()),
                division_code: Some("/area".into()),
                category: Some("/type".into()),
            },
        }
    }

    #[test]
    fn every_field_is_read_from_its_pointer() {
        let page = json!({"data": {"next": "c-2", "letters": [{
            "no": 1042,
            "subject": "小区违章搭建",
            "content": {"text": "黄宅镇某小区有业主违章搭建。"},
            "written": "2026-11-26T09:30:00+08:00",
            "writer": {"name": "张三", "tel": 13812345678u64, "id_card": "33072619800101001X"},
            "where": "浦江县黄宅镇",
            "area": "330726101",
            "type": "城乡建设"
        }]}});
        let read = read_page(&page, &connector()).unwrap();
        assert_eq!(read.next_cursor.as_deref(), Some("c-2"));
        let [Item::Petition(p)] = read.items.as_slice() else {
            panic!("{read:?}")
        };
        assert_eq!(p.channel_message_id, "1042");
        assert_eq!(p.title, "小区违章搭建");
        assert_eq!(p.body, "黄宅镇某小区有业主违章搭建。");
        assert_eq!(p.submitted_at.as_ref().unwrap().seconds, 1_795_656_600);
        let who = p.petitioner.as_ref().unwrap();
        assert_eq!(
            (
                who.name.as_str(),
                who.phone.as_str(),
                who.id_number.as_str()
            ),
            ("张三", "13812345678", "33072619800101001X")
        );
        let at = p.location.as_ref().unwrap();
        assert_eq!(
            (at.address.as_str(), at.division_code.as_str()),
            ("浦江县黄宅镇", "330726101")
        );
        assert_eq!(p.hints.as_ref().unwrap().category, "城乡建设");
    }

    #[test]
    fn absent_values_leave_fields_empty_for_the_intake_to_judge() {
        let page = json!({"data": {"letters": [{"no": "a-1", "content": {"text": "正文"}, "writer": null}, {"content": {}}]}});
        let read = read_page(&page, &connector()).unwrap();
        assert_eq!(read.next_cursor, None);
        let Item::Petition(anonymous) = &read.items[0] else {
            panic!("{read:?}")
        };
        assert_eq!(anonymous.petitioner, None);
        assert_eq!(anonymous.location, None);
        assert_eq!(anonymous.hints, None);
        assert_eq!(anonymous.submitted_at, None);
        let Item::Petition(empty) = &read.items[1] else {
            panic!("{read:?}")
        };
        assert_eq!(
            (empty.channel_message_id.as_str(), empty.body.as_str()),
            ("", "")
        );
    }

    #[test]
    fn values_that_cannot_be_fields_make_the_item_unusable_not_the_page() {
        let page = json!({"data": {"next": 7, "letters": [
            {"no": {"x": 1}, "content": {"text": "a"}},
            {"no": "b-2", "content": {"text": ["not", "text"]}},
            {"no": "b-3", "content": {"text": "ok"}, "written": "yesterday"},
            {"no": "b-4", "content": {"text": "ok"}, "written": 1795656600}
        ]}});
        let read = read_page(&page, &connector()).unwrap();
        assert_eq!(read.next_cursor.as_deref(), Some("7"));
        assert_eq!(
            read.items[0],
            Item::Unusable {
                id: None,
                problem: "fields.id (/no) is not a string or number".into()
            }
        );
        assert_eq!(
            read.items[1],
            Item::Unusable {
                id: Some("b-2".into()),
                problem: "fields.body (/content/text) is not a string or number".into()
            }
        );
        assert!(
            matches!(&read.items[2], Item::Unusable { id: Some(id), problem } if id == "b-3" && problem.contains("RFC 3339"))
        );
        assert!(matches!(&read.items[3], Item::Petition(p) if p.submitted_at.is_some()));
    }

    #[test]
    fn a_page_without_its_items_or_with_an_odd_cursor_is_an_error() {
        let connector = connector();
        assert_eq!(
            read_page(&json!({"data": {}}), &connector),
            Err(PageError::NoItems("/data/letters".into()))
        );
        assert_eq!(
            read_page(&json!({"data": {"letters": {}}}), &connector),
            Err(PageError::NoItems("/data/letters".into()))
        );
        assert_eq!(
            read_page(
                &json!({"data": {"letters": [], "next": {"a": 1}}}),
                &connector
            ),
            Err(PageError::BadCursor("/data/next".into()))
        );
        let empty_cursor = read_page(&json!({"data": {"letters": [], "next": ""}}), &connector);
        assert_eq!(empty_cursor.unwrap().next_cursor, None);
    }

    #[test]
    fn an_empty_items_pointer_takes_the_page_as_the_array() {
        let mut connector = connector();
        connector.items = String::new();
        connector.paging = ConnectorPaging::default();
        let read = read_page(&json!([{"no": "x", "content": {"text": "t"}}]), &connector).unwrap();
        assert_eq!(read.items.len(), 1);
        assert_eq!(read.next_cursor, None);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use minhu_core::connectors::ConnectorPaging;
    use proptest::prelude::*;
    use serde_json::json;

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("JSON numbers are finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{1,2}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn connector() -> ConnectorSettings {
        ConnectorSettings {
            id: "source".into(),
            channel: "source".into(),
            url: "http://127.0.0.1/".into(),
            interval_secs: 1,
            request_timeout_ms: 1,
            max_backoff_ms: 1,
            auth: None,
            items: "/items".into(),
            paging: ConnectorPaging {
                next_cursor: Some("/next".into()),
                cursor_param: Some("after".into()),
                ..Default::default()
            },
            fields: ConnectorFields {
                id: "/id".into(),
                body: "/b".into(),
                title: Some("/t".into()),
                submitted_at: Some("/at".into()),
                name: Some("/p/n".into()),
                phone: Some("/p/ph".into()),
                id_number: Some("/p/id".into()),
                address: Some("/a".into()),
                division_code: Some("/d".into()),
                category: Some("/c".into()),
            },
        }
    }

    proptest! {
        /// Whatever a source sends, a page maps to an answer: every item a petition or a
        /// refusal, never a panic, and a page's item count is kept.
        #[test]
        fn any_page_maps_to_one_answer_per_item(
            items in prop::collection::vec(any_json(), 0..6),
            next in any_json(),
            junk in any_json(),
        ) {
            let page = json!({"items": items.clone(), "next": next, "junk": junk});
            if let Ok(read) = read_page(&page, &connector()) {
                prop_assert_eq!(read.items.len(), items.len());
            }
            let _ = read_page(&junk, &connector());
        }

        /// Text and numbers reach the petition exactly as the source wrote them.
        #[test]
        fn ids_and_texts_arrive_unchanged(id in ".{1,40}", body in ".{0,200}", n in any::<u64>()) {
            let page = json!({"items": [{"id": id, "b": body, "p": {"ph": n}}]});
            let read = read_page(&page, &connector()).unwrap();
            let Item::Petition(p) = &read.items[0] else {
                panic!("{read:?}");
            };
            prop_assert_eq!(&p.channel_message_id, &id);
            prop_assert_eq!(&p.body, &body);
            prop_assert_eq!(&p.petitioner.as_ref().unwrap().phone, &n.to_string());
        }
    }
}
