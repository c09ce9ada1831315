//! The Azure variables that decide how to reach Blob Storage, read once into a value.

use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_connection_string() {
        let environment = AzureEnvironment {
            connection_string: Some("AccountName=a;AccountKey=c2VjcmV0".into()),
            ..AzureEnvironment::default()
        };
        assert!(!format!("{environment:?}").contains("c2VjcmV0"));
    }
}
