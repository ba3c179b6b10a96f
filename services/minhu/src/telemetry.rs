//! Logs are structured and never carry personal data: handlers log channel ids, tracking
//! numbers and outcomes, never petition fields.

use tracing_subscriber::EnvFilter;

/// `json` for machines (one JSON object per line), anything else for people. `RUST_LOG`
/// filters (default `info`).
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.compact().init();
    }
}
