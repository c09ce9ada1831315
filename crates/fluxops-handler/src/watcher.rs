//! The registry watcher: loads the published model, then polls `latest` and swaps in new versions.

use std::time::Duration;

use fluxops_inference::{Model, ModelLimits};
use fluxops_store::{ByteLimit, ETag, ErrorKind, Latest, Registry};
use fluxops_telemetry::ModelReload;
use tokio::time::MissedTickBehavior;
use tracing::Instrument;

use crate::config::{Config, MAX_MODEL_BYTES_VAR};
use crate::state::{AppState, LoadedModel};

/// How the watcher works, from the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WatchSettings {
    /// How often the pointer is checked.
    pub(crate) interval: Duration,
    /// Largest artifact read, in bytes.
    pub(crate) max_model_bytes: usize,
}

impl From<&Config> for WatchSettings {
    fn from(config: &Config) -> Self {
        WatchSettings {
            interval: config.refresh_interval,
            max_model_bytes: config.max_model_bytes,
        }
    }
}

/// Checks the registry now and then every `settings.interval`, forever; run it as a task and
/// abort it to stop.
///
/// A new version is fetched (digest-checked by the registry, and never more than
/// `settings.max_model_bytes` read), verified and swapped in only when the pointer's tag
/// changes. A refused artifact is logged and remembered by its tag, so it is not downloaded again
/// until the pointer moves; the current model keeps serving meanwhile. Reads from a Blob Storage
/// registry are reported as dependencies.
pub(crate) async fn watch(registry: Registry, state: AppState, settings: WatchSettings) {
    let mut watcher = Watcher::new(registry, state, settings.max_model_bytes);
    let mut ticker = tokio::time::interval(settings.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        watcher.check().await;
    }
}

struct Watcher {
    registry: Registry,
    state: AppState,
    /// The pointer tag last acted on for good (loaded, or refused with the reason).
    handled: Option<(ETag, Option<String>)>,
    /// The container URL of a Blob Storage registry.
    blob_container: Option<String>,
    /// Caps on the artifact: its bytes (also the registry's read limit) and its structure.
    model_limits: ModelLimits,
}

/// Why a published version is not being served.
enum LoadFailure {
    /// The artifact itself is bad: remember its tag and do not try it again.
    Refused(String),
    /// The registry did not answer properly: try again at the next check.
    Transient(String),
}

impl Watcher {
    fn new(registry: Registry, state: AppState, max_model_bytes: usize) -> Self {
        let blob_container = registry.kind().blob_container_url().map(str::to_owned);
        Watcher {
            registry,
            state,
            handled: None,
            blob_container,
            model_limits: ModelLimits {
                max_model_bytes,
                ..ModelLimits::default()
            },
        }
    }

    async fn check(&mut self) {
        let name = self.state.model_name().to_owned();
        let latest = match self.registry.latest(&name).await {
            Ok(Some(latest)) => latest,
            Ok(None) => {
                let problem = format!(
                    "{} has no model named {name:?} yet; publish one with fluxops-train",
                    self.registry.location()
                );
                tracing::warn!(%problem, "no model to load");
                self.state.set_registry_problem(Some(problem));
                return;
            }
            Err(error) => {
                fluxops_telemetry::record_exception("store", &error);
                self.state
                    .metrics()
                    .record_model_reload(ModelReload::Failed);
                let problem = format!("cannot read the model registry: {error}");
                self.state.set_registry_problem(Some(problem));
                return;
            }
        };
        if let Some((etag, refusal)) = &self.handled
            && *etag == latest.etag
        {
            self.state.set_registry_problem(refusal.clone());
            return;
        }
        let version = latest.pointer.version.clone();
        if let Some(current) = self.state.model()
            && current.version == version
            && current.sha256 == latest.pointer.sha256
        {
            self.handled = Some((latest.etag, None));
            self.state.set_registry_problem(None);
            return;
        }
        // Application Insights records the model events as events of this span.
        let span = tracing::info_span!("model.load", model = %name, version = %version);
        let digest = latest.pointer.sha256.clone();
        let loaded = self.load(&name, &latest).instrument(span.clone()).await;
        let _entered = span.enter();
        let metrics = self.state.metrics();
        match loaded {
            Ok(model) => {
                fluxops_telemetry::model_loaded(&version, &digest);
                metrics.record_model_reload(ModelReload::Loaded);
                metrics.set_model_in_service(&version, model.model.metadata().created_at.into());
                self.state.swap_model(model);
                self.handled = Some((latest.etag, None));
                self.state.set_registry_problem(None);
            }
            Err(LoadFailure::Refused(reason)) => {
                // The current model, if any, keeps serving.
                fluxops_telemetry::model_refused(&version, &digest, &reason);
                metrics.record_model_reload(ModelReload::Refused);
                let problem = format!("version {version} was refused: {reason}");
                self.handled = Some((latest.etag, Some(problem.clone())));
                self.state.set_registry_problem(Some(problem));
            }
            Err(LoadFailure::Transient(reason)) => {
                tracing::warn!(%reason, "cannot fetch the model; will retry");
                metrics.record_model_reload(ModelReload::Failed);
                let problem = format!("cannot fetch version {version}: {reason}");
                self.state.set_registry_problem(Some(problem));
            }
        }
    }

    async fn load(&self, name: &str, latest: &Latest) -> Result<LoadedModel, LoadFailure> {
        let pointer = &latest.pointer;
        let limit = ByteLimit::new(
            self.model_limits.max_model_bytes as u64,
            MAX_MODEL_BYTES_VAR,
        );
        let fetch = self.registry.fetch_within(name, pointer, limit);
        let fetched = match &self.blob_container {
            Some(container) => {
                fluxops_telemetry::trace_blob_read(container, &pointer.path, fetch).await
            }
            None => fetch.await,
        };
        let bytes = fetched.map_err(|error| match error.kind() {
            ErrorKind::Integrity
            | ErrorKind::NotFound
            | ErrorKind::InvalidInput
            | ErrorKind::TooLarge => LoadFailure::Refused(error.to_string()),
            _ => LoadFailure::Transient(error.to_string()),
        })?;
        // Parsing and compiling a large forest takes milliseconds: keep it off the request workers.
        let limits = self.model_limits;
        let model = tokio::task::spawn_blocking(move || Model::from_json(&bytes, &limits))
            .await
            .map_err(|error| LoadFailure::Refused(format!("verification did not finish: {error}")))?
            .map_err(|error| LoadFailure::Refused(error.to_string()))?;
        let metadata = model.metadata();
        if metadata.name != name || metadata.version != pointer.version {
            return Err(LoadFailure::Refused(format!(
                "the artifact says it is {:?} version {:?}, but the registry pointer names {name:?} version {:?}",
                metadata.name, metadata.version, pointer.version
            )));
        }
        LoadedModel::new(
            model,
            pointer.version.clone(),
            pointer.sha256.clone(),
            pointer.published_at,
            format!("{} {}", self.registry.location(), pointer.path),
        )
        .map_err(LoadFailure::Refused)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use async_trait::async_trait;
    use fluxops_inference::ModelArtifact;
    use fluxops_inference::testing::{Stump, stump_artifact};
    use fluxops_store::{
        Backend, ByteLimit, Error, LocalFolder, RegistryKind, StoredObject, WriteCondition,
    };

    use super::*;
    use crate::config::Config;

    /// A folder registry that counts artifact downloads and can pretend to be unreachable.
    #[derive(Debug)]
    struct Counting {
        folder: LocalFolder,
        model_reads: AtomicUsize,
        unreachable: AtomicBool,
    }

    #[async_trait]
    impl Backend for Counting {
        fn kind(&self) -> RegistryKind {
            self.folder.kind()
        }

        async fn read(
            &self,
            key: &str,
            limit: ByteLimit,
        ) -> fluxops_store::Result<Option<StoredObject>> {
            if key.ends_with("model.json") {
                self.model_reads.fetch_add(1, Ordering::SeqCst);
                if self.unreachable.load(Ordering::SeqCst) {
                    return Err(Error::new(ErrorKind::Unavailable, "pretend outage"));
                }
            }
            self.folder.read(key, limit).await
        }

        async fn put(
            &self,
            key: &str,
            bytes: Vec<u8>,
            condition: WriteCondition,
        ) -> fluxops_store::Result<ETag> {
            self.folder.put(key, bytes, condition).await
        }

        async fn list(&self, prefix: &str) -> fluxops_store::Result<Vec<String>> {
            self.folder.list(prefix).await
        }
    }

    fn artifact(version: &str) -> ModelArtifact {
        let mut artifact = stump_artifact(1, &[0, 1], &[Stump::new(0, 0.5)]);
        artifact.metadata.name = "fluxops".to_owned();
        artifact.metadata.version = version.to_owned();
        artifact
    }

    fn watcher(folder: &tempfile::TempDir) -> (Watcher, Arc<Counting>, Registry) {
        let backend = Arc::new(Counting {
            folder: LocalFolder::new(folder.path()),
            model_reads: AtomicUsize::new(0),
            unreachable: AtomicBool::new(false),
        });
        let registry = Registry::new(backend.clone());
        let watcher = Watcher::new(
            registry.clone(),
            AppState::new(&Config::default(), Default::default()),
            Config::default().max_model_bytes,
        );
        (watcher, backend, registry)
    }

    fn served_version(watcher: &Watcher) -> Option<String> {
        watcher.state.model().map(|model| model.version.clone())
    }

    #[tokio::test]
    async fn a_refused_artifact_is_downloaded_once_until_the_pointer_moves() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let (mut watcher, backend, registry) = watcher(&folder);
        let mut tampered = artifact("v1");
        tampered.ensemble_sha256 = "0".repeat(64);
        registry
            .publish("fluxops", "v1", tampered.to_json(), b"{}".to_vec())
            .await
            .expect("publish");
        for _ in 0..3 {
            watcher.check().await;
        }
        assert_eq!(backend.model_reads.load(Ordering::SeqCst), 1);
        assert_eq!(served_version(&watcher), None);
        let problem = watcher.state.registry_status().problem.clone();
        assert!(problem.is_some_and(|problem| problem.contains("refused")));

        registry
            .publish("fluxops", "v2", artifact("v2").to_json(), b"{}".to_vec())
            .await
            .expect("publish");
        watcher.check().await;
        watcher.check().await;
        assert_eq!(backend.model_reads.load(Ordering::SeqCst), 2);
        assert_eq!(served_version(&watcher).as_deref(), Some("v2"));
        assert_eq!(watcher.state.registry_status().problem, None);
    }

    #[tokio::test]
    async fn an_unreachable_artifact_is_retried_at_every_check() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let (mut watcher, backend, registry) = watcher(&folder);
        registry
            .publish("fluxops", "v1", artifact("v1").to_json(), b"{}".to_vec())
            .await
            .expect("publish");
        backend.unreachable.store(true, Ordering::SeqCst);
        watcher.check().await;
        watcher.check().await;
        assert_eq!(backend.model_reads.load(Ordering::SeqCst), 2);
        assert_eq!(served_version(&watcher), None);
        backend.unreachable.store(false, Ordering::SeqCst);
        watcher.check().await;
        assert_eq!(served_version(&watcher).as_deref(), Some("v1"));
        // Loaded: later checks read only the pointer.
        watcher.check().await;
        assert_eq!(backend.model_reads.load(Ordering::SeqCst), 3);
    }
}
