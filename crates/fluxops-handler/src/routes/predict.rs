//! `POST /api/predict`: one row (`features`) or a batch (`instances`).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fluxops_inference::{BatchPrediction, Prediction};
use fluxops_telemetry::Metrics;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, LoadedModel};

/// A prediction request: exactly one of `features` and `instances`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"features": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]}))]
pub(crate) struct PredictRequest {
    /// One row: a value per feature, in the model's feature order.
    features: Option<Vec<f64>>,
    /// Several rows, each a value per feature (at most `FLUXOPS_MAX_BATCH`).
    instances: Option<Vec<Vec<f64>>>,
}

/// The answer to a `features` request (the original project's shape plus `model_version`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SinglePrediction<'a> {
    /// The predicted class label.
    prediction: i64,
    /// Share of trees voting for each class, keyed `class_<label>`.
    #[schema(value_type = std::collections::HashMap<String, f64>, example = json!({"class_0": 0.13, "class_1": 0.87}))]
    probability: Probabilities<'a>,
    /// Probability of the predicted class.
    confidence: f64,
    /// Registry version of the model that answered.
    model_version: &'a str,
}

/// The answer to an `instances` request.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchPredictions<'a> {
    /// One prediction per row, in request order.
    predictions: Vec<RowPrediction<'a>>,
    /// Registry version of the model that answered.
    model_version: &'a str,
}

/// The prediction for one row of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RowPrediction<'a> {
    /// The predicted class label.
    prediction: i64,
    /// Share of trees voting for each class, keyed `class_<label>`.
    #[schema(value_type = std::collections::HashMap<String, f64>)]
    probability: Probabilities<'a>,
    /// Probability of the predicted class.
    confidence: f64,
}

/// Either answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum PredictResponse<'a> {
    /// For a `features` request.
    Single(SinglePrediction<'a>),
    /// For an `instances` request.
    Batch(BatchPredictions<'a>),
}

/// Class probabilities written as a JSON object in class order: `{"class_<label>": p, ...}`.
#[derive(Debug)]
struct Probabilities<'a> {
    keys: &'a [String],
    values: Vec<f64>,
}

impl Serialize for Probabilities<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.keys.len()))?;
        for (key, value) in self.keys.iter().zip(&self.values) {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Predicts the class of one row (`features`) or of each row of a batch (`instances`).
#[utoipa::path(
    post,
    path = "/api/predict",
    tag = "predictions",
    request_body(content = PredictRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Predicted class and class probabilities", body = PredictResponse),
        (status = 400, description = "`invalid_json`, `missing_features`, `wrong_feature_count`, `non_finite_feature` or `empty_batch`", body = ErrorBody),
        (status = 413, description = "`payload_too_large` or `batch_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: send Content-Type: application/json", body = ErrorBody),
        (status = 422, description = "`invalid_request`: valid JSON of the wrong shape or types", body = ErrorBody),
        (status = 503, description = "`model_unavailable`: no model is loaded yet", body = ErrorBody),
    )
)]
pub(crate) async fn predict(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let answer = answer(&state, &headers, body).await;
    if let Err(error) = &answer
        && error.status().is_client_error()
    {
        state.metrics().record_validation_failure(error.code());
    }
    answer
}

async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    if !is_json(headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge {
                limit: state.limits().max_body_bytes,
            }
        } else {
            ApiError::InvalidJson(format!("the body could not be read: {rejection}"))
        }
    })?;
    let request = if body.len() <= INLINE_PARSE_BYTES {
        parse(&body)?
    } else {
        // A large batch takes milliseconds to parse: keep it off the request workers too.
        tokio::task::spawn_blocking(move || parse(&body))
            .await
            .map_err(|error| {
                tracing::error!(%error, "request parsing task failed");
                ApiError::Internal
            })??
    };
    let loaded = state.model().ok_or(ApiError::ModelUnavailable)?;
    match (request.features, request.instances) {
        (Some(features), None) => predict_one(&loaded, &features, state.metrics(), started),
        (None, Some(instances)) => {
            let max_batch = state.limits().max_batch;
            if instances.len() > max_batch {
                return Err(ApiError::BatchTooLarge {
                    rows: instances.len(),
                    limit: max_batch,
                });
            }
            predict_batch(loaded, instances, state.metrics().clone(), started).await
        }
        (Some(_), Some(_)) => Err(ApiError::MissingFeatures(
            "send either `features` (one row) or `instances` (a batch), not both",
        )),
        (None, None) => Err(ApiError::MissingFeatures(
            "the body has no `features`; send {\"features\": [numbers]} or {\"instances\": [[numbers], ...]}",
        )),
    }
}

/// Bodies up to this size (a single row, or a batch of a few hundred rows) are parsed in place;
/// larger ones on the blocking pool.
const INLINE_PARSE_BYTES: usize = 16 * 1024;

/// Parses a request body, which must be a JSON object.
fn parse(body: &[u8]) -> Result<PredictRequest, ApiError> {
    // serde reads a struct from an array too (by position); only an object is a request here.
    if body.trim_ascii_start().first() == Some(&b'[') {
        return Err(ApiError::InvalidRequest(
            "the body is an array, not an object".to_owned(),
        ));
    }
    serde_json::from_slice(body).map_err(|error| ApiError::from_json(&error))
}

fn predict_one(
    loaded: &LoadedModel,
    features: &[f64],
    metrics: &Metrics,
    started: Instant,
) -> Result<Response, ApiError> {
    let predictor = loaded.model.predictor();
    let prediction = predictor
        .predict_one(features)
        .map_err(|error| ApiError::from_input(error, predictor.n_features()))?;
    // `LoadedModel` admits integer-label classifiers only.
    let Prediction::Class(prediction) = prediction else {
        return Err(ApiError::Internal);
    };
    let label = loaded.labels[prediction.class_index];
    metrics.record_predictions(&loaded.version, &[label], started.elapsed());
    let body = SinglePrediction {
        prediction: label,
        confidence: prediction.confidence,
        probability: Probabilities {
            keys: &loaded.class_keys,
            values: prediction.probabilities,
        },
        model_version: &loaded.version,
    };
    Ok(Json(PredictResponse::Single(body)).into_response())
}

async fn predict_batch(
    loaded: Arc<LoadedModel>,
    instances: Vec<Vec<f64>>,
    metrics: Metrics,
    started: Instant,
) -> Result<Response, ApiError> {
    // A full batch takes milliseconds: run it where it cannot hold up other requests.
    tokio::task::spawn_blocking(move || {
        let predictor = loaded.model.predictor();
        let n_features = predictor.n_features();
        let batch = predictor
            .rows_to_batch(&instances)
            .and_then(|rows| predictor.predict_batch(rows.view()))
            .map_err(|error| ApiError::from_input(error, n_features))?;
        // `LoadedModel` admits integer-label classifiers only.
        let BatchPrediction::Classes(batch) = batch else {
            return Err(ApiError::Internal);
        };
        let labels: Vec<i64> = batch
            .class_indices
            .iter()
            .map(|&class| loaded.labels[class])
            .collect();
        metrics.record_predictions(&loaded.version, &labels, started.elapsed());
        let predictions = labels
            .iter()
            .zip(batch.probabilities.rows())
            .enumerate()
            .map(|(row, (&label, probabilities))| RowPrediction {
                prediction: label,
                confidence: batch.confidence(row).unwrap_or_default(),
                probability: Probabilities {
                    keys: &loaded.class_keys,
                    values: probabilities.to_vec(),
                },
            })
            .collect();
        let body = BatchPredictions {
            predictions,
            model_version: &loaded.version,
        };
        Ok(Json(PredictResponse::Batch(body)).into_response())
    })
    .await
    .map_err(|error| {
        tracing::error!(%error, "batch prediction task failed");
        ApiError::Internal
    })?
}

/// Whether the request says its body is JSON (`application/json`, parameters allowed).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_content_types_are_accepted() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().expect("valid header"));
            is_json(&headers)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(!with("text/plain"));
        assert!(!with("application/jsonx"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn an_array_body_is_the_wrong_shape_not_a_request() {
        let error = parse(b" [[1, 2]]").expect_err("arrays are refused");
        assert_eq!(error.code(), "invalid_request");
        assert!(parse(br#"{"features": [1, 2]}"#).is_ok());
    }

    #[test]
    fn probabilities_keep_class_order() {
        let keys = [
            "class_10".to_owned(),
            "class_2".to_owned(),
            "class_-1".to_owned(),
        ];
        let probabilities = Probabilities {
            keys: &keys,
            values: vec![0.5, 0.25, 0.25],
        };
        assert_eq!(
            serde_json::to_string(&probabilities).expect("serialises"),
            r#"{"class_10":0.5,"class_2":0.25,"class_-1":0.25}"#
        );
    }
}
