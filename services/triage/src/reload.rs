//! Puts a new classifier model in force without a restart. Deployments replace the model
//! file (best by writing a temporary file and renaming it over the old one); triage notices
//! the change and loads it. The file's own digest is checked on load, so a half-written file
//! is refused and the model in force stays until a complete one arrives.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use minhu_classify::Model;

use crate::Triage;

/// What tells that a file changed, without reading it.
type Fingerprint = Option<(SystemTime, u64)>;

fn fingerprint(path: &Path) -> Fingerprint {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Checks `path` every `every` until `shutdown`, and swaps in each new model that loads and
/// fits the catalogue.
pub async fn watch_model(
    triage: Arc<Triage>,
    path: PathBuf,
    every: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut seen = fingerprint(&path);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = &mut shutdown => return,
        }
        let now = fingerprint(&path);
        if now == seen || now.is_none() {
            continue;
        }
        seen = now;
        let file = path.clone();
        let loaded = tokio::task::spawn_blocking(move || Model::load(file)).await;
        match loaded {
            Ok(Ok(model)) if model.version() == triage.model().version() => {}
            Ok(Ok(model)) => {
                let version = model.version().to_owned();
                match triage.swap_model(Arc::new(model)) {
                    Ok(()) => tracing::info!(%version, "classifier model reloaded"),
                    Err(e) => {
                        tracing::error!(%version, error = %e, "new classifier model refused; the model in force stays")
                    }
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(path = %path.display(), error = %e, "classifier model file not loadable (yet); the model in force stays")
            }
            Err(e) => tracing::error!(error = %e, "classifier model load panicked"),
        }
    }
}
