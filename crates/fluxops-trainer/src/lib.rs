//! The FluxOps trainer: data -> smartcore random forest -> verified, versioned model artifact.
//!
//! [`Dataset`] reads a CSV file (or makes the reference synthetic set), [`train`] splits it
//! (stratified, seeded), fits several smartcore forests in parallel and merges their trees,
//! compiles them into `fluxops-inference`'s format, checks tree by tree and forest by forest that
//! the compiled form predicts exactly what smartcore predicts on every test row, and evaluates the
//! merged forest. [`publish`] writes the artifact and its metrics into a `fluxops-store` registry.
//! The binary `fluxops-train` wraps all of this in a command line.
//!
//! ```
//! use fluxops_telemetry::Metrics;
//! use fluxops_trainer::{Dataset, Silent, TrainOptions, train};
//!
//! let data = Dataset::synthetic(200, 10, 7);
//! let options = TrainOptions { n_trees: 8, ..TrainOptions::default() };
//! let outcome = train(&data, &options, &Silent, &Metrics::default())?;
//! assert!(outcome.report.evaluation.accuracy > 0.8);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod data;
mod error;
mod report;
mod smartcore_forest;
mod train;

pub use data::Dataset;
pub use error::{DataError, TrainError};
pub use report::render_report;
pub use train::{
    MetricsReport, PhaseTimings, Progress, Silent, TrainOptions, TrainOutcome, stratified_split,
    train,
};

/// Writes a run's artifact and metrics as a new version in `registry` and makes it `latest`.
pub async fn publish(
    outcome: &TrainOutcome,
    registry: &fluxops_store::Registry,
) -> fluxops_store::Result<fluxops_store::Latest> {
    let metrics_json = serde_json::to_vec_pretty(&outcome.report)
        .expect("a training report is plain data with string keys");
    registry
        .publish(
            &outcome.report.name,
            &outcome.report.version,
            outcome.artifact.to_json(),
            metrics_json,
        )
        .await
}
