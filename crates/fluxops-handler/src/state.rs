//! Shared state: the model being served, what the registry watcher last found, and the limits.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use axum::body::Bytes;
use fluxops_inference::{ClassLabels, Model, Prediction, Task};
use fluxops_telemetry::Metrics;
use time::OffsetDateTime;

use crate::config::Config;

/// State shared by every request: cheap to clone (one `Arc`).
///
/// The current model sits behind an [`ArcSwapOption`]: a request takes its own reference to the
/// model it started with, so swapping in a new one never disturbs a request in flight.
#[derive(Debug, Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    model: ArcSwapOption<LoadedModel>,
    registry: ArcSwap<RegistryStatus>,
    /// How often the registry watcher died and was started again.
    watcher_restarts: AtomicU32,
    limits: Limits,
    model_name: String,
    metrics: Metrics,
}

/// What one request may ask of the handler, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Most rows one batch request may carry (`FLUXOPS_MAX_BATCH`).
    pub max_batch: usize,
    /// Largest request body accepted, in bytes (`FLUXOPS_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Longest a request may take, body upload included.
    pub request_timeout: Duration,
    /// Most requests in flight on the routes that do work (`FLUXOPS_MAX_CONCURRENCY`); one more
    /// is answered 503 `overloaded`.
    pub max_concurrency: usize,
}

/// Requests in flight per core before shedding, by default: about where throughput stops growing
/// and waiting starts (`docs/Security.md` gives the reasoning).
pub const IN_FLIGHT_PER_CORE: usize = 32;

impl Default for Limits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Limits {
            max_batch: 1000,
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            max_concurrency: IN_FLIGHT_PER_CORE * cores,
        }
    }
}

/// A verified model and where it came from, with what its answers need made once.
#[derive(Debug)]
pub(crate) struct LoadedModel {
    pub(crate) model: Model,
    /// Registry version (the pointer's, checked against the artifact's own metadata).
    pub(crate) version: String,
    /// Hex SHA-256 of the `model.json` bytes, as the registry pointer records it.
    pub(crate) sha256: String,
    pub(crate) published_at: OffsetDateTime,
    pub(crate) loaded_at: OffsetDateTime,
    /// A classifier's class labels as text (`1`, `cat`), in class-index order, for telemetry;
    /// empty for a regressor.
    pub(crate) label_texts: Vec<Arc<str>>,
    /// `class_<label>` per class index, made once instead of per response; empty for a regressor.
    pub(crate) class_keys: Vec<String>,
    /// Values per prediction: the classes of a classifier, the outputs of a regressor.
    pub(crate) n_outputs: usize,
    /// The OpenAPI document for this model, rendered on its first request.
    pub(crate) openapi: OnceLock<Bytes>,
}

impl LoadedModel {
    /// Wraps a verified model for serving.
    pub(crate) fn new(
        model: Model,
        version: String,
        sha256: String,
        published_at: OffsetDateTime,
    ) -> Self {
        let label_texts: Vec<Arc<str>> = match &model.schema().task {
            Task::Classifier {
                labels: ClassLabels::Integers(labels),
            } => labels
                .iter()
                .map(|label| label.to_string().into())
                .collect(),
            Task::Classifier {
                labels: ClassLabels::Strings(labels),
            } => labels.iter().map(|label| label.as_str().into()).collect(),
            Task::Regressor {} => Vec::new(),
        };
        let class_keys = label_texts
            .iter()
            .map(|label| format!("class_{label}"))
            .collect();
        let n_outputs = match &model.schema().task {
            Task::Classifier { labels } => labels.len(),
            // The inference core does not say a regressor's width; one prediction shows it.
            Task::Regressor {} => {
                let predictor = model.predictor();
                match predictor.predict_one(&vec![0.0; predictor.n_features()]) {
                    Ok(Prediction::Values(values)) => values.len(),
                    _ => 1,
                }
            }
        };
        LoadedModel {
            model,
            version,
            sha256,
            published_at,
            loaded_at: OffsetDateTime::now_utc(),
            label_texts,
            class_keys,
            n_outputs,
            openapi: OnceLock::new(),
        }
    }
}

/// What the registry watcher found on its last check.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RegistryStatus {
    /// When the last check finished; `None` before the first.
    pub(crate) checked_at: Option<OffsetDateTime>,
    /// Why the newest published model is not the one being served, if it is not.
    pub(crate) problem: Option<Problem>,
}

/// Why the newest published model is not the one being served, as anonymous callers may learn
/// it: a stable code and a fixed message. The details (account, path, storage error) go to the
/// logs and telemetry where they happen, never here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Problem {
    /// The registry holds no model of the configured name.
    NoModelYet,
    /// The registry could not be read (unreachable, permission, a pointer whose artifact is not
    /// there yet); the watcher retries at every check.
    RegistryUnavailable,
    /// The newest published version (or its pointer) failed its checks; it is not tried again
    /// until the pointer moves.
    ModelRefused,
}

impl Problem {
    /// The stable code.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Problem::NoModelYet => "no_model_yet",
            Problem::RegistryUnavailable => "registry_unavailable",
            Problem::ModelRefused => "model_refused",
        }
    }

    /// What it means for a caller, saying nothing about the infrastructure.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Problem::NoModelYet => {
                "the registry has no model of this name yet; publish one with fluxops-train or \
                 fluxops-import"
            }
            Problem::RegistryUnavailable => {
                "the model registry cannot be read right now; the handler keeps retrying, and \
                 its logs say why"
            }
            Problem::ModelRefused => {
                "the newest published version failed its checks and is not served; the logs \
                 say why, and the previous model, if any, keeps serving"
            }
        }
    }
}

impl AppState {
    /// Empty state (no model yet) for the given configuration, recording into `metrics`
    /// (`Metrics::default()` records nothing).
    pub fn new(config: &Config, metrics: Metrics) -> Self {
        AppState {
            shared: Arc::new(Shared {
                model: ArcSwapOption::empty(),
                registry: ArcSwap::default(),
                watcher_restarts: AtomicU32::new(0),
                limits: config.limits,
                model_name: config.model_name.clone(),
                metrics,
            }),
        }
    }

    /// The request limits.
    pub fn limits(&self) -> Limits {
        self.shared.limits
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    pub(crate) fn model(&self) -> Option<Arc<LoadedModel>> {
        self.shared.model.load_full()
    }

    pub(crate) fn swap_model(&self, model: LoadedModel) {
        self.shared.model.store(Some(Arc::new(model)));
    }

    pub(crate) fn model_name(&self) -> &str {
        &self.shared.model_name
    }

    pub(crate) fn registry_status(&self) -> Arc<RegistryStatus> {
        self.shared.registry.load_full()
    }

    pub(crate) fn set_registry_problem(&self, problem: Option<Problem>) {
        self.shared.registry.store(Arc::new(RegistryStatus {
            checked_at: Some(OffsetDateTime::now_utc()),
            problem,
        }));
    }

    /// How often the registry watcher died and was started again.
    pub(crate) fn watcher_restarts(&self) -> u32 {
        self.shared.watcher_restarts.load(Ordering::Relaxed)
    }

    pub(crate) fn count_watcher_restart(&self) {
        self.shared.watcher_restarts.fetch_add(1, Ordering::Relaxed);
    }
}
