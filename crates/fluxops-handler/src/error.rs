//! The one error type every route and middleware failure renders through.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fluxops_inference::InputError;
use serde::Serialize;
use utoipa::ToSchema;

/// Everything that can go wrong with a request, each with a stable `error.code`.
///
/// Client mistakes carry a message that says what to send instead; internal failures say nothing
/// about why (the cause goes to the log where it happens).
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
    /// The request took longer than the handler allows.
    #[error("the request took too long; retry, and send the body promptly")]
    Timeout,
    /// Anything unexpected; the details are only in the log.
    #[error("internal error; retry, and report it with the x-request-id header if it persists")]
    Internal,
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
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::ModelUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
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
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::ModelUnavailable => "model_unavailable",
            ApiError::Timeout => "timeout",
            ApiError::Internal => "internal",
        }
    }

    /// Classifies a `serde_json` failure: broken syntax is 400, the wrong shape or types 422.
    pub(crate) fn from_json(error: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        match error.classify() {
            Category::Data => ApiError::InvalidRequest(error.to_string()),
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::InvalidJson(error.to_string())
            }
        }
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
        (self.status(), Json(self.body())).into_response()
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
        let body = serde_json::to_value(ApiError::Internal.body()).expect("serialises");
        assert_eq!(body["error"]["code"], "internal");
        assert!(
            !body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("panic")
        );
    }
}
