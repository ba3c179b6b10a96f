//! minhu-route
