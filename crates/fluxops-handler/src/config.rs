//! The handler's configuration, read once from the environment and checked before anything starts.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Port to listen on; the Functions host sets it, a person running the handler may too.
pub const PORT_VAR: &str = "FUNCTIONS_CUSTOMHANDLER_PORT";
/// Where the model registry lives: a folder, or a Blob Storage container URL.
pub const MODEL_SOURCE_VAR: &str = "FLUXOPS_MODEL_SOURCE";
/// Name of the model in the registry.
pub const MODEL_NAME_VAR: &str = "FLUXOPS_MODEL_NAME";
/// How often the registry's `latest` pointer is checked, in seconds (fractions allowed).
pub const REFRESH_VAR: &str = "FLUXOPS_MODEL_REFRESH_SECS";
/// Most rows one batch request may carry.
pub const MAX_BATCH_VAR: &str = "FLUXOPS_MAX_BATCH";
/// Largest request body accepted, in bytes.
pub const MAX_BODY_VAR: &str = "FLUXOPS_MAX_BODY_BYTES";

/// What an App Service setting holds when the platform could not resolve its Key Vault reference.
const KEY_VAULT_REFERENCE: &str = "@Microsoft.KeyVault(";

/// Everything the handler needs to start, with the defaults of DESIGN.md's environment table.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Address to listen on: loopback, where the Functions host expects its handler.
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one (tests).
    pub port: u16,
    /// Registry source handed to `fluxops_store::Registry::open`.
    pub model_source: String,
    /// Model name in the registry.
    pub model_name: String,
    /// How often the registry's `latest` pointer is checked.
    pub refresh_interval: Duration,
    /// Most rows one batch request may carry.
    pub max_batch: usize,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest a request may take, body upload included.
    pub request_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 7071,
            model_source: "models".to_owned(),
            model_name: "fluxops".to_owned(),
            refresh_interval: Duration::from_secs(30),
            max_batch: 1000,
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
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
    /// off, and `fluxops_telemetry` warns.
    pub fn from_vars<V>(
        vars: impl IntoIterator<Item = (String, Result<String, V>)>,
    ) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let mut values = HashMap::new();
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
                Err(_) if is_ours(&name) => {
                    problems.push(format!("{name} is not valid UTF-8"));
                }
                Err(_) => {}
            }
        }
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
        let model_source = reader.text(MODEL_SOURCE_VAR, defaults.model_source);
        let model_name = reader.parse(
            MODEL_NAME_VAR,
            defaults.model_name,
            "1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
            |text| fluxops_store::is_valid_name(text).then(|| text.to_owned()),
        );
        let refresh_interval = reader.parse(
            REFRESH_VAR,
            defaults.refresh_interval,
            "a number of seconds above 0 and at most 86400, such as 30 or 0.05",
            |text| {
                let seconds: f64 = text.parse().ok()?;
                (seconds > 0.0 && seconds <= 86_400.0)
                    .then(|| Duration::try_from_secs_f64(seconds).ok())
                    .flatten()
            },
        );
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
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        Ok(Config {
            port,
            model_source,
            model_name,
            refresh_interval,
            max_batch,
            max_body_bytes,
            ..defaults
        })
    }
}

fn is_ours(name: &str) -> bool {
    [
        PORT_VAR,
        MODEL_SOURCE_VAR,
        MODEL_NAME_VAR,
        REFRESH_VAR,
        MAX_BATCH_VAR,
        MAX_BODY_VAR,
    ]
    .contains(&name)
}

/// Reads variables, falling back to defaults and collecting one problem per bad value.
struct Reader<'a> {
    values: &'a HashMap<String, String>,
    problems: &'a mut Vec<String>,
}

impl Reader<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        // An empty setting means "not set", as App Service shows an unset value.
        self.values
            .get(name)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    }

    fn text(&mut self, name: &str, default: String) -> String {
        self.get(name).map_or(default, str::to_owned)
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
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(
            vars.iter()
                .map(|(name, value)| ((*name).to_owned(), Ok::<_, ()>((*value).to_owned()))),
        )
    }

    #[test]
    fn defaults_match_the_design_table() {
        let config = config(&[]).expect("defaults are valid");
        assert_eq!(config, Config::default());
        assert_eq!(config.port, 7071);
        assert_eq!(config.model_source, "models");
        assert_eq!(config.model_name, "fluxops");
        assert_eq!(config.refresh_interval, Duration::from_secs(30));
        assert_eq!((config.max_batch, config.max_body_bytes), (1000, 1_048_576));
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
            ("UNRELATED", "x"),
        ])
        .expect("valid");
        assert_eq!(config.port, 8080);
        assert_eq!(config.model_source, "/srv/models");
        assert_eq!(config.model_name, "churn");
        assert_eq!(config.refresh_interval, Duration::from_millis(50));
        assert_eq!((config.max_batch, config.max_body_bytes), (10, 4096));
    }

    #[test]
    fn an_empty_value_means_the_default() {
        let config = config(&[(PORT_VAR, ""), (MODEL_NAME_VAR, "  ")]).expect("valid");
        assert_eq!(config.port, 7071);
        assert_eq!(config.model_name, "fluxops");
    }

    #[test]
    fn reports_every_bad_value_at_once() {
        let error = config(&[
            (PORT_VAR, "70000"),
            (REFRESH_VAR, "-1"),
            (MAX_BATCH_VAR, "0"),
            (MAX_BODY_VAR, "lots"),
        ])
        .expect_err("all four are bad");
        let problems = error.problems();
        assert_eq!(problems.len(), 4, "{problems:?}");
        for name in [PORT_VAR, REFRESH_VAR, MAX_BATCH_VAR, MAX_BODY_VAR] {
            assert!(
                problems.iter().any(|problem| problem.starts_with(name)),
                "{name} not reported in {problems:?}"
            );
        }
        assert!(error.to_string().contains("expected a port number"));
    }

    #[test]
    fn rejects_refresh_intervals_that_are_not_positive_and_finite() {
        for text in ["0", "nan", "inf", "1e300", "soon"] {
            assert!(
                config(&[(REFRESH_VAR, text)]).is_err(),
                "{text} was accepted"
            );
        }
    }

    #[test]
    fn names_an_unresolved_key_vault_reference_in_any_variable() {
        let reference = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/x/)";
        let error = config(&[
            (MODEL_SOURCE_VAR, reference),
            ("AZURE_STORAGE_CONNECTION_STRING", reference),
        ])
        .expect_err("unresolved references");
        assert_eq!(error.problems().len(), 2);
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
        let config = config(&[(fluxops_telemetry::CONNECTION_STRING_VAR, reference)]);
        assert_eq!(config, Ok(Config::default()));
    }

    #[test]
    fn non_utf8_values_count_only_for_our_variables() {
        let vars = vec![
            (MAX_BATCH_VAR.to_owned(), Err(())),
            ("SOMEONE_ELSES".to_owned(), Err(())),
        ];
        let error = Config::from_vars(vars).expect_err("ours is bad");
        assert_eq!(
            error.problems(),
            [format!("{MAX_BATCH_VAR} is not valid UTF-8")]
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
