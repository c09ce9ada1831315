use thiserror::Error;

/// Why an ONNX file was not read into an [`Ensemble`](crate::Ensemble).
///
/// Every message names what was refused (an operator, an attribute, a node of a tree) and, for
/// [`Error::Unsupported`], says what to do instead.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The file is larger than the caller's cap; nothing was decoded.
    #[error("the model file has {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Size of the file in bytes.
        size: usize,
        /// The caller's cap in bytes.
        limit: usize,
    },
    /// The bytes are not a readable ONNX protobuf message.
    #[error("the file is not a readable ONNX model: {0}")]
    NotOnnx(String),
    /// The model is valid ONNX but uses something this importer does not reproduce exactly.
    #[error("{what} is not supported: {advice}")]
    Unsupported {
        /// What was refused: an operator, an attribute or a value of one.
        what: String,
        /// Why, and what to do instead.
        advice: String,
    },
    /// The model contradicts the ONNX specification or itself (lengths that differ, a child
    /// that does not exist, a class index out of range).
    #[error("{what} is invalid: {problem}")]
    Invalid {
        /// The part of the model that is wrong.
        what: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl Error {
    pub(crate) fn unsupported(what: impl Into<String>, advice: impl Into<String>) -> Self {
        Self::Unsupported {
            what: what.into(),
            advice: advice.into(),
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            problem: problem.into(),
        }
    }
}

/// A row given to [`Ensemble::evaluate`](crate::Ensemble::evaluate) with the wrong number of
/// features.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("expected {expected} features, got {actual}")]
pub struct FeatureCountMismatch {
    /// Number of features the model reads.
    pub expected: usize,
    /// Number of values in the row.
    pub actual: usize,
}
