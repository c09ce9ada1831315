//! Training speed: the whole `train` call (split, parallel fit, compile, check against
//! smartcore, evaluate) on the reference 1000x10 data, and on 100000x20 data both as shipped
//! (4 shards on all cores) and as the single-threaded baseline (one smartcore forest, one thread).
//!
//! Run with `cargo bench -p fluxops-trainer --bench fit`; the 100000x20 cases take minutes, so
//! `cargo bench -p fluxops-trainer --bench fit -- 1000x10` runs only the quick one.

use divan::Bencher;
use fluxops_trainer::{Dataset, Phases, TaskKind, TrainOptions, train};

/// Times `train` on `n_rows x n_features` synthetic data with `options`.
fn bench_train(bencher: Bencher, n_rows: usize, n_features: usize, options: TrainOptions) {
    let data = Dataset::synthetic(n_rows, n_features, 42, TaskKind::Classification);
    bencher.bench_local(|| {
        train(&data, &options, &mut Phases::default()).map(|outcome| outcome.report().version.len())
    });
}

#[divan::bench(sample_count = 10)]
fn fit_1000x10(bencher: Bencher) {
    bench_train(bencher, 1000, 10, TrainOptions::default());
}

#[divan::bench(sample_count = 1, sample_size = 1)]
fn fit_100000x20_sharded(bencher: Bencher) {
    bench_train(bencher, 100_000, 20, TrainOptions::default());
}

#[divan::bench(sample_count = 1, sample_size = 1)]
fn fit_100000x20_single_thread_baseline(bencher: Bencher) {
    let options = TrainOptions {
        n_shards: 1,
        n_threads: 1,
        ..TrainOptions::default()
    };
    bench_train(bencher, 100_000, 20, options);
}

fn main() {
    divan::main();
}
