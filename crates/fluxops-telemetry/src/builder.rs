//! Settings, the `tracing` layer stack and installation.

use std::{fmt, time::Duration};

use opentelemetry::{KeyValue, trace::TracerProvider as _};
use opentelemetry_sdk::Resource;
use tracing::Dispatch;
use tracing_subscriber::{EnvFilter, Registry, layer::SubscriberExt, util::SubscriberInitExt};

use crate::{
    events::error_chain,
    export::Providers,
    guard::TelemetryGuard,
    layers::{BoxedLayer, LogFormat, console_layer, log_layer, span_layer},
};

/// The environment variable that turns export on.
pub const CONNECTION_STRING_VAR: &str = "APPLICATIONINSIGHTS_CONNECTION_STRING";
/// How an App Service setting begins when the platform could not resolve its Key Vault reference.
const KEY_VAULT_REFERENCE: &str = "@Microsoft.KeyVault(";
/// The environment variable that picks the console format.
const LOG_FORMAT_VAR: &str = "FLUXOPS_LOG_FORMAT";
/// The environment variable that sets the share of operations whose spans are exported.
const SAMPLE_RATIO_VAR: &str = "FLUXOPS_TRACE_SAMPLE_RATIO";
/// The log filter when `RUST_LOG` is unset.
const DEFAULT_FILTER: &str = "info";
/// How long [`TelemetryGuard`] waits for the last export by default.
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why telemetry could not be set up as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Application Insights connection string could not be parsed.
    #[error("invalid Application Insights connection string")]
    ConnectionString(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The HTTP client for export could not be built.
    #[error("cannot build the HTTP client for telemetry export")]
    HttpClient(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The log filter is not a valid `RUST_LOG` expression.
    #[error("invalid log filter {filter:?}")]
    LogFilter {
        /// The filter as given.
        filter: String,
        /// What is wrong with it.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// The log format is not one of `auto`, `pretty`, `json` or `off`.
    #[error("unknown log format {0:?}; expected auto, pretty, json or off")]
    LogFormat(String),
    /// The trace sample ratio is not a number above 0 and at most 1.
    #[error("trace sample ratio {0:?} is not a number above 0 and at most 1")]
    SampleRatio(String),
}

/// Telemetry settings; [`TelemetryBuilder::init`] installs them process-wide and
/// [`TelemetryBuilder::build`] returns them as a [`Dispatch`] for tests to scope.
///
/// [`TelemetryBuilder::new`] starts from fixed defaults (console logs only, `info`, format
/// chosen by the terminal); [`TelemetryBuilder::from_env`] reads the environment. Tests should
/// use `new` and the setters, so that nothing depends on the process environment.
#[derive(Clone)]
pub struct TelemetryBuilder {
    service: &'static str,
    version: &'static str,
    connection_string: Option<String>,
    http_client: Option<reqwest::blocking::Client>,
    log_format: LogFormat,
    log_filter: Option<String>,
    role_name: Option<String>,
    role_instance: Option<String>,
    sample_ratio: f64,
    shutdown_timeout: Duration,
    /// Problems found while reading the environment, logged at `ERROR` once the subscriber is
    /// installed.
    problems: Vec<String>,
    /// Conditions the service runs through, logged at `WARN` once the subscriber is installed.
    warnings: Vec<String>,
}

impl fmt::Debug for TelemetryBuilder {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TelemetryBuilder")
            .field("service", &self.service)
            .field("version", &self.version)
            .field("export", &self.connection_string.is_some())
            .field("log_format", &self.log_format)
            .field("log_filter", &self.log_filter)
            .field("role_name", &self.role_name)
            .field("role_instance", &self.role_instance)
            .field("sample_ratio", &self.sample_ratio)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

impl TelemetryBuilder {
    /// Settings for `service` at `version`: console logs only, filter `info`, format chosen by
    /// the terminal, nothing read from the environment.
    pub fn new(service: &'static str, version: &'static str) -> Self {
        TelemetryBuilder {
            service,
            version,
            connection_string: None,
            http_client: None,
            log_format: LogFormat::Auto,
            log_filter: None,
            role_name: None,
            role_instance: None,
            sample_ratio: 1.0,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Settings from the environment: `APPLICATIONINSIGHTS_CONNECTION_STRING` (export),
    /// `RUST_LOG` (filter), `FLUXOPS_LOG_FORMAT` (`auto`, `pretty`, `json` or `off`),
    /// `FLUXOPS_TRACE_SAMPLE_RATIO` (see [`TelemetryBuilder::trace_sample_ratio`]), and on
    /// Azure `WEBSITE_SITE_NAME` / `WEBSITE_INSTANCE_ID` (cloud role and role instance).
    ///
    /// Empty variables count as unset; an invalid format or ratio is reported once logging is
    /// up, and the default is used instead.
    pub fn from_env(service: &'static str, version: &'static str) -> Self {
        Self::from_lookup(service, version, |name| std::env::var(name).ok())
    }

    fn from_lookup(
        service: &'static str,
        version: &'static str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let lookup = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let mut builder = Self::new(service, version);
        match lookup(CONNECTION_STRING_VAR) {
            // App Service passes a Key Vault reference through as literal text until the app's
            // identity can read the secret (role assignments take minutes to propagate) and
            // caches the result for up to a day: serve without export rather than not at all.
            Some(value) if value.trim_start().starts_with(KEY_VAULT_REFERENCE) => {
                builder.warnings.push(format!(
                    "{CONNECTION_STRING_VAR} holds an unresolved Key Vault reference, so export \
                     is off; set the connection string itself as the app setting (it is not a \
                     secret), or grant the app's identity 'Key Vault Secrets User' and restart"
                ));
            }
            connection_string => builder.connection_string = connection_string,
        }
        builder.log_filter = lookup("RUST_LOG");
        if let Some(format) = lookup(LOG_FORMAT_VAR) {
            match format.parse() {
                Ok(format) => builder.log_format = format,
                Err(error) => builder.problems.push(format!("{LOG_FORMAT_VAR}: {error}")),
            }
        }
        if let Some(ratio) = lookup(SAMPLE_RATIO_VAR) {
            match parse_sample_ratio(&ratio) {
                Ok(ratio) => builder.sample_ratio = ratio,
                Err(error) => builder
                    .problems
                    .push(format!("{SAMPLE_RATIO_VAR}: {error}")),
            }
        }
        builder.role_name = lookup("WEBSITE_SITE_NAME");
        builder.role_instance = lookup("WEBSITE_INSTANCE_ID");
        builder
    }

    /// Exports to the Application Insights resource this connection string names.
    pub fn connection_string(mut self, connection_string: impl Into<String>) -> Self {
        self.connection_string = Some(connection_string.into());
        self
    }

    /// Posts telemetry with this client instead of a default one (10 s timeout, system roots);
    /// tests use it to trust a local receiver's certificate.
    ///
    /// reqwest refuses to build a blocking client inside an async runtime: build it on a plain
    /// thread (`std::thread::spawn`) when calling from async code.
    pub fn http_client(mut self, client: reqwest::blocking::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Writes console logs in this format.
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.log_format = format;
        self
    }

    /// Filters console and exported logs with this `RUST_LOG`-style expression (default
    /// `info`). Spans are exported at `INFO` and above whatever the filter says.
    pub fn log_filter(mut self, filter: impl Into<String>) -> Self {
        self.log_filter = Some(filter.into());
        self
    }

    /// Reports as this cloud role (`cloud_RoleName`, default the service name) and role
    /// instance (`cloud_RoleInstance`).
    pub fn cloud_role(mut self, name: impl Into<String>, instance: Option<String>) -> Self {
        self.role_name = Some(name.into());
        self.role_instance = instance;
        self
    }

    /// Exports the spans of only this share of operations (requests, model loads, trainer
    /// runs), between 0 (exclusive) and 1 (the default: all). An operation is kept or dropped
    /// whole, by its trace id, and each kept item counts for `1 / ratio` in Application
    /// Insights (`itemCount`), so `sum(itemCount)` still counts requests right. Logs,
    /// exceptions and metrics are never sampled.
    ///
    /// The lever for export overhead under heavy load; see `docs/Monitoring.md`.
    pub fn trace_sample_ratio(mut self, ratio: f64) -> Self {
        self.sample_ratio = ratio;
        self
    }

    /// Waits at most this long, on shutdown, for buffered telemetry to be sent (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Builds the subscriber and starts export without installing anything globally: scope the
    /// [`Dispatch`] with [`tracing::dispatcher::set_default`] or `with_default`.
    pub fn build(self) -> Result<(Dispatch, TelemetryGuard), Error> {
        let filter = self.filter_directives();
        if let Err(source) = EnvFilter::try_new(&filter) {
            return Err(Error::LogFilter { filter, source });
        }
        check_sample_ratio(self.sample_ratio)?;
        let providers = self.start_export()?;
        Ok(self.assemble(&filter, providers))
    }

    /// Installs the subscriber process-wide and starts export.
    ///
    /// Never fails: a setup problem (bad filter, bad connection string) falls back to a working
    /// default and is logged at `ERROR`. If a global subscriber is already installed it is kept.
    pub fn init(mut self) -> TelemetryGuard {
        let mut problems = std::mem::take(&mut self.problems);
        let warnings = std::mem::take(&mut self.warnings);
        let mut filter = self.filter_directives();
        if let Err(source) = EnvFilter::try_new(&filter) {
            let error = Error::LogFilter { filter, source };
            problems.push(format!("{}; using {DEFAULT_FILTER:?}", error_chain(&error)));
            filter = DEFAULT_FILTER.to_owned();
        }
        if let Err(error) = check_sample_ratio(self.sample_ratio) {
            problems.push(format!("{error}; exporting every operation"));
            self.sample_ratio = 1.0;
        }
        let providers = self.start_export().unwrap_or_else(|error| {
            problems.push(format!("{}; export is off", error_chain(&error)));
            None
        });
        let (dispatch, guard) = self.assemble(&filter, providers);
        if dispatch.try_init().is_ok() {
            tracing::info!(
                service = self.service,
                version = self.version,
                role_instance = self.role_instance.as_deref(),
                exporting = guard.is_exporting(),
                "service started"
            );
        }
        for warning in warnings {
            tracing::warn!("telemetry setup: {warning}");
        }
        for problem in problems {
            tracing::error!("telemetry setup: {problem}");
        }
        guard
    }

    fn filter_directives(&self) -> String {
        self.log_filter
            .clone()
            .unwrap_or_else(|| DEFAULT_FILTER.to_owned())
    }

    fn start_export(&self) -> Result<Option<Providers>, Error> {
        self.connection_string
            .as_deref()
            .map(|connection_string| {
                Providers::start(
                    connection_string,
                    self.http_client.clone(),
                    self.resource(),
                    self.sample_ratio,
                )
            })
            .transpose()
    }

    /// The resource every exported item carries. Application Insights derives
    /// `cloud_RoleName` from `service.name`, so on Azure that is the Function App's name (as in
    /// the Functions host's own telemetry), `cloud_RoleInstance` from `service.instance.id` and
    /// `application_Version` from `service.version`.
    ///
    /// The exporter copies every resource attribute into every request's and dependency's
    /// properties, so the resource holds these three and nothing else: each attribute more
    /// makes every upload bigger and slower to compress.
    fn resource(&self) -> Resource {
        let role_name = self.role_name.as_deref().unwrap_or(self.service);
        let mut attributes = vec![
            KeyValue::new("service.name", role_name.to_owned()),
            KeyValue::new("service.version", self.version),
        ];
        if let Some(instance) = &self.role_instance {
            attributes.push(KeyValue::new("service.instance.id", instance.clone()));
        }
        Resource::builder_empty()
            .with_attributes(attributes)
            .build()
    }

    /// Stacks the layers: console (filtered by `filter`), then, when exporting, spans to
    /// traces and events to logs. `filter` must already be valid.
    fn assemble(&self, filter: &str, providers: Option<Providers>) -> (Dispatch, TelemetryGuard) {
        let mut layers: Vec<BoxedLayer> = Vec::new();
        if let Some(console) = console_layer(self.log_format, filter) {
            layers.push(console);
        }
        if let Some(providers) = &providers {
            layers.push(span_layer(providers.tracer.tracer("fluxops-telemetry")));
            layers.push(log_layer(providers, filter));
        }
        let dispatch = Dispatch::new(Registry::default().with(layers));
        (
            dispatch,
            TelemetryGuard::new(providers, self.shutdown_timeout),
        )
    }
}

fn parse_sample_ratio(text: &str) -> Result<f64, Error> {
    let ratio = text
        .trim()
        .parse()
        .map_err(|_| Error::SampleRatio(text.to_owned()))?;
    check_sample_ratio(ratio)?;
    Ok(ratio)
}

fn check_sample_ratio(ratio: f64) -> Result<(), Error> {
    if ratio > 0.0 && ratio <= 1.0 {
        Ok(())
    } else {
        Err(Error::SampleRatio(ratio.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from_vars(vars: &[(&str, &str)]) -> TelemetryBuilder {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        TelemetryBuilder::from_lookup("svc", "1.0.0", |name| vars.get(name).cloned())
    }

    fn resource_value(builder: &TelemetryBuilder, key: &'static str) -> Option<String> {
        builder
            .resource()
            .get(&opentelemetry::Key::from_static_str(key))
            .map(|value| value.to_string())
    }

    #[test]
    fn the_environment_sets_export_filter_format_and_role() {
        let builder = from_vars(&[
            (CONNECTION_STRING_VAR, "InstrumentationKey=abc"),
            ("RUST_LOG", "debug"),
            (LOG_FORMAT_VAR, "JSON"),
            (SAMPLE_RATIO_VAR, "0.25"),
            ("WEBSITE_SITE_NAME", "func-fluxops-dev"),
            ("WEBSITE_INSTANCE_ID", "instance-7"),
        ]);
        assert_eq!(
            builder.connection_string.as_deref(),
            Some("InstrumentationKey=abc")
        );
        assert_eq!(builder.filter_directives(), "debug");
        assert_eq!(builder.log_format, LogFormat::Json);
        assert_eq!(builder.sample_ratio, 0.25);
        assert_eq!(
            resource_value(&builder, "service.name").as_deref(),
            Some("func-fluxops-dev")
        );
        assert_eq!(
            resource_value(&builder, "service.instance.id").as_deref(),
            Some("instance-7")
        );
        assert_eq!(
            resource_value(&builder, "service.version").as_deref(),
            Some("1.0.0")
        );
        assert_eq!(builder.resource().len(), 3);
        assert!(builder.problems.is_empty());
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let builder = from_vars(&[(CONNECTION_STRING_VAR, " "), ("RUST_LOG", "")]);
        assert!(builder.connection_string.is_none());
        assert_eq!(builder.filter_directives(), DEFAULT_FILTER);
        assert_eq!(
            resource_value(&builder, "service.name").as_deref(),
            Some("svc")
        );
        assert_eq!(resource_value(&builder, "service.instance.id"), None);
    }

    #[test]
    fn an_unknown_format_or_ratio_is_kept_as_a_problem() {
        let builder = from_vars(&[(LOG_FORMAT_VAR, "xml"), (SAMPLE_RATIO_VAR, "0")]);
        assert_eq!(builder.log_format, LogFormat::Auto);
        assert_eq!(builder.sample_ratio, 1.0);
        assert_eq!(builder.problems.len(), 2);
        assert!(builder.problems[0].contains("xml"));
        assert!(builder.problems[1].contains(SAMPLE_RATIO_VAR));
    }

    #[test]
    fn an_unresolved_key_vault_reference_turns_export_off_with_a_warning() {
        let reference = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/ai/)";
        let builder = from_vars(&[(CONNECTION_STRING_VAR, reference)]);
        assert!(builder.connection_string.is_none());
        assert!(builder.problems.is_empty());
        assert_eq!(builder.warnings.len(), 1);
        assert!(builder.warnings[0].contains("Key Vault"));
        assert!(
            !builder.warnings[0].contains("kv.vault.azure.net"),
            "the reference itself is not echoed"
        );
    }

    #[test]
    fn sample_ratios_must_lie_in_zero_to_one() {
        assert_eq!(parse_sample_ratio(" 0.1 ").ok(), Some(0.1));
        assert_eq!(parse_sample_ratio("1").ok(), Some(1.0));
        for bad in ["0", "-0.5", "1.5", "NaN", "half"] {
            assert!(parse_sample_ratio(bad).is_err(), "{bad}");
        }
        let built = TelemetryBuilder::new("svc", "1")
            .log_format(LogFormat::Off)
            .trace_sample_ratio(2.0)
            .build();
        assert!(matches!(built, Err(Error::SampleRatio(_))));
    }

    #[test]
    fn the_debug_output_hides_the_connection_string() {
        let builder = TelemetryBuilder::new("svc", "1").connection_string("InstrumentationKey=k1");
        let debug = format!("{builder:?}");
        assert!(!debug.contains("k1"), "{debug}");
        assert!(debug.contains("export: true"), "{debug}");
    }

    #[test]
    fn build_rejects_a_bad_filter_and_a_bad_connection_string() {
        let bad_filter = TelemetryBuilder::new("svc", "1")
            .log_filter("info,[")
            .build();
        assert!(matches!(bad_filter, Err(Error::LogFilter { .. })));
        let bad_connection_string = TelemetryBuilder::new("svc", "1")
            .log_format(LogFormat::Off)
            .connection_string("no key here")
            .build();
        assert!(matches!(
            bad_connection_string,
            Err(Error::ConnectionString(_))
        ));
    }
}
