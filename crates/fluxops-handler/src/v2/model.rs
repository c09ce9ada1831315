//! The per-model routes, metadata and readiness, with and without `/versions/{model_version}`;
//! and the one lookup every per-model route (inference too) goes through.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use fluxops_inference::{Prediction, Predictor, Task};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, IntoResponses, ToSchema};

use super::error::{V2Error, V2ErrorBody, bounded};
use super::response::Output;
use super::tensor::Datatype;
use crate::state::{AppState, LoadedModel};

/// What the metadata calls the model's platform (`<project>_<format>`, as the protocol's names
/// go): a FluxOps tree ensemble, whichever framework trained it.
pub(crate) const PLATFORM: &str = "fluxops_tree_ensemble";

/// The name the metadata gives the model's one input (any name is accepted).
pub(crate) const INPUT_NAME: &str = "input-0";

/// The served model, when `name` is its registry name, `version` (if given) its served version,
/// and it is loaded.
pub(crate) fn served_model(
    state: &AppState,
    name: &str,
    version: Option<&str>,
) -> Result<Arc<LoadedModel>, V2Error> {
    if name != state.model_name() {
        return Err(V2Error::UnknownModel {
            requested: bounded(name),
            served: state.model_name().to_owned(),
        });
    }
    let loaded = state.model().ok_or_else(|| V2Error::NotReady {
        name: state.model_name().to_owned(),
    })?;
    match version {
        Some(version) if version != loaded.version => Err(V2Error::UnknownVersion {
            name: state.model_name().to_owned(),
            requested: bounded(version),
            served: loaded.version.clone(),
        }),
        _ => Ok(loaded),
    }
}

/// The path of a per-model route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ModelPath {
    /// The model's registry name (`FLUXOPS_MODEL_NAME`).
    model_name: String,
}

/// The path of a per-model route with `/versions/{model_version}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct VersionPath {
    /// The model's registry name (`FLUXOPS_MODEL_NAME`).
    model_name: String,
    /// The registry version being served.
    model_version: String,
}

/// The failures of every per-model route.
#[derive(Debug, IntoResponses)]
#[expect(
    dead_code,
    reason = "it only describes responses in the OpenAPI document"
)]
pub(crate) enum LookupFailures {
    /// No model of that name, or not that version, here.
    #[response(status = 404)]
    Unknown(V2ErrorBody),
    /// The model is not loaded yet.
    #[response(status = 503)]
    NotReady(V2ErrorBody),
}

/// The model name and version in a per-model route's path. A path that does not decode (not
/// UTF-8) names no model here.
pub(crate) fn lookup<'p, T: Lookup>(
    state: &AppState,
    path: &'p Result<Path<T>, PathRejection>,
) -> Result<(&'p str, Option<&'p str>), V2Error> {
    match path {
        Ok(Path(path)) => Ok(path.name_and_version()),
        Err(_) => Err(V2Error::UnknownModel {
            requested: "(a path that is not UTF-8)".to_owned(),
            served: state.model_name().to_owned(),
        }),
    }
}

/// A per-model route's path.
pub(crate) trait Lookup {
    /// The model name, and the version if the path has one.
    fn name_and_version(&self) -> (&str, Option<&str>);
}

impl Lookup for ModelPath {
    fn name_and_version(&self) -> (&str, Option<&str>) {
        (&self.model_name, None)
    }
}

impl Lookup for VersionPath {
    fn name_and_version(&self) -> (&str, Option<&str>) {
        (&self.model_name, Some(&self.model_version))
    }
}

/// Model metadata (`$metadata_model_response`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModelMetadata {
    /// The model's registry name.
    #[schema(example = "fluxops")]
    name: String,
    /// The one version served: the registry's `latest` when it was loaded.
    #[schema(value_type = Vec<String>, example = json!(["20261203T101500Z-76fd1858"]))]
    versions: [String; 1],
    /// Always `fluxops_tree_ensemble`.
    #[schema(example = "fluxops_tree_ensemble")]
    platform: &'static str,
    /// The one input: `[-1, features]`; any name and any input datatype but FP16, BF16 and
    /// BYTES are accepted, FP64 is exact.
    inputs: [TensorMetadata; 1],
    /// `predict` (`[-1, 1]` labels, or `[-1, outputs]` values for a regressor) and, for
    /// classifiers, `predict_proba` (`[-1, classes]`).
    outputs: Vec<TensorMetadata>,
}

/// A tensor's metadata (`$metadata_tensor`); `-1` is a dimension of any size.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TensorMetadata {
    /// The tensor's name.
    #[schema(example = "predict")]
    name: &'static str,
    /// Its datatype.
    #[schema(example = "INT64")]
    datatype: &'static str,
    /// Its shape.
    #[schema(value_type = Vec<i64>, example = json!([-1, 1]))]
    shape: [i64; 2],
}

/// Model readiness (`$ready_model_response`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModelReady {
    /// The model's registry name.
    #[schema(example = "fluxops")]
    name: String,
    /// Always true: a model that is not ready is answered 503.
    ready: bool,
}

/// The metadata of the served model.
#[utoipa::path(get, path = "/v2/models/{model_name}", tag = "v2", params(ModelPath), responses(
    (status = 200, description = "The model's inputs and outputs", body = ModelMetadata), LookupFailures))]
pub(crate) async fn model_metadata(
    State(state): State<AppState>,
    path: Result<Path<ModelPath>, PathRejection>,
) -> Result<Json<ModelMetadata>, V2Error> {
    metadata(&state, lookup(&state, &path)?)
}

/// The metadata of the served model, when `model_version` is the version being served.
#[utoipa::path(get, path = "/v2/models/{model_name}/versions/{model_version}", tag = "v2", params(VersionPath), responses(
    (status = 200, description = "The model's inputs and outputs", body = ModelMetadata), LookupFailures))]
pub(crate) async fn model_version_metadata(
    State(state): State<AppState>,
    path: Result<Path<VersionPath>, PathRejection>,
) -> Result<Json<ModelMetadata>, V2Error> {
    metadata(&state, lookup(&state, &path)?)
}

/// Whether the served model is ready for inference.
#[utoipa::path(get, path = "/v2/models/{model_name}/ready", tag = "v2", params(ModelPath), responses(
    (status = 200, description = "The model is ready", body = ModelReady), LookupFailures))]
pub(crate) async fn model_ready(
    State(state): State<AppState>,
    path: Result<Path<ModelPath>, PathRejection>,
) -> Result<Json<ModelReady>, V2Error> {
    ready(&state, lookup(&state, &path)?)
}

/// Whether the served model is ready, when `model_version` is the version being served.
#[utoipa::path(get, path = "/v2/models/{model_name}/versions/{model_version}/ready", tag = "v2", params(VersionPath), responses(
    (status = 200, description = "The model is ready", body = ModelReady), LookupFailures))]
pub(crate) async fn model_version_ready(
    State(state): State<AppState>,
    path: Result<Path<VersionPath>, PathRejection>,
) -> Result<Json<ModelReady>, V2Error> {
    ready(&state, lookup(&state, &path)?)
}

fn ready(
    state: &AppState,
    (name, version): (&str, Option<&str>),
) -> Result<Json<ModelReady>, V2Error> {
    served_model(state, name, version)?;
    Ok(Json(ModelReady {
        name: state.model_name().to_owned(),
        ready: true,
    }))
}

fn metadata(
    state: &AppState,
    (name, version): (&str, Option<&str>),
) -> Result<Json<ModelMetadata>, V2Error> {
    let loaded = served_model(state, name, version)?;
    Ok(Json(describe(
        state.model_name(),
        &loaded.version,
        loaded.model.predictor(),
    )))
}

/// The metadata of a model served as `name`, `version`.
fn describe(name: &str, version: &str, predictor: &Predictor) -> ModelMetadata {
    let task = &predictor.schema().task;
    let outputs = Output::of_task(task)
        .iter()
        .map(|&output| TensorMetadata {
            name: output.name(),
            datatype: output.datatype(task).name(),
            shape: [-1, output_width(output, predictor)],
        })
        .collect();
    ModelMetadata {
        name: name.to_owned(),
        versions: [version.to_owned()],
        platform: PLATFORM,
        inputs: [TensorMetadata {
            name: INPUT_NAME,
            datatype: Datatype::Fp64.name(),
            shape: [-1, predictor.n_features() as i64],
        }],
        outputs,
    }
}

/// Columns of `output` per row.
fn output_width(output: Output, predictor: &Predictor) -> i64 {
    match (output, &predictor.schema().task) {
        (Output::PredictProba, Task::Classifier { labels }) => labels.len() as i64,
        (Output::Predict, Task::Regressor {}) => {
            // The predictor does not say how many values a regressor gives: ask it, once per
            // metadata request, with a row of zeros.
            match predictor.predict_one(&vec![0.0; predictor.n_features()]) {
                Ok(Prediction::Values(values)) => values.len() as i64,
                _ => -1,
            }
        }
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use fluxops_inference::{ClassLabels, Model};
    use serde_json::{Value, json};

    use super::*;
    use crate::v2::fixtures::stump_model;

    fn described(model: &Model) -> Value {
        serde_json::to_value(describe("m", "v1", model.predictor())).expect("JSON")
    }

    #[test]
    fn metadata_names_the_input_and_each_output_with_its_shape() {
        let labels = ClassLabels::Strings(vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]);
        let classifier = stump_model(Task::Classifier { labels }, 3);
        assert_eq!(
            described(&classifier),
            json!({
                "name": "m", "versions": ["v1"], "platform": "fluxops_tree_ensemble",
                "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, 2]}],
                "outputs": [
                    {"name": "predict", "datatype": "BYTES", "shape": [-1, 1]},
                    {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]}]
            })
        );
        let regressor = stump_model(Task::Regressor {}, 2);
        assert_eq!(
            described(&regressor)["outputs"],
            json!([{"name": "predict", "datatype": "FP64", "shape": [-1, 2]}])
        );
    }
}
