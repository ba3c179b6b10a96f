//! minhu-clock
