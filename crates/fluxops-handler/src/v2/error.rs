//! The V2 error: the protocol's `{"error": "<message>"}` body with the right status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{Failure, InternalCause};

/// Everything that can go wrong with a V2 request.
///
/// The protocol gives an error only a message, so the message is the contract: each one says
/// what was wrong and what to send instead, in wording kept stable. Text that came from the
/// caller (names, datatypes, paths) is cut short with [`bounded`] before it is echoed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum V2Error {
    /// Not a well-formed inference request: broken JSON, a missing field, a wrong type.
    #[error(
        "the body is not a valid inference request ({0}); send {{\"inputs\": [{{\"name\": \"input-0\", \"shape\": [rows, features], \"datatype\": \"FP64\", \"data\": [...]}}]}}"
    )]
    InvalidRequest(String),
    /// `Inference-Header-Content-Length` is not a byte count within the body.
    #[error(
        "the Inference-Header-Content-Length header must give the JSON header's length in bytes, at most the body's {body_length}; got {value:?}"
    )]
    InvalidHeaderLength {
        /// The header's value.
        value: String,
        /// Bytes in the body.
        body_length: usize,
    },
    /// Not exactly one input tensor.
    #[error("the model takes one input of shape [rows, {n_features}]; the request has {count}")]
    WrongInputCount {
        /// Inputs in the request.
        count: usize,
        /// Features the model takes.
        n_features: usize,
    },
    /// A datatype the protocol does not define, or one the model cannot take as input.
    #[error(
        "input `{input}`: datatype `{datatype}` {reason}; send FP64, FP32, an integer type (INT8 to INT64, UINT8 to UINT64) or BOOL"
    )]
    UnsupportedDatatype {
        /// Name of the input.
        input: String,
        /// The datatype given.
        datatype: String,
        /// `is not a tensor datatype` or `cannot be a feature value`.
        reason: &'static str,
    },
    /// A shape that is neither `[rows, features]` nor `[features]`.
    #[error(
        "input `{input}`: shape {shape} has {rank} dimensions; send [rows, {n_features}], or [{n_features}] for one row"
    )]
    WrongRank {
        /// Name of the input.
        input: String,
        /// The shape given, written out by [`shape_text`].
        shape: String,
        /// Its number of dimensions.
        rank: usize,
        /// Features the model takes.
        n_features: usize,
    },
    /// Rows of the wrong length.
    #[error(
        "input `{input}`: expected {expected} features per row, got {actual}; send shape [rows, {expected}]"
    )]
    WrongFeatureCount {
        /// Name of the input.
        input: String,
        /// Features the model takes.
        expected: usize,
        /// The row length the shape gives.
        actual: u64,
    },
    /// A shape with no rows.
    #[error("input `{input}` has no rows; send at least one")]
    EmptyBatch {
        /// Name of the input.
        input: String,
    },
    /// More rows than `FLUXOPS_MAX_BATCH`.
    #[error("the batch has {rows} rows; send at most {limit} per request")]
    BatchTooLarge {
        /// Rows in the shape.
        rows: u64,
        /// The configured limit.
        limit: usize,
    },
    /// `data` that does not fill the shape.
    #[error(
        "input `{input}`: shape {shape} holds {expected} values, but `data` has {actual}; send the values of every row, row-major"
    )]
    DataLengthMismatch {
        /// Name of the input.
        input: String,
        /// The shape given.
        shape: String,
        /// The shape's product.
        expected: usize,
        /// Values in `data`.
        actual: usize,
    },
    /// Binary data whose size does not fit the shape and datatype.
    #[error(
        "input `{input}`: shape {shape} of {datatype} takes {expected} bytes, but `binary_data_size` is {declared}; send exactly the tensor's bytes"
    )]
    BinarySizeMismatch {
        /// Name of the input.
        input: String,
        /// The shape given.
        shape: String,
        /// The datatype given.
        datatype: &'static str,
        /// Bytes the shape and datatype take.
        expected: u64,
        /// Bytes declared.
        declared: u64,
    },
    /// An element the datatype cannot hold.
    #[error("input `{input}`: element {index} {problem}")]
    BadElement {
        /// Name of the input.
        input: String,
        /// Index of the element, row-major.
        index: usize,
        /// What is wrong with it, with what to send instead.
        problem: String,
    },
    /// A NaN or infinite value.
    #[error("input `{input}`: {detail}; send finite numbers only")]
    NonFinite {
        /// Name of the input.
        input: String,
        /// The inference core's description, naming the row and feature.
        detail: String,
    },
    /// An input with no values at all.
    #[error(
        "input `{input}` has no `data` and no `binary_data_size` parameter; send the values in `data`, or as binary data after the JSON header"
    )]
    MissingData {
        /// Name of the input.
        input: String,
    },
    /// An input with values twice.
    #[error(
        "input `{input}` has both `data` and a `binary_data_size` parameter; send the values one way"
    )]
    DataTwice {
        /// Name of the input.
        input: String,
    },
    /// `binary_data_size` in a body that has no binary part.
    #[error(
        "input `{input}` has a `binary_data_size` parameter, but the request has no Inference-Header-Content-Length header; send the JSON header's length in it"
    )]
    BinaryWithoutHeader {
        /// Name of the input.
        input: String,
    },
    /// `binary_data_size` beyond the end of the body.
    #[error(
        "input `{input}`: `binary_data_size` is {declared} bytes, but {available} bytes follow the JSON header"
    )]
    BinaryPastEnd {
        /// Name of the input.
        input: String,
        /// Bytes declared.
        declared: u64,
        /// Bytes after the JSON header.
        available: usize,
    },
    /// Bytes after the JSON header that no input claims.
    #[error(
        "the body has {extra} bytes after the JSON header that no input claims; give the binary input its `binary_data_size`"
    )]
    UnclaimedBinary {
        /// Bytes left over.
        extra: usize,
    },
    /// A raw binary body (`Inference-Header-Content-Length: 0`) that is not whole rows.
    #[error(
        "a body with Inference-Header-Content-Length: 0 must be whole rows of {n_features} FP64 values ({row_bytes} bytes each); got {length} bytes"
    )]
    RawBinaryLength {
        /// Features the model takes.
        n_features: usize,
        /// Bytes per row.
        row_bytes: usize,
        /// Bytes in the body.
        length: usize,
    },
    /// A parameter for an extension this server does not offer.
    #[error("{place}: parameter `{parameter}` is not supported here ({why}); leave it out")]
    UnsupportedParameter {
        /// `input \`x\`` or `output \`y\``.
        place: String,
        /// The parameter's name.
        parameter: &'static str,
        /// Which extension it belongs to.
        why: &'static str,
    },
    /// An output the model does not produce.
    #[error("the model has no output `{requested}`; it produces {available}")]
    UnknownOutput {
        /// The output asked for.
        requested: String,
        /// The outputs the model produces, listed.
        available: &'static str,
    },
    /// The same output asked for twice.
    #[error("output `{0}` is requested twice; ask for each output once")]
    DuplicateOutput(String),
    /// A model name this server does not serve.
    #[error("unknown model `{requested}`; this server serves `{served}`")]
    UnknownModel {
        /// The name in the path.
        requested: String,
        /// The registry name of the served model.
        served: String,
    },
    /// A version of the model that is not the one being served.
    #[error(
        "model `{name}` has no version `{requested}` here; the served version is `{served}` (or leave the version out)"
    )]
    UnknownVersion {
        /// The model's name.
        name: String,
        /// The version in the path.
        requested: String,
        /// The version being served.
        served: String,
    },
    /// The model is not loaded (yet).
    #[error(
        "model `{name}` is not ready yet; retry shortly (GET /v2/health/ready answers 200 once it is)"
    )]
    NotReady {
        /// The model's name.
        name: String,
    },
    /// No V2 route at this path.
    #[error("no route {method} {path}; see /v2/openapi.json for the V2 routes")]
    NoRoute {
        /// The method used.
        method: String,
        /// The path requested.
        path: String,
    },
    /// A V2 route that does not take this method.
    #[error("{method} is not allowed on {path}; see /v2/openapi.json for the V2 routes")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The path requested.
        path: String,
    },
    /// Anything unexpected; the cause goes to the logs and telemetry only.
    #[error("internal error; retry, and report it with the x-request-id header if it persists")]
    Internal(InternalCause),
}

/// The body of every V2 error: the protocol's error object.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct V2ErrorBody {
    /// What went wrong and what to send instead.
    #[schema(
        example = "input `input-0`: expected 10 features per row, got 3; send shape [rows, 10]"
    )]
    error: String,
}

impl V2Error {
    /// The HTTP status the error is answered with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            V2Error::BatchTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            V2Error::UnknownModel { .. }
            | V2Error::UnknownVersion { .. }
            | V2Error::NoRoute { .. } => StatusCode::NOT_FOUND,
            V2Error::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            V2Error::NotReady { .. } => StatusCode::SERVICE_UNAVAILABLE,
            V2Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// A stable name for the kind of failure, for telemetry (the wire carries only the message).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            V2Error::InvalidRequest(_) => "v2_invalid_request",
            V2Error::InvalidHeaderLength { .. }
            | V2Error::BinaryWithoutHeader { .. }
            | V2Error::BinaryPastEnd { .. }
            | V2Error::UnclaimedBinary { .. }
            | V2Error::RawBinaryLength { .. }
            | V2Error::BinarySizeMismatch { .. } => "v2_binary_framing",
            V2Error::WrongInputCount { .. }
            | V2Error::WrongRank { .. }
            | V2Error::DataLengthMismatch { .. }
            | V2Error::MissingData { .. }
            | V2Error::DataTwice { .. } => "v2_wrong_tensor",
            V2Error::UnsupportedDatatype { .. } | V2Error::BadElement { .. } => "v2_wrong_datatype",
            V2Error::WrongFeatureCount { .. } => "wrong_feature_count",
            V2Error::EmptyBatch { .. } => "empty_batch",
            V2Error::NonFinite { .. } => "non_finite_feature",
            V2Error::BatchTooLarge { .. } => "batch_too_large",
            V2Error::UnsupportedParameter { .. }
            | V2Error::UnknownOutput { .. }
            | V2Error::DuplicateOutput(_) => "v2_wrong_outputs",
            V2Error::UnknownModel { .. } | V2Error::UnknownVersion { .. } => "v2_unknown_model",
            V2Error::NotReady { .. } => "model_unavailable",
            V2Error::NoRoute { .. } => "not_found",
            V2Error::MethodNotAllowed { .. } => "method_not_allowed",
            V2Error::Internal(_) => "internal",
        }
    }
}

impl V2Error {
    /// What the error means for operators, recorded by the edge middleware as an `/api` error's
    /// is: a caller's mistake by its kind, an internal error as an exception.
    pub(crate) fn failure(&self) -> Failure {
        match self {
            V2Error::Internal(cause) => Failure::Internal(cause.clone()),
            V2Error::NotReady { .. } => Failure::Unavailable,
            error => Failure::Refused(error.kind()),
        }
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        let body = V2ErrorBody {
            error: self.to_string(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        response.extensions_mut().insert(self.failure());
        response
    }
}

/// Caller text cut short enough to echo in a message (at most 100 characters, then `...`).
pub(crate) fn bounded(text: &str) -> String {
    const MAX_CHARS: usize = 100;
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A shape written out for a message: `[2, 10]`, with at most eight dimensions shown.
pub(crate) fn shape_text(shape: &[u64]) -> String {
    const MAX_DIMS: usize = 8;
    let shown: Vec<String> = shape.iter().take(MAX_DIMS).map(u64::to_string).collect();
    let more = if shape.len() > MAX_DIMS { ", ..." } else { "" };
    format!("[{}{more}]", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        serde_json::from_slice(&bytes).expect("JSON")
    }

    #[tokio::test]
    async fn errors_are_the_protocol_error_object_with_their_status() {
        let error = V2Error::BatchTooLarge {
            rows: 1001,
            limit: 1000,
        };
        let response = error.clone().into_response();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body = body_of(response).await;
        assert_eq!(
            body,
            serde_json::json!({"error": "the batch has 1001 rows; send at most 1000 per request"})
        );
        assert_eq!(error.kind(), "batch_too_large");
        assert_eq!(
            V2Error::NotReady {
                name: "fluxops".to_owned()
            }
            .status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            V2Error::InvalidRequest("x".to_owned()).status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[tokio::test]
    async fn internal_errors_say_nothing_about_the_cause() {
        let response = V2Error::Internal(InternalCause::new("secret cause")).into_response();
        assert_eq!(
            response.extensions().get::<Failure>(),
            Some(&Failure::Internal(InternalCause::new("secret cause")))
        );
        let body = body_of(response).await;
        assert!(!body.to_string().contains("secret"));
        assert_eq!(body.as_object().map(|object| object.len()), Some(1));
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|m| m.starts_with("internal error"))
        );
    }

    #[test]
    fn caller_text_and_shapes_are_cut_short() {
        assert_eq!(bounded("input-0"), "input-0");
        assert_eq!(bounded(&"é".repeat(300)).chars().count(), 103);
        assert_eq!(shape_text(&[2, 10]), "[2, 10]");
        assert_eq!(shape_text(&[]), "[]");
        assert_eq!(shape_text(&[1; 20]), "[1, 1, 1, 1, 1, 1, 1, 1, ...]");
    }
}
