//! Items already refused on the page being read. The last page is read again every interval
//! (that is where new items appear), so an item refused there would be refused, counted and
//! logged again at each interval; it is counted once and then skipped, until it changes (the
//! source fixed it) or the connector moves past the page. Pure.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use minhu_contracts::v1::Petition;
use prost::Message;

use crate::mapping::Item;
use crate::paging::Position;

#[derive(Debug, Default)]
pub struct Refusals {
    position: Position,
    /// Fingerprints of the refused items: what the item was (its id and content), so a
    /// corrected item is tried again.
    refused: HashSet<u64>,
}

impl Refusals {
    /// Whether `item` of the page at `position` was refused before (forgets the refusals of
    /// other pages).
    pub fn already(&mut self, position: &Position, item: &Item) -> bool {
        if *position != self.position {
            self.position = position.clone();
            self.refused.clear();
        }
        self.refused.contains(&fingerprint(item))
    }

    /// Remembers that `item`, on the page [`already`](Self::already) last looked at, was
    /// refused.
    pub fn refused(&mut self, item: &Item) {
        self.refused.insert(fingerprint(item));
    }
}

fn fingerprint(item: &Item) -> u64 {
    let mut hasher = DefaultHasher::new();
    match item {
        // prost encodes fields in number order: the same petition, the same bytes.
        Item::Petition(petition) => Petition::encode_to_vec(petition).hash(&mut hasher),
        Item::Unusable { id, problem } => (id, problem).hash(&mut hasher),
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn petition(id: &str, body: &str) -> Item {
        Item::Petition(Box::new(Petition {
            channel_message_id: id.into(),
            body: body.into(),
            ..Default::default()
        }))
    }

    #[test]
    fn a_refusal_is_remembered_on_its_page_until_the_item_changes() {
        let mut refusals = Refusals::default();
        let last = Position {
            cursor: "c6".into(),
            page: 0,
        };
        let empty = petition("letter-7", "");
        let unusable = Item::Unusable {
            id: None,
            problem: "fields.id (/id) is not a string or number".into(),
        };
        assert!(!refusals.already(&last, &empty));
        refusals.refused(&empty);
        refusals.refused(&unusable);
        assert!(refusals.already(&last, &empty));
        assert!(refusals.already(&last, &unusable));
        // Corrected at the source: tried again.
        assert!(!refusals.already(&last, &petition("letter-7", "正文")));
        // Another page: forgotten.
        let next = Position {
            cursor: "c9".into(),
            page: 0,
        };
        assert!(!refusals.already(&next, &empty));
        assert!(!refusals.already(&last, &empty));
    }
}
