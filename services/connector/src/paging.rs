//! Where a poll starts, what it asks the source for, and where the next one starts. Pure.
//!
//! A source is read to its end, page after page, and then re-read from the last page each
//! interval: that is where new items appear (or where a next cursor appears once there is a
//! next page). Items read twice are answered with their original receipts, so re-reading costs
//! a request, never a duplicate.

use minhu_core::connectors::ConnectorPaging;

/// The position of the next poll: the cursor to send (empty: none) and the page number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    pub cursor: String,
    pub page: u64,
}

/// After a page: the next position, and whether to fetch it at once (there is more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Next {
    pub position: Position,
    pub more: bool,
}

#[derive(Debug, Clone)]
pub struct Paging {
    cursor_param: Option<String>,
    page_param: Option<String>,
    first_page: u64,
    size: Option<(String, u32)>,
}

impl Paging {
    pub fn new(settings: &ConnectorPaging) -> Paging {
        Paging {
            // Validated at load: next_cursor and cursor_param come together.
            cursor_param: settings.cursor_param.clone(),
            page_param: settings.page_param.clone(),
            first_page: settings.first_page,
            size: settings.page_size_param.clone().zip(settings.page_size),
        }
    }

    /// Where a connector without a stored cursor starts.
    pub fn start(&self) -> Position {
        Position {
            cursor: String::new(),
            page: if self.page_param.is_some() {
                self.first_page
            } else {
                0
            },
        }
    }

    /// The query parameters of the request for `position`.
    pub fn query(&self, position: &Position) -> Vec<(String, String)> {
        let mut query = Vec::new();
        if let Some(name) = &self.cursor_param
            && !position.cursor.is_empty()
        {
            query.push((name.clone(), position.cursor.clone()));
        }
        if let Some(name) = &self.page_param {
            query.push((name.clone(), position.page.to_string()));
        }
        if let Some((name, size)) = &self.size {
            query.push((name.clone(), size.to_string()));
        }
        query
    }

    /// Where to go after the page at `position` held `items` items and named `next_cursor`.
    pub fn after(&self, position: &Position, items: usize, next_cursor: Option<&str>) -> Next {
        let stay = Next {
            position: position.clone(),
            more: false,
        };
        if self.cursor_param.is_some() {
            return match next_cursor {
                Some(cursor) if cursor != position.cursor => Next {
                    position: Position {
                        cursor: cursor.to_owned(),
                        page: self.page_param.as_ref().map_or(0, |_| position.page + 1),
                    },
                    // A source that names a new cursor even on an empty page (a time
                    // watermark, say) is read again at the next interval, not at once.
                    more: items > 0,
                },
                _ => stay,
            };
        }
        match (&self.page_param, &self.size) {
            (Some(_), Some((_, size))) if items >= *size as usize => Next {
                position: Position {
                    cursor: String::new(),
                    page: position.page + 1,
                },
                more: true,
            },
            _ => stay,
        }
    }

    /// The position as ops reads it in the connector's health.
    pub fn describe(&self, position: &Position) -> String {
        match (&self.cursor_param, &self.page_param) {
            (Some(_), _) if !position.cursor.is_empty() => format!("cursor {}", position.cursor),
            (Some(_), _) => "first page".into(),
            (None, Some(_)) => format!("page {}", position.page),
            (None, None) => "single page".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paging(next_cursor: bool, page: bool, size: Option<u32>) -> Paging {
        Paging::new(&ConnectorPaging {
            next_cursor: next_cursor.then(|| "/next".into()),
            cursor_param: next_cursor.then(|| "after".into()),
            page_param: page.then(|| "page".into()),
            first_page: 1,
            page_size_param: size.map(|_| "size".into()),
            page_size: size,
        })
    }

    fn at(cursor: &str, page: u64) -> Position {
        Position {
            cursor: cursor.into(),
            page,
        }
    }

    fn pairs(query: &[(String, String)]) -> Vec<(&str, &str)> {
        query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn cursor_paging_follows_the_cursor_to_the_end_and_stays_there() {
        let p = paging(true, false, Some(2));
        let start = p.start();
        assert_eq!(start, at("", 0));
        assert_eq!(pairs(&p.query(&start)), [("size", "2")]);
        let next = p.after(&start, 2, Some("c2"));
        assert_eq!(
            next,
            Next {
                position: at("c2", 0),
                more: true
            }
        );
        assert_eq!(
            pairs(&p.query(&next.position)),
            [("after", "c2"), ("size", "2")]
        );
        // The last page names no next cursor: read it again later, from the same cursor.
        assert_eq!(
            p.after(&next.position, 1, None),
            Next {
                position: at("c2", 0),
                more: false
            }
        );
        // A cursor equal to the current one is no progress.
        assert_eq!(
            p.after(&next.position, 2, Some("c2")),
            Next {
                position: at("c2", 0),
                more: false
            }
        );
        // A new cursor on an empty page is kept, but fetched only at the next interval.
        assert_eq!(
            p.after(&next.position, 0, Some("c3")),
            Next {
                position: at("c3", 0),
                more: false
            }
        );
        assert_eq!(p.describe(&start), "first page");
        assert_eq!(p.describe(&next.position), "cursor c2");
    }

    #[test]
    fn page_numbers_advance_on_full_pages_only() {
        let p = paging(false, true, Some(3));
        let start = p.start();
        assert_eq!(start, at("", 1));
        assert_eq!(pairs(&p.query(&start)), [("page", "1"), ("size", "3")]);
        let second = p.after(&start, 3, None);
        assert_eq!(
            second,
            Next {
                position: at("", 2),
                more: true
            }
        );
        assert_eq!(
            p.after(&second.position, 2, None),
            Next {
                position: at("", 2),
                more: false
            }
        );
        assert_eq!(p.describe(&second.position), "page 2");
    }

    #[test]
    fn cursor_and_page_number_together_count_pages_along_the_cursor() {
        let p = paging(true, true, None);
        let next = p.after(&p.start(), 5, Some("x"));
        assert_eq!(next.position, at("x", 2));
        assert_eq!(
            pairs(&p.query(&next.position)),
            [("after", "x"), ("page", "2")]
        );
    }

    #[test]
    fn an_unpaged_source_is_one_page_read_each_poll() {
        let p = paging(false, false, None);
        assert!(p.query(&p.start()).is_empty());
        assert_eq!(
            p.after(&p.start(), 500, Some("ignored")),
            Next {
                position: p.start(),
                more: false
            }
        );
        assert_eq!(p.describe(&p.start()), "single page");
    }
}
