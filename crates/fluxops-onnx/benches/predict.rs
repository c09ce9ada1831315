//! Prediction speed of an imported model, in process: the 100-tree, depth-10 scikit-learn forest
//! `rf_bench` (a fixture of `scripts/make-onnx-fixtures.py`), imported as `fluxops-import` does
//! and loaded as the handler loads it, on the fixture's 280 recorded rows.
//!
//! `scripts/bench-onnxruntime.py` measures onnxruntime on the same model and rows; run both with
//! `scripts/bench-onnx.sh`.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use divan::{Bencher, black_box};
use fluxops_inference::{BatchPrediction, Model, ModelLimits, Prediction};
use fluxops_onnx::{ImportOptions, import};
use ndarray::Array2;

/// The fixtures' folder.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

static MODEL: LazyLock<Model> = LazyLock::new(|| {
    let bytes = std::fs::read(fixtures().join("rf_bench.onnx")).expect("rf_bench.onnx");
    let imported = import(&bytes, &ImportOptions::new("rf_bench", "rf_bench.onnx"))
        .expect("the benchmark's model imports");
    Model::from_json(&imported.model_json, &ModelLimits::default()).expect("and loads")
});

/// The fixture's recorded rows, in order (the benchmark's model has no missing values).
static ROWS: LazyLock<Vec<Vec<f64>>> = LazyLock::new(|| {
    let text = std::fs::read_to_string(fixtures().join("rf_bench.json")).expect("rf_bench.json");
    let record: serde_json::Value = serde_json::from_str(&text).expect("the record parses");
    record["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("a row")
                .iter()
                .map(|value| value.as_f64().expect("a finite value"))
                .collect()
        })
        .collect()
});

/// `n_rows` rows: the recorded ones, repeated in order (what the onnxruntime script does).
fn batch_of(n_rows: usize) -> Array2<f64> {
    let n_features = ROWS[0].len();
    Array2::from_shape_fn((n_rows, n_features), |(row, feature)| {
        ROWS[row % ROWS.len()][feature]
    })
}

fn main() {
    divan::main();
}

/// One row at a time, cycling through the recorded rows.
#[divan::bench]
fn single_row(bencher: Bencher) {
    let predictor = MODEL.predictor();
    let mut row_idx = 0;
    bencher.bench_local(|| {
        row_idx = (row_idx + 1) % ROWS.len();
        match predictor.predict_one(black_box(&ROWS[row_idx])) {
            Ok(Prediction::Class(class)) => class.class_index,
            _ => usize::MAX,
        }
    });
}

fn bench_batch(bencher: Bencher, n_rows: usize, n_threads: usize) {
    let rows = batch_of(n_rows);
    let predictor = MODEL.predictor();
    bencher
        .counter(divan::counter::ItemsCount::new(n_rows))
        .bench_local(|| {
            match predictor.predict_batch_on_threads(black_box(rows.view()), n_threads) {
                Ok(BatchPrediction::Classes(classes)) => classes.class_indices.len(),
                _ => usize::MAX,
            }
        });
}

/// A batch on the calling thread.
#[divan::bench(args = [1_000, 10_000])]
fn batch(bencher: Bencher, n_rows: usize) {
    bench_batch(bencher, n_rows, 1);
}

/// A batch split over every core.
#[divan::bench(args = [10_000, 100_000])]
fn batch_on_all_cores(bencher: Bencher, n_rows: usize) {
    let n_threads = std::thread::available_parallelism().map_or(1, usize::from);
    bench_batch(bencher, n_rows, n_threads);
}
