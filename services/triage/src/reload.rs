//! Puts a new classifier model or catalogue in force without a restart. Deployments replace
//! the file (best by writing a temporary file and renaming it over the old one); a watcher
//! notices the change and loads it. What does not load or does not fit is refused with an
//! error in the log, and what is in force stays: a model file's own digest is checked on load,
//! so a half-written file is never taken.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use minhu_classify::Model;
use minhu_core::config::Settings;

use crate::{LiveRouting, Routing, Triage};

/// What tells that a file changed, without reading it.
type Fingerprint = Option<(SystemTime, u64)>;

fn fingerprint(path: &Path) -> Fingerprint {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Notices changes of one file, by its modification time and length.
struct Watch {
    path: PathBuf,
    seen: Fingerprint,
}

impl Watch {
    fn new(path: &Path) -> Watch {
        Watch {
            path: path.to_owned(),
            seen: fingerprint(path),
        }
    }

    /// Returns once the file changed (looking every `every`); a missing file is no change.
    async fn changed(&mut self, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            let now = fingerprint(&self.path);
            if now != self.seen && now.is_some() {
                self.seen = now;
                return;
            }
        }
    }
}

/// Swaps in each new model at `path` that loads and knows the catalogue's categories.
pub async fn watch_model(
    triage: Arc<Triage>,
    path: PathBuf,
    every: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut watch = Watch::new(&path);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = watch.changed(every) => {}
            _ = &mut shutdown => return,
        }
        let file = path.clone();
        match tokio::task::spawn_blocking(move || Model::load(file)).await {
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

/// Re-reads the configuration (embedded defaults, `path`, `MINHU_*`) when `path` changes and
/// puts its catalogue (units, areas, rules) in force. Other settings need a restart.
pub async fn watch_catalogue(
    routing: LiveRouting,
    triage: Option<Arc<Triage>>,
    path: PathBuf,
    every: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut watch = Watch::new(&path);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = watch.changed(every) => {}
            _ = &mut shutdown => return,
        }
        let settings = match Settings::load(Some(&path)) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "configuration reload refused; the catalogue in force stays");
                continue;
            }
        };
        let version = settings.catalogue.version.clone();
        if version == routing.current().router().catalogue_version() {
            continue;
        }
        let fresh = match Routing::new(&settings) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(%version, error = %e, "catalogue reload refused");
                continue;
            }
        };
        let applied = match &triage {
            Some(triage) => triage.replace_routing(fresh),
            None => {
                routing.replace(fresh);
                Ok(())
            }
        };
        match applied {
            Ok(()) => tracing::info!(%version, "catalogue reloaded"),
            Err(e) => tracing::error!(%version, error = %e, "catalogue reload refused"),
        }
    }
}
