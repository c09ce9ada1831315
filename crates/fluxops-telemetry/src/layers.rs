//! The `tracing` layer stack: console output, and, when exporting, spans and log events to
//! OpenTelemetry.

use std::{io, io::IsTerminal, str::FromStr};

use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::trace::SdkTracer;
use tracing::Level;
use tracing_subscriber::{
    EnvFilter, Layer, Registry,
    filter::{FilterExt, filter_fn},
    fmt::writer::MakeWriterExt,
};

use crate::{builder::Error, events::CUSTOM_EVENT_TARGET, export::Providers};

/// Targets whose events must never be exported: the exporter's own machinery (the SDK, the
/// HTTP client and TLS stack it posts with). Exporting them would feed telemetry back into
/// itself.
const EXPORTER_TARGETS: &[&str] = &["opentelemetry", "reqwest", "hyper", "h2", "rustls"];

pub(crate) type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// How console logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `Pretty` when stderr is a terminal, `Json` otherwise.
    #[default]
    Auto,
    /// Human-readable lines on stderr.
    Pretty,
    /// One JSON object per line: `WARN` and `ERROR` on stderr, the rest on stdout.
    Json,
    /// No console output (export, if on, is unaffected); for tests.
    Off,
}

impl FromStr for LogFormat {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(LogFormat::Auto),
            "pretty" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            "off" => Ok(LogFormat::Off),
            _ => Err(Error::LogFormat(text.to_owned())),
        }
    }
}

fn is_exporter_target(target: &str) -> bool {
    EXPORTER_TARGETS
        .iter()
        .any(|prefix| target.starts_with(prefix))
}

/// Console output. The SDK's own diagnostics stay hidden unless the filter names them
/// (`RUST_LOG=info,opentelemetry_sdk=debug`): export failures are reported, rate-limited, by
/// this crate instead.
pub(crate) fn console_layer(format: LogFormat, filter: &str) -> Option<BoxedLayer> {
    let show_sdk = filter.contains("opentelemetry");
    let filter = EnvFilter::new(filter).and(filter_fn(move |metadata| {
        metadata.target() != CUSTOM_EVENT_TARGET
            && (show_sdk || !metadata.target().starts_with("opentelemetry"))
    }));
    let terminal = io::stderr().is_terminal();
    let format = match format {
        LogFormat::Auto if terminal => LogFormat::Pretty,
        LogFormat::Auto => LogFormat::Json,
        other => other,
    };
    match format {
        LogFormat::Pretty => Some(
            tracing_subscriber::fmt::layer()
                .with_writer(io::stderr)
                .with_ansi(terminal)
                .with_filter(filter)
                .boxed(),
        ),
        LogFormat::Json => Some(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(io::stderr.with_max_level(Level::WARN).or_else(io::stdout))
                .with_filter(filter)
                .boxed(),
        ),
        LogFormat::Auto | LogFormat::Off => None,
    }
}

/// Spans at `INFO` and above become Application Insights requests and dependencies; of the
/// events, only custom events go here (as span events), everything else goes through the log
/// layer, so no event is exported twice.
pub(crate) fn span_layer(tracer: SdkTracer) -> BoxedLayer {
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_filter(filter_fn(|metadata| {
            if metadata.is_span() {
                *metadata.level() <= Level::INFO && !is_exporter_target(metadata.target())
            } else {
                metadata.target() == CUSTOM_EVENT_TARGET
            }
        }))
        .boxed()
}

/// Events become Application Insights traces (or exceptions, when they carry
/// `exception.type`), correlated with the span they happen in.
pub(crate) fn log_layer(providers: &Providers, filter: &str) -> BoxedLayer {
    OpenTelemetryTracingBridge::new(&providers.logger)
        .with_filter(EnvFilter::new(filter).and(filter_fn(|metadata| {
            metadata.target() != CUSTOM_EVENT_TARGET && !is_exporter_target(metadata.target())
        })))
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exporter_machinery_is_recognised() {
        assert!(is_exporter_target("opentelemetry_sdk"));
        assert!(is_exporter_target("hyper_util::client"));
        assert!(is_exporter_target("reqwest::connect"));
        assert!(!is_exporter_target("fluxops_handler::routes"));
        assert!(!is_exporter_target("tower_http::trace"));
    }
}
