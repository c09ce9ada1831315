//! How the Blob backend signs in: the methods, and the one set of rules that picks one from the
//! environment (see [`crate::BlobSettings::from_source`]).

use std::fmt;
use std::path::PathBuf;

use crate::address::ContainerAddress;
use crate::azurite::AZURITE_ACCOUNT;
use crate::environment::{AzureEnvironment, SignIn};
use crate::shared_key::AccountKey;

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
    pub(crate) fn uses_token(&self) -> bool {
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

/// The method for a container: what the environment asks for, or, when it asks for nothing,
/// Azurite's published key for its development account on a loopback address and the developer's
/// own sign-in anywhere else.
pub(crate) fn choose_auth(address: &ContainerAddress, environment: &AzureEnvironment) -> BlobAuth {
    match &environment.method {
        SignIn::ConnectionString(connection) => BlobAuth::SharedKey(connection.key.clone()),
        SignIn::ManagedIdentity { client_id } => BlobAuth::ManagedIdentity {
            client_id: client_id.clone(),
        },
        SignIn::WorkloadIdentity {
            tenant_id,
            client_id,
            token_file,
        } => BlobAuth::WorkloadIdentity {
            tenant_id: tenant_id.clone(),
            client_id: client_id.clone(),
            token_file: token_file.clone(),
        },
        SignIn::Developer => BlobAuth::DeveloperTools,
        SignIn::Unspecified if address.path_style && address.account == AZURITE_ACCOUNT => {
            BlobAuth::SharedKey(AccountKey::development())
        }
        SignIn::Unspecified => BlobAuth::DeveloperTools,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::tests::environment;
    use crate::settings::BlobSettings;

    /// The method chosen for an Azure container under these variables.
    fn auth_for(vars: &[(&str, &str)]) -> String {
        BlobSettings::from_source(
            "https://acct.blob.core.windows.net/models",
            &environment(vars),
        )
        .map(|settings| settings.auth().to_string())
        .unwrap_or_else(|error| format!("error: {error}"))
    }

    #[test]
    fn the_method_follows_the_documented_order() {
        let key = (
            "AZURE_STORAGE_CONNECTION_STRING",
            "AccountName=acct;AccountKey=a2V5",
        );
        let workload = [
            ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"),
            ("AZURE_TENANT_ID", "tenant"),
            ("AZURE_CLIENT_ID", "2222"),
        ];
        let system_assigned = ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi");
        assert!(auth_for(&[]).starts_with("developer sign-in"));
        assert_eq!(
            auth_for(&[("AZURE_CLIENT_ID", "1111")]),
            "managed identity (user-assigned, client ID 1111)"
        );
        assert_eq!(
            auth_for(&[system_assigned]),
            "managed identity (system-assigned)"
        );
        assert_eq!(
            auth_for(&[system_assigned, workload[0], workload[1], workload[2]]),
            "workload identity (tenant tenant, client ID 2222)"
        );
        assert!(auth_for(&[key, workload[0], workload[1], workload[2]]).contains("SharedKey"));
        let forced = |method| [key, ("FLUXOPS_AZURE_AUTH", method), workload[2]];
        assert_eq!(
            auth_for(&forced("managed-identity")),
            "managed identity (user-assigned, client ID 2222)"
        );
        assert!(auth_for(&forced("developer")).starts_with("developer sign-in"));
        assert!(auth_for(&forced("connection-string")).contains("SharedKey"));
    }

    #[test]
    fn the_development_account_on_loopback_needs_no_settings() {
        for (url, auth) in [
            ("http://127.0.0.1:4000/devstoreaccount1/models", "SharedKey"),
            ("http://localhost:4000/devstoreaccount1/models", "SharedKey"),
            (
                "https://127.0.0.1:4000/otheraccount/models",
                "developer sign-in",
            ),
        ] {
            let settings = BlobSettings::from_source(url, &AzureEnvironment::default()).unwrap();
            assert!(settings.auth().to_string().contains(auth), "{url}");
        }
    }
}
