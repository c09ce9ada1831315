//! The domain's metric instruments.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime},
};

use opentelemetry::{
    KeyValue,
    metrics::{Counter, Gauge, Histogram, Meter, ObservableGauge},
};

const MODEL_VERSION: &str = "model.version";

/// The FluxOps metric instruments, one method per thing worth counting.
///
/// Get one from [`crate::TelemetryGuard::metrics`]; cloning is cheap (one `Arc`). When export is
/// off, or for a `Metrics::default()`, every method returns at once without allocating.
/// Instrument names and units are listed in the crate documentation.
#[derive(Clone, Default)]
pub struct Metrics {
    pub(crate) instruments: Option<Arc<Instruments>>,
}

pub(crate) struct Instruments {
    predictions: Counter<u64>,
    prediction_duration: Histogram<f64>,
    batch_size: Histogram<u64>,
    validation_failures: Counter<u64>,
    timeouts: Counter<u64>,
    shed: Counter<u64>,
    model_reloads: Counter<u64>,
    model_in_service: Arc<Mutex<Option<ModelInService>>>,
    /// Kept so the gauge's callback lives as long as the instruments.
    _model_age: ObservableGauge<f64>,
    pub(crate) trainer_phase_duration: Histogram<f64>,
    pub(crate) trainer_accuracy: Gauge<f64>,
}

struct ModelInService {
    version: String,
    trained_at: SystemTime,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Metrics")
            .field("enabled", &self.instruments.is_some())
            .finish()
    }
}

/// What one prediction request predicted, for [`Metrics::record_predictions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Predicted<'a> {
    /// A classifier's answers: the predicted class index of each row, and the class labels as
    /// text (`"1"`, `"cat"`), in class-index order, that the indices point into.
    Classes {
        /// Predicted class index per row.
        class_indices: &'a [usize],
        /// Every class label of the model, as text.
        labels: &'a [Arc<str>],
    },
    /// A regressor's answers: they have no class, so only the rows are counted.
    Values {
        /// Rows predicted.
        n_rows: usize,
    },
}

/// How an attempt to load a new model version ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelReload {
    /// The new version was verified and swapped in.
    Loaded,
    /// The artifact failed verification (digest, schema, format); the previous model stays.
    Refused,
    /// The registry could not be read; the previous model stays.
    Failed,
}

impl ModelReload {
    fn as_str(self) -> &'static str {
        match self {
            ModelReload::Loaded => "loaded",
            ModelReload::Refused => "refused",
            ModelReload::Failed => "failed",
        }
    }
}

impl Metrics {
    /// The instruments on `meter`.
    pub(crate) fn new(meter: &Meter) -> Self {
        let model_in_service: Arc<Mutex<Option<ModelInService>>> = Arc::default();
        let observed = Arc::clone(&model_in_service);
        let model_age = meter
            .f64_observable_gauge("fluxops.model.age")
            .with_unit("s")
            .with_description("Age of the model in service, from its training time")
            .with_callback(move |observer| {
                let model = observed.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(model) = model.as_ref() {
                    let age = SystemTime::now()
                        .duration_since(model.trained_at)
                        .unwrap_or_default();
                    observer.observe(
                        age.as_secs_f64(),
                        &[KeyValue::new(MODEL_VERSION, model.version.clone())],
                    );
                }
            })
            .build();
        let instruments = Instruments {
            predictions: meter
                .u64_counter("fluxops.predictions")
                .with_unit("{prediction}")
                .with_description("Rows predicted, by predicted class and model version")
                .build(),
            prediction_duration: meter
                .f64_histogram("fluxops.prediction.duration")
                .with_unit("ms")
                .with_description("Time to validate and predict one request's rows")
                .build(),
            batch_size: meter
                .u64_histogram("fluxops.prediction.batch_size")
                .with_unit("{row}")
                .with_description("Rows per prediction request")
                .build(),
            validation_failures: meter
                .u64_counter("fluxops.validation.failures")
                .with_unit("{failure}")
                .with_description("Requests refused by input validation, by error code")
                .build(),
            timeouts: meter
                .u64_counter("fluxops.requests.timed_out")
                .with_unit("{request}")
                .with_description("Requests given up on after the request timeout")
                .build(),
            shed: meter
                .u64_counter("fluxops.requests.shed")
                .with_unit("{request}")
                .with_description("Requests refused because the in-flight limit was reached")
                .build(),
            model_reloads: meter
                .u64_counter("fluxops.model.reloads")
                .with_unit("{reload}")
                .with_description("Attempts to load a new model version, by outcome")
                .build(),
            model_in_service,
            _model_age: model_age,
            trainer_phase_duration: meter
                .f64_histogram("fluxops.trainer.phase.duration")
                .with_unit("s")
                .with_description("Duration of a trainer phase")
                .build(),
            trainer_accuracy: meter
                .f64_gauge("fluxops.trainer.accuracy")
                .with_unit("1")
                .with_description("Holdout accuracy of the last trained model")
                .build(),
        };
        Metrics {
            instruments: Some(Arc::new(instruments)),
        }
    }

    /// Records one prediction request: the rows predicted (a classifier's counted per predicted
    /// class), the number of rows, and the time spent validating and predicting them.
    pub fn record_predictions(
        &self,
        model_version: &str,
        predicted: Predicted<'_>,
        latency: Duration,
    ) {
        let Some(instruments) = &self.instruments else {
            return;
        };
        let version = KeyValue::new(MODEL_VERSION, model_version.to_owned());
        let n_rows = match predicted {
            Predicted::Classes {
                class_indices,
                labels,
            } => {
                // A classifier has few classes: a linear scan beats a map here.
                let mut n_per_class: Vec<(usize, u64)> = Vec::new();
                for &class in class_indices {
                    match n_per_class.iter_mut().find(|(known, _)| *known == class) {
                        Some((_, n)) => *n += 1,
                        None => n_per_class.push((class, 1)),
                    }
                }
                for (class, n) in n_per_class {
                    let label = labels
                        .get(class)
                        .map_or_else(|| Arc::from(class.to_string()), Arc::clone);
                    instruments.predictions.add(
                        n,
                        &[KeyValue::new("prediction.class", label), version.clone()],
                    );
                }
                class_indices.len()
            }
            Predicted::Values { n_rows } => {
                instruments
                    .predictions
                    .add(n_rows as u64, std::slice::from_ref(&version));
                n_rows
            }
        };
        instruments
            .prediction_duration
            .record(latency.as_secs_f64() * 1000.0, &[version]);
        instruments.batch_size.record(n_rows as u64, &[]);
    }

    /// Counts a request refused by input validation, by its API error code (`invalid_json`,
    /// `wrong_feature_count`, ...).
    pub fn record_validation_failure(&self, code: &'static str) {
        if let Some(instruments) = &self.instruments {
            instruments
                .validation_failures
                .add(1, &[KeyValue::new("error.code", code)]);
        }
    }

    /// Counts a request given up on after the request timeout.
    pub fn record_timeout(&self) {
        if let Some(instruments) = &self.instruments {
            instruments.timeouts.add(1, &[]);
        }
    }

    /// Counts a request refused because as many as allowed were already in flight.
    pub fn record_overload(&self) {
        if let Some(instruments) = &self.instruments {
            instruments.shed.add(1, &[]);
        }
    }

    /// Counts an attempt to load a new model version.
    pub fn record_model_reload(&self, outcome: ModelReload) {
        if let Some(instruments) = &self.instruments {
            instruments
                .model_reloads
                .add(1, &[KeyValue::new("outcome", outcome.as_str())]);
        }
    }

    /// Sets the model now in service; `fluxops.model.age` reports its age at every export.
    pub fn set_model_in_service(&self, version: &str, trained_at: SystemTime) {
        if let Some(instruments) = &self.instruments {
            *instruments
                .model_in_service
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(ModelInService {
                version: version.to_owned(),
                trained_at,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TrainerPhase;
    use crate::testing::CapturedTelemetry;

    #[test]
    fn predictions_are_counted_per_class_with_batch_size_and_latency() {
        let telemetry = CapturedTelemetry::start();
        let metrics = telemetry.metrics();
        let labels: Vec<Arc<str>> = ["cat", "dog", "7"].map(Arc::from).to_vec();
        let classes = |class_indices| Predicted::Classes {
            class_indices,
            labels: &labels,
        };
        metrics.record_predictions("v1", classes(&[2, 0, 2, 2]), Duration::from_millis(3));
        metrics.record_predictions("v1", classes(&[0]), Duration::from_millis(1));
        let v1 = "model.version=v1";
        let predictions = |class| telemetry.metric("fluxops.predictions", &[v1, class]);
        assert_eq!(predictions("prediction.class=cat"), Some(2.0));
        assert_eq!(predictions("prediction.class=7"), Some(3.0));
        assert_eq!(
            telemetry.metric("fluxops.prediction.duration", &[v1]),
            Some(2.0)
        );
        assert_eq!(
            telemetry.metric("fluxops.prediction.batch_size", &[]),
            Some(5.0)
        );
    }

    #[test]
    fn a_regressors_rows_are_counted_without_a_class() {
        let telemetry = CapturedTelemetry::start();
        telemetry.metrics().record_predictions(
            "v2",
            Predicted::Values { n_rows: 3 },
            Duration::from_millis(1),
        );
        assert_eq!(
            telemetry.metric("fluxops.predictions", &["model.version=v2"]),
            Some(3.0)
        );
        assert_eq!(
            telemetry.metric("fluxops.prediction.batch_size", &[]),
            Some(3.0)
        );
    }

    #[test]
    fn failures_timeouts_shedding_reloads_model_age_and_trainer_phases_are_recorded() {
        let telemetry = CapturedTelemetry::start();
        let metrics = telemetry.metrics();
        metrics.record_validation_failure("invalid_json");
        metrics.record_timeout();
        metrics.record_overload();
        metrics.record_overload();
        metrics.record_model_reload(ModelReload::Refused);
        metrics.record_model_reload(ModelReload::Loaded);
        metrics.set_model_in_service("v2", SystemTime::now() - Duration::from_secs(3600));
        metrics.record_trainer_accuracy(0.97);
        drop(metrics.trainer_phase(TrainerPhase::Fit));
        let metric = |name, attributes: &[&str]| telemetry.metric(name, attributes);
        assert_eq!(
            metric("fluxops.validation.failures", &["error.code=invalid_json"]),
            Some(1.0)
        );
        assert_eq!(metric("fluxops.requests.timed_out", &[]), Some(1.0));
        assert_eq!(metric("fluxops.requests.shed", &[]), Some(2.0));
        assert_eq!(
            metric("fluxops.model.reloads", &["outcome=refused"]),
            Some(1.0)
        );
        assert_eq!(
            metric("fluxops.model.reloads", &["outcome=loaded"]),
            Some(1.0)
        );
        let age = metric("fluxops.model.age", &["model.version=v2"]).expect("age");
        assert!((3600.0..3700.0).contains(&age), "{age}");
        assert_eq!(metric("fluxops.trainer.accuracy", &[]), Some(0.97));
        assert_eq!(
            metric("fluxops.trainer.phase.duration", &["phase=fit"]),
            Some(1.0)
        );
    }

    #[test]
    fn disabled_metrics_record_nothing_and_do_not_panic() {
        let metrics = Metrics::default();
        metrics.record_predictions("v1", Predicted::Values { n_rows: 1 }, Duration::ZERO);
        metrics.record_validation_failure("x");
        metrics.record_timeout();
        metrics.record_overload();
        metrics.record_model_reload(ModelReload::Failed);
        metrics.set_model_in_service("v1", SystemTime::now());
        drop(metrics.trainer_phase(TrainerPhase::Load));
        assert_eq!(format!("{metrics:?}"), "Metrics { enabled: false }");
    }
}
