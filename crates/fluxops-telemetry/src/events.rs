//! Custom events and exceptions.
//!
//! Application Insights turns a span event named `ai.custom` into a custom event and a log
//! record that carries `exception.type` into an exception. These functions emit exactly those
//! shapes, plus a readable console line, so callers never spell the conventions out.

use std::error::Error;

/// The target of the `ai.custom` events that only the span layer sees.
pub(crate) const CUSTOM_EVENT_TARGET: &str = "fluxops_telemetry::custom_event";

/// Reports that a model version was verified and is now served: an Application Insights custom
/// event `ModelLoaded` with `model.version` and `model.digest`, and an `INFO` log line.
///
/// Call it inside a span (the model-load or reload span, for instance): custom events travel as
/// events of the current span, so outside one only the log line is exported.
pub fn model_loaded(version: &str, digest: &str) {
    tracing::event!(
        name: "ai.custom",
        target: CUSTOM_EVENT_TARGET,
        tracing::Level::INFO,
        {
            "ai.customEvent.name" = "ModelLoaded",
            "model.version" = version,
            "model.digest" = digest,
        }
    );
    tracing::info!(
        model.version = version,
        model.digest = digest,
        "model loaded"
    );
}

/// Reports that a model artifact was refused (wrong digest, bad schema, ...) and the previous
/// model, if any, stays in service: a custom event `ModelRefused` with `model.version`,
/// `model.digest` and `reason`, and a `WARN` log line. Same span rule as [`model_loaded`].
pub fn model_refused(version: &str, digest: &str, reason: &str) {
    tracing::event!(
        name: "ai.custom",
        target: CUSTOM_EVENT_TARGET,
        tracing::Level::INFO,
        {
            "ai.customEvent.name" = "ModelRefused",
            "model.version" = version,
            "model.digest" = digest,
            reason,
        }
    );
    tracing::warn!(
        model.version = version,
        model.digest = digest,
        reason,
        "model refused"
    );
}

/// Reports an error as an Application Insights exception of type `kind` (a stable name to group
/// by, such as `store` or `internal`), with the error and its sources as the message, and marks
/// the current span as failed.
///
/// The message is the error's own text: never put request bodies or feature values into
/// errors that reach this function.
pub fn record_exception(kind: &str, error: &(dyn Error + 'static)) {
    let message = error_chain(error);
    tracing::Span::current().record("otel.status_code", "ERROR");
    tracing::error!(
        "exception.type" = kind,
        "exception.message" = message.as_str(),
        "{kind}: {message}"
    );
}

/// The error and its sources, joined by `": "`.
pub(crate) fn error_chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("model store unreachable")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_lists_every_source() {
        let error = Outer(std::io::Error::other("connection refused"));
        assert_eq!(
            error_chain(&error),
            "model store unreachable: connection refused"
        );
    }
}
