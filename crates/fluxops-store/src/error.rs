//! The store's one error type: an [`Error`] whose message says what failed, where and what to
//! do, and an [`ErrorKind`] for callers that branch on the cause.

use std::fmt;
use std::io;

/// What went wrong with a registry operation, for callers that branch on the cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The model, version, pointer or container does not exist.
    NotFound,
    /// A version that is immutable already exists.
    AlreadyExists,
    /// A conditional write lost a race: someone else changed `latest` first.
    Conflict,
    /// Downloaded bytes do not match the digest in the pointer, or a stored document is malformed.
    Integrity,
    /// The identity or key is not allowed to do this (HTTP 401/403).
    PermissionDenied,
    /// The store could not be reached, or kept failing after retries.
    Unavailable,
    /// A name, version or source is not acceptable.
    InvalidInput,
    /// A local file operation failed.
    Io,
    /// An object is larger than the limit its read allows; it was not read whole.
    TooLarge,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Integrity => "integrity check failed",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::Io => "i/o error",
            ErrorKind::TooLarge => "too large",
        })
    }
}

/// A registry error: its kind, and a message naming the registry and object involved.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// Makes an error of `kind` with a message that says where and what.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The cause, for branching.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

/// The kind of a failed file operation.
pub(crate) fn io_error_kind(error: &io::Error) -> ErrorKind {
    match error.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        _ => ErrorKind::Io,
    }
}

/// Result of a registry operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
