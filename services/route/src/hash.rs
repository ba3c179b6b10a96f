//! A hasher for the `u64` keys of the hot look-ups (name pairs, catalogue slots, areas). The
//! keys are built from configuration, so SipHash's flooding resistance buys nothing there, and
//! its cost showed in profiles: a multiply and a fold spread them well enough.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        // The fold brings the product's well-mixed high bits down to the low bits that pick
        // the bucket.
        let x = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 29);
    }
}

/// A map keyed by `u64`, hashed with [`IntHasher`].
pub(crate) type IntMap<V> = HashMap<u64, V, BuildHasherDefault<IntHasher>>;

/// A set of `u64`, hashed with [`IntHasher`].
pub(crate) type IntSet = HashSet<u64, BuildHasherDefault<IntHasher>>;
