//! The training run: split, fit shards in parallel, compile, check, evaluate, build the artifact.

use fluxops_inference::{
    Algorithm, ArtifactError, BatchPrediction, ClassLabels, ClassificationEvaluation, EnsembleSpec,
    Evaluation, Model, ModelArtifact, ModelLimits, ModelMetadata, Origin, RegressionEvaluation,
    Schema, Task, TrainingData, TreeSpec,
};
use ndarray::Array1;
use serde::{Serialize, Serializer};
use time::OffsetDateTime;

use fluxops_telemetry::TrainerPhase;

use crate::data::{Dataset, Targets, TaskKind, class_labels};
use crate::error::TrainError;
use crate::phases::{PhaseTimings, Phases};
use crate::smartcore::{Classifier, Fit, Regressor, Shard, ShardPlan, in_parallel};
use crate::split::{Split, random_split, stratified_split};

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

/// What a training run produced: the verified artifact, its bytes as written, and the report.
#[derive(Debug)]
pub struct TrainOutcome {
    artifact: ModelArtifact,
    model_json: Vec<u8>,
    report: MetricsReport,
}

impl TrainOutcome {
    /// The verified artifact.
    pub fn artifact(&self) -> &ModelArtifact {
        &self.artifact
    }

    /// The artifact as `model.json` bytes: what publishing writes.
    pub fn model_json(&self) -> &[u8] {
        &self.model_json
    }

    /// The run's report, written as `metrics.json`.
    pub fn report(&self) -> &MetricsReport {
        &self.report
    }

    /// The report as `metrics.json` bytes.
    pub fn metrics_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.report)
            .expect("a training report is plain data with string keys")
    }

    /// The artifact, for a caller that keeps only the model.
    pub fn into_artifact(self) -> ModelArtifact {
        self.artifact
    }
}

/// The `metrics.json` document: evaluation plus how the run went.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsReport {
    /// Model name.
    pub name: String,
    /// Model version.
    pub version: String,
    /// What the model predicts.
    pub task: TaskKind,
    /// Evaluation on the test split: accuracy, per-class scores and the confusion matrix for a
    /// classifier, RMSE, MAE and R² for a regressor (written without a task tag).
    #[serde(serialize_with = "evaluation_fields")]
    pub evaluation: Evaluation,
    /// Training data provenance.
    pub training_data: TrainingData,
    /// Rows on which the compiled forest was checked against smartcore (every test row).
    pub rows_checked_against_smartcore: usize,
    /// Wall-clock time of each phase up to the evaluation, in milliseconds.
    pub phase_millis: PhaseTimings,
    /// Why a handler with its default limits would refuse the model, if it would.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The evaluation's own fields, as `metrics.json` has always had them: the task is its own field.
fn evaluation_fields<S: Serializer>(
    evaluation: &Evaluation,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match evaluation {
        Evaluation::Classification(classification) => classification.serialize(serializer),
        Evaluation::Regression(regression) => regression.serialize(serializer),
    }
}

/// Trains, compiles, checks and evaluates a forest on `data`: a classifier for class labels, a
/// regressor for values.
///
/// The artifact is returned only if the compiled forest agrees with smartcore on every test row,
/// tree by tree and shard by shard (the same class, or the same value to the last bit). Each
/// phase runs through `phases` (progress, telemetry span and timing).
///
/// A model beyond the handler's default limits ([`ModelLimits::default`]) is still returned,
/// with a warning in its report.
pub fn train(
    data: &Dataset,
    options: &TrainOptions,
    phases: &mut Phases<'_>,
) -> Result<TrainOutcome, TrainError> {
    check_options(options)?;
    match &data.targets {
        Targets::Classes(labels) => train_classifier(data, labels, options, phases),
        Targets::Values(values) => train_regressor(data, values, options, phases),
    }
}

fn train_classifier(
    data: &Dataset,
    labels: &[i64],
    options: &TrainOptions,
    phases: &mut Phases<'_>,
) -> Result<TrainOutcome, TrainError> {
    let (classes, class_indices, split) = phases.run(TrainerPhase::Split, || {
        let classes = class_labels(data, labels)?;
        // `classes` holds every label, so each is found.
        let class_of = |label: &i64| classes.binary_search(label).unwrap_or_default();
        let class_indices: Vec<usize> = labels.iter().map(class_of).collect();
        let split = Split::new(data, stratified_split(&class_indices, &classes, options)?);
        Ok::<_, TrainError>((classes, class_indices, split))
    })?;
    // Labels were checked to fit in i32 when read.
    let y_train: Array1<i32> = split
        .train_rows
        .iter()
        .map(|&row| i32::try_from(labels[row]).unwrap_or_default())
        .collect();
    let trees = fit_compile_check::<Classifier>(&split, &y_train, options, phases, |shard| {
        let shard_classes: Vec<i64> = shard.outputs().iter().map(|&label| label.into()).collect();
        (shard_classes == classes)
            .then_some(())
            .ok_or_else(|| format!("classes {shard_classes:?}, while the data has {classes:?}"))
    })?;
    let y_test: Vec<usize> = split
        .test_rows
        .iter()
        .map(|&row| class_indices[row])
        .collect();
    let assembly = Assembly {
        ensemble: EnsembleSpec::voting(data.features.ncols(), classes.len(), trees),
        task: Task::Classifier {
            labels: ClassLabels::Integers(classes.clone()),
        },
        algorithm: "random_forest_classifier",
    };
    evaluate(data, options, &split, assembly, phases, |predicted| {
        let BatchPrediction::Classes(predicted) = predicted else {
            return None;
        };
        let evaluation = ClassificationEvaluation::from_class_indices(
            &classes,
            &y_test,
            &predicted.class_indices,
        );
        Some(Evaluation::Classification(evaluation))
    })
}

fn train_regressor(
    data: &Dataset,
    values: &[f64],
    options: &TrainOptions,
    phases: &mut Phases<'_>,
) -> Result<TrainOutcome, TrainError> {
    let split = phases.run(TrainerPhase::Split, || {
        random_split(values.len(), options).map(|rows| Split::new(data, rows))
    })?;
    let targets_of = |rows: &[usize]| rows.iter().map(|&row| values[row]).collect::<Vec<f64>>();
    let y_train = Array1::from(targets_of(&split.train_rows));
    let trees = fit_compile_check::<Regressor>(&split, &y_train, options, phases, |_| Ok(()))?;
    let y_test = targets_of(&split.test_rows);
    let assembly = Assembly {
        ensemble: EnsembleSpec::averaging(data.features.ncols(), 1, trees),
        task: Task::Regressor {},
        algorithm: "random_forest_regressor",
    };
    evaluate(data, options, &split, assembly, phases, |predicted| {
        let BatchPrediction::Values(predicted) = predicted else {
            return None;
        };
        let predicted: Vec<f64> = predicted.column(0).to_vec();
        Some(Evaluation::Regression(RegressionEvaluation::from_values(
            &y_test, &predicted,
        )))
    })
}

/// Fits every shard (in parallel), compiles each shard's trees (in parallel), and checks every
/// shard against smartcore on the test rows; `check_shard` adds a check of the task's own.
/// Returns the trees of all shards, in shard order.
fn fit_compile_check<F: Fit>(
    split: &Split,
    targets: &Array1<F::Target>,
    options: &TrainOptions,
    phases: &mut Phases<'_>,
    check_shard: impl Fn(&Shard<F>) -> Result<(), String>,
) -> Result<Vec<TreeSpec>, TrainError> {
    let plans = shard_plans(options);
    let n_shards = plans.len();
    let progress = phases.progress();
    let forests = phases.run(TrainerPhase::Fit, || {
        in_parallel(plans, options.n_threads, smartcore_panicked, |plan| {
            let forest = F::fit_shard(&split.x_train, targets, &plan);
            progress.shard_fitted(n_shards);
            forest
        })
    })?;
    let n_features = split.x_train.ncols();
    let shards = phases.run(TrainerPhase::Compile, || {
        in_parallel(forests, options.n_threads, reading_panicked, |forest| {
            forest.compile(n_features)
        })
    })?;
    phases.run(TrainerPhase::Check, || {
        shards
            .iter()
            .enumerate()
            .try_for_each(|(shard_idx, shard)| {
                let place = format!("shard {shard_idx}");
                check_shard(shard).map_err(|what| TrainError::Disagreement {
                    what: format!("{place}: {what}"),
                })?;
                shard.check_agreement(&place, &split.x_test)
            })
    })?;
    Ok(shards.into_iter().flat_map(Shard::into_trees).collect())
}

fn smartcore_panicked(message: String) -> TrainError {
    TrainError::Fit(format!("smartcore panicked: {message}"))
}

fn reading_panicked(message: String) -> TrainError {
    TrainError::SmartcoreLayout(format!("reading a fitted forest panicked: {message}"))
}

/// The merged forest and what it is, before it becomes an artifact.
struct Assembly {
    ensemble: EnsembleSpec,
    task: Task,
    algorithm: &'static str,
}

/// Builds the artifact, loads it as the handler would, evaluates it on the test rows with
/// `score` (which reads the predictions of the task's kind), and serialises it.
fn evaluate(
    data: &Dataset,
    options: &TrainOptions,
    split: &Split,
    assembly: Assembly,
    phases: &mut Phases<'_>,
    score: impl FnOnce(BatchPrediction) -> Option<Evaluation>,
) -> Result<TrainOutcome, TrainError> {
    let task = data.targets.task();
    let metrics = phases.metrics().clone();
    let training_data = TrainingData {
        source: data.source.clone(),
        sha256: data.sha256.clone(),
        n_rows: data.n_rows(),
        n_train_rows: split.train_rows.len(),
        n_test_rows: split.test_rows.len(),
        test_size: options.test_size,
    };
    let (artifact, model_json, evaluation, warnings) =
        phases.run(TrainerPhase::Evaluate, || {
            let mut artifact = build_artifact(data, options, training_data.clone(), assembly);
            // Evaluate the merged forest exactly as the handler will run it.
            let (model, limit_warning) = load_within(&artifact, &ModelLimits::default())?;
            let predicted = model
                .predictor()
                .predict_batch(split.x_test.view())
                .map_err(|error| TrainError::Disagreement {
                    what: format!("the merged forest cannot predict the test split: {error}"),
                })?;
            let evaluation = score(predicted).ok_or_else(|| TrainError::Disagreement {
                what: "the merged forest predicts another kind of output than its task".to_owned(),
            })?;
            if let Evaluation::Classification(classification) = &evaluation {
                metrics.record_trainer_accuracy(classification.accuracy);
            }
            artifact.metadata.evaluation = Some(evaluation.clone());
            let model_json = artifact.to_json();
            let warnings: Vec<String> = limit_warning
                .into_iter()
                .chain(byte_warning(model_json.len(), &ModelLimits::default()))
                .collect();
            Ok::<_, TrainError>((artifact, model_json, evaluation, warnings))
        })?;
    let report = MetricsReport {
        name: options.name.clone(),
        version: artifact.metadata.version.clone(),
        task,
        evaluation,
        training_data,
        rows_checked_against_smartcore: split.test_rows.len(),
        phase_millis: phases.timings().clone(),
        warnings,
    };
    Ok(TrainOutcome {
        artifact,
        model_json,
        report,
    })
}

/// The artifact of a merged forest, without its evaluation.
fn build_artifact(
    data: &Dataset,
    options: &TrainOptions,
    training_data: TrainingData,
    assembly: Assembly,
) -> ModelArtifact {
    let created_at = OffsetDateTime::now_utc();
    let ensemble_sha256 = fluxops_inference::ensemble_sha256(&assembly.ensemble);
    let n_features = data.features.ncols();
    let metadata = ModelMetadata {
        name: options.name.clone(),
        version: fluxops_store::version_name(created_at, &ensemble_sha256),
        created_at,
        origin: Origin::Trained {
            trainer_version: env!("CARGO_PKG_VERSION").to_owned(),
        },
        algorithm: Algorithm {
            name: assembly.algorithm.to_owned(),
            library: "smartcore 0.7.0".to_owned(),
            parameters: serde_json::Map::from_iter([
                ("n_trees".to_owned(), options.n_trees.into()),
                ("max_depth".to_owned(), options.max_depth.into()),
                (
                    "min_samples_split".to_owned(),
                    options.min_samples_split.into(),
                ),
                ("min_samples_leaf".to_owned(), 1.into()),
                ("max_features".to_owned(), max_features(n_features).into()),
                ("seed".to_owned(), options.seed.into()),
                ("n_shards".to_owned(), shard_plans(options).len().into()),
            ]),
        },
        training_data: Some(training_data),
        evaluation: None,
    };
    // The digest is taken once; metadata (evaluation included) is not part of it.
    ModelArtifact {
        format_version: fluxops_inference::FORMAT_VERSION,
        metadata,
        schema: Schema {
            feature_names: data.feature_names.clone(),
            task: assembly.task,
        },
        ensemble_sha256,
        ensemble: assembly.ensemble,
    }
}

/// Loads `artifact` as a handler with `limits` would. One beyond them is loaded without limits
/// instead, with a warning that says which limit it exceeds: the trainer warns, the handler
/// refuses.
fn load_within(
    artifact: &ModelArtifact,
    limits: &ModelLimits,
) -> Result<(Model, Option<String>), TrainError> {
    let not_loaded = |error: ArtifactError| TrainError::Disagreement {
        what: format!("the merged forest does not load: {error}"),
    };
    match Model::from_artifact(artifact.clone(), limits) {
        Ok(model) => Ok((model, None)),
        Err(ArtifactError::OverLimit(exceeded)) => {
            let model = Model::from_artifact(artifact.clone(), &ModelLimits::unlimited())
                .map_err(not_loaded)?;
            let warning = format!(
                "the model has {exceeded} by a handler's default limits, so a handler refuses it \
                 unless its limits are raised; fewer or shallower trees make it smaller"
            );
            Ok((model, Some(warning)))
        }
        Err(error) => Err(not_loaded(error)),
    }
}

/// The warning for a `model.json` of `n_bytes`, if that is more than `limits` allow.
fn byte_warning(n_bytes: usize, limits: &ModelLimits) -> Option<String> {
    (n_bytes > limits.max_model_bytes).then(|| {
        format!(
            "model.json is {n_bytes} bytes, more than the {} a handler reads by default \
             (FLUXOPS_MAX_MODEL_BYTES); fewer or shallower trees make it smaller",
            limits.max_model_bytes
        )
    })
}

impl TrainOptions {
    /// Checks every option is in range, as [`train`] does first: a caller can check before it
    /// loads any data.
    pub fn check(&self) -> Result<(), TrainError> {
        check_options(self)
    }
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

/// smartcore's default number of features tried per split: `floor(sqrt(n_features))`.
fn max_features(n_features: usize) -> usize {
    (n_features as f64).sqrt().floor().max(1.0) as usize
}

/// `n_shards` shards (at most one per tree) whose tree counts add up to `n_trees`.
///
/// Shard `i` is seeded with `seed + i * n_trees`: smartcore seeds tree `t` of a forest with
/// `forest seed + t`, so no two trees of the merged forest share a seed.
fn shard_plans(options: &TrainOptions) -> Vec<ShardPlan> {
    let n_trees = usize::from(options.n_trees);
    let n_shards = options.n_shards.min(n_trees);
    (0..n_shards)
        .map(|shard| ShardPlan {
            n_trees: n_trees / n_shards + usize::from(shard < n_trees % n_shards),
            seed: options.seed.wrapping_add((shard * n_trees) as u64),
            max_depth: options.max_depth,
            min_samples_split: options.min_samples_split,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use fluxops_inference::Prediction;

    use super::*;

    fn train_quietly(data: &Dataset, options: &TrainOptions) -> Result<TrainOutcome, TrainError> {
        train(data, options, &mut Phases::default())
    }

    #[test]
    fn the_same_seed_gives_the_same_model_whatever_the_thread_count() {
        for task in [TaskKind::Classification, TaskKind::Regression] {
            let data = Dataset::synthetic(300, 10, 1, task);
            let options = TrainOptions {
                n_trees: 12,
                ..TrainOptions::default()
            };
            let with = |n_threads| {
                let options = TrainOptions {
                    n_threads,
                    ..options.clone()
                };
                train_quietly(&data, &options).unwrap().into_artifact()
            };
            let (two_threads, one_thread) = (with(2), with(1));
            assert_eq!(two_threads.ensemble, one_thread.ensemble);
            assert_eq!(two_threads.ensemble.trees.len(), 12);
        }
    }

    #[test]
    fn a_regressor_is_evaluated_and_its_artifact_says_it_is_one() {
        let data = Dataset::synthetic(400, 4, 3, TaskKind::Regression);
        let options = TrainOptions {
            n_trees: 16,
            ..TrainOptions::default()
        };
        let mut phases = Phases::default();
        let outcome = train(&data, &options, &mut phases).unwrap();
        let Evaluation::Regression(evaluation) = &outcome.report().evaluation else {
            panic!("a regressor has a regression evaluation");
        };
        assert_eq!(evaluation.n_samples, 80);
        assert!(evaluation.r2 > 0.8, "{evaluation:?}");
        assert!(evaluation.mae <= evaluation.rmse);
        let artifact = outcome.artifact();
        assert_eq!(artifact.schema.task, Task::Regressor {});
        assert_eq!(artifact.metadata.algorithm.name, "random_forest_regressor");
        let model = Model::from_json(outcome.model_json(), &ModelLimits::default()).unwrap();
        assert!(matches!(
            model.predictor().predict_one(&[0.5, 0.5, 0.0, 0.0]),
            Ok(Prediction::Values(ref values)) if values.len() == 1
        ));
        let report = serde_json::to_value(outcome.report()).unwrap();
        assert_eq!(report["task"], "regression");
        for field in ["rmse", "mae", "r2"] {
            assert!(report["evaluation"][field].is_f64(), "{report}");
        }
        assert!(report.get("warnings").is_none());
        let timed: Vec<&str> = report["phase_millis"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for phase in ["split", "fit", "compile", "check", "evaluate"] {
            assert!(timed.contains(&phase), "{timed:?}");
        }
    }

    #[test]
    fn a_model_beyond_a_handlers_limits_is_kept_with_a_warning() {
        let data = Dataset::synthetic(200, 4, 3, TaskKind::Classification);
        let options = TrainOptions {
            n_trees: 4,
            ..TrainOptions::default()
        };
        let outcome = train_quietly(&data, &options).unwrap();
        let tight = ModelLimits {
            max_trees: 3,
            ..ModelLimits::default()
        };
        let (model, warning) = load_within(outcome.artifact(), &tight).unwrap();
        assert_eq!(model.metadata().version, outcome.report().version);
        let warning = warning.expect("four trees are more than three");
        assert!(warning.contains("4 trees, more than the 3"), "{warning}");
        assert!(
            load_within(outcome.artifact(), &ModelLimits::default())
                .unwrap()
                .1
                .is_none()
        );
        let byte_cap = ModelLimits {
            max_model_bytes: outcome.model_json().len() - 1,
            ..ModelLimits::default()
        };
        let warning = byte_warning(outcome.model_json().len(), &byte_cap).unwrap();
        assert!(warning.contains("FLUXOPS_MAX_MODEL_BYTES"), "{warning}");
        assert!(byte_warning(outcome.model_json().len(), &ModelLimits::default()).is_none());
    }

    #[test]
    fn out_of_range_parameters_are_refused() {
        let data = Dataset::synthetic(100, 10, 1, TaskKind::Classification);
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
                train_quietly(&data, &options),
                Err(TrainError::Parameter(_))
            ));
        }
    }
}
