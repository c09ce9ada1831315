//! `POST /v2/models/{model_name}[/versions/{model_version}]/infer`: rows in, `predict` and
//! `predict_proba` out, as JSON or binary tensors.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use fluxops_inference::{BatchPrediction, InputError, Model, Prediction};
use fluxops_telemetry as telemetry;
use ndarray::ArrayView2;
use utoipa::IntoResponses;

use super::error::{V2Error, V2ErrorBody, bounded};
use super::model::{Lookup, LookupFailures, ModelPath, VersionPath, lookup, served_model};
use super::request::{
    Body, HEADER_LENGTH, InferenceRequest, RAW_INPUT, Rows, Wanted, raw_rows, split_body,
};
use super::response::{Answering, Encoded, InferenceResponse, Output, Predicted, encode};
use crate::body::{BodyRejection, read_bounded};
use crate::error::InternalCause;
use crate::state::{AppState, LoadedModel};

/// Bodies up to this size (a row, or some dozens of rows) are answered in place; larger ones on
/// the blocking pool, parsing and predicting in one trip.
const INLINE_BYTES: usize = 16 * 1024;

/// The failures of inference besides those of every per-model route.
#[derive(Debug, IntoResponses)]
#[expect(
    dead_code,
    reason = "it only describes responses in the OpenAPI document"
)]
enum InferFailures {
    /// The request cannot be answered; the message says why.
    #[response(status = 400)]
    BadRequest(V2ErrorBody),
    /// More rows than `FLUXOPS_MAX_BATCH`, or a body larger than `FLUXOPS_MAX_BODY_BYTES`.
    #[response(status = 413)]
    TooLarge(V2ErrorBody),
}

/// Predicts the rows of the one input with the served model (behind Azure Functions: with the
/// function key).
///
/// The body is an inference request as JSON or, with the binary tensor data extension, JSON
/// followed by the input's binary data (`parameters.binary_data_size`), the
/// `Inference-Header-Content-Length` header giving the JSON's length. Outputs asked for as binary
/// data (`binary_data`, `binary_data_output`) follow the answer's JSON the same way, as
/// `application/octet-stream`.
#[utoipa::path(post, path = "/v2/models/{model_name}/infer", tag = "v2", params(ModelPath), request_body = InferenceRequest,
    responses((status = 200, description = "The outputs", body = InferenceResponse), InferFailures, LookupFailures))]
pub(crate) async fn infer(
    State(state): State<AppState>,
    path: Result<Path<ModelPath>, PathRejection>,
    call: InferCall,
) -> Result<Response, V2Error> {
    answer(&state, &path, call).await
}

/// Predicts as `/v2/models/{model_name}/infer` does, when `model_version` is the version being
/// served (a function of its own, as each route is its own operation in the OpenAPI document).
#[utoipa::path(post, path = "/v2/models/{model_name}/versions/{model_version}/infer", tag = "v2", params(VersionPath), request_body = InferenceRequest,
    responses((status = 200, description = "The outputs", body = InferenceResponse), InferFailures, LookupFailures))]
pub(crate) async fn infer_version(
    State(state): State<AppState>,
    path: Result<Path<VersionPath>, PathRejection>,
    call: InferCall,
) -> Result<Response, V2Error> {
    answer(&state, &path, call).await
}

/// What an infer route reads from the request besides its path: the binary tensor extension's
/// header and the body, read within `FLUXOPS_MAX_BODY_BYTES` (a refused body is drained and
/// answered 413, in the V2 shape, as for `/api/predict`).
#[derive(Debug)]
pub(crate) struct InferCall {
    header_length: Option<HeaderValue>,
    body: Bytes,
}

impl FromRequest<AppState> for InferCall {
    type Rejection = BodyRejection;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, BodyRejection> {
        let header_length = request.headers().get(HEADER_LENGTH).cloned();
        let (_, body) = read_bounded(request, state.limits().max_body_bytes, None).await?;
        Ok(InferCall {
            header_length,
            body,
        })
    }
}

async fn answer<T: Lookup>(
    state: &AppState,
    path: &Result<Path<T>, PathRejection>,
    InferCall {
        header_length,
        body,
    }: InferCall,
) -> Result<Response, V2Error> {
    let started = Instant::now();
    let (name, version) = lookup(state, path)?;
    let loaded = served_model(state, name, version)?;
    let max_batch = state.limits().max_batch;
    let inferred = if body.len() <= INLINE_BYTES {
        infer_loaded(
            &loaded,
            state.model_name(),
            max_batch,
            header_length.as_ref(),
            &body,
        )?
    } else {
        let loaded = Arc::clone(&loaded);
        let model_name = state.model_name().to_owned();
        // A large batch takes milliseconds to parse and predict: keep it off the request workers.
        tokio::task::spawn_blocking(move || {
            infer_loaded(
                &loaded,
                &model_name,
                max_batch,
                header_length.as_ref(),
                &body,
            )
        })
        .await
        .map_err(|error| {
            V2Error::Internal(InternalCause::new(format!("inference task: {error}")))
        })??
    };
    record_predictions(state, &loaded, &inferred, started);
    Ok(respond(inferred.encoded))
}

/// Records what a request predicted, as `/api/predict` records it.
fn record_predictions(
    state: &AppState,
    loaded: &LoadedModel,
    inferred: &Inferred,
    started: Instant,
) {
    let predicted = match &inferred.predicted {
        Predicted::Classes { class_indices, .. } => telemetry::Predicted::Classes {
            class_indices,
            labels: &loaded.label_texts,
        },
        Predicted::Values(_) => telemetry::Predicted::Values {
            n_rows: inferred.n_rows,
        },
    };
    state
        .metrics()
        .record_predictions(&loaded.version, predicted, started.elapsed());
}

/// [`infer_body`] with the served model, answering as `model_name`.
fn infer_loaded(
    loaded: &LoadedModel,
    model_name: &str,
    max_batch: usize,
    header_length: Option<&HeaderValue>,
    body: &[u8],
) -> Result<Inferred, V2Error> {
    let answering = Answering {
        name: model_name,
        version: &loaded.version,
        task: &loaded.model.schema().task,
    };
    infer_body(&loaded.model, answering, max_batch, header_length, body)
}

/// An answered inference request: its body, and what was predicted, for telemetry.
#[derive(Debug)]
pub(crate) struct Inferred {
    pub(crate) encoded: Encoded,
    predicted: Predicted,
    n_rows: usize,
}

/// Answers the inference request in `body` (split by `header_length`, the
/// `Inference-Header-Content-Length` value) with `model`, answering as `answering`.
pub(crate) fn infer_body(
    model: &Model,
    answering: Answering<'_>,
    max_batch: usize,
    header_length: Option<&HeaderValue>,
    body: &[u8],
) -> Result<Inferred, V2Error> {
    let predictor = model.predictor();
    let n_features = predictor.n_features();
    match split_body(header_length, body)? {
        Body::Framed { json, binary } => {
            let mut request = InferenceRequest::parse(json)?;
            let rows = request.take_rows(n_features, max_batch, binary)?;
            let wanted = request.wanted_outputs(answering.task)?;
            let predicted = predict(model, &rows, request.input_name())?;
            let encoded = encode(
                answering,
                request.id.as_deref(),
                &wanted,
                rows.n_rows,
                &predicted,
            )?;
            Ok(Inferred {
                encoded,
                predicted,
                n_rows: rows.n_rows,
            })
        }
        Body::Raw(raw) => {
            let rows = raw_rows(raw, n_features, max_batch)?;
            // No JSON to say otherwise: every output, as binary data.
            let wanted: Vec<Wanted> = Output::of_task(answering.task)
                .iter()
                .map(|&output| Wanted {
                    output,
                    binary: true,
                })
                .collect();
            let predicted = predict(model, &rows, RAW_INPUT)?;
            let encoded = encode(answering, None, &wanted, rows.n_rows, &predicted)?;
            Ok(Inferred {
                encoded,
                predicted,
                n_rows: rows.n_rows,
            })
        }
    }
}

/// Predicts `rows`: one row the way `/api/predict` predicts one, more as a batch.
fn predict(model: &Model, rows: &Rows, input: &str) -> Result<Predicted, V2Error> {
    let predictor = model.predictor();
    let predicted = if rows.n_rows == 1 {
        predictor
            .predict_one(&rows.values)
            .map(|prediction| match prediction {
                Prediction::Class(class) => Predicted::Classes {
                    class_indices: vec![class.class_index],
                    probabilities: class.probabilities,
                },
                Prediction::Values(values) => Predicted::Values(values),
            })
    } else {
        let batch = ArrayView2::from_shape((rows.n_rows, predictor.n_features()), &rows.values)
            .map_err(|error| {
                V2Error::Internal(InternalCause::new(format!(
                    "rows checked against the shape do not fill it: {error}"
                )))
            })?;
        predictor
            .predict_batch(batch)
            .map(|prediction| match prediction {
                BatchPrediction::Classes(classes) => Predicted::Classes {
                    class_indices: classes.class_indices,
                    probabilities: classes.probabilities.into_raw_vec_and_offset().0,
                },
                BatchPrediction::Values(values) => {
                    Predicted::Values(values.into_raw_vec_and_offset().0)
                }
            })
    };
    predicted.map_err(|error| match error {
        InputError::NonFinite { .. } => V2Error::NonFinite {
            input: bounded(input),
            detail: error.to_string(),
        },
        // Lengths and row counts were checked against the shape already.
        _ => V2Error::Internal(InternalCause::new(format!(
            "rows checked against the shape were refused: {error}"
        ))),
    })
}

/// The HTTP response for an encoded body: JSON, or JSON then binary data with the header that
/// says where the JSON ends.
fn respond(encoded: Encoded) -> Response {
    match encoded.json_length {
        None => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            encoded.body,
        )
            .into_response(),
        Some(json_length) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                ),
                (
                    header::HeaderName::from_static(HEADER_LENGTH),
                    HeaderValue::from(json_length),
                ),
            ],
            encoded.body,
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use fluxops_inference::{ClassLabels, Task};
    use serde_json::{Value, json};

    use super::*;
    use crate::v2::fixtures::stump_model;

    fn answer_of(model: &Model, header: Option<&str>, body: &[u8]) -> Result<Encoded, String> {
        let answering = Answering {
            name: "m",
            version: "v1",
            task: &model.schema().task,
        };
        let header = header.map(|value| HeaderValue::from_str(value).expect("header"));
        infer_body(model, answering, 4, header.as_ref(), body)
            .map(|inferred| inferred.encoded)
            .map_err(|error| error.to_string())
    }

    fn json_answer(model: &Model, request: Value) -> Result<Value, String> {
        let body = serde_json::to_vec(&request).expect("JSON");
        let encoded = answer_of(model, None, &body)?;
        assert_eq!(encoded.json_length, None);
        Ok(serde_json::from_slice(&encoded.body).expect("JSON answer"))
    }

    fn rows_request(data: Value, shape: Value) -> Value {
        json!({"id": "r1", "inputs": [{"name": "x", "shape": shape, "datatype": "FP64", "data": data}]})
    }

    #[test]
    fn a_regressor_answers_predict_as_fp64_values() {
        let model = stump_model(Task::Regressor {}, 1);
        let answer = json_answer(
            &model,
            rows_request(json!([[0.0, 0.0], [1.0, 0.0]]), json!([2, 2])),
        );
        assert_eq!(
            answer,
            Ok(
                json!({"model_name": "m", "model_version": "v1", "id": "r1", "outputs": [
                {"name": "predict", "datatype": "FP64", "shape": [2, 1], "data": [0.25, 0.75]}]})
            )
        );
        let single = json_answer(&model, rows_request(json!([1.0, 0.0]), json!([2])));
        assert_eq!(
            single.map(|answer| answer["outputs"][0]["data"].clone()),
            Ok(json!([0.75]))
        );
        let proba = json!({"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1, 0]}],
            "outputs": [{"name": "predict_proba"}]});
        assert_eq!(
            json_answer(&model, proba),
            Err("the model has no output `predict_proba`; it produces `predict` only".to_owned())
        );
    }

    #[test]
    fn a_string_label_classifier_answers_bytes_labels_and_probabilities() {
        let labels = ClassLabels::Strings(vec!["cold".to_owned(), "warm".to_owned()]);
        // One output for two classes: the probability of the second, "warm".
        let model = stump_model(Task::Classifier { labels }, 1);
        let answer = json_answer(
            &model,
            rows_request(json!([[0.0, 0.0], [1.0, 0.0]]), json!([2, 2])),
        )
        .expect("answered");
        assert_eq!(
            answer["outputs"],
            json!([
                {"name": "predict", "datatype": "BYTES", "shape": [2, 1], "data": ["cold", "warm"]},
                {"name": "predict_proba", "datatype": "FP64", "shape": [2, 2],
                 "data": [0.75, 0.25, 0.25, 0.75]}])
        );
    }

    #[test]
    fn binary_in_binary_out() {
        let labels = ClassLabels::Integers(vec![10, 20]);
        let model = stump_model(Task::Classifier { labels }, 1);
        let header = json!({"inputs": [{"name": "x", "shape": [3, 2], "datatype": "FP32",
            "parameters": {"binary_data_size": 24}}],
            "outputs": [{"name": "predict", "parameters": {"binary_data": true}}]});
        let mut body = serde_json::to_vec(&header).expect("JSON");
        let json_length = body.len();
        for value in [0.0_f32, 0.0, 1.0, 0.0, 0.5, 9.0] {
            body.extend_from_slice(&value.to_le_bytes());
        }
        let encoded = answer_of(&model, Some(&json_length.to_string()), &body).expect("answered");
        let answer_length = encoded.json_length.expect("a binary answer");
        let answer: Value =
            serde_json::from_slice(&encoded.body[..answer_length]).expect("JSON header");
        assert_eq!(
            answer["outputs"],
            json!([{"name": "predict", "datatype": "INT64", "shape": [3, 1],
                    "parameters": {"binary_data_size": 24}}])
        );
        let labels: Vec<i64> = encoded.body[answer_length..]
            .chunks_exact(8)
            .map(|chunk| i64::from_le_bytes(chunk.try_into().expect("8 bytes")))
            .collect();
        // 0.5 <= 0.5 goes left: the first class.
        assert_eq!(labels, [10, 20, 10]);
    }

    #[test]
    fn a_raw_binary_body_answers_every_output_in_binary() {
        let model = stump_model(Task::Regressor {}, 1);
        let body: Vec<u8> = [1.0_f64, 0.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let encoded = answer_of(&model, Some("0"), &body).expect("answered");
        let json_length = encoded.json_length.expect("binary");
        assert_eq!(&encoded.body[json_length..], 0.75_f64.to_le_bytes());
    }

    #[test]
    fn non_finite_values_name_the_row_and_feature() {
        let model = stump_model(Task::Regressor {}, 1);
        let header = json!({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64",
            "parameters": {"binary_data_size": 32}}]});
        let mut body = serde_json::to_vec(&header).expect("JSON");
        let json_length = body.len().to_string();
        for value in [0.0, 0.0, 1.0, f64::INFINITY] {
            body.extend_from_slice(&value.to_le_bytes());
        }
        assert_eq!(
            answer_of(&model, Some(&json_length), &body).map(|_| ()),
            Err(
                "input `x`: row 1: feature 1 is not a finite number; send finite numbers only"
                    .to_owned()
            )
        );
    }
}
