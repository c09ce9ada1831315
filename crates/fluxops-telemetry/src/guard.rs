//! The handle that keeps export running.

use std::{fmt, time::Duration};

use opentelemetry::metrics::MeterProvider as _;

use crate::{export::Providers, metrics::Metrics};

/// Keeps telemetry running; flushes and stops export when dropped or on
/// [`TelemetryGuard::shutdown`], waiting at most the configured shutdown timeout.
///
/// Keep it alive in `main` until the server has drained.
#[must_use = "telemetry stops when the guard is dropped"]
pub struct TelemetryGuard {
    providers: Option<Providers>,
    metrics: Metrics,
    shutdown_timeout: Duration,
}

impl fmt::Debug for TelemetryGuard {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TelemetryGuard")
            .field("exporting", &self.is_exporting())
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish()
    }
}

impl TelemetryGuard {
    pub(crate) fn new(providers: Option<Providers>, shutdown_timeout: Duration) -> Self {
        let metrics = match &providers {
            Some(providers) => Metrics::new(&providers.meter.meter("fluxops")),
            None => Metrics::default(),
        };
        TelemetryGuard {
            providers,
            metrics,
            shutdown_timeout,
        }
    }

    /// The domain's metric instruments; they record nothing (and cost next to nothing) when
    /// export is off. Cheap to clone: keep one in the application state.
    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    /// Whether telemetry is exported to Application Insights.
    pub fn is_exporting(&self) -> bool {
        self.providers.is_some()
    }

    /// Flushes and stops exporting.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(providers) = self.providers.take() {
            providers.shutdown_within(self.shutdown_timeout);
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.stop();
    }
}
