//! Shared by the integration tests and the overhead example.

pub mod app;
pub mod receiver;

use fluxops_telemetry::LogFormat;

/// Quiet unless `TEST_LOG` is set.
pub fn test_log_format() -> LogFormat {
    if std::env::var_os("TEST_LOG").is_some() {
        LogFormat::Pretty
    } else {
        LogFormat::Off
    }
}
