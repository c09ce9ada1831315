//! The whole import: an ONNX file's bytes in, a verified format-2 artifact and its report out.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use fluxops_inference::{
    Algorithm, ArtifactError, DEFAULT_MAX_MODEL_BYTES, Model, ModelArtifact, ModelLimits,
    ModelMetadata, Origin, Schema,
};
use serde::Serialize;
use time::OffsetDateTime;

use crate::check::{self, Agreement, Disagreement};
use crate::ensemble::{
    Aggregate, ClassLabels, Ensemble, Node, NumberType, OutputKind, PostTransform, Task, Tree,
};

/// The largest ONNX file the importer reads: the handler's default cap on an artifact
/// ([`DEFAULT_MAX_MODEL_BYTES`]), which the artifact of a larger file would exceed anyway.
pub const MAX_ONNX_BYTES: usize = DEFAULT_MAX_MODEL_BYTES;

/// What to import as, and what to check against.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Model name in the registry.
    pub name: String,
    /// Where the file came from, for the report (a path, say).
    pub file: String,
    /// Feature names, one per feature; `None` takes the check data's header, or `feature_0`, ...
    pub feature_names: Option<Vec<String>>,
    /// Rows to check the artifact on, besides the synthetic ones.
    pub check_data: Option<CheckData>,
    /// When the import runs; it names the version.
    pub created_at: OffsetDateTime,
    /// The caps the artifact must fit: the handler's ([`ModelLimits::default`]).
    pub limits: ModelLimits,
}

impl ImportOptions {
    /// Options for importing the file `file` as `name` now, within the handler's caps, named
    /// `feature_0`, ... and checked on synthetic rows only.
    pub fn new(name: impl Into<String>, file: impl Into<String>) -> Self {
        ImportOptions {
            name: name.into(),
            file: file.into(),
            feature_names: None,
            check_data: None,
            created_at: OffsetDateTime::now_utc(),
            limits: ModelLimits::default(),
        }
    }
}

/// Rows of a CSV file to check an import on: one column per feature, in the model's order,
/// with a header row of feature names or none. An empty cell (or `NaN`) is a missing value.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckData {
    /// The file, for messages and the report.
    pub source: String,
    /// The header's names, if the first row is a header.
    pub header: Option<Vec<String>>,
    /// The rows.
    pub rows: Vec<Vec<f64>>,
}

impl CheckData {
    /// Parses CSV bytes from `source`. The first row is a header when any of its cells is not a
    /// number. Fails, naming the line and column, on a ragged row or a cell that is not a
    /// number or is infinite.
    pub fn from_csv(bytes: &[u8], source: &str) -> Result<Self, ImportError> {
        let problem = |message: String| ImportError::CheckData {
            file: source.to_owned(),
            message,
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let mut header = None;
        let mut rows = Vec::new();
        for (idx, record) in reader.records().enumerate() {
            let record = record.map_err(|error| problem(error.to_string()))?;
            let line = record
                .position()
                .map_or(idx as u64 + 1, csv::Position::line);
            if idx == 0 && record.iter().any(|cell| parse_cell(cell).is_err()) {
                header = Some(record.iter().map(str::to_owned).collect());
                continue;
            }
            let row = record
                .iter()
                .enumerate()
                .map(|(column, cell)| {
                    parse_cell(cell).map_err(|why| {
                        problem(format!(
                            "line {line}, column {}: {cell:?} {why}",
                            column + 1
                        ))
                    })
                })
                .collect::<Result<Vec<f64>, _>>()?;
            rows.push(row);
        }
        if rows.is_empty() {
            return Err(problem("it has no data rows".to_owned()));
        }
        Ok(CheckData {
            source: source.to_owned(),
            header,
            rows,
        })
    }
}

/// A cell of check data: a finite number, or missing (empty or `NaN`).
fn parse_cell(cell: &str) -> Result<f64, &'static str> {
    if cell.is_empty() || cell.eq_ignore_ascii_case("nan") {
        return Ok(f64::NAN);
    }
    match cell.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        Ok(_) => Err("is infinite; the model is served finite numbers only"),
        Err(_) => Err("is not a number"),
    }
}

/// Why an import stopped. Nothing is written when one happens.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file is larger than [`MAX_ONNX_BYTES`].
    #[error(
        "the model file has {size} bytes, more than the {limit} the importer reads; a model that \
         large would not fit the handler's limits either: export fewer or shallower trees"
    )]
    FileTooLarge {
        /// Size of the file.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The file is not an ONNX tree ensemble the importer reproduces.
    #[error(transparent)]
    Onnx(#[from] crate::Error),
    /// The feature names do not fit the model.
    #[error("{0}")]
    FeatureNames(String),
    /// The check data cannot be read or does not fit the model.
    #[error("check data {file}: {message}")]
    CheckData {
        /// The check data's file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The artifact would be refused by the handler's caps.
    #[error(
        "the imported model is larger than the handler serves (its limits are below); export \
         fewer or shallower trees, or fewer classes"
    )]
    OverLimit(#[source] ArtifactError),
    /// The artifact does not load; a bug in the importer.
    #[error("the converted model does not load (why is below); this is a bug in the importer")]
    Artifact(#[source] ArtifactError),
    /// The artifact and the reference disagree; a bug in the importer.
    #[error(transparent)]
    Disagreement(#[from] Disagreement),
}

/// A finished import: the artifact, its bytes as written, and the report for `metrics.json`.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The verified artifact.
    pub artifact: ModelArtifact,
    /// `model.json`: the artifact's bytes, checked by the same loader as the handler's.
    pub model_json: Vec<u8>,
    /// `metrics.json`: provenance and the self-check.
    pub report: ImportReport,
}

/// The `metrics.json` document of an import.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ImportReport {
    /// Model name.
    pub name: String,
    /// Model version.
    pub version: String,
    /// The file and who wrote it.
    pub import: ImportSource,
    /// What the model is.
    pub model: ModelSummary,
    /// The self-check: the compiled artifact against the reference, row by row.
    pub agreement: Agreement,
    /// Wall-clock time of each phase, in milliseconds.
    pub phase_millis: ImportTimings,
}

/// The imported file.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ImportSource {
    /// Where it came from, as given.
    pub file: String,
    /// Hex SHA-256 of its bytes.
    pub file_sha256: String,
    /// Its size.
    pub file_bytes: usize,
    /// The tool that wrote it and its version.
    pub converter: String,
    /// The framework that trained the model, when the converter says.
    pub framework: Option<String>,
    /// The ONNX operator that holds the trees.
    pub operator: String,
    /// Operator sets, by domain.
    pub opsets: BTreeMap<String, i64>,
    /// The input's name and element type.
    pub input: String,
    /// The file's output names.
    pub output_names: Vec<String>,
}

/// The imported model's shape.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ModelSummary {
    /// `classifier` or `regressor`.
    pub task: &'static str,
    /// Classes of a classifier, targets of a regressor.
    pub n_outputs: usize,
    /// Features per row.
    pub n_features: usize,
    /// Trees.
    pub n_trees: usize,
    /// Nodes over all trees.
    pub n_nodes: usize,
    /// Levels of the deepest tree.
    pub max_depth: usize,
    /// The number type splits compare and scores add in.
    pub precision: &'static str,
    /// How the trees' sums become scores: `sum` or `average`.
    pub aggregation: &'static str,
    /// `none`, `logistic` or `softmax`.
    pub post_transform: &'static str,
}

/// Wall-clock time of each import phase, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct ImportTimings {
    /// Decoding the file.
    pub read: u128,
    /// Converting and loading the artifact as the handler would.
    pub convert: u128,
    /// The self-check.
    pub check: u128,
}

/// Imports an ONNX tree ensemble: reads it, converts it into a format-2 artifact, loads that as
/// the handler would (within `options.limits`), and checks it against the reference evaluation
/// on the check data and on synthetic rows. Returns nothing but an error unless all of it
/// succeeds.
pub fn import(bytes: &[u8], options: &ImportOptions) -> Result<Imported, ImportError> {
    if bytes.len() > MAX_ONNX_BYTES {
        return Err(ImportError::FileTooLarge {
            size: bytes.len(),
            limit: MAX_ONNX_BYTES,
        });
    }
    let mut timings = ImportTimings::default();
    let started = Instant::now();
    let ensemble = Ensemble::from_onnx(bytes, MAX_ONNX_BYTES)?;
    timings.read = started.elapsed().as_millis();
    if ensemble.n_features() == 0 {
        return Err(crate::Error::unsupported(
            "a model whose input has no declared width and whose trees read no feature",
            "it answers the same for every row; export the model with its input's shape",
        )
        .into());
    }

    let started = Instant::now();
    let feature_names = feature_names(&ensemble, options)?;
    if let Some(data) = &options.check_data
        && let Some(row) = data
            .rows
            .iter()
            .position(|row| row.len() != ensemble.n_features())
    {
        return Err(ImportError::CheckData {
            file: data.source.clone(),
            message: format!(
                "data row {} has {} values; the model reads {} features",
                row + 1,
                data.rows[row].len(),
                ensemble.n_features()
            ),
        });
    }
    let conversion = ensemble.to_artifact()?;
    let file_sha256 = fluxops_store::sha256_hex(bytes);
    let source = import_source(&ensemble, options, &file_sha256, bytes.len());
    let summary = summary(&ensemble);
    let ensemble_sha256 = fluxops_inference::ensemble_sha256(&conversion.ensemble);
    let version = fluxops_store::version_name(options.created_at, &ensemble_sha256);
    let metadata = ModelMetadata {
        name: options.name.clone(),
        version: version.clone(),
        created_at: options.created_at,
        origin: Origin::Imported {
            importer_version: env!("CARGO_PKG_VERSION").to_owned(),
            file_format: "onnx".to_owned(),
            file_sha256: file_sha256.clone(),
            framework: source.framework.clone(),
            converter: source.converter.clone(),
            opsets: source.opsets.clone(),
            output_names: source.output_names.clone(),
        },
        algorithm: Algorithm {
            name: algorithm_name(&ensemble).to_owned(),
            library: source.converter.clone(),
            parameters: parameters(&ensemble, &summary),
        },
        training_data: None,
        evaluation: None,
    };
    let schema = Schema {
        feature_names,
        task: conversion.task,
    };
    let artifact = ModelArtifact::new(metadata, schema, conversion.ensemble);
    let model_json = artifact.to_json();
    // Exactly what the handler does with the bytes: a model over its caps is refused here.
    let model = Model::from_json(&model_json, &options.limits).map_err(|error| match error {
        ArtifactError::OverLimit(_) => ImportError::OverLimit(error),
        other => ImportError::Artifact(other),
    })?;
    timings.convert = started.elapsed().as_millis();

    let started = Instant::now();
    let check_rows = options
        .check_data
        .as_ref()
        .map_or(&[][..], |data| data.rows.as_slice());
    let seed = u64::from_str_radix(&file_sha256[..16], 16).unwrap_or_default();
    let agreement = check::check(
        &ensemble,
        &artifact.ensemble,
        model.predictor(),
        check_rows,
        seed,
    )?;
    timings.check = started.elapsed().as_millis();

    Ok(Imported {
        report: ImportReport {
            name: options.name.clone(),
            version,
            import: source,
            model: summary,
            agreement,
            phase_millis: timings,
        },
        artifact,
        model_json,
    })
}

/// The feature names: given, or the check data's header, or `feature_0`, ...; one per feature,
/// unique, and the same in both places when both give them.
fn feature_names(ensemble: &Ensemble, options: &ImportOptions) -> Result<Vec<String>, ImportError> {
    let n_features = ensemble.n_features();
    let header = options
        .check_data
        .as_ref()
        .and_then(|data| data.header.as_ref().map(|header| (data, header)));
    let names = match (&options.feature_names, header) {
        (Some(names), Some((data, header))) if names != header => {
            return Err(ImportError::CheckData {
                file: data.source.clone(),
                message: format!(
                    "its header names the columns {} but --feature-names says {}; \
                     give the columns in the model's feature order",
                    header.join(","),
                    names.join(",")
                ),
            });
        }
        (Some(names), _) => names.clone(),
        (None, Some((_, header))) => header.clone(),
        (None, None) => (0..n_features)
            .map(|idx| format!("feature_{idx}"))
            .collect(),
    };
    if names.len() != n_features {
        return Err(ImportError::FeatureNames(format!(
            "{} feature names for a model of {n_features} features; name every feature, in the \
             order of the model's input",
            names.len()
        )));
    }
    if let Some(empty) = names.iter().position(String::is_empty) {
        return Err(ImportError::FeatureNames(format!(
            "feature name {} is empty",
            empty + 1
        )));
    }
    let mut seen = HashSet::new();
    if let Some(repeated) = names.iter().find(|name| !seen.insert(name.as_str())) {
        return Err(ImportError::FeatureNames(format!(
            "the feature name {repeated:?} appears twice; feature names must be unique"
        )));
    }
    Ok(names)
}

fn import_source(
    ensemble: &Ensemble,
    options: &ImportOptions,
    file_sha256: &str,
    file_bytes: usize,
) -> ImportSource {
    let source = &ensemble.source;
    let converter = format!("{} {}", source.producer_name, source.producer_version)
        .trim()
        .to_owned();
    let framework = match source.producer_name.as_str() {
        "skl2onnx" => Some("scikit-learn".to_owned()),
        _ => None,
    };
    let mut opsets = BTreeMap::new();
    for opset in &source.opsets {
        let domain = match opset.domain.as_str() {
            "" => "ai.onnx",
            domain => domain,
        };
        let version = opsets.entry(domain.to_owned()).or_insert(opset.version);
        *version = (*version).max(opset.version);
    }
    ImportSource {
        file: options.file.clone(),
        file_sha256: file_sha256.to_owned(),
        file_bytes,
        converter: if converter.is_empty() {
            "unknown".to_owned()
        } else {
            converter
        },
        framework,
        operator: format!("ai.onnx.ml {}", source.operator.name()),
        opsets,
        input: format!(
            "{} ({})",
            ensemble.input.name,
            type_name(ensemble.input.element_type)
        ),
        output_names: ensemble.outputs.iter().map(|o| o.name.clone()).collect(),
    }
}

fn summary(ensemble: &Ensemble) -> ModelSummary {
    let (task, n_outputs) = match &ensemble.task {
        Task::Classifier { labels, .. } => ("classifier", labels.len()),
        Task::Regressor => ("regressor", ensemble.n_outputs),
    };
    ModelSummary {
        task,
        n_outputs,
        n_features: ensemble.n_features(),
        n_trees: ensemble.trees.len(),
        n_nodes: ensemble.n_nodes(),
        max_depth: ensemble.trees.iter().map(depth).max().unwrap_or_default(),
        precision: type_name(ensemble.precision),
        aggregation: match ensemble.aggregate {
            Aggregate::Sum => "sum",
            Aggregate::Average => "average",
        },
        post_transform: match ensemble.post_transform {
            PostTransform::None => "none",
            PostTransform::Logistic => "logistic",
            PostTransform::Softmax => "softmax",
        },
    }
}

fn type_name(number_type: NumberType) -> &'static str {
    match number_type {
        NumberType::F32 => "float",
        NumberType::F64 => "double",
    }
}

/// Levels from the root to the deepest leaf (a lone leaf has depth 0). Nodes are in pre-order,
/// children after parents, so one pass in order knows each parent's depth.
fn depth(tree: &Tree) -> usize {
    let mut depths = vec![0_usize; tree.nodes.len()];
    for (idx, node) in tree.nodes.iter().enumerate() {
        if let Node::Split(split) = node {
            depths[split.true_child] = depths[idx] + 1;
            depths[split.false_child] = depths[idx] + 1;
        }
    }
    depths.into_iter().max().unwrap_or_default()
}

fn algorithm_name(ensemble: &Ensemble) -> &'static str {
    match ensemble.task {
        Task::Classifier { .. } => "tree_ensemble_classifier",
        Task::Regressor => "tree_ensemble_regressor",
    }
}

/// The algorithm's parameters as far as the file tells them.
fn parameters(
    ensemble: &Ensemble,
    summary: &ModelSummary,
) -> serde_json::Map<String, serde_json::Value> {
    let mut parameters = serde_json::Map::new();
    parameters.insert("n_trees".to_owned(), summary.n_trees.into());
    parameters.insert("max_depth".to_owned(), summary.max_depth.into());
    parameters.insert("aggregation".to_owned(), summary.aggregation.into());
    parameters.insert("post_transform".to_owned(), summary.post_transform.into());
    if let Task::Classifier { labels, .. } = &ensemble.task {
        let kind = match labels {
            ClassLabels::Int64(_) => "integers",
            ClassLabels::Strings(_) => "strings",
        };
        parameters.insert("class_labels".to_owned(), kind.into());
    }
    let score_outputs: Vec<&str> = ensemble
        .outputs
        .iter()
        .map(|output| match output.kind {
            OutputKind::Label => "label",
            OutputKind::Scores => "scores",
            OutputKind::ScoreMap => "score_map",
        })
        .collect();
    parameters.insert("outputs".to_owned(), score_outputs.into());
    parameters
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::data_type;
    use crate::testing::{Model, STUMP, regressor};

    #[test]
    fn a_model_that_reads_no_feature_is_refused() {
        let lone_leaf = regressor(
            &[(0, 0, 0, "LEAF", 0.0, 0, 0, 0)],
            &[(0, 0, 0, 1.0)],
            1,
            vec![],
        );
        let bytes = Model::new(vec![lone_leaf])
            .input(data_type::FLOAT, &[None, None])
            .bytes();
        let error = import(&bytes, &ImportOptions::new("m", "m.onnx")).unwrap_err();
        assert!(error.to_string().contains("read no feature"), "{error}");
    }

    #[test]
    fn feature_names_must_fit_the_model() {
        let bytes = Model::new(vec![regressor(
            STUMP,
            &[(0, 1, 0, 1.0), (0, 2, 0, 2.0)],
            1,
            vec![],
        )])
        .bytes();
        let named = |names: &[&str]| ImportOptions {
            feature_names: Some(names.iter().map(|name| (*name).to_owned()).collect()),
            ..ImportOptions::new("m", "m.onnx")
        };
        let imported = import(&bytes, &named(&["x", "y"])).expect("imports");
        assert_eq!(imported.artifact.schema.feature_names, ["x", "y"]);
        for (names, expected) in [
            (&["x"][..], "1 feature names for a model of 2 features"),
            (&["x", ""], "feature name 2 is empty"),
            (&["x", "x"], "\"x\" appears twice"),
        ] {
            let error = import(&bytes, &named(names)).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn check_data_has_a_header_or_none_and_names_bad_cells() {
        let with_header = CheckData::from_csv(b"a, b\n1, 2\n,NaN\n", "rows.csv").unwrap();
        assert_eq!(
            with_header.header,
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(with_header.rows[0], vec![1.0, 2.0]);
        assert!(with_header.rows[1].iter().all(|value| value.is_nan()));

        let plain = CheckData::from_csv(b"1,2\n3,4\n", "rows.csv").unwrap();
        assert_eq!((plain.header, plain.rows.len()), (None, 2));

        for (csv, expected) in [
            (
                &b"a,b\n1,x\n"[..],
                "line 2, column 2: \"x\" is not a number",
            ),
            (b"1,2\n3,inf\n", "line 2, column 2: \"inf\" is infinite"),
            (b"a,b\n", "no data rows"),
            (b"1,2\n3\n", "rows.csv"),
        ] {
            let error = CheckData::from_csv(csv, "rows.csv")
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}
