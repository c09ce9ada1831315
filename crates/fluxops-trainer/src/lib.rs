//! The FluxOps trainer: data -> smartcore random forest -> verified, versioned model artifact.
//!
//! [`Dataset`] reads a CSV file (or makes the reference synthetic set) within its caps, with
//! integer class labels or, for a regression, numbers as its target. [`train`] splits it
//! (stratified by class for a classifier), fits several smartcore forests in parallel and merges
//! their trees, compiles them into `fluxops-inference`'s format, checks tree by tree and shard by
//! shard that the compiled form predicts exactly what smartcore predicts on every test row (the
//! same class, or the same value to the last bit), and evaluates the merged forest as the handler
//! will load it, warning when the handler's default limits would refuse it. [`Phases`] tracks
//! each phase of a run once: progress, telemetry span and timing. [`publish`] writes the artifact
//! and its metrics into a `fluxops-store` registry. The binary `fluxops-train` wraps all of this
//! in a command line.
//!
//! ```
//! use fluxops_inference::Evaluation;
//! use fluxops_trainer::{Dataset, Phases, TaskKind, TrainOptions, train};
//!
//! let data = Dataset::synthetic(200, 10, 7, TaskKind::Classification);
//! let options = TrainOptions { n_trees: 8, ..TrainOptions::default() };
//! let outcome = train(&data, &options, &mut Phases::default())?;
//! let Evaluation::Classification(evaluation) = &outcome.report().evaluation else {
//!     unreachable!("class labels make a classifier");
//! };
//! assert!(evaluation.accuracy > 0.8);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod data;
mod error;
mod phases;
mod report;
mod smartcore;
mod split;
mod train;

pub use data::{DEFAULT_MAX_DATA_BYTES, Dataset, MAX_CLASSES, MAX_FEATURES, Targets, TaskKind};
pub use error::{DataError, TrainError};
pub use phases::{PhaseTimings, Phases, Progress, Silent};
pub use report::render_report;
pub use train::{MetricsReport, TrainOptions, TrainOutcome, train};

/// Writes a run's artifact and metrics as a new version in `registry` and makes it `latest`:
/// the pointer moves only after both files are written.
pub async fn publish(
    outcome: &TrainOutcome,
    registry: &fluxops_store::Registry,
) -> fluxops_store::Result<fluxops_store::Latest> {
    let report = outcome.report();
    registry
        .publish(
            &report.name,
            &report.version,
            outcome.model_json().to_vec(),
            outcome.metrics_json(),
        )
        .await
}
