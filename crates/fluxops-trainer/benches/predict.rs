//! Prediction speed of the reference model: the forest `fluxops-train --synthetic 1000` makes
//! (100 trees, max depth 10, 10 features, seed 42), loaded from its artifact exactly as the
//! handler loads it.
//!
//! `distribution_leaves` runs the same trees with each one-hot leaf turned into a class
//! distribution, as scikit-learn forests have: the general vector-leaf path instead of vote
//! counting.
//!
//! `load_artifact` is the model's share of a cold start: the artifact's bytes to a `Model` ready to
//! predict (limits census, parse, digest check, compile), as the handler does on start-up.
//!
//! Run with `cargo bench -p fluxops-trainer --bench predict`.

use std::sync::LazyLock;

use divan::{Bencher, black_box};
use fluxops_inference::{BatchPrediction, Model, ModelArtifact, ModelLimits, NodeSpec, Prediction};
use fluxops_trainer::{Dataset, Phases, TaskKind, TrainOptions, train};
use ndarray::Array2;

static ARTIFACT: LazyLock<ModelArtifact> = LazyLock::new(|| {
    let data = Dataset::synthetic(1000, 10, 42, TaskKind::Classification);
    train(&data, &TrainOptions::default(), &mut Phases::default())
        .expect("reference model trains")
        .into_artifact()
});

static MODEL: LazyLock<Model> = LazyLock::new(|| load(&ARTIFACT));

static DISTRIBUTION_MODEL: LazyLock<Model> = LazyLock::new(|| {
    let mut artifact = ARTIFACT.clone();
    for node in artifact
        .ensemble
        .trees
        .iter_mut()
        .flat_map(|tree| &mut tree.nodes)
    {
        if let NodeSpec::Leaf { values } = node {
            // [0, 1] becomes [0.1, 0.9]: still a distribution, no longer a vote.
            for value in values.iter_mut() {
                *value = 0.1 + 0.8 * *value;
            }
        }
    }
    load(&ModelArtifact::new(
        artifact.metadata,
        artifact.schema,
        artifact.ensemble,
    ))
});

fn load(artifact: &ModelArtifact) -> Model {
    Model::from_json(&artifact.to_json(), &ModelLimits::default()).expect("the model loads")
}

/// Rows the model has not seen (another seed).
fn unseen_rows(n_rows: usize) -> Array2<f64> {
    Dataset::synthetic(n_rows, 10, 7, TaskKind::Classification).features
}

/// Predicts rows one at a time, cycling through 1024 unseen ones.
fn bench_single_row(bencher: Bencher, model: &Model) {
    let rows = unseen_rows(1024);
    let mut row_idx = 0;
    bencher.bench_local(|| {
        row_idx = (row_idx + 1) % rows.nrows();
        let row = rows.row(row_idx);
        model
            .predictor()
            .predict_one(black_box(row.as_slice().unwrap_or_default()))
            .map(|prediction| match prediction {
                Prediction::Class(class) => class.class_index,
                Prediction::Values(values) => values.len(),
            })
    });
}

/// Predicts `n_rows` unseen rows as one batch on `n_threads` threads.
fn bench_batch(bencher: Bencher, model: &Model, n_rows: usize, n_threads: usize) {
    let rows = unseen_rows(n_rows);
    bencher
        .counter(divan::counter::ItemsCount::new(n_rows))
        .bench_local(|| {
            model
                .predictor()
                .predict_batch_on_threads(black_box(rows.view()), n_threads)
                .map(|batch| match batch {
                    BatchPrediction::Classes(classes) => classes.class_indices.len(),
                    BatchPrediction::Values(values) => values.nrows(),
                })
        });
}

#[divan::bench]
fn single_row(bencher: Bencher) {
    bench_single_row(bencher, &MODEL);
}

#[divan::bench(args = [1_000, 10_000])]
fn batch(bencher: Bencher, n_rows: usize) {
    bench_batch(bencher, &MODEL, n_rows, 1);
}

#[divan::bench(args = [10_000, 100_000])]
fn batch_on_all_cores(bencher: Bencher, n_rows: usize) {
    let n_threads = std::thread::available_parallelism().map_or(1, usize::from);
    bench_batch(bencher, &MODEL, n_rows, n_threads);
}

/// The artifact's bytes to a model ready to predict.
#[divan::bench]
fn load_artifact(bencher: Bencher) {
    let bytes = ARTIFACT.to_json();
    bencher.bench(|| Model::from_json(black_box(&bytes), &ModelLimits::default()));
}

mod distribution_leaves {
    use super::*;

    #[divan::bench]
    fn single_row(bencher: Bencher) {
        bench_single_row(bencher, &DISTRIBUTION_MODEL);
    }

    #[divan::bench(args = [10_000])]
    fn batch(bencher: Bencher, n_rows: usize) {
        bench_batch(bencher, &DISTRIBUTION_MODEL, n_rows, 1);
    }
}

fn main() {
    LazyLock::force(&MODEL);
    LazyLock::force(&DISTRIBUTION_MODEL);
    divan::main();
}
