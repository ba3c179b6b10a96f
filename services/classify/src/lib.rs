//! minhu-classify
