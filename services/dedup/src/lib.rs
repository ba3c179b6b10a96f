//! minhu-dedup
