//! Where a Blob registry or object lives and how to sign in to it, chosen from the source string
//! and the environment by one set of rules (see [`BlobSettings::from_source`]).

use std::time::Duration;

use azure_core::http::Url;

use crate::address::ContainerAddress;
use crate::auth::{BlobAuth, choose_auth};
use crate::azurite::{AZURITE_SOURCE, azurite_registry};
use crate::environment::AzureEnvironment;
use crate::error::{Error, ErrorKind, Result};
use crate::source::RegistryKind;

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
    /// [`AZURITE_SOURCE`] or a container URL, signed in as `environment` says (the order is on
    /// [`AzureEnvironment::from_vars`]). When the variables ask for no method, a loopback URL of
    /// Azurite's development account uses its published key and any other URL the developer's
    /// Azure CLI sign-in.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] naming what is wrong with the URL (never its credentials or SAS
    /// token), an account key for another account, or a token method over plain http.
    pub fn from_source(source: &str, environment: &AzureEnvironment) -> Result<Self> {
        if source == AZURITE_SOURCE {
            let (address, key) = azurite_registry(environment)?;
            return BlobSettings::checked(address, BlobAuth::SharedKey(key));
        }
        let address = ContainerAddress::parse_container(source)?;
        let auth = choose_auth(&address, environment);
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
                format!(
                    "{location} names a container, not a blob; add the blob's name, such as \
                     {location}/train.csv"
                ),
            ));
        }
        let auth = choose_auth(&address, environment);
        Ok((BlobSettings::checked(address, auth)?, blob))
    }

    /// Replaces the retry limits (tests use short ones).
    pub fn with_retry(mut self, retry: RetrySettings) -> Self {
        self.retry = retry;
        self
    }

    /// The storage account name.
    pub(crate) fn account(&self) -> &str {
        &self.address.account
    }

    /// The container name.
    pub(crate) fn container(&self) -> &str {
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
    pub(crate) fn retry(&self) -> RetrySettings {
        self.retry
    }

    /// The registry kind of this container: account, container and URL, no credential.
    pub fn kind(&self) -> RegistryKind {
        RegistryKind::Blob {
            account: self.address.account.clone(),
            container: self.address.container.clone(),
            container_url: self.address.url.to_string(),
        }
    }

    /// The URL of `blob` in another `container` of the same storage account, such as the run
    /// logs beside a registry (`logs/<run>/metrics.json`); an empty `blob` gives the container's
    /// URL.
    pub fn blob_url(&self, container: &str, blob: &str) -> String {
        self.address.blob_url(container, blob)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::tests::environment;

    fn auth_for(source: &str, environment: &AzureEnvironment) -> String {
        BlobSettings::from_source(source, environment)
            .map(|settings| settings.auth().to_string())
            .unwrap_or_else(|error| format!("error: {error}"))
    }

    #[test]
    fn azure_urls_name_account_and_container() {
        let settings = BlobSettings::from_source(
            "https://fluxopsprod.blob.core.windows.net/models/",
            &AzureEnvironment::default(),
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
    fn azurite_means_the_development_account_or_the_connection_string() {
        let settings = BlobSettings::from_source("azurite", &AzureEnvironment::default()).unwrap();
        assert_eq!(
            settings.container_url(),
            "http://127.0.0.1:10000/devstoreaccount1/models"
        );
        let environment = environment(&[(
            "AZURE_STORAGE_CONNECTION_STRING",
            "AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:5555/devstoreaccount1",
        )]);
        let settings = BlobSettings::from_source("azurite", &environment).unwrap();
        assert_eq!(
            settings.container_url(),
            "http://127.0.0.1:5555/devstoreaccount1/models"
        );
        assert!(settings.auth().to_string().contains("SharedKey"));
    }

    #[test]
    fn mistakes_are_reported_before_any_request() {
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
            let message = auth_for(source, &AzureEnvironment::default());
            assert!(message.contains(expected), "{source}: {message}");
        }
        let other_account = environment(&[(
            "AZURE_STORAGE_CONNECTION_STRING",
            "AccountName=other;AccountKey=a2V5",
        )]);
        let message = auth_for("https://acct.blob.core.windows.net/models", &other_account);
        assert!(message.contains("is for other"), "{message}");
    }

    #[test]
    fn blob_urls_sit_next_to_the_registry() {
        let url_beside = |source: &str, container: &str, blob: &str| {
            BlobSettings::from_source(source, &AzureEnvironment::default())
                .unwrap()
                .blob_url(container, blob)
        };
        assert_eq!(
            url_beside(
                "https://acct.blob.core.windows.net/models",
                "logs",
                "run-1/metrics.json"
            ),
            "https://acct.blob.core.windows.net/logs/run-1/metrics.json"
        );
        assert_eq!(
            url_beside(
                "http://127.0.0.1:4000/devstoreaccount1/models",
                "data",
                "train.csv"
            ),
            "http://127.0.0.1:4000/devstoreaccount1/data/train.csv"
        );
        assert_eq!(
            url_beside("azurite", "logs", ""),
            "http://127.0.0.1:10000/devstoreaccount1/logs"
        );
        assert_eq!(
            url_beside("https://acct.blob.core.windows.net/models", "logs", ""),
            "https://acct.blob.core.windows.net/logs"
        );
    }

    #[test]
    fn messages_never_repeat_a_sas_token_or_url_credentials() {
        for source in [
            "https://acct.blob.core.windows.net/models?sv=2024&sig=SECRETSIG",
            "https://user:SECRETPW@acct.blob.core.windows.net/models",
        ] {
            let message = BlobSettings::from_source(source, &AzureEnvironment::default())
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
