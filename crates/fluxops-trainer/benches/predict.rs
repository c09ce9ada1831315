//! Prediction speed of the reference model: the forest `fluxops-train --synthetic 1000` makes
//! (100 trees, max depth 10, 10 features, seed 42), loaded from its artifact exactly as the
//! handler loads it.
//!
//! Run with `cargo bench -p fluxops-trainer --bench predict`.

use std::sync::LazyLock;

use divan::{Bencher, black_box};
use fluxops_inference::{BatchPrediction, Model, ModelLimits, Prediction};
use fluxops_telemetry::Metrics;
use fluxops_trainer::{Dataset, Silent, TrainOptions, train};
use ndarray::Array2;

static MODEL: LazyLock<Model> = LazyLock::new(|| {
    let data = Dataset::synthetic(1000, 10, 42);
    let outcome = train(
        &data,
        &TrainOptions::default(),
        &Silent,
        &Metrics::default(),
    )
    .expect("reference model trains");
    Model::from_json(&outcome.artifact.to_json(), &ModelLimits::default())
        .expect("reference model loads")
});

/// Rows the model has not seen (another seed).
fn unseen_rows(n_rows: usize) -> Array2<f64> {
    Dataset::synthetic(n_rows, 10, 7).features
}

#[divan::bench]
fn single_row(bencher: Bencher) {
    let rows = unseen_rows(1024);
    let mut row_idx = 0;
    bencher.bench_local(|| {
        row_idx = (row_idx + 1) % rows.nrows();
        let row = rows.row(row_idx);
        MODEL
            .predictor()
            .predict_one(black_box(row.as_slice().unwrap_or_default()))
            .map(|prediction| match prediction {
                Prediction::Class(class) => class.class_index,
                Prediction::Values(values) => values.len(),
            })
    });
}

#[divan::bench(args = [1_000, 10_000])]
fn batch(bencher: Bencher, n_rows: usize) {
    let rows = unseen_rows(n_rows);
    bencher
        .counter(divan::counter::ItemsCount::new(n_rows))
        .bench_local(|| {
            MODEL
                .predictor()
                .predict_batch(black_box(rows.view()))
                .map(|batch| predicted_rows(&batch))
        });
}

#[divan::bench(args = [10_000, 100_000])]
fn batch_on_all_cores(bencher: Bencher, n_rows: usize) {
    let rows = unseen_rows(n_rows);
    let n_threads = std::thread::available_parallelism().map_or(1, usize::from);
    bencher
        .counter(divan::counter::ItemsCount::new(n_rows))
        .bench_local(|| {
            MODEL
                .predictor()
                .predict_batch_on_threads(black_box(rows.view()), n_threads)
                .map(|batch| predicted_rows(&batch))
        });
}

/// Rows in a batch's answer, so that the answer is used.
fn predicted_rows(batch: &BatchPrediction) -> usize {
    match batch {
        BatchPrediction::Classes(classes) => classes.class_indices.len(),
        BatchPrediction::Values(values) => values.nrows(),
    }
}

fn main() {
    LazyLock::force(&MODEL);
    divan::main();
}
