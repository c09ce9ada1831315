//! The one error type every route and middleware failure renders through.

use std::fmt;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fluxops_inference::InputError;
use serde::Serialize;
use utoipa::ToSchema;

/// Everything that can go wrong with a request, each with a stable `error.code`.
///
/// Client mistakes carry a message that says what to send instead, with any text of theirs cut
/// short; internal failures say nothing about why (the cause travels in [`InternalCause`] to the
/// logs and telemetry, never to the caller).
///
/// Its response carries the error itself in its extensions, so that the outermost middleware
/// can give it the body shape of the route's protocol ([`ErrorShape`]), and its [`Failure`], so
/// that the middleware records it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The body is not well-formed JSON (truncated, empty, numbers out of range, ...).
    #[error("the body is not valid JSON ({0}); send {{\"features\": [numbers]}}")]
    InvalidJson(String),
    /// Well-formed JSON of the wrong shape or types.
    #[error(
        "the body has the wrong shape ({0}); send {{\"features\": [numbers]}} or {{\"instances\": [[numbers], ...]}}"
    )]
    InvalidRequest(String),
    /// Neither `features` nor `instances`.
    #[error(
        "the body has no `features`; send {{\"features\": [numbers]}} or {{\"instances\": [[numbers], ...]}}"
    )]
    MissingFeatures,
    /// Both `features` and `instances`.
    #[error("send either `features` (one row) or `instances` (a batch), not both")]
    FeaturesAndInstances,
    /// A row has the wrong number of values.
    #[error("{message}; {}", send_rows_of(*expected, *in_batch))]
    WrongFeatureCount {
        /// The inference core's description, naming the row in a batch.
        message: String,
        /// Number of features the model takes.
        expected: usize,
        /// Whether the row came from `instances`.
        in_batch: bool,
    },
    /// A value is NaN or infinite.
    #[error("{0}; send finite numbers only")]
    NonFiniteFeature(String),
    /// An `instances` array with no rows.
    #[error("`instances` is empty; send at least one row")]
    EmptyBatch,
    /// More rows than `FLUXOPS_MAX_BATCH` (counted while parsing, which stops at one too many).
    #[error("the batch has more than {limit} rows; send at most {limit} per request")]
    BatchTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// A body larger than `FLUXOPS_MAX_BODY_BYTES`.
    #[error("the body is larger than {limit} bytes; send fewer rows per request")]
    PayloadTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// Missing or wrong `Content-Type`.
    #[error("send the body as JSON with the header Content-Type: application/json")]
    UnsupportedMediaType,
    /// A compressed (or otherwise encoded) request body.
    #[error(
        "request bodies are read as sent: drop the Content-Encoding header and send plain JSON"
    )]
    UnsupportedEncoding,
    /// No route at this path.
    #[error("no route {0}; see /api/openapi.json for the routes")]
    NotFound(String),
    /// The route exists but not for this method.
    #[error("{method} is not allowed on {path}; see /api/openapi.json for the routes")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The path requested.
        path: String,
    },
    /// No model has been loaded yet (or the registry has none).
    #[error("no model is loaded yet; retry shortly and see /api/health for the reason")]
    ModelUnavailable,
    /// As many requests as allowed are in flight; retry after the `Retry-After` seconds.
    #[error("the handler is at capacity; retry after the Retry-After seconds")]
    Overloaded,
    /// The request took longer than the handler allows.
    #[error("the request took too long; retry, and send the body promptly")]
    Timeout,
    /// Anything unexpected; the cause goes to the logs and telemetry only.
    #[error("internal error; retry, and report it with the x-request-id header if it persists")]
    Internal(InternalCause),
}

/// What went wrong inside, for operators: recorded as an exception, never shown to the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct InternalCause(Arc<str>);

impl InternalCause {
    /// A cause described by `detail`.
    pub fn new(detail: impl fmt::Display) -> Self {
        InternalCause(detail.to_string().into())
    }
}

impl fmt::Display for InternalCause {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for InternalCause {}

/// What an error answer means for operators. Every error response carries one in its
/// extensions, whichever protocol's error made it (`/api` or `/v2`), and the edge middleware
/// records it once: one metric or exception per kind of failure, the same on every route.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    /// The caller's mistake, counted as a validation failure by its stable code.
    Refused(&'static str),
    /// No model loaded yet: no failure of the service (health and the model-load telemetry say
    /// why), so nothing is recorded.
    Unavailable,
    /// Shed at the concurrency limit.
    Overloaded,
    /// Answered 504 by the timeout.
    TimedOut,
    /// Anything unexpected, recorded as an exception with its cause.
    Internal(InternalCause),
}

/// The body shape of an error answer: this API's, or the Open Inference Protocol's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{"error": {"code", "message"}}`, for `/api` and everything but `/v2`.
    Api,
    /// `{"error": "<message>"}`, for `/v2` (the Open Inference Protocol's error shape).
    V2,
}

impl ErrorShape {
    /// The shape of the errors of the route at `path`.
    pub fn for_path(path: &str) -> Self {
        if path == "/v2" || path.starts_with("/v2/") {
            ErrorShape::V2
        } else {
            ErrorShape::Api
        }
    }
}

/// Seconds a shed request is told to wait before retrying.
const RETRY_AFTER_SECS: &str = "1";

/// Most characters of a caller's own text (a path, a method, what the JSON parser quotes) that
/// an error message repeats; longer text keeps its start and end.
const MAX_ECHOED_CHARS: usize = 160;

/// `text` cut to at most [`MAX_ECHOED_CHARS`] characters: its start, `...`, and its end (where
/// the JSON parser says the line and column).
pub(crate) fn bounded(text: &str) -> String {
    let n_chars = text.chars().count();
    if n_chars <= MAX_ECHOED_CHARS {
        return text.to_owned();
    }
    let head: String = text.chars().take(MAX_ECHOED_CHARS - 40).collect();
    let tail: String = text.chars().skip(n_chars - 37).collect();
    format!("{head}...{tail}")
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The `error` object: a stable code for programs and a message for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, such as `wrong_feature_count`.
    #[schema(example = "wrong_feature_count")]
    pub code: &'static str,
    /// What went wrong and what to send instead.
    pub message: String,
}

impl ApiError {
    /// The HTTP status the error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidJson(_)
            | ApiError::MissingFeatures
            | ApiError::FeaturesAndInstances
            | ApiError::WrongFeatureCount { .. }
            | ApiError::NonFiniteFeature(_)
            | ApiError::EmptyBatch => StatusCode::BAD_REQUEST,
            ApiError::InvalidRequest(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BatchTooLarge { .. } | ApiError::PayloadTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::UnsupportedMediaType | ApiError::UnsupportedEncoding => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::ModelUnavailable | ApiError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable `error.code` string.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::MissingFeatures => "missing_features",
            ApiError::FeaturesAndInstances => "features_and_instances",
            ApiError::WrongFeatureCount { .. } => "wrong_feature_count",
            ApiError::NonFiniteFeature(_) => "non_finite_feature",
            ApiError::EmptyBatch => "empty_batch",
            ApiError::BatchTooLarge { .. } => "batch_too_large",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::UnsupportedEncoding => "unsupported_content_encoding",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::ModelUnavailable => "model_unavailable",
            ApiError::Overloaded => "overloaded",
            ApiError::Timeout => "timeout",
            ApiError::Internal(_) => "internal",
        }
    }

    /// What the error means for operators.
    pub(crate) fn failure(&self) -> Failure {
        match self {
            ApiError::Timeout => Failure::TimedOut,
            ApiError::Overloaded => Failure::Overloaded,
            ApiError::Internal(cause) => Failure::Internal(cause.clone()),
            ApiError::ModelUnavailable => Failure::Unavailable,
            error => Failure::Refused(error.code()),
        }
    }

    /// Classifies a `serde_json` failure: broken syntax is 400, the wrong shape or types 422.
    /// The parser's message may quote the body; it is cut short.
    pub(crate) fn from_json(error: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        let message = bounded(&error.to_string());
        match error.classify() {
            Category::Data => ApiError::InvalidRequest(message),
            Category::Syntax | Category::Eof | Category::Io => ApiError::InvalidJson(message),
        }
    }

    /// The JSON body of the answer in `shape`.
    pub fn shaped_body(&self, shape: ErrorShape) -> Body {
        let body = match shape {
            ErrorShape::Api => serde_json::to_vec(&self.body()),
            ErrorShape::V2 => serde_json::to_vec(&serde_json::json!({ "error": self.to_string() })),
        };
        Body::from(body.expect("an error body of two strings always serialises"))
    }

    /// The answer in `shape`, carrying the error in its extensions.
    pub fn into_response_shaped(self, shape: ErrorShape) -> Response {
        let mut response = (
            self.status(),
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.shaped_body(shape),
        )
            .into_response();
        if matches!(self, ApiError::Overloaded) {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        response.extensions_mut().insert(self.failure());
        response.extensions_mut().insert(self);
        response
    }

    /// Maps an input rejected by the model, keeping the row and index it names.
    pub(crate) fn from_input(error: InputError, n_features: usize) -> Self {
        match error {
            InputError::WrongFeatureCount { row, .. } => ApiError::WrongFeatureCount {
                message: error.to_string(),
                expected: n_features,
                in_batch: row.is_some(),
            },
            InputError::NonFinite { .. } => ApiError::NonFiniteFeature(error.to_string()),
            InputError::EmptyBatch => ApiError::EmptyBatch,
            // A kind added to the inference core later is still the caller's input.
            _ => ApiError::InvalidRequest(error.to_string()),
        }
    }

    fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
            },
        }
    }
}

fn send_rows_of(n_features: usize, in_batch: bool) -> String {
    if in_batch {
        format!("send every row of `instances` as [{n_features} numbers]")
    } else {
        format!("send {{\"features\": [{n_features} numbers]}}")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_response_shaped(ErrorShape::Api)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_syntax_is_400_and_json_types_are_422() {
        let syntax = serde_json::from_str::<Vec<f64>>("[1, 2").expect_err("truncated");
        assert_eq!(
            ApiError::from_json(&syntax).status(),
            StatusCode::BAD_REQUEST
        );
        let overflow = serde_json::from_str::<Vec<f64>>("[1e999]").expect_err("overflow");
        assert_eq!(ApiError::from_json(&overflow).code(), "invalid_json");
        let types = serde_json::from_str::<Vec<f64>>("[\"1\"]").expect_err("string");
        assert_eq!(
            ApiError::from_json(&types).status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[test]
    fn input_errors_keep_the_row_and_index() {
        let single = InputError::WrongFeatureCount {
            row: None,
            expected: 10,
            actual: 3,
        };
        let error = ApiError::from_input(single, 10);
        assert_eq!(error.code(), "wrong_feature_count");
        assert_eq!(
            error.to_string(),
            "expected 10 features, got 3; send {\"features\": [10 numbers]}"
        );
        let in_batch = InputError::WrongFeatureCount {
            row: Some(2),
            expected: 10,
            actual: 3,
        };
        assert_eq!(
            ApiError::from_input(in_batch, 10).to_string(),
            "row 2: expected 10 features, got 3; send every row of `instances` as [10 numbers]"
        );
        let error = ApiError::from_input(
            InputError::NonFinite {
                row: None,
                index: 4,
            },
            10,
        );
        assert_eq!(error.code(), "non_finite_feature");
        assert!(error.to_string().contains("feature 4"));
    }

    #[test]
    fn internal_errors_say_nothing_about_the_cause() {
        let error = ApiError::Internal(InternalCause::new("panic: secret detail"));
        let body = serde_json::to_value(error.body()).expect("serialises");
        assert_eq!(body["error"]["code"], "internal");
        assert!(!body.to_string().contains("secret"), "{body}");
    }

    #[test]
    fn a_response_carries_its_error_and_an_overload_says_when_to_retry() {
        let response = ApiError::Overloaded.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            response.extensions().get::<ApiError>(),
            Some(&ApiError::Overloaded)
        );
    }

    #[tokio::test]
    async fn v2_routes_get_the_open_inference_protocols_error_shape() {
        assert_eq!(ErrorShape::for_path("/v2/models/x/infer"), ErrorShape::V2);
        assert_eq!(ErrorShape::for_path("/v2"), ErrorShape::V2);
        assert_eq!(ErrorShape::for_path("/v2x"), ErrorShape::Api);
        assert_eq!(ErrorShape::for_path("/api/predict"), ErrorShape::Api);
        let response = ApiError::Timeout.into_response_shaped(ErrorShape::V2);
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
        let bytes = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(
            body,
            serde_json::json!({"error": ApiError::Timeout.to_string()})
        );
    }

    #[test]
    fn echoed_text_is_cut_short_keeping_its_start_and_end() {
        assert_eq!(bounded("short"), "short");
        let long = format!(
            "invalid type: string \"{}\" at line 1 column 9999",
            "x".repeat(10_000)
        );
        let cut = bounded(&long);
        assert_eq!(cut.chars().count(), 160);
        assert!(cut.starts_with("invalid type: string \"xxx"), "{cut}");
        assert!(cut.ends_with("at line 1 column 9999"), "{cut}");
        let error = serde_json::from_str::<Vec<f64>>(&format!("[\"{}\"]", "y".repeat(5000)))
            .expect_err("a string");
        assert!(ApiError::from_json(&error).to_string().len() < 400);
    }
}
