//! How the Blob backend signs in: the methods, and the one set of rules that picks one from the
//! environment (see [`crate::BlobSettings::from_source`]).

use std::fmt;
use std::path::PathBuf;

use crate::address::ContainerAddress;
use crate::environment::AzureEnvironment;
use crate::error::{Error, ErrorKind, Result};
use crate::shared_key::{AccountKey, ConnectionString, DEV_ACCOUNT};

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

pub(crate) fn choose_auth(
    address: &ContainerAddress,
    environment: &AzureEnvironment,
) -> Result<BlobAuth> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::BlobSettings;

    fn auth_for(source: &str, environment: &AzureEnvironment) -> String {
        BlobSettings::from_source(source, environment)
            .map(|settings| settings.auth().to_string())
            .unwrap_or_else(|error| format!("error: {error}"))
    }

    #[test]
    fn the_method_follows_the_documented_order() {
        let url = "https://acct.blob.core.windows.net/models";
        let key = "AccountName=acct;AccountKey=a2V5";
        let mut environment = AzureEnvironment::default();
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
}
