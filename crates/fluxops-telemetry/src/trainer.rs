//! Telemetry of a trainer run: its root span, one span and duration per phase, and the
//! accuracy it reached.

use std::time::Instant;

use opentelemetry::KeyValue;
use tracing::{Span, field::Empty, span::EnteredSpan};

use crate::metrics::Metrics;

/// The root span of one trainer run for `model`, which Application Insights records as a
/// request named `train <model>`; mark its end with [`record_outcome`](crate::record_outcome). Phases inside it come
/// from [`crate::Metrics::trainer_phase`].
pub fn trainer_run_span(model: &str) -> Span {
    let name = format!("train {model}");
    tracing::info_span!(
        "trainer.run",
        otel.name = name.as_str(),
        otel.kind = "consumer",
        otel.status_code = Empty,
        model.name = model,
    )
}

/// A phase of a trainer run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainerPhase {
    /// Reading or generating the data set.
    Load,
    /// The stratified train/test split.
    Split,
    /// Fitting the forest.
    Fit,
    /// Compiling the fitted forest into the inference core's representation.
    Compile,
    /// Evaluating on the test split (and checking the compiled forest agrees).
    Evaluate,
    /// Writing the artifact and publishing it to the registry.
    Publish,
}

impl TrainerPhase {
    fn as_str(self) -> &'static str {
        match self {
            TrainerPhase::Load => "load",
            TrainerPhase::Split => "split",
            TrainerPhase::Fit => "fit",
            TrainerPhase::Compile => "compile",
            TrainerPhase::Evaluate => "evaluate",
            TrainerPhase::Publish => "publish",
        }
    }
}

impl Metrics {
    /// Enters the span of a trainer phase (an Application Insights dependency of type `InProc`
    /// named `train.<phase>`) and records `fluxops.trainer.phase.duration` when the returned
    /// guard is dropped. For synchronous code: hold the guard for the phase's extent.
    pub fn trainer_phase(&self, phase: TrainerPhase) -> TrainerPhaseGuard {
        let name = format!("train.{}", phase.as_str());
        let span = tracing::info_span!(
            "trainer.phase",
            otel.name = name.as_str(),
            otel.status_code = Empty,
            phase = phase.as_str(),
        );
        TrainerPhaseGuard {
            phase,
            started: Instant::now(),
            metrics: self.clone(),
            _span: span.entered(),
        }
    }

    /// Records the holdout accuracy of a freshly trained model, between 0 and 1.
    pub fn record_trainer_accuracy(&self, accuracy: f64) {
        if let Some(instruments) = &self.instruments {
            instruments.trainer_accuracy.record(accuracy, &[]);
        }
    }
}

/// A trainer phase in progress; see [`Metrics::trainer_phase`].
#[derive(Debug)]
#[must_use = "the phase ends when the guard is dropped"]
pub struct TrainerPhaseGuard {
    phase: TrainerPhase,
    started: Instant,
    metrics: Metrics,
    _span: EnteredSpan,
}

impl Drop for TrainerPhaseGuard {
    fn drop(&mut self) {
        if let Some(instruments) = &self.metrics.instruments {
            instruments.trainer_phase_duration.record(
                self.started.elapsed().as_secs_f64(),
                &[KeyValue::new("phase", self.phase.as_str())],
            );
        }
    }
}
