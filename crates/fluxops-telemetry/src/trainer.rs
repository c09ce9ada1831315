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

/// A phase of a trainer run: the one vocabulary of the trainer's progress display, telemetry
/// spans, duration metric and `metrics.json` timings, in the order a run goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrainerPhase {
    /// Reading and parsing the data set (or generating the synthetic one), within its caps.
    Load,
    /// Splitting the rows into training and test sets (stratified by class for a classifier).
    Split,
    /// Fitting the smartcore forests of every shard, in parallel.
    Fit,
    /// Reading each fitted forest's trees into the inference core's tree form.
    Compile,
    /// Checking, tree by tree and shard by shard, that the compiled trees predict exactly what
    /// smartcore predicts on every test row.
    Check,
    /// Assembling the merged forest into an artifact, loading it as the handler would, and
    /// evaluating it on the test split.
    Evaluate,
    /// Writing the new version into the output registry (`--out`).
    Write,
    /// Publishing the new version to another registry (`--publish`) with the run's log.
    Publish,
}

impl TrainerPhase {
    /// The phase's name: `load`, `split`, `fit`, `compile`, `check`, `evaluate`, `write` or
    /// `publish`.
    pub fn name(self) -> &'static str {
        match self {
            TrainerPhase::Load => "load",
            TrainerPhase::Split => "split",
            TrainerPhase::Fit => "fit",
            TrainerPhase::Compile => "compile",
            TrainerPhase::Check => "check",
            TrainerPhase::Evaluate => "evaluate",
            TrainerPhase::Write => "write",
            TrainerPhase::Publish => "publish",
        }
    }
}

impl Metrics {
    /// Enters the span of a trainer phase (an Application Insights dependency of type `InProc`
    /// named `train.<phase>`) and records `fluxops.trainer.phase.duration` when the returned
    /// guard is dropped. For synchronous code: hold the guard for the phase's extent.
    pub fn trainer_phase(&self, phase: TrainerPhase) -> TrainerPhaseGuard {
        let name = format!("train.{}", phase.name());
        let span = tracing::info_span!(
            "trainer.phase",
            otel.name = name.as_str(),
            otel.status_code = Empty,
            phase = phase.name(),
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
                &[KeyValue::new("phase", self.phase.name())],
            );
        }
    }
}
