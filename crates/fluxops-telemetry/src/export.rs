//! The OpenTelemetry pipelines that post to Application Insights.
//!
//! Each signal has its own bounded queue and background thread (the SDK's batch span and log
//! processors, and a periodic metric reader); recording only ever enqueues, and a full queue
//! drops. The exporter retries a failed upload for up to 35 s on its thread, then gives the
//! batch up. Failures are reported through [`FailureLog`], at most once per interval.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError, mpsc},
    thread,
    time::{Duration, Instant},
};

use opentelemetry::{
    Context, KeyValue,
    trace::{Link, SpanKind, TraceContextExt, TraceId},
};
use opentelemetry_application_insights::Exporter;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    logs::{BatchLogProcessor, LogBatch, LogExporter, SdkLoggerProvider},
    metrics::{
        PeriodicReader, SdkMeterProvider, Temporality, data::ResourceMetrics,
        exporter::PushMetricExporter,
    },
    trace::{
        BatchSpanProcessor, Sampler, SamplingDecision, SamplingResult, SdkTracerProvider,
        ShouldSample, SpanData, SpanExporter,
    },
};
use reqwest::blocking::Client;

use crate::builder::Error;

/// At most one export-failure warning per this interval.
const REPORT_INTERVAL: Duration = Duration::from_secs(60);
/// Per-attempt limits of the default HTTP client.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The three providers of one exporting process.
#[derive(Debug)]
pub(crate) struct Providers {
    pub(crate) tracer: SdkTracerProvider,
    pub(crate) logger: SdkLoggerProvider,
    pub(crate) meter: SdkMeterProvider,
}

impl Providers {
    /// Starts the pipelines for `connection_string`, posting with `client` (or a default one)
    /// and keeping the share `sample_ratio` (in `(0, 1]`) of operations.
    pub(crate) fn start(
        connection_string: &str,
        client: Option<Client>,
        resource: Resource,
        sample_ratio: f64,
    ) -> Result<Self, Error> {
        let client = match client {
            Some(client) => client,
            None => default_client()?,
        };
        // A connection string copied from the portal may end with a separator, which the
        // exporter's parser rejects as an empty field.
        let connection_string = connection_string.trim().trim_end_matches(';');
        let failures = Arc::new(FailureLog::new(REPORT_INTERVAL));
        let retry_failures = Arc::clone(&failures);
        let exporter = Exporter::new_from_connection_string(connection_string, client)
            .map_err(Error::ConnectionString)?
            .with_retry_notify(move |error, _delay| retry_failures.record("upload", error))
            // Each exported span then counts for 1 / ratio in Application Insights (`itemCount`).
            .with_sample_rate(sample_ratio);
        let reporting = |signal| Reporting {
            inner: exporter.clone(),
            failures: Arc::clone(&failures),
            signal,
        };
        let tracer = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_sampler(OperationSampler {
                ratio: Sampler::TraceIdRatioBased(sample_ratio),
            })
            .with_span_processor(BatchSpanProcessor::builder(reporting("traces")).build())
            .build();
        let logger = SdkLoggerProvider::builder()
            .with_resource(resource.clone())
            .with_log_processor(BatchLogProcessor::builder(reporting("logs")).build())
            .build();
        let meter = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(PeriodicReader::builder(reporting("metrics")).build())
            .build();
        Ok(Providers {
            tracer,
            logger,
            meter,
        })
    }

    /// Flushes and stops all three pipelines, waiting at most `timeout` in all; whatever is
    /// not sent by then is dropped (the pipelines keep trying on their own threads until the
    /// process exits).
    pub(crate) fn shutdown_within(self, timeout: Duration) {
        let (done_sender, done) = mpsc::channel();
        let spawned = thread::Builder::new()
            .name("telemetry-shutdown".to_owned())
            .spawn(move || {
                let Providers {
                    tracer,
                    logger,
                    meter,
                } = self;
                // Shutdown errors are export failures, which `FailureLog` already reported.
                thread::scope(|scope| {
                    scope.spawn(|| tracer.shutdown_with_timeout(timeout));
                    scope.spawn(|| logger.shutdown_with_timeout(timeout));
                    let _ = meter.shutdown_with_timeout(timeout);
                });
                let _ = done_sender.send(());
            });
        match spawned {
            Ok(_) => {
                if done.recv_timeout(timeout).is_err() {
                    tracing::warn!(
                        ?timeout,
                        "telemetry not flushed in time; the rest is dropped"
                    );
                }
            }
            Err(error) => tracing::warn!(%error, "cannot flush telemetry"),
        }
    }
}

/// Keeps or drops whole operations, as Application Insights' fixed-rate sampling does: a span
/// with a local parent follows its parent; any other span (a request, even one that continues
/// a caller's trace, or a background root such as a model load) is kept with the configured
/// probability, decided by its trace id. The caller's own sampling flag is ignored, so a
/// caller that does not sample cannot switch off the service's request telemetry.
#[derive(Debug, Clone)]
struct OperationSampler {
    ratio: Sampler,
}

impl ShouldSample for OperationSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let local_parent = parent_context
            .map(|context| context.span().span_context().clone())
            .filter(|parent| parent.is_valid() && !parent.is_remote());
        match local_parent {
            Some(parent) => SamplingResult {
                decision: if parent.is_sampled() {
                    SamplingDecision::RecordAndSample
                } else {
                    SamplingDecision::Drop
                },
                attributes: Vec::new(),
                trace_state: parent.trace_state().clone(),
            },
            None => self.ratio.should_sample(
                parent_context,
                trace_id,
                name,
                span_kind,
                attributes,
                links,
            ),
        }
    }
}

/// A client with per-attempt limits, built on its own thread because reqwest's blocking client
/// refuses to be built inside an async runtime, and `init` is often called from one.
fn default_client() -> Result<Client, Error> {
    thread::spawn(|| {
        Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
    })
    .join()
    .map_err(|_| Error::HttpClient("the thread building the client panicked".into()))?
    .map_err(|error| Error::HttpClient(Box::new(error)))
}

/// Rate-limited reporting of export failures: the first failure is logged at once, later ones
/// at most once per interval, with the number left unreported in between.
#[derive(Debug)]
struct FailureLog {
    interval: Duration,
    state: Mutex<FailureState>,
}

#[derive(Debug, Default)]
struct FailureState {
    last_report: Option<Instant>,
    n_unreported: u64,
}

impl FailureState {
    /// Counts a failure at `now`; returns how many went unreported before it when this one
    /// should be reported.
    fn count(&mut self, now: Instant, interval: Duration) -> Option<u64> {
        let due = self
            .last_report
            .is_none_or(|last| now.duration_since(last) >= interval);
        if due {
            self.last_report = Some(now);
            Some(std::mem::take(&mut self.n_unreported))
        } else {
            self.n_unreported += 1;
            None
        }
    }
}

impl FailureLog {
    fn new(interval: Duration) -> Self {
        FailureLog {
            interval,
            state: Mutex::default(),
        }
    }

    fn record(&self, what: &str, error: &dyn fmt::Display) {
        let due = self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .count(Instant::now(), self.interval);
        if let Some(n_unreported) = due {
            tracing::warn!(
                target: "fluxops_telemetry::export",
                %error,
                n_unreported,
                "Application Insights export failing ({what}); telemetry is dropped, requests are unaffected"
            );
        }
    }
}

/// The exporter with failure reporting; one per signal.
#[derive(Debug)]
struct Reporting {
    inner: Exporter<Client>,
    failures: Arc<FailureLog>,
    signal: &'static str,
}

impl Reporting {
    fn check(&self, result: OTelSdkResult) -> OTelSdkResult {
        if let Err(error) = &result {
            self.failures.record(self.signal, error);
        }
        result
    }
}

impl SpanExporter for Reporting {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.check(SpanExporter::export(&self.inner, batch).await)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        SpanExporter::shutdown_with_timeout(&self.inner, timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        SpanExporter::set_resource(&mut self.inner, resource);
    }
}

impl LogExporter for Reporting {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        self.check(LogExporter::export(&self.inner, batch).await)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        LogExporter::shutdown_with_timeout(&self.inner, timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        LogExporter::set_resource(&mut self.inner, resource);
    }
}

impl PushMetricExporter for Reporting {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        self.check(PushMetricExporter::export(&self.inner, metrics).await)
    }

    fn force_flush(&self) -> OTelSdkResult {
        PushMetricExporter::force_flush(&self.inner)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        PushMetricExporter::shutdown_with_timeout(&self.inner, timeout)
    }

    fn temporality(&self) -> Temporality {
        PushMetricExporter::temporality(&self.inner)
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceState};

    use super::*;

    fn decide(sampler: &OperationSampler, parent: Option<SpanContext>, trace_id: u128) -> bool {
        let context = parent.map(|parent| Context::new().with_remote_span_context(parent));
        let result = sampler.should_sample(
            context.as_ref(),
            TraceId::from(trace_id),
            "span",
            &SpanKind::Server,
            &[],
            &[],
        );
        result.decision == SamplingDecision::RecordAndSample
    }

    fn parent(remote: bool, sampled: bool) -> SpanContext {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        SpanContext::new(
            TraceId::from(7u128),
            SpanId::from(9u64),
            flags,
            remote,
            TraceState::default(),
        )
    }

    #[test]
    fn operations_are_kept_at_the_ratio_and_children_follow_their_parent() {
        let all = OperationSampler {
            ratio: Sampler::TraceIdRatioBased(1.0),
        };
        // A caller that does not sample does not switch the service's requests off.
        assert!(decide(&all, Some(parent(true, false)), 1));
        assert!(decide(&all, None, u128::MAX));
        // A local child follows its parent, whatever the ratio says.
        assert!(!decide(&all, Some(parent(false, false)), 1));

        let quarter = OperationSampler {
            ratio: Sampler::TraceIdRatioBased(0.25),
        };
        assert!(decide(&quarter, Some(parent(false, true)), u128::MAX));
        let n_kept = (0..4000u128)
            .filter(|n| {
                decide(
                    &quarter,
                    None,
                    n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835),
                )
            })
            .count();
        assert!((800..1200).contains(&n_kept), "kept {n_kept} of 4000");
    }

    #[test]
    fn failures_are_reported_once_per_interval_with_the_count_in_between() {
        let interval = Duration::from_secs(60);
        let start = Instant::now();
        let mut state = FailureState::default();
        assert_eq!(state.count(start, interval), Some(0));
        assert_eq!(state.count(start + Duration::from_secs(1), interval), None);
        assert_eq!(state.count(start + Duration::from_secs(59), interval), None);
        assert_eq!(
            state.count(start + Duration::from_secs(60), interval),
            Some(2)
        );
        assert_eq!(state.count(start + Duration::from_secs(61), interval), None);
        assert_eq!(
            state.count(start + Duration::from_secs(200), interval),
            Some(1)
        );
    }
}
