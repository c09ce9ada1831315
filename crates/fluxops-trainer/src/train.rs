//! The training run: split, fit shards in parallel, compile, check, evaluate, build the artifact.

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use fluxops_inference::{
    Algorithm, BatchPrediction, ClassLabels, ClassificationEvaluation, EnsembleSpec, Evaluation,
    Model, ModelArtifact, ModelLimits, ModelMetadata, Origin, Schema, Task, TrainingData,
};
use ndarray::{Array1, Array2, Axis};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use smartcore::ensemble::random_forest_classifier::RandomForestClassifierParameters;
use time::OffsetDateTime;
use time::macros::format_description;

use fluxops_telemetry::{Metrics, TrainerPhase};

use crate::data::Dataset;
use crate::error::TrainError;
use crate::smartcore_forest::{self, CompiledShard};

/// How to train: the forest's hyper-parameters and the split.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    /// Model name in the registry.
    pub name: String,
    /// Number of trees in the final forest.
    pub n_trees: u16,
    /// Maximum depth of a tree (`None`: unlimited).
    pub max_depth: Option<u16>,
    /// Minimum rows a node needs to be split.
    pub min_samples_split: usize,
    /// Share of rows held out for evaluation, in (0, 1).
    pub test_size: f64,
    /// Seed of the split and of every tree.
    pub seed: u64,
    /// Forests fitted independently (in parallel) and merged; fixed so a seed gives the same model
    /// on any machine, whatever its number of cores.
    pub n_shards: usize,
    /// Threads to fit shards on.
    pub n_threads: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            name: "fluxops".to_owned(),
            n_trees: 100,
            max_depth: Some(10),
            min_samples_split: 2,
            test_size: 0.2,
            seed: 42,
            n_shards: 4,
            n_threads: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// What a training run produced.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The verified artifact.
    pub artifact: ModelArtifact,
    /// The run's report, written as `metrics.json`.
    pub report: MetricsReport,
}

/// The `metrics.json` document: evaluation plus how the run went.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsReport {
    /// Model name.
    pub name: String,
    /// Model version.
    pub version: String,
    /// Evaluation on the test split.
    pub evaluation: ClassificationEvaluation,
    /// Training data provenance.
    pub training_data: TrainingData,
    /// Rows on which the compiled forest was checked against smartcore (every test row).
    pub rows_checked_against_smartcore: usize,
    /// Wall-clock time of each phase, in milliseconds.
    pub phase_millis: PhaseTimings,
}

/// Wall-clock time of each training phase, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PhaseTimings {
    /// Stratified split.
    pub split: u128,
    /// Fitting every shard (in parallel).
    pub fit: u128,
    /// Compiling and checking against smartcore.
    pub compile: u128,
    /// Evaluating on the test split.
    pub evaluate: u128,
}

/// Progress callbacks, so the binary can draw a bar without the library knowing about terminals.
pub trait Progress: Sync {
    /// A phase started.
    fn phase(&self, name: &str);
    /// One shard of `n_shards` finished fitting.
    fn shard_fitted(&self, n_shards: usize);
}

/// Progress that reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn phase(&self, _name: &str) {}
    fn shard_fitted(&self, _n_shards: usize) {}
}

/// Trains, compiles, checks and evaluates a forest on `data`.
///
/// The artifact is returned only if the compiled forest agrees with smartcore on every test row,
/// tree by tree and forest by forest.
///
/// Each phase runs in a `trainer.phase` span and records its duration in `metrics` (a no-op
/// [`Metrics::default`] when telemetry is off).
pub fn train(
    data: &Dataset,
    options: &TrainOptions,
    progress: &dyn Progress,
    metrics: &Metrics,
) -> Result<TrainOutcome, TrainError> {
    check_options(options)?;
    let mut timings = PhaseTimings::default();

    progress.phase("split");
    let phase = metrics.trainer_phase(TrainerPhase::Split);
    let started = Instant::now();
    let classes = sorted_classes(&data.labels);
    let class_of = |label: &i64| classes.binary_search(label).unwrap_or_default();
    let class_indices: Vec<usize> = data.labels.iter().map(class_of).collect();
    let (train_rows, test_rows) = stratified_split(&class_indices, &classes, options)?;
    let x_train = data.features.select(Axis(0), &train_rows);
    let x_test = data.features.select(Axis(0), &test_rows);
    // Labels were checked to fit in i32 when read.
    let y_train: Array1<i32> = train_rows
        .iter()
        .map(|&row| i32::try_from(data.labels[row]).unwrap_or_default())
        .collect();
    let y_test: Vec<usize> = test_rows.iter().map(|&row| class_indices[row]).collect();
    timings.split = started.elapsed().as_millis();
    drop(phase);

    progress.phase("fit");
    let phase = metrics.trainer_phase(TrainerPhase::Fit);
    let started = Instant::now();
    let shards = fit_shards(&x_train, &y_train, options, progress)?;
    timings.fit = started.elapsed().as_millis();
    drop(phase);

    progress.phase("compile");
    let phase = metrics.trainer_phase(TrainerPhase::Compile);
    let started = Instant::now();
    let mut trees = Vec::with_capacity(usize::from(options.n_trees));
    let mut rows_checked = 0;
    for (shard_idx, shard) in shards.iter().enumerate() {
        let class_labels: Vec<i64> = shard
            .classes
            .iter()
            .map(|&label| i64::from(label))
            .collect();
        if class_labels != classes {
            return Err(TrainError::Disagreement {
                what: format!("shard {shard_idx} classes {class_labels:?} vs data {classes:?}"),
            });
        }
        rows_checked = smartcore_forest::check_agreement(shard_idx, shard, &x_test)?;
        trees.extend(shard.trees.iter().cloned());
    }
    let ensemble = EnsembleSpec::voting(data.features.ncols(), classes.len(), trees);
    timings.compile = started.elapsed().as_millis();
    drop(phase);

    progress.phase("evaluate");
    let phase = metrics.trainer_phase(TrainerPhase::Evaluate);
    let started = Instant::now();
    let created_at = OffsetDateTime::now_utc();
    let ensemble_sha256 = fluxops_inference::ensemble_sha256(&ensemble);
    let version = version_name(created_at, &ensemble_sha256);
    let training_data = TrainingData {
        source: data.source.clone(),
        sha256: data.sha256.clone(),
        n_rows: data.n_rows(),
        n_train_rows: train_rows.len(),
        n_test_rows: test_rows.len(),
        test_size: options.test_size,
    };
    let metadata = ModelMetadata {
        name: options.name.clone(),
        version: version.clone(),
        created_at,
        origin: Origin::Trained {
            trainer_version: env!("CARGO_PKG_VERSION").to_owned(),
        },
        algorithm: Algorithm {
            name: "random_forest_classifier".to_owned(),
            library: "smartcore 0.7.0".to_owned(),
            parameters: serde_json::Map::from_iter([
                ("n_trees".to_owned(), options.n_trees.into()),
                ("max_depth".to_owned(), options.max_depth.into()),
                (
                    "min_samples_split".to_owned(),
                    options.min_samples_split.into(),
                ),
                ("min_samples_leaf".to_owned(), 1.into()),
                (
                    "max_features".to_owned(),
                    max_features(data.features.ncols()).into(),
                ),
                ("seed".to_owned(), options.seed.into()),
                ("n_shards".to_owned(), shards.len().into()),
            ]),
        },
        training_data: Some(training_data.clone()),
        evaluation: None,
    };
    let schema = Schema {
        feature_names: data.feature_names.clone(),
        task: Task::Classifier {
            labels: ClassLabels::Integers(classes.clone()),
        },
    };
    // The digest is taken once; metadata (evaluation included) is not part of it.
    let mut artifact = ModelArtifact {
        format_version: fluxops_inference::FORMAT_VERSION,
        metadata,
        schema,
        ensemble_sha256,
        ensemble,
    };
    // Evaluate the merged forest exactly as the handler will run it: through the artifact's
    // checks (the trainer warns about size rather than refusing, so no limits here).
    let model =
        Model::from_artifact(artifact.clone(), &ModelLimits::unlimited()).map_err(|error| {
            TrainError::Disagreement {
                what: format!("the merged forest does not load: {error}"),
            }
        })?;
    let predicted = model
        .predictor()
        .predict_batch(x_test.view())
        .map_err(|error| TrainError::Disagreement {
            what: format!("the merged forest cannot predict the test split: {error}"),
        })?;
    let BatchPrediction::Classes(predicted) = predicted else {
        return Err(TrainError::Disagreement {
            what: "the merged forest is not a classifier".to_owned(),
        });
    };
    let evaluation =
        ClassificationEvaluation::from_class_indices(&classes, &y_test, &predicted.class_indices);
    artifact.metadata.evaluation = Some(Evaluation::Classification(evaluation.clone()));
    metrics.record_trainer_accuracy(evaluation.accuracy);
    timings.evaluate = started.elapsed().as_millis();
    drop(phase);

    Ok(TrainOutcome {
        artifact,
        report: MetricsReport {
            name: options.name.clone(),
            version,
            evaluation,
            training_data,
            rows_checked_against_smartcore: rows_checked,
            phase_millis: timings,
        },
    })
}

fn check_options(options: &TrainOptions) -> Result<(), TrainError> {
    if !(options.test_size > 0.0 && options.test_size < 1.0) {
        return Err(TrainError::Parameter(format!(
            "--test-size must be between 0 and 1 (exclusive), got {}",
            options.test_size
        )));
    }
    if options.n_trees == 0 {
        return Err(TrainError::Parameter(
            "--n-trees must be at least 1".to_owned(),
        ));
    }
    if options.max_depth == Some(0) {
        return Err(TrainError::Parameter(
            "--max-depth must be at least 1".to_owned(),
        ));
    }
    if options.min_samples_split < 2 {
        return Err(TrainError::Parameter(
            "--min-samples-split must be at least 2".to_owned(),
        ));
    }
    if options.n_shards == 0 || options.n_threads == 0 {
        return Err(TrainError::Parameter(
            "--shards and --threads must be at least 1".to_owned(),
        ));
    }
    Ok(())
}

fn sorted_classes(labels: &[i64]) -> Vec<i64> {
    let mut classes = labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    classes
}

/// smartcore's default number of features tried per split: `floor(sqrt(n_features))`.
fn max_features(n_features: usize) -> usize {
    (n_features as f64).sqrt().floor().max(1.0) as usize
}

/// Splits row indices per class, so both sides keep the class shares; seeded.
///
/// Each class contributes `round(rows * test_size)` rows to the test side, and must leave at
/// least one row on each side.
pub fn stratified_split(
    class_indices: &[usize],
    classes: &[i64],
    options: &TrainOptions,
) -> Result<(Vec<usize>, Vec<usize>), TrainError> {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut train_rows = Vec::new();
    let mut test_rows = Vec::new();
    for (class, &label) in classes.iter().enumerate() {
        let mut rows: Vec<usize> = (0..class_indices.len())
            .filter(|&row| class_indices[row] == class)
            .collect();
        let n_test = (rows.len() as f64 * options.test_size).round() as usize;
        if n_test == 0 || n_test >= rows.len() {
            return Err(TrainError::TooFewRows {
                label,
                rows: rows.len(),
                test_size: options.test_size,
            });
        }
        rows.shuffle(&mut rng);
        test_rows.extend_from_slice(&rows[..n_test]);
        train_rows.extend_from_slice(&rows[n_test..]);
    }
    train_rows.sort_unstable();
    test_rows.sort_unstable();
    Ok((train_rows, test_rows))
}

/// Fits `n_shards` forests whose tree counts add up to `n_trees`, on `n_threads` threads.
///
/// Shard `i` is seeded with `seed + i * n_trees`: smartcore seeds tree `t` of a forest with
/// `forest seed + t`, so no two trees of the merged forest share a seed.
fn fit_shards(
    x_train: &Array2<f64>,
    y_train: &Array1<i32>,
    options: &TrainOptions,
    progress: &dyn Progress,
) -> Result<Vec<CompiledShard>, TrainError> {
    let n_trees = usize::from(options.n_trees);
    let n_shards = options.n_shards.min(n_trees);
    let parameters: Vec<RandomForestClassifierParameters> = (0..n_shards)
        .map(|shard| {
            let shard_trees = n_trees / n_shards + usize::from(shard < n_trees % n_shards);
            let mut parameters = RandomForestClassifierParameters::default()
                .with_n_trees(u16::try_from(shard_trees).unwrap_or(u16::MAX))
                .with_min_samples_split(options.min_samples_split)
                .with_seed(options.seed.wrapping_add((shard * n_trees) as u64));
            if let Some(max_depth) = options.max_depth {
                parameters = parameters.with_max_depth(max_depth);
            }
            parameters
        })
        .collect();
    let next_shard = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<CompiledShard, TrainError>>>> =
        Mutex::new((0..n_shards).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..options.n_threads.min(n_shards) {
            scope.spawn(|| {
                loop {
                    let shard = next_shard.fetch_add(1, Ordering::Relaxed);
                    let Some(shard_parameters) = parameters.get(shard) else {
                        break;
                    };
                    // A panic inside smartcore becomes this shard's error, not a crash.
                    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        smartcore_forest::fit(x_train, y_train, shard_parameters.clone())
                            .and_then(|forest| smartcore_forest::compile(forest, x_train.ncols()))
                    }))
                    .unwrap_or_else(|panic| {
                        let message = panic
                            .downcast_ref::<&str>()
                            .map(|text| (*text).to_owned())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        Err(TrainError::Fit(format!("smartcore panicked: {message}")))
                    });
                    progress.shard_fitted(n_shards);
                    if let Ok(mut results) = results.lock() {
                        results[shard] = Some(result);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|result| {
            // Every shard index below n_shards is taken by exactly one thread and stored.
            result.unwrap_or_else(|| Err(TrainError::Fit("a shard was not fitted".to_owned())))
        })
        .collect()
}

/// `20261127T220000Z-1a2b3c4d`: sorts by time, and the digest prefix tells same-second runs apart.
fn version_name(created_at: OffsetDateTime, ensemble_sha256: &str) -> String {
    let stamp = created_at
        .format(format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_default();
    format!(
        "{stamp}-{}",
        &ensemble_sha256[..8.min(ensemble_sha256.len())]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_split_keeps_class_shares_and_is_seeded() {
        // 90 rows of class 0, 10 of class 1.
        let class_indices: Vec<usize> = (0..100).map(|row| usize::from(row % 10 == 0)).collect();
        let options = TrainOptions::default();
        let (train_rows, test_rows) = stratified_split(&class_indices, &[0, 1], &options).unwrap();
        assert_eq!((train_rows.len(), test_rows.len()), (80, 20));
        let minority_in_test = test_rows
            .iter()
            .filter(|&&row| class_indices[row] == 1)
            .count();
        assert_eq!(minority_in_test, 2);
        let mut all: Vec<usize> = train_rows.iter().chain(&test_rows).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(
            stratified_split(&class_indices, &[0, 1], &options)
                .unwrap()
                .1,
            test_rows
        );
        let other_seed = TrainOptions { seed: 7, ..options };
        assert_ne!(
            stratified_split(&class_indices, &[0, 1], &other_seed)
                .unwrap()
                .1,
            test_rows
        );
    }

    #[test]
    fn a_class_too_small_to_split_is_named() {
        let class_indices = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let error =
            stratified_split(&class_indices, &[4, 9], &TrainOptions::default()).unwrap_err();
        assert!(
            matches!(
                error,
                TrainError::TooFewRows {
                    label: 9,
                    rows: 1,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_model_whatever_the_thread_count() {
        let data = Dataset::synthetic(300, 10, 1);
        let options = TrainOptions {
            n_trees: 12,
            ..TrainOptions::default()
        };
        let two_threads = train(
            &data,
            &TrainOptions {
                n_threads: 2,
                ..options.clone()
            },
            &Silent,
            &Metrics::default(),
        )
        .unwrap();
        let one_thread = train(
            &data,
            &TrainOptions {
                n_threads: 1,
                ..options
            },
            &Silent,
            &Metrics::default(),
        )
        .unwrap();
        assert_eq!(two_threads.artifact.ensemble, one_thread.artifact.ensemble);
        assert_eq!(two_threads.artifact.ensemble.trees.len(), 12);
    }

    #[test]
    fn out_of_range_parameters_are_refused() {
        let data = Dataset::synthetic(100, 10, 1);
        for options in [
            TrainOptions {
                test_size: 1.0,
                ..TrainOptions::default()
            },
            TrainOptions {
                n_trees: 0,
                ..TrainOptions::default()
            },
            TrainOptions {
                min_samples_split: 1,
                ..TrainOptions::default()
            },
        ] {
            assert!(matches!(
                train(&data, &options, &Silent, &Metrics::default()),
                Err(TrainError::Parameter(_))
            ));
        }
    }
}
