//! Where a Blob registry or object lives and how to sign in to it, chosen from the source string
//! and the environment by one set of rules (see [`BlobSettings::from_source`]).

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use azure_core::http::Url;

use crate::error::{Error, ErrorKind, Result};
use crate::shared_key::{AccountKey, ConnectionString, DEV_ACCOUNT};

/// The source string that means "the Azurite development account" (or whatever
/// `AZURE_STORAGE_CONNECTION_STRING` names), container [`AZURITE_CONTAINER`].
pub const AZURITE_SOURCE: &str = "azurite";
/// The registry container used for the [`AZURITE_SOURCE`] source.
pub const AZURITE_CONTAINER: &str = "models";

/// The environment variables that decide how to reach Blob Storage, read once so that tests and
/// callers can pass them as values instead of changing the process environment.
#[derive(Clone, Default)]
pub struct AzureEnvironment {
    /// `AZURE_STORAGE_CONNECTION_STRING`: an account key (or `UseDevelopmentStorage=true`).
    pub connection_string: Option<String>,
    /// `AZURE_CLIENT_ID`: a user-assigned managed identity, or the workload identity's client.
    pub client_id: Option<String>,
    /// `AZURE_TENANT_ID`: the workload identity's tenant.
    pub tenant_id: Option<String>,
    /// `AZURE_FEDERATED_TOKEN_FILE`: the workload identity's token file.
    pub federated_token_file: Option<String>,
    /// `IDENTITY_ENDPOINT`: set by App Service and Azure Functions when a managed identity exists.
    pub identity_endpoint: Option<String>,
    /// `FLUXOPS_AZURE_AUTH`: forces one method (`connection-string`, `managed-identity`,
    /// `workload-identity` or `developer`) instead of choosing by the variables above.
    pub forced_method: Option<String>,
}

impl AzureEnvironment {
    /// Reads the variables from the process environment; empty values count as unset.
    pub fn from_process() -> Self {
        let variable = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
        };
        AzureEnvironment {
            connection_string: variable("AZURE_STORAGE_CONNECTION_STRING"),
            client_id: variable("AZURE_CLIENT_ID"),
            tenant_id: variable("AZURE_TENANT_ID"),
            federated_token_file: variable("AZURE_FEDERATED_TOKEN_FILE"),
            identity_endpoint: variable("IDENTITY_ENDPOINT"),
            forced_method: variable("FLUXOPS_AZURE_AUTH"),
        }
    }
}

impl fmt::Debug for AzureEnvironment {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("AzureEnvironment")
            .field(
                "connection_string",
                &self.connection_string.as_ref().map(|_| "<redacted>"),
            )
            .field("client_id", &self.client_id)
            .field("tenant_id", &self.tenant_id)
            .field("federated_token_file", &self.federated_token_file)
            .field("identity_endpoint", &self.identity_endpoint)
            .field("forced_method", &self.forced_method)
            .finish()
    }
}

/// How the Blob backend signs its requests.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum BlobAuth {
    /// An account key (from a connection string, or Azurite's published one); each request is
    /// signed with SharedKey.
    SharedKey(AccountKey),
    /// The Azure managed identity: system-assigned, or user-assigned with this client ID.
    ManagedIdentity {
        /// Client ID of a user-assigned identity; `None` for the system-assigned one.
        client_id: Option<String>,
    },
    /// Entra workload identity (a federated token file, as on AKS).
    WorkloadIdentity {
        /// Directory (tenant) ID.
        tenant_id: String,
        /// Client ID of the application or user-assigned identity.
        client_id: String,
        /// The federated token file.
        token_file: PathBuf,
    },
    /// The developer's own sign-in: Azure CLI (`az login`), then Azure Developer CLI.
    DeveloperTools,
}

impl BlobAuth {
    /// Whether requests carry an Entra ID token (and so need HTTPS and RBAC roles).
    pub fn uses_token(&self) -> bool {
        !matches!(self, BlobAuth::SharedKey(_))
    }
}

impl fmt::Display for BlobAuth {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobAuth::SharedKey(key) => {
                write!(
                    formatter,
                    "the account key of {} (SharedKey)",
                    key.account()
                )
            }
            BlobAuth::ManagedIdentity { client_id: None } => {
                formatter.write_str("managed identity (system-assigned)")
            }
            BlobAuth::ManagedIdentity {
                client_id: Some(client_id),
            } => write!(
                formatter,
                "managed identity (user-assigned, client ID {client_id})"
            ),
            BlobAuth::WorkloadIdentity {
                tenant_id,
                client_id,
                ..
            } => write!(
                formatter,
                "workload identity (tenant {tenant_id}, client ID {client_id})"
            ),
            BlobAuth::DeveloperTools => {
                formatter.write_str("developer sign-in (Azure CLI, then Azure Developer CLI)")
            }
        }
    }
}

/// How often and how long a failing request is retried (network errors, 408, 429 and 5xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// Retries after the first try.
    pub max_retries: u32,
    /// Base of the backoff: retry *n* waits `initial_delay * 2^n` plus up to 255 ms of jitter,
    /// capped at 4 s.
    pub initial_delay: Duration,
    /// No retry starts after this much time has passed since the first try.
    pub max_elapsed: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            max_retries: 4,
            initial_delay: Duration::from_millis(250),
            max_elapsed: Duration::from_secs(20),
        }
    }
}

/// Where a Blob container is and how to reach it: the value form of a registry source.
#[derive(Debug, Clone)]
pub struct BlobSettings {
    address: ContainerAddress,
    auth: BlobAuth,
    retry: RetrySettings,
}

impl BlobSettings {
    /// A container URL (`https://<account>.blob.core.windows.net/<container>`, or path style
    /// `http://127.0.0.1:10000/<account>/<container>` for Azurite) and how to sign in.
    pub fn new(container_url: &str, auth: BlobAuth) -> Result<Self> {
        BlobSettings::checked(ContainerAddress::parse_container(container_url)?, auth)
    }

    /// Resolves a registry source the way the handler's `FLUXOPS_MODEL_SOURCE` is read:
    /// [`AZURITE_SOURCE`] or a container URL, signed in as `environment` says.
    ///
    /// The method is, in order: `FLUXOPS_AZURE_AUTH` if set; the connection string if
    /// `AZURE_STORAGE_CONNECTION_STRING` is set; workload identity if
    /// `AZURE_FEDERATED_TOKEN_FILE` is set; managed identity if `IDENTITY_ENDPOINT` or
    /// `AZURE_CLIENT_ID` is set (user-assigned with the latter); Azurite's published key for its
    /// development account on a loopback address; otherwise the developer's Azure CLI sign-in.
    pub fn from_source(source: &str, environment: &AzureEnvironment) -> Result<Self> {
        if source == AZURITE_SOURCE {
            let (address, key) = azurite(environment)?;
            return BlobSettings::checked(address, BlobAuth::SharedKey(key));
        }
        let address = ContainerAddress::parse_container(source)?;
        let auth = choose_auth(&address, environment)?;
        BlobSettings::checked(address, auth)
    }

    /// The settings for the container holding a blob URL, and the blob's name in it.
    pub(crate) fn for_blob(
        location: &str,
        environment: &AzureEnvironment,
    ) -> Result<(Self, String)> {
        let (address, blob) = ContainerAddress::parse(location)?;
        if blob.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{location} names a container, not a blob"),
            ));
        }
        let auth = choose_auth(&address, environment)?;
        Ok((BlobSettings::checked(address, auth)?, blob))
    }

    /// Replaces the retry limits (tests use short ones).
    pub fn with_retry(mut self, retry: RetrySettings) -> Self {
        self.retry = retry;
        self
    }

    /// The storage account name.
    pub fn account(&self) -> &str {
        &self.address.account
    }

    /// The container name.
    pub fn container(&self) -> &str {
        &self.address.container
    }

    /// The container's URL.
    pub fn container_url(&self) -> &str {
        self.address.url.as_str()
    }

    /// How requests are signed.
    pub fn auth(&self) -> &BlobAuth {
        &self.auth
    }

    /// The retry limits.
    pub fn retry(&self) -> RetrySettings {
        self.retry
    }

    pub(crate) fn url(&self) -> &Url {
        &self.address.url
    }

    fn checked(address: ContainerAddress, auth: BlobAuth) -> Result<Self> {
        if let BlobAuth::SharedKey(key) = &auth
            && key.account() != address.account
        {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "{} is in storage account {}, but the account key (AZURE_STORAGE_CONNECTION_STRING) is for {}",
                    address.url,
                    address.account,
                    key.account()
                ),
            ));
        }
        if auth.uses_token() && address.url.scheme() != "https" {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "{} uses plain http, but {auth} needs https; over http (Azurite) set \
                     AZURE_STORAGE_CONNECTION_STRING instead",
                    address.url
                ),
            ));
        }
        Ok(BlobSettings {
            address,
            auth,
            retry: RetrySettings::default(),
        })
    }
}

/// Whether a source or location string means Blob Storage rather than a local path.
pub(crate) fn is_blob_source(source: &str) -> bool {
    source == AZURITE_SOURCE || is_blob_url(source)
}

/// Whether a location string is a blob URL (`http(s)://...`) rather than a local path or
/// [`AZURITE_SOURCE`].
pub fn is_blob_url(location: &str) -> bool {
    location.starts_with("https://") || location.starts_with("http://")
}

/// The URL of `blob` in container `container` of the same storage account as the registry
/// `source` (a container URL or [`AZURITE_SOURCE`]); `None` when `source` is a local folder.
/// An empty `blob` gives the container's URL.
///
/// The trainer uses it to put a run's log next to the registry, e.g. `logs/<run>/metrics.json`.
pub fn blob_location(source: &str, container: &str, blob: &str) -> Result<Option<String>> {
    if !is_blob_source(source) {
        return Ok(None);
    }
    let address = if source == AZURITE_SOURCE {
        azurite(&AzureEnvironment::from_process())?.0
    } else {
        ContainerAddress::parse(source)?.0
    };
    let mut url = address.url;
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop();
    }
    let mut segments = vec![container];
    segments.extend(blob.split('/').filter(|segment| !segment.is_empty()));
    push_segments(&mut url, &segments);
    Ok(Some(url.to_string()))
}

/// The [`AZURITE_SOURCE`] registry: the connection string's account (by default Azurite's
/// development account) and its container [`AZURITE_CONTAINER`].
fn azurite(environment: &AzureEnvironment) -> Result<(ContainerAddress, AccountKey)> {
    let connection = ConnectionString::parse(
        environment
            .connection_string
            .as_deref()
            .unwrap_or("UseDevelopmentStorage=true"),
    )?;
    let mut container_url = connection.blob_endpoint;
    push_segments(&mut container_url, &[AZURITE_CONTAINER]);
    let (address, _) = ContainerAddress::parse(container_url.as_str())?;
    Ok((address, connection.key))
}

/// A location as it may be shown in messages and logs: without a query string or fragment (a SAS
/// token is a credential) and without user information.
fn redacted(text: &str) -> String {
    let without_query = text.split(['?', '#']).next().unwrap_or_default();
    match without_query.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            let elided = if without_query.len() < text.len() {
                "?…"
            } else {
                ""
            };
            format!("{scheme}://{host}{path}{elided}")
        }
        None => without_query.to_owned(),
    }
}

fn push_segments(url: &mut Url, segments: &[&str]) {
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
}

fn choose_auth(address: &ContainerAddress, environment: &AzureEnvironment) -> Result<BlobAuth> {
    let connection_string = || -> Result<BlobAuth> {
        let text = environment.connection_string.as_deref().ok_or_else(|| {
            missing(
                "FLUXOPS_AZURE_AUTH=connection-string",
                "AZURE_STORAGE_CONNECTION_STRING",
            )
        })?;
        Ok(BlobAuth::SharedKey(ConnectionString::parse(text)?.key))
    };
    let workload = || -> Result<BlobAuth> {
        let required = |value: &Option<String>, name: &str| {
            value
                .clone()
                .ok_or_else(|| missing("workload identity", name))
        };
        Ok(BlobAuth::WorkloadIdentity {
            tenant_id: required(&environment.tenant_id, "AZURE_TENANT_ID")?,
            client_id: required(&environment.client_id, "AZURE_CLIENT_ID")?,
            token_file: PathBuf::from(required(
                &environment.federated_token_file,
                "AZURE_FEDERATED_TOKEN_FILE",
            )?),
        })
    };
    let managed = || BlobAuth::ManagedIdentity {
        client_id: environment.client_id.clone(),
    };
    if let Some(method) = &environment.forced_method {
        return match method.trim().to_ascii_lowercase().as_str() {
            "connection-string" => connection_string(),
            "workload-identity" => workload(),
            "managed-identity" => Ok(managed()),
            "developer" => Ok(BlobAuth::DeveloperTools),
            other => Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "FLUXOPS_AZURE_AUTH={other:?} is not one of connection-string, \
                     managed-identity, workload-identity, developer"
                ),
            )),
        };
    }
    if environment.connection_string.is_some() {
        connection_string()
    } else if environment.federated_token_file.is_some() {
        workload()
    } else if environment.identity_endpoint.is_some() || environment.client_id.is_some() {
        Ok(managed())
    } else if address.path_style && address.account == DEV_ACCOUNT {
        Ok(BlobAuth::SharedKey(AccountKey::development()))
    } else {
        Ok(BlobAuth::DeveloperTools)
    }
}

fn missing(method: &str, variable: &str) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!("{method} needs {variable} to be set"),
    )
}

/// A parsed container URL: its account, name and whether the account is in the path (Azurite).
#[derive(Debug, Clone)]
struct ContainerAddress {
    url: Url,
    account: String,
    container: String,
    path_style: bool,
}

impl ContainerAddress {
    /// Parses a URL that must name a container, not a blob in it.
    fn parse_container(text: &str) -> Result<Self> {
        let (address, blob) = ContainerAddress::parse(text)?;
        if !blob.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("registry {text}: the URL must name a container, not a blob ({blob})"),
            ));
        }
        Ok(address)
    }

    /// Splits a blob-service URL into the container address and the blob path below it (empty
    /// for the container itself). Loopback and IP hosts use path style (`/<account>/...`).
    fn parse(text: &str) -> Result<(Self, String)> {
        let invalid = |why: &str| {
            Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "{:?} is not a Blob Storage URL ({why}); expected \
                     https://<account>.blob.core.windows.net/<container>",
                    redacted(text)
                ),
            )
        };
        let url = Url::parse(text).map_err(|_| invalid("cannot parse it"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("not http or https"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                "SAS tokens and other query strings are not supported",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("credentials in the URL are not supported"));
        }
        let host = url.host_str().ok_or_else(|| invalid("no host"))?;
        let path_style = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok();
        let mut segments: Vec<&str> = url
            .path_segments()
            .map(|segments| segments.filter(|segment| !segment.is_empty()).collect())
            .unwrap_or_default();
        let account = if path_style {
            if segments.is_empty() {
                return Err(invalid("no account in the path"));
            }
            segments.remove(0).to_owned()
        } else {
            host.split('.').next().unwrap_or_default().to_owned()
        };
        if segments.is_empty() {
            return Err(invalid("no container in the path"));
        }
        let container = segments.remove(0).to_owned();
        let blob = segments.join("/");
        let mut container_url = url.clone();
        container_url.set_path("");
        let mut base = vec![];
        if path_style {
            base.push(account.as_str());
        }
        base.push(container.as_str());
        push_segments(&mut container_url, &base);
        Ok((
            ContainerAddress {
                url: container_url,
                account,
                container,
                path_style,
            },
            blob,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment() -> AzureEnvironment {
        AzureEnvironment::default()
    }

    fn auth_for(source: &str, environment: &AzureEnvironment) -> String {
        BlobSettings::from_source(source, environment)
            .map(|settings| settings.auth().to_string())
            .unwrap_or_else(|error| format!("error: {error}"))
    }

    #[test]
    fn azure_urls_name_account_and_container() {
        let settings = BlobSettings::from_source(
            "https://fluxopsprod.blob.core.windows.net/models/",
            &environment(),
        )
        .unwrap();
        assert_eq!(settings.account(), "fluxopsprod");
        assert_eq!(settings.container(), "models");
        assert_eq!(
            settings.container_url(),
            "https://fluxopsprod.blob.core.windows.net/models"
        );
    }

    #[test]
    fn loopback_urls_are_path_style() {
        let (address, blob) = ContainerAddress::parse(
            "http://127.0.0.1:4000/devstoreaccount1/logs/run-1/metrics.json",
        )
        .unwrap();
        assert_eq!(address.account, "devstoreaccount1");
        assert_eq!(address.container, "logs");
        assert_eq!(
            address.url.as_str(),
            "http://127.0.0.1:4000/devstoreaccount1/logs"
        );
        assert_eq!(blob, "run-1/metrics.json");
    }

    #[test]
    fn the_method_follows_the_documented_order() {
        let url = "https://acct.blob.core.windows.net/models";
        let key = "AccountName=acct;AccountKey=a2V5";
        let mut environment = environment();
        assert!(auth_for(url, &environment).starts_with("developer sign-in"));
        environment.client_id = Some("1111".into());
        assert_eq!(
            auth_for(url, &environment),
            "managed identity (user-assigned, client ID 1111)"
        );
        environment.client_id = None;
        environment.identity_endpoint = Some("http://127.0.0.1:1/msi".into());
        assert_eq!(
            auth_for(url, &environment),
            "managed identity (system-assigned)"
        );
        environment.federated_token_file = Some("/var/run/token".into());
        assert_eq!(
            auth_for(url, &environment),
            "error: invalid input: workload identity needs AZURE_TENANT_ID to be set"
        );
        environment.tenant_id = Some("tenant".into());
        environment.client_id = Some("2222".into());
        assert_eq!(
            auth_for(url, &environment),
            "workload identity (tenant tenant, client ID 2222)"
        );
        environment.connection_string = Some(key.into());
        assert!(auth_for(url, &environment).contains("SharedKey"));
        environment.forced_method = Some("managed-identity".into());
        assert_eq!(
            auth_for(url, &environment),
            "managed identity (user-assigned, client ID 2222)"
        );
        environment.forced_method = Some("developer".into());
        assert!(auth_for(url, &environment).starts_with("developer sign-in"));
        environment.forced_method = Some("magic".into());
        assert!(auth_for(url, &environment).contains("is not one of"));
    }

    #[test]
    fn azurite_means_the_development_account_or_the_connection_string() {
        let settings = BlobSettings::from_source("azurite", &environment()).unwrap();
        assert_eq!(
            settings.container_url(),
            "http://127.0.0.1:10000/devstoreaccount1/models"
        );
        let mut environment = environment();
        environment.connection_string = Some(
            "AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:5555/devstoreaccount1"
                .into(),
        );
        let settings = BlobSettings::from_source("azurite", &environment).unwrap();
        assert_eq!(
            settings.container_url(),
            "http://127.0.0.1:5555/devstoreaccount1/models"
        );
        assert!(settings.auth().to_string().contains("SharedKey"));
    }

    #[test]
    fn loopback_development_account_needs_no_settings() {
        let settings = BlobSettings::from_source(
            "http://127.0.0.1:4000/devstoreaccount1/models",
            &environment(),
        )
        .unwrap();
        assert!(settings.auth().to_string().contains("devstoreaccount1"));
    }

    #[test]
    fn mistakes_are_reported_before_any_request() {
        let mut environment = environment();
        for (source, expected) in [
            ("https://acct.blob.core.windows.net", "no container"),
            (
                "https://acct.blob.core.windows.net/models?sv=2020&sig=x",
                "SAS tokens",
            ),
            ("ftp://acct/models", "not http or https"),
            (
                "https://acct.blob.core.windows.net/models/a/b",
                "not a blob",
            ),
            ("http://acct.blob.core.windows.net/models", "needs https"),
        ] {
            let message = auth_for(source, &environment);
            assert!(message.contains(expected), "{source}: {message}");
        }
        environment.connection_string = Some("AccountName=other;AccountKey=a2V5".into());
        let message = auth_for("https://acct.blob.core.windows.net/models", &environment);
        assert!(message.contains("is for other"), "{message}");
    }

    #[test]
    fn blob_locations_sit_next_to_the_registry() {
        assert_eq!(
            blob_location(
                "https://acct.blob.core.windows.net/models",
                "logs",
                "run-1/metrics.json"
            )
            .unwrap()
            .as_deref(),
            Some("https://acct.blob.core.windows.net/logs/run-1/metrics.json")
        );
        assert_eq!(
            blob_location(
                "http://127.0.0.1:4000/devstoreaccount1/models",
                "data",
                "train.csv"
            )
            .unwrap()
            .as_deref(),
            Some("http://127.0.0.1:4000/devstoreaccount1/data/train.csv")
        );
        assert_eq!(blob_location("models", "logs", "x").unwrap(), None);
    }

    #[test]
    fn debug_output_hides_the_connection_string() {
        let environment = AzureEnvironment {
            connection_string: Some("AccountName=a;AccountKey=c2VjcmV0".into()),
            ..AzureEnvironment::default()
        };
        assert!(!format!("{environment:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn messages_never_repeat_a_sas_token_or_url_credentials() {
        for source in [
            "https://acct.blob.core.windows.net/models?sv=2024&sig=SECRETSIG",
            "https://user:SECRETPW@acct.blob.core.windows.net/models",
        ] {
            let message = BlobSettings::from_source(source, &environment())
                .unwrap_err()
                .to_string();
            assert!(!message.contains("SECRET"), "{message}");
            assert!(
                message.contains("acct.blob.core.windows.net/models"),
                "{message}"
            );
        }
    }
}
