//! The handler's configuration, read once from the environment and checked before anything starts.
//!
//! [`Config::from_vars`] is the one place that reads a variable: the handler's own, and through
//! `fluxops_store` the Azure sign-in variables and the registry source, so that one start-up
//! attempt reports every problem at once. An empty value means unset everywhere
//! ([`fluxops_store::setting_value`]).

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use fluxops_inference::DEFAULT_MAX_MODEL_BYTES;
use fluxops_store::{AzureEnvironment, RegistrySettings, setting_value};

use crate::state::Limits;

/// Port to listen on; the Functions host sets it, a person running the handler may too.
pub const PORT_VAR: &str = "FUNCTIONS_CUSTOMHANDLER_PORT";
/// Where the model registry lives: a folder, a Blob Storage container URL, or `azurite`.
pub const MODEL_SOURCE_VAR: &str = "FLUXOPS_MODEL_SOURCE";
/// Name of the model in the registry.
pub const MODEL_NAME_VAR: &str = "FLUXOPS_MODEL_NAME";
/// How often the registry's `latest` pointer is checked, in seconds (fractions allowed).
pub const REFRESH_VAR: &str = "FLUXOPS_MODEL_REFRESH_SECS";
/// Most rows one batch request may carry.
pub const MAX_BATCH_VAR: &str = "FLUXOPS_MAX_BATCH";
/// Largest request body accepted, in bytes.
pub const MAX_BODY_VAR: &str = "FLUXOPS_MAX_BODY_BYTES";
/// Largest model artifact the handler reads from the registry, in bytes.
pub const MAX_MODEL_BYTES_VAR: &str = "FLUXOPS_MAX_MODEL_BYTES";
/// Most requests in flight before the handler sheds load.
pub const MAX_CONCURRENCY_VAR: &str = "FLUXOPS_MAX_CONCURRENCY";

/// The handler's own variables, whose values must be UTF-8.
const OWN_VARS: [&str; 8] = [
    PORT_VAR,
    MODEL_SOURCE_VAR,
    MODEL_NAME_VAR,
    REFRESH_VAR,
    MAX_BATCH_VAR,
    MAX_BODY_VAR,
    MAX_MODEL_BYTES_VAR,
    MAX_CONCURRENCY_VAR,
];

/// The shortest refresh interval: 10 ms. Anything shorter only burns the registry's requests
/// (and a zero interval would stop the watcher); tests use 50 ms, deployments 30 s.
pub(crate) const MIN_REFRESH_INTERVAL: Duration = Duration::from_millis(10);
/// The longest refresh interval: one day.
const MAX_REFRESH_SECS: f64 = 86_400.0;
/// The smallest model cap: below it not even a stump with its metadata fits.
const MIN_MODEL_BYTES: usize = 1024;
/// The largest model cap the design allows (`docs/Security.md` explains the memory it takes).
const MAX_MODEL_BYTES: usize = 256 * 1024 * 1024;

/// What an App Service setting holds when the platform could not resolve its Key Vault reference.
const KEY_VAULT_REFERENCE: &str = "@Microsoft.KeyVault(";

/// Everything the handler needs to start, with the defaults of DESIGN.md's environment table.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on: loopback, where the Functions host expects its handler.
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one (tests).
    pub port: u16,
    /// The model registry and its sign-in, resolved from `FLUXOPS_MODEL_SOURCE` and the Azure
    /// variables.
    pub registry: RegistrySettings,
    /// Model name in the registry.
    pub model_name: String,
    /// How often the registry's `latest` pointer is checked.
    pub refresh_interval: Duration,
    /// Largest model artifact read from the registry, in bytes: the registry's read limit and
    /// the inference core's byte cap, one value.
    pub max_model_bytes: usize,
    /// What one request may ask of the handler.
    pub limits: Limits,
    /// Longest a connection may take to send a request's head, and stay idle between requests,
    /// before it is closed (hyper's header read timeout).
    pub header_read_timeout: Duration,
}

/// Default of [`Config::header_read_timeout`]: 75 s, nginx's keep-alive timeout. Longer than the
/// idle timeout of the clients' connection pools (60 s for .NET's, which the Functions host
/// uses), so that the handler does not close a connection the host is about to reuse; the handler
/// listens on loopback only, behind the host, which deals with slow clients on the internet.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(75);

impl Default for Config {
    fn default() -> Self {
        Config {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 7071,
            registry: RegistrySettings::Folder(PathBuf::from("models")),
            model_name: "fluxops".to_owned(),
            refresh_interval: Duration::from_secs(30),
            max_model_bytes: DEFAULT_MAX_MODEL_BYTES,
            limits: Limits::default(),
            header_read_timeout: HEADER_READ_TIMEOUT,
        }
    }
}

/// Every problem found in the environment, one line each, so one start-up attempt shows them all.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    problems: Vec<String>,
}

impl ConfigError {
    /// One message per bad value, naming the variable and what it should hold.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "invalid configuration:")?;
        for problem in &self.problems {
            write!(formatter, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(
            std::env::vars_os()
                .map(|(name, value)| (name.to_string_lossy().into_owned(), value.into_string())),
        )
    }

    /// Reads the configuration from `(name, value)` pairs; a value that is not valid UTF-8 is an
    /// `Err` carrying the raw value.
    ///
    /// Any variable still holding an unresolved `@Microsoft.KeyVault(...)` reference is reported
    /// too, whoever reads it: its real value never reached the process. The one exception is
    /// the Application Insights connection string: without it the handler serves with export
    /// off, and `fluxops_telemetry` warns. The Azure sign-in variables are checked by
    /// [`AzureEnvironment::from_vars`] and the source by [`RegistrySettings::from_source`]; their
    /// problems are listed with the handler's own.
    pub fn from_vars<V>(
        vars: impl IntoIterator<Item = (String, Result<String, V>)>,
    ) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let mut values = HashMap::new();
        let mut not_utf8 = Vec::new();
        for (name, value) in vars {
            match value {
                Ok(_) if name == fluxops_telemetry::CONNECTION_STRING_VAR => {}
                Ok(value) if value.trim_start().starts_with(KEY_VAULT_REFERENCE) => {
                    problems.push(format!(
                        "{name} holds an unresolved Key Vault reference (@Microsoft.KeyVault(...)): \
                         the platform could not read the secret; give the app's identity the \
                         'Key Vault Secrets User' role on the vault and check the secret URI"
                    ));
                }
                Ok(value) => {
                    values.insert(name, value);
                }
                Err(_) if OWN_VARS.contains(&name.as_str()) => {
                    problems.push(format!("{name} is not valid UTF-8"));
                }
                // The store names its own variables that are not UTF-8.
                Err(_) => not_utf8.push(name),
            }
        }
        let azure = AzureEnvironment::from_vars(
            values
                .iter()
                .map(|(name, value)| (name.as_str(), Ok::<_, ()>(value.as_str())))
                .chain(not_utf8.iter().map(|name| (name.as_str(), Err(())))),
        );
        let mut reader = Reader {
            values: &values,
            problems: &mut problems,
        };
        let defaults = Config::default();
        let port = reader.parse(
            PORT_VAR,
            defaults.port,
            "a port number from 0 to 65535",
            |text| text.parse().ok(),
        );
        let source = reader.get(MODEL_SOURCE_VAR).unwrap_or("models").to_owned();
        let model_name = reader.parse(
            MODEL_NAME_VAR,
            defaults.model_name,
            "1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
            |text| fluxops_store::is_valid_name(text).then(|| text.to_owned()),
        );
        let refresh_interval = reader.parse(
            REFRESH_VAR,
            defaults.refresh_interval,
            "a number of seconds from 0.01 to 86400, such as 30 or 0.05",
            |text| {
                let seconds: f64 = text.parse().ok()?;
                (MIN_REFRESH_INTERVAL.as_secs_f64()..=MAX_REFRESH_SECS)
                    .contains(&seconds)
                    .then(|| Duration::from_secs_f64(seconds))
            },
        );
        let max_model_bytes = reader.parse(
            MAX_MODEL_BYTES_VAR,
            defaults.max_model_bytes,
            "a whole number of bytes from 1024 to 268435456 (256 MiB)",
            |text| {
                text.parse()
                    .ok()
                    .filter(|bytes| (MIN_MODEL_BYTES..=MAX_MODEL_BYTES).contains(bytes))
            },
        );
        let limits = Limits::read(&mut reader, defaults.limits);
        let registry = match azure {
            Ok(azure) => RegistrySettings::from_source(&source, &azure)
                .map_err(|error| problems.push(format!("{MODEL_SOURCE_VAR}: {error}")))
                .ok(),
            Err(error) => {
                problems.extend(error.into_problems());
                None
            }
        };
        match registry {
            Some(registry) if problems.is_empty() => Ok(Config {
                port,
                registry,
                model_name,
                refresh_interval,
                max_model_bytes,
                limits,
                ..defaults
            }),
            _ => Err(ConfigError { problems }),
        }
    }
}

impl Limits {
    /// The request limits the variables set, `defaults` for the others.
    fn read(reader: &mut Reader<'_>, defaults: Limits) -> Limits {
        let max_batch = reader.parse(
            MAX_BATCH_VAR,
            defaults.max_batch,
            "a whole number of rows from 1 to 1000000",
            |text| {
                text.parse()
                    .ok()
                    .filter(|rows| (1..=1_000_000).contains(rows))
            },
        );
        let max_body_bytes = reader.parse(
            MAX_BODY_VAR,
            defaults.max_body_bytes,
            "a whole number of bytes from 64 to 268435456 (256 MiB)",
            |text| {
                text.parse()
                    .ok()
                    .filter(|bytes| (64..=256 * 1024 * 1024).contains(bytes))
            },
        );
        let max_concurrency = reader.parse(
            MAX_CONCURRENCY_VAR,
            defaults.max_concurrency,
            "a whole number of requests from 1 to 100000",
            |text| {
                text.parse()
                    .ok()
                    .filter(|requests| (1..=100_000).contains(requests))
            },
        );
        Limits {
            max_batch,
            max_body_bytes,
            max_concurrency,
            ..defaults
        }
    }
}

/// Reads variables, falling back to defaults and collecting one problem per bad value.
struct Reader<'a> {
    values: &'a HashMap<String, String>,
    problems: &'a mut Vec<String>,
}

impl Reader<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(|value| setting_value(value))
    }

    fn parse<T>(
        &mut self,
        name: &str,
        default: T,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> T {
        let Some(text) = self.get(name) else {
            return default;
        };
        match parse(text) {
            Some(value) => value,
            None => {
                let problem = format!("{name}={text:?}: expected {expected}");
                self.problems.push(problem);
                default
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use fluxops_store::RegistryKind;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(
            vars.iter()
                .map(|(name, value)| ((*name).to_owned(), Ok::<_, ()>((*value).to_owned()))),
        )
    }

    fn folder(config: &Config) -> Option<PathBuf> {
        match config.registry.kind() {
            RegistryKind::Folder { path } => Some(path),
            _ => None,
        }
    }

    #[test]
    fn defaults_match_the_design_table() {
        let config = config(&[]).expect("defaults are valid");
        assert_eq!(config.port, 7071);
        assert_eq!(folder(&config), Some(PathBuf::from("models")));
        assert_eq!(config.model_name, "fluxops");
        assert_eq!(config.refresh_interval, Duration::from_secs(30));
        assert_eq!(config.max_model_bytes, 128 * 1024 * 1024);
        let limits = config.limits;
        assert_eq!((limits.max_batch, limits.max_body_bytes), (1000, 1_048_576));
        assert_eq!(limits.request_timeout, Duration::from_secs(30));
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(limits.max_concurrency, 32 * cores);
        assert!(config.host.is_loopback());
    }

    #[test]
    fn reads_every_variable() {
        let config = config(&[
            (PORT_VAR, "8080"),
            (MODEL_SOURCE_VAR, "/srv/models"),
            (MODEL_NAME_VAR, "churn"),
            (REFRESH_VAR, "0.05"),
            (MAX_BATCH_VAR, "10"),
            (MAX_BODY_VAR, "4096"),
            (MAX_MODEL_BYTES_VAR, "2048"),
            (MAX_CONCURRENCY_VAR, "64"),
            ("UNRELATED", "x"),
        ])
        .expect("valid");
        assert_eq!(config.port, 8080);
        assert_eq!(folder(&config), Some(PathBuf::from("/srv/models")));
        assert_eq!(config.model_name, "churn");
        assert_eq!(config.refresh_interval, Duration::from_millis(50));
        assert_eq!(config.max_model_bytes, 2048);
        let limits = config.limits;
        assert_eq!((limits.max_batch, limits.max_body_bytes), (10, 4096));
        assert_eq!(limits.max_concurrency, 64);
    }

    #[test]
    fn a_blob_source_is_resolved_with_the_azure_variables() {
        let config = config(&[
            (
                MODEL_SOURCE_VAR,
                "https://acct.blob.core.windows.net/models",
            ),
            ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001"),
        ])
        .expect("valid");
        assert_eq!(
            config.registry.kind().blob_container_url(),
            Some("https://acct.blob.core.windows.net/models")
        );
    }

    #[test]
    fn an_empty_value_means_the_default() {
        let config = config(&[
            (PORT_VAR, ""),
            (MODEL_NAME_VAR, "  "),
            (MODEL_SOURCE_VAR, " "),
        ])
        .expect("valid");
        assert_eq!(config.port, 7071);
        assert_eq!(config.model_name, "fluxops");
        assert_eq!(folder(&config), Some(PathBuf::from("models")));
    }

    #[test]
    fn reports_every_bad_value_at_once_the_azure_ones_included() {
        let error = config(&[
            (PORT_VAR, "70000"),
            (REFRESH_VAR, "-1"),
            (MAX_BATCH_VAR, "0"),
            (MAX_BODY_VAR, "lots"),
            (MAX_MODEL_BYTES_VAR, "1000000000"),
            (MAX_CONCURRENCY_VAR, "0"),
            ("FLUXOPS_AZURE_AUTH", "magic"),
            ("AZURE_STORAGE_CONNECTION_STRING", "garbage"),
        ])
        .expect_err("all are bad");
        let problems = error.problems();
        assert_eq!(problems.len(), 8, "{problems:?}");
        for name in [
            PORT_VAR,
            REFRESH_VAR,
            MAX_BATCH_VAR,
            MAX_BODY_VAR,
            MAX_MODEL_BYTES_VAR,
            MAX_CONCURRENCY_VAR,
            "FLUXOPS_AZURE_AUTH",
            "AZURE_STORAGE_CONNECTION_STRING",
        ] {
            assert!(
                problems.iter().any(|problem| problem.starts_with(name)),
                "{name} not reported in {problems:?}"
            );
        }
        assert!(error.to_string().contains("expected a port number"));
    }

    #[test]
    fn a_source_the_store_cannot_use_is_a_problem() {
        let error = config(&[(MODEL_SOURCE_VAR, "https://acct.blob.core.windows.net/")])
            .expect_err("no container");
        assert_eq!(error.problems().len(), 1);
        assert!(error.problems()[0].starts_with(MODEL_SOURCE_VAR), "{error}");
    }

    #[test]
    fn rejects_refresh_intervals_outside_ten_milliseconds_to_a_day() {
        for text in [
            "0", "1e-10", "0.009", "nan", "inf", "86401", "1e300", "soon",
        ] {
            assert!(
                config(&[(REFRESH_VAR, text)]).is_err(),
                "{text} was accepted"
            );
        }
        let fastest = config(&[(REFRESH_VAR, "0.01")]).expect("the minimum is allowed");
        assert_eq!(fastest.refresh_interval, Duration::from_millis(10));
    }

    #[test]
    fn names_an_unresolved_key_vault_reference_in_any_variable() {
        let reference = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/x/)";
        let error = config(&[
            (MODEL_SOURCE_VAR, reference),
            ("AZURE_STORAGE_CONNECTION_STRING", reference),
        ])
        .expect_err("unresolved references");
        assert_eq!(error.problems().len(), 2, "{error}");
        assert!(
            error
                .problems()
                .iter()
                .all(|problem| problem.contains("Key Vault"))
        );
        assert!(
            error
                .to_string()
                .contains("AZURE_STORAGE_CONNECTION_STRING")
        );
        assert!(
            !error.to_string().contains("kv.vault.azure.net"),
            "the reference itself is not echoed"
        );
    }

    #[test]
    fn an_unresolved_telemetry_connection_string_does_not_stop_the_start() {
        let reference = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/ai/)";
        assert!(config(&[(fluxops_telemetry::CONNECTION_STRING_VAR, reference)]).is_ok());
    }

    #[test]
    fn non_utf8_values_count_only_for_our_variables_and_azures() {
        let vars = vec![
            (MAX_BATCH_VAR.to_owned(), Err(())),
            ("AZURE_CLIENT_ID".to_owned(), Err(())),
            ("SOMEONE_ELSES".to_owned(), Err(())),
        ];
        let error = Config::from_vars(vars).expect_err("ours is bad");
        assert_eq!(
            error.problems(),
            [
                format!("{MAX_BATCH_VAR} is not valid UTF-8"),
                "AZURE_CLIENT_ID is not valid UTF-8".to_owned()
            ]
        );
    }

    #[test]
    fn a_model_name_the_registry_cannot_hold_stops_the_start() {
        let error = config(&[(MODEL_NAME_VAR, "../etc")]).unwrap_err();
        assert!(error.to_string().contains("FLUXOPS_MODEL_NAME"), "{error}");
        assert_eq!(
            config(&[(MODEL_NAME_VAR, "churn-v2")]).unwrap().model_name,
            "churn-v2"
        );
    }
}
