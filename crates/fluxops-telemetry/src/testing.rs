//! Telemetry captured in memory, for tests of code that records it (the handler's middleware,
//! this crate's own instruments).
//!
//! [`CapturedTelemetry`] wires the same span layer, log layer and [`Metrics`] as an exporting
//! process, with in-memory exporters in place of Application Insights. Compiled only with the
//! `testing` feature, which crates enable from their `[dev-dependencies]`.

use std::fmt;
use std::sync::OnceLock;

use opentelemetry::{
    KeyValue, logs::AnyValue, metrics::MeterProvider as _, trace::TracerProvider as _,
};
use opentelemetry_sdk::{
    logs::{InMemoryLogExporter, SdkLoggerProvider},
    metrics::{
        InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
        data::{AggregatedMetrics, MetricData},
    },
    trace::{InMemorySpanExporter, SdkTracerProvider},
};
use tracing::Dispatch;
use tracing_subscriber::{Registry, layer::SubscriberExt};

use crate::{
    export::Providers,
    layers::{log_layer, span_layer},
    metrics::Metrics,
};

/// A subscriber and metric instruments whose telemetry stays in memory for a test to read.
///
/// Scope [`CapturedTelemetry::dispatch`] to the test's thread with
/// [`tracing::dispatcher::set_default`] (a current-thread runtime keeps every task on it), hand
/// [`CapturedTelemetry::metrics`] to the code under test, then read what it recorded.
pub struct CapturedTelemetry {
    providers: Providers,
    dispatch: Dispatch,
    metrics: Metrics,
    logs: InMemoryLogExporter,
    metric_exporter: InMemoryMetricExporter,
    spans: InMemorySpanExporter,
}

impl fmt::Debug for CapturedTelemetry {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("CapturedTelemetry")
            .finish_non_exhaustive()
    }
}

/// One data point of a metric: counters and gauges by value, histograms by count.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    /// Instrument name, such as `fluxops.validation.failures`.
    pub name: String,
    /// The value (a histogram's count of recordings).
    pub value: f64,
    /// The attributes as sorted `key=value` strings.
    pub attributes: Vec<String>,
}

/// One exported log record.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// `ERROR`, `WARN`, `INFO`, ...
    pub severity: String,
    /// The message.
    pub body: String,
    /// The exception type, for a record made by [`crate::record_exception`].
    pub exception_type: Option<String>,
}

impl CapturedTelemetry {
    /// Starts capturing: spans at `INFO` and above, log events at `INFO` and above, and every
    /// metric.
    pub fn start() -> Self {
        keep_interest_per_dispatcher();
        let spans = InMemorySpanExporter::default();
        let logs = InMemoryLogExporter::default();
        let metric_exporter = InMemoryMetricExporter::default();
        let providers = Providers {
            tracer: SdkTracerProvider::builder()
                .with_simple_exporter(spans.clone())
                .build(),
            logger: SdkLoggerProvider::builder()
                .with_simple_exporter(logs.clone())
                .build(),
            meter: SdkMeterProvider::builder()
                .with_reader(PeriodicReader::builder(metric_exporter.clone()).build())
                .build(),
        };
        let dispatch = Dispatch::new(Registry::default().with(vec![
            span_layer(providers.tracer.tracer("test")),
            log_layer(&providers, "info"),
        ]));
        let metrics = Metrics::new(&providers.meter.meter("fluxops"));
        CapturedTelemetry {
            providers,
            dispatch,
            metrics,
            logs,
            metric_exporter,
            spans,
        }
    }

    /// The subscriber to scope to the test.
    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
    }

    /// The instruments to record into.
    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    /// Every metric data point recorded so far, sorted by name and attributes.
    pub fn metric_points(&self) -> Vec<MetricPoint> {
        // Flush errors only mean nothing was recorded yet.
        let _ = self.providers.meter.force_flush();
        let mut points = Vec::new();
        let finished = self
            .metric_exporter
            .get_finished_metrics()
            .unwrap_or_default();
        for resource_metrics in &finished {
            for scope in resource_metrics.scope_metrics() {
                for metric in scope.metrics() {
                    collect_points(metric.name(), metric.data(), &mut points);
                }
            }
        }
        points.sort_by(|a, b| (&a.name, &a.attributes).cmp(&(&b.name, &b.attributes)));
        points
    }

    /// The value of the point of `name` with exactly these `attributes`, if recorded.
    pub fn metric(&self, name: &str, attributes: &[&str]) -> Option<f64> {
        self.metric_points()
            .into_iter()
            .rev()
            .find(|point| point.name == name && point.attributes == attributes)
            .map(|point| point.value)
    }

    /// Every log record exported so far, oldest first.
    pub fn log_records(&self) -> Vec<LogRecord> {
        self.logs
            .get_emitted_logs()
            .unwrap_or_default()
            .iter()
            .map(|log| LogRecord {
                severity: log.record.severity_text().unwrap_or_default().to_owned(),
                body: log.record.body().map(text).unwrap_or_default(),
                exception_type: log
                    .record
                    .attributes_iter()
                    .find(|(key, _)| key.as_str() == "exception.type")
                    .map(|(_, value)| text(value)),
            })
            .collect()
    }

    /// The names of the spans ended so far.
    pub fn span_names(&self) -> Vec<String> {
        self.spans
            .get_finished_spans()
            .unwrap_or_default()
            .iter()
            .map(|span| span.name.to_string())
            .collect()
    }
}

/// While a single dispatcher is registered, tracing-core decides whether a callsite is enabled
/// from the *calling thread's* default dispatcher alone. A callsite first hit on another thread
/// (another test, without a captured subscriber) is then disabled for good, for this test's
/// subscriber too, and its spans go missing at random. A second registered dispatcher, kept for
/// the life of the process, makes tracing-core ask every registered dispatcher instead.
fn keep_interest_per_dispatcher() {
    static SECOND_DISPATCHER: OnceLock<Dispatch> = OnceLock::new();
    SECOND_DISPATCHER.get_or_init(|| Dispatch::new(tracing::subscriber::NoSubscriber::default()));
}

fn text(value: &AnyValue) -> String {
    match value {
        AnyValue::String(text) => text.to_string(),
        other => format!("{other:?}"),
    }
}

fn collect_points(name: &str, data: &AggregatedMetrics, points: &mut Vec<MetricPoint>) {
    let mut push = |value: f64, attributes: &mut dyn Iterator<Item = &KeyValue>| {
        let mut attributes: Vec<String> = attributes
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect();
        attributes.sort();
        points.push(MetricPoint {
            name: name.to_owned(),
            value,
            attributes,
        });
    };
    match data {
        AggregatedMetrics::U64(MetricData::Sum(sum)) => {
            for point in sum.data_points() {
                push(point.value() as f64, &mut point.attributes());
            }
        }
        AggregatedMetrics::F64(MetricData::Gauge(gauge)) => {
            for point in gauge.data_points() {
                push(point.value(), &mut point.attributes());
            }
        }
        AggregatedMetrics::F64(MetricData::Histogram(histogram)) => {
            for point in histogram.data_points() {
                push(point.count() as f64, &mut point.attributes());
            }
        }
        AggregatedMetrics::U64(MetricData::Histogram(histogram)) => {
            for point in histogram.data_points() {
                push(point.sum() as f64, &mut point.attributes());
            }
        }
        // The crate records no other kind.
        _ => {}
    }
}
