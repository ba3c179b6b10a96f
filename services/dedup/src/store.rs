//! Where band keys lead to documents. The index asks one question per band — which recent
//! documents share this key? — so a store that answers it in constant time keeps lookups as fast
//! at a million documents as at ten thousand.

use crate::sketch::mix;

/// A document's number in one index. Larger numbers are later documents: stores keep the latest
/// documents under a key, and the index numbers documents in the order they arrive.
pub type DocId = u32;

/// Documents kept under one key. A matter that thousands re-post fills its keys with members of
/// one cluster; any of them leads to the cluster, so the latest few suffice and a lookup reads at
/// most `bands × BUCKET_CAP` documents however hot the matter.
pub const BUCKET_CAP: usize = 8;

/// A multimap from 64-bit key digests (band keys, petitioner links) to documents, keeping at most
/// [`BUCKET_CAP`] documents per key, the latest.
pub trait BandStore {
    /// Appends the documents kept under `key` to `out`, at most [`BUCKET_CAP`] of them.
    fn get(&self, key: u64, out: &mut Vec<DocId>);
    fn insert(&mut self, key: u64, doc: DocId);
    /// Memory the store holds, allocated capacity included.
    fn heap_bytes(&self) -> usize;
}

/// Keeps the latest `cap` ids of a bucket, once each: the update a store applies to one key's
/// value, e.g. a JSON array of case ids in a KV entry, before writing it back.
pub fn push_recent<T: PartialEq>(bucket: &mut Vec<T>, id: T, cap: usize) {
    if bucket.contains(&id) {
        return;
    }
    bucket.push(id);
    if bucket.len() > cap {
        let excess = bucket.len() - cap;
        bucket.drain(..excess);
    }
}

/// The in-memory store: about 9 bytes an entry.
///
/// Entries are `key32 << 32 | doc` in one sorted array, found through a directory on the top
/// bits of the key (about eight entries a directory slot: one cache line to scan). New entries go
/// to a small open-addressing table first, merged into the array when it is three quarters full;
/// the table has 1/16 to 1/8 as many slots as the array has entries, so it costs under a byte an
/// entry, and a merge comes once every 5 to 10% of growth. Keys are truncated to 32 bits: at 20
/// million entries about one lookup in ten meets an unrelated document that way, and the detector
/// rejects it.
#[derive(Debug, Clone)]
pub struct MemoryBandStore {
    sorted: Vec<u64>,
    directory: Vec<u32>,
    directory_bits: u32,
    recent: Vec<u64>,
    recent_len: usize,
}

/// Never an entry: documents are numbered below `u32::MAX`.
const EMPTY: u64 = u64::MAX;
const MIN_RECENT_SLOTS: usize = 1 << 12;
const ENTRIES_PER_DIRECTORY_SLOT: usize = 8;

impl Default for MemoryBandStore {
    fn default() -> MemoryBandStore {
        MemoryBandStore {
            sorted: Vec::new(),
            directory: vec![0, 0],
            directory_bits: 0,
            recent: vec![EMPTY; MIN_RECENT_SLOTS],
            recent_len: 0,
        }
    }
}

impl MemoryBandStore {
    pub fn len(&self) -> usize {
        self.sorted.len() + self.recent_len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn merge(&mut self) {
        let mut fresh: Vec<u64> = self
            .recent
            .iter()
            .copied()
            .filter(|&e| e != EMPTY)
            .collect();
        fresh.sort_unstable();
        let mut merged = Vec::with_capacity(self.sorted.len() + fresh.len());
        let (mut a, mut b) = (self.sorted.iter().peekable(), fresh.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(&&x), Some(&&y)) if x <= y => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            if let Some(&entry) = next {
                push_capped(&mut merged, entry);
            }
        }
        self.sorted = merged;
        self.directory_bits = (self.sorted.len() / ENTRIES_PER_DIRECTORY_SLOT)
            .max(1)
            .ilog2()
            .min(28);
        self.directory = build_directory(&self.sorted, self.directory_bits);
        let slots = (self.sorted.len() / 16)
            .next_power_of_two()
            .max(MIN_RECENT_SLOTS);
        self.recent = vec![EMPTY; slots];
        self.recent_len = 0;
    }
}

/// Appends an entry to a sorted run, dropping the oldest entry of its key beyond the cap: entries
/// of one key are adjacent and in document order, so the oldest is the first of the run.
fn push_capped(merged: &mut Vec<u64>, entry: u64) {
    let key = entry >> 32;
    let run = merged
        .iter()
        .rev()
        .take(BUCKET_CAP)
        .take_while(|&&e| e >> 32 == key)
        .count();
    if run == BUCKET_CAP {
        let start = merged.len() - BUCKET_CAP;
        merged.copy_within(start + 1.., start);
        merged.pop();
    }
    merged.push(entry);
}

/// `directory[h]` is the first entry whose key's top `bits` bits are at least `h`.
fn build_directory(sorted: &[u64], bits: u32) -> Vec<u32> {
    let slots = 1usize << bits;
    let mut directory = Vec::with_capacity(slots + 1);
    let mut i = 0;
    for slot in 0..slots {
        while i < sorted.len() && directory_slot(sorted[i] >> 32, bits) < slot {
            i += 1;
        }
        directory.push(u32::try_from(i).unwrap_or(u32::MAX));
    }
    directory.push(u32::try_from(sorted.len()).unwrap_or(u32::MAX));
    directory
}

fn directory_slot(key32: u64, bits: u32) -> usize {
    (key32 >> (32 - bits)) as usize
}

impl BandStore for MemoryBandStore {
    fn get(&self, key: u64, out: &mut Vec<DocId>) {
        let key32 = key >> 32;
        let start = out.len();
        let slot = directory_slot(key32, self.directory_bits);
        let (lo, hi) = (
            self.directory[slot] as usize,
            self.directory[slot + 1] as usize,
        );
        let range = &self.sorted[lo..hi];
        let first = range.partition_point(|&e| e >> 32 < key32);
        out.extend(
            range[first..]
                .iter()
                .take_while(|&&e| e >> 32 == key32)
                .map(|&e| e as DocId),
        );
        let mask = self.recent.len() - 1;
        let mut i = mix(key32) as usize & mask;
        while self.recent[i] != EMPTY {
            if self.recent[i] >> 32 == key32 {
                out.push(self.recent[i] as DocId);
            }
            i = (i + 1) & mask;
        }
        if out.len() - start > BUCKET_CAP {
            out[start..].sort_unstable_by(|a, b| b.cmp(a));
            out.truncate(start + BUCKET_CAP);
        }
    }

    fn insert(&mut self, key: u64, doc: DocId) {
        assert!(doc < DocId::MAX, "document numbers stay below u32::MAX");
        let entry = (key >> 32 << 32) | u64::from(doc);
        let mask = self.recent.len() - 1;
        let mut i = mix(key >> 32) as usize & mask;
        while self.recent[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.recent[i] = entry;
        self.recent_len += 1;
        if self.recent_len * 4 >= self.recent.len() * 3 {
            self.merge();
        }
    }

    fn heap_bytes(&self) -> usize {
        self.sorted.capacity() * size_of::<u64>()
            + self.directory.capacity() * size_of::<u32>()
            + self.recent.capacity() * size_of::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(store: &MemoryBandStore, key: u64) -> Vec<DocId> {
        let mut out = Vec::new();
        store.get(key, &mut out);
        out.sort_unstable();
        out
    }

    #[test]
    fn documents_are_found_under_their_keys_before_and_after_merges() {
        let mut store = MemoryBandStore::default();
        let key = |i: u64| mix(i);
        for doc in 0..50_000u32 {
            store.insert(key(u64::from(doc % 20_000)), doc);
        }
        assert_eq!(store.len(), 50_000);
        assert!(!store.sorted.is_empty(), "merged at least once");
        for i in [0u32, 1, 7_777] {
            assert_eq!(
                get(&store, key(u64::from(i))),
                vec![i, i + 20_000, i + 40_000]
            );
        }
        assert_eq!(get(&store, key(19_999)), vec![19_999, 39_999]);
        assert_eq!(
            get(&store, key(30_000)),
            Vec::<DocId>::new(),
            "a key never inserted"
        );
    }

    #[test]
    fn a_key_keeps_its_latest_documents() {
        let mut store = MemoryBandStore::default();
        for doc in 0..5_000u32 {
            // One hot key among many cold ones, so merges happen while it fills.
            store.insert(mix(1), doc * 2);
            store.insert(mix(u64::from(doc) + 2), doc * 2 + 1);
        }
        let latest: Vec<DocId> = (5_000 - BUCKET_CAP as u32..5_000).map(|d| d * 2).collect();
        assert_eq!(get(&store, mix(1)), latest);
        assert_eq!(
            store
                .sorted
                .iter()
                .filter(|&&e| e >> 32 == mix(1) >> 32)
                .count(),
            BUCKET_CAP
        );
    }

    #[test]
    fn memory_is_about_ten_bytes_an_entry() {
        let mut store = MemoryBandStore::default();
        for doc in 0..400_000u32 {
            store.insert(mix(u64::from(doc)), doc);
        }
        let per_entry = store.heap_bytes() as f64 / store.len() as f64;
        assert!(
            (8.0..11.0).contains(&per_entry),
            "{per_entry} bytes an entry"
        );
    }

    #[test]
    fn push_recent_keeps_the_latest_once() {
        let mut bucket = vec!["MH1", "MH2"];
        push_recent(&mut bucket, "MH2", 3);
        assert_eq!(bucket, ["MH1", "MH2"]);
        push_recent(&mut bucket, "MH3", 3);
        push_recent(&mut bucket, "MH4", 3);
        assert_eq!(bucket, ["MH2", "MH3", "MH4"]);
    }
}
