//! `POST /api/predict`: one row (`features`) or a batch (`instances`), for any model: a
//! classifier answers a label with its class probabilities, a regressor a number.

mod request;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use fluxops_inference::{BatchPrediction, ClassLabel, InputError, Prediction, Predictor};
use fluxops_telemetry::Predicted;
use ndarray::ArrayView2;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use self::request::{Expect, Parsed, Rows};
use crate::blocking::{Cancellation, run_blocking};
use crate::body::JsonBody;
use crate::error::{ApiError, ErrorBody, InternalCause};
use crate::state::{AppState, LoadedModel};

/// The answer to a `features` request (the original project's shape plus `model_version`); a
/// regressor's has `prediction` and `model_version` only.
///
/// The OpenAPI document describes these answers per model (`super::openapi`).
#[derive(Debug, Serialize)]
struct SinglePrediction<'a> {
    /// The predicted class label (a number or a string, as the model's labels are), or a
    /// regressor's value (an array of numbers for a model with several outputs).
    prediction: Answer<'a>,
    /// A classifier's probability of each class, keyed `class_<label>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    probability: Option<Probabilities<'a>>,
    /// A classifier's probability of the predicted class.
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence: Option<f64>,
    /// Registry version of the model that answered.
    model_version: &'a str,
}

/// The answer to an `instances` request.
#[derive(Debug, Serialize)]
struct BatchPredictions<'a> {
    /// One prediction per row, in request order.
    predictions: Vec<RowPrediction<'a>>,
    /// Registry version of the model that answered.
    model_version: &'a str,
}

/// The prediction for one row of a batch.
#[derive(Debug, Serialize)]
struct RowPrediction<'a> {
    /// The predicted class label, or a regressor's value.
    prediction: Answer<'a>,
    /// A classifier's probability of each class, keyed `class_<label>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    probability: Option<Probabilities<'a>>,
    /// A classifier's probability of the predicted class.
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence: Option<f64>,
}

/// What a model predicted for a row: a class label, or a regressor's values.
#[derive(Debug)]
enum Answer<'a> {
    /// A class label: a JSON number or string, as the model's labels are.
    Label(ClassLabel<'a>),
    /// A regressor's values: a number for one output, an array for several.
    Values(&'a [f64]),
}

impl Serialize for Answer<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Answer::Label(ClassLabel::Integer(label)) => serializer.serialize_i64(*label),
            Answer::Label(ClassLabel::String(label)) => serializer.serialize_str(label),
            Answer::Values([value]) => serializer.serialize_f64(*value),
            Answer::Values(values) => {
                let mut seq = serializer.serialize_seq(Some(values.len()))?;
                for value in *values {
                    seq.serialize_element(value)?;
                }
                seq.end()
            }
        }
    }
}

/// Class probabilities written as a JSON object in class order: `{"class_<label>": p, ...}`.
#[derive(Debug)]
struct Probabilities<'a> {
    keys: &'a [String],
    values: &'a [f64],
}

impl Serialize for Probabilities<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.keys.len()))?;
        for (key, value) in self.keys.iter().zip(self.values) {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Predicts the class (or value) of one row (`features`) or of each row of a batch
/// (`instances`).
#[utoipa::path(
    post,
    path = "/api/predict",
    tag = "predictions",
    responses(
        (status = 200, description = "Predicted class and class probabilities, or a regressor's value"),
        (status = 400, description = "`invalid_json`, `missing_features`, `features_and_instances`, `wrong_feature_count`, `non_finite_feature` or `empty_batch`", body = ErrorBody),
        (status = 413, description = "`payload_too_large` or `batch_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type` (send Content-Type: application/json) or `unsupported_content_encoding` (send the body uncompressed)", body = ErrorBody),
        (status = 422, description = "`invalid_request`: valid JSON of the wrong shape or types", body = ErrorBody),
        (status = 503, description = "`model_unavailable` (no model is loaded yet) or `overloaded` (retry after Retry-After seconds)", body = ErrorBody),
        (status = 504, description = "`timeout`: the request took longer than the handler allows", body = ErrorBody),
    )
)]
pub(crate) async fn predict(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    answer(&state, body).await
}

/// Bodies up to this size (a single row, or a batch of a few dozen rows) are answered in place;
/// larger ones on the blocking pool, parsing and predicting in one trip.
const INLINE_BYTES: usize = 8 * 1024;

/// Rows predicted between two looks at the request's cancellation.
const ROWS_PER_STEP: usize = 1024;

async fn answer(state: &AppState, body: Bytes) -> Result<Response, ApiError> {
    let started = Instant::now();
    // The model a request starts with answers it whole, however the registry moves meanwhile.
    let loaded = state.model();
    let job = Job {
        max_batch: state.limits().max_batch,
        started,
    };
    if body.len() <= INLINE_BYTES {
        return job
            .run(&body, loaded.as_deref(), &Cancellation::default())
            .map(|(response, predicted)| job.record(state, &loaded, predicted, response));
    }
    let work = {
        let loaded = loaded.clone();
        move |cancellation: &Cancellation| job.run(&body, loaded.as_deref(), cancellation)
    };
    run_blocking(work)
        .await
        .map_err(|error| {
            ApiError::Internal(InternalCause::new(format!("prediction task: {error}")))
        })?
        .map(|(response, predicted)| job.record(state, &loaded, predicted, response))
}

/// What one request asks, minus its body.
#[derive(Debug, Clone, Copy)]
struct Job {
    max_batch: usize,
    started: Instant,
}

/// The rows a request predicted, for telemetry.
enum Outcome {
    /// One row's class index.
    Class(usize),
    /// Class indices, one per row.
    Classes(Vec<usize>),
    /// A regressor's rows.
    Values { n_rows: usize },
}

impl Job {
    /// Parses `body` and predicts with `loaded`, giving up once `cancellation` is set.
    fn run(
        self,
        body: &[u8],
        loaded: Option<&LoadedModel>,
        cancellation: &Cancellation,
    ) -> Result<(Response, Outcome), ApiError> {
        let predictor = loaded.map(|loaded| loaded.model.predictor());
        let expect = Expect {
            max_batch: self.max_batch,
            n_features: predictor.map(Predictor::n_features),
        };
        let request = request::parse(body, expect)?;
        let loaded = loaded.ok_or(ApiError::ModelUnavailable)?;
        if cancellation.is_cancelled() {
            return Err(ApiError::Timeout);
        }
        match request {
            Parsed::One(features) => predict_one(loaded, &features),
            Parsed::Batch(rows) => predict_batch(loaded, &rows, cancellation),
        }
    }

    /// Records the request's predictions and hands the response on.
    fn record(
        self,
        state: &AppState,
        loaded: &Option<Arc<LoadedModel>>,
        outcome: Outcome,
        response: Response,
    ) -> Response {
        if let Some(loaded) = loaded {
            let labels = &loaded.label_texts;
            let predicted = match &outcome {
                Outcome::Class(class_index) => Predicted::Classes {
                    class_indices: std::slice::from_ref(class_index),
                    labels,
                },
                Outcome::Classes(class_indices) => Predicted::Classes {
                    class_indices,
                    labels,
                },
                Outcome::Values { n_rows } => Predicted::Values { n_rows: *n_rows },
            };
            state
                .metrics()
                .record_predictions(&loaded.version, predicted, self.started.elapsed());
        }
        response
    }
}

fn predict_one(loaded: &LoadedModel, features: &[f64]) -> Result<(Response, Outcome), ApiError> {
    let predictor = loaded.model.predictor();
    let prediction = predictor
        .predict_one(features)
        .map_err(|error| ApiError::from_input(error, predictor.n_features()))?;
    let (body, outcome) = match &prediction {
        Prediction::Class(class) => (
            SinglePrediction {
                prediction: Answer::Label(class.label),
                probability: Some(Probabilities {
                    keys: &loaded.class_keys,
                    values: &class.probabilities,
                }),
                confidence: Some(class.confidence),
                model_version: &loaded.version,
            },
            Outcome::Class(class.class_index),
        ),
        Prediction::Values(values) => (
            SinglePrediction {
                prediction: Answer::Values(values),
                probability: None,
                confidence: None,
                model_version: &loaded.version,
            },
            Outcome::Values { n_rows: 1 },
        ),
    };
    Ok((json_response(&body, 128), outcome))
}

fn predict_batch(
    loaded: &LoadedModel,
    rows: &Rows,
    cancellation: &Cancellation,
) -> Result<(Response, Outcome), ApiError> {
    let predictor = loaded.model.predictor();
    let n_features = predictor.n_features();
    let mut class_indices = Vec::new();
    // Row-major: a class probability or a regressor's value per output and row.
    let mut table = Vec::new();
    let mut width = 0;
    for first_row in (0..rows.n_rows).step_by(ROWS_PER_STEP) {
        if cancellation.is_cancelled() {
            return Err(ApiError::Timeout);
        }
        let n_rows = ROWS_PER_STEP.min(rows.n_rows - first_row);
        let values = &rows.values[first_row * n_features..(first_row + n_rows) * n_features];
        let step = ArrayView2::from_shape((n_rows, n_features), values)
            .map_err(|error| ApiError::Internal(InternalCause::new(error)))
            .and_then(|step| {
                predictor
                    .predict_batch(step)
                    .map_err(|error| batch_error(error, first_row, n_features))
            })?;
        let part = match step {
            BatchPrediction::Classes(classes) => {
                class_indices.extend_from_slice(&classes.class_indices);
                classes.probabilities
            }
            BatchPrediction::Values(values) => values,
        };
        width = part.ncols();
        table.extend(part.iter());
    }
    let is_classifier = !loaded.class_keys.is_empty();
    let predictions: Vec<RowPrediction<'_>> = table
        .chunks_exact(width.max(1))
        .enumerate()
        .map(|(row, values)| match class_indices.get(row) {
            Some(&class) if is_classifier => RowPrediction {
                prediction: Answer::Label(
                    predictor
                        .class_label(class)
                        .expect("a classifier predicts one of its classes"),
                ),
                probability: Some(Probabilities {
                    keys: &loaded.class_keys,
                    values,
                }),
                confidence: Some(values[class]),
            },
            _ => RowPrediction {
                prediction: Answer::Values(values),
                probability: None,
                confidence: None,
            },
        })
        .collect();
    if cancellation.is_cancelled() {
        return Err(ApiError::Timeout);
    }
    let body = BatchPredictions {
        predictions,
        model_version: &loaded.version,
    };
    let capacity = 64 + rows.n_rows * (16 + 32 * width);
    let response = json_response(&body, capacity);
    let outcome = if is_classifier {
        Outcome::Classes(class_indices)
    } else {
        Outcome::Values {
            n_rows: rows.n_rows,
        }
    };
    Ok((response, outcome))
}

/// An input error from a step of a batch, naming the row in the whole batch.
fn batch_error(error: InputError, first_row: usize, n_features: usize) -> ApiError {
    let error = match error {
        InputError::NonFinite {
            row: Some(row),
            index,
        } => InputError::NonFinite {
            row: Some(first_row + row),
            index,
        },
        InputError::WrongFeatureCount {
            row: Some(row),
            expected,
            actual,
        } => InputError::WrongFeatureCount {
            row: Some(first_row + row),
            expected,
            actual,
        },
        other => other,
    };
    ApiError::from_input(error, n_features)
}

/// A 200 answer with `body` as JSON, written into a buffer of about `capacity` bytes.
fn json_response(body: &impl Serialize, capacity: usize) -> Response {
    let mut bytes = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut bytes, body)
        .expect("a response of strings, numbers and string-keyed maps always serialises");
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_keep_class_order() {
        let keys = [
            "class_10".to_owned(),
            "class_2".to_owned(),
            "class_-1".to_owned(),
        ];
        let probabilities = Probabilities {
            keys: &keys,
            values: &[0.5, 0.25, 0.25],
        };
        assert_eq!(
            serde_json::to_string(&probabilities).expect("serialises"),
            r#"{"class_10":0.5,"class_2":0.25,"class_-1":0.25}"#
        );
    }

    #[test]
    fn answers_are_labels_numbers_or_arrays() {
        let json = |answer: Answer<'_>| serde_json::to_string(&answer).expect("serialises");
        assert_eq!(json(Answer::Label(ClassLabel::Integer(-3))), "-3");
        assert_eq!(json(Answer::Label(ClassLabel::String("cat"))), "\"cat\"");
        assert_eq!(json(Answer::Values(&[2.5])), "2.5");
        assert_eq!(json(Answer::Values(&[2.5, -1.0])), "[2.5,-1.0]");
    }

    #[test]
    fn a_row_error_in_a_later_step_names_the_row_in_the_whole_batch() {
        let error = batch_error(
            InputError::NonFinite {
                row: Some(3),
                index: 1,
            },
            2048,
            10,
        );
        assert!(
            error.to_string().starts_with("row 2051: feature 1"),
            "{error}"
        );
    }
}
