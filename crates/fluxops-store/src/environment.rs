//! The Azure variables that decide how to reach Blob Storage, read once and checked into a value.
//!
//! [`AzureEnvironment::from_vars`] is the only place that interprets them and
//! [`AzureEnvironment::from_process`] the only place in the store that reads the process
//! environment; everything else takes the value.

use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, ErrorKind};
use crate::shared_key::ConnectionString;

/// An account key, or `UseDevelopmentStorage=true`.
const CONNECTION_STRING_VAR: &str = "AZURE_STORAGE_CONNECTION_STRING";
/// A user-assigned managed identity, or the workload identity's application.
const CLIENT_ID_VAR: &str = "AZURE_CLIENT_ID";
/// The workload identity's tenant.
const TENANT_ID_VAR: &str = "AZURE_TENANT_ID";
/// The workload identity's federated token file.
const FEDERATED_TOKEN_FILE_VAR: &str = "AZURE_FEDERATED_TOKEN_FILE";
/// Set by App Service and Azure Functions when the app has a managed identity.
const IDENTITY_ENDPOINT_VAR: &str = "IDENTITY_ENDPOINT";
/// Forces one sign-in method instead of choosing by the variables above.
const FORCED_METHOD_VAR: &str = "FLUXOPS_AZURE_AUTH";

/// Every variable [`AzureEnvironment`] reads.
const VARIABLES: [&str; 6] = [
    CONNECTION_STRING_VAR,
    CLIENT_ID_VAR,
    TENANT_ID_VAR,
    FEDERATED_TOKEN_FILE_VAR,
    IDENTITY_ENDPOINT_VAR,
    FORCED_METHOD_VAR,
];

/// A configuration value as a setting: trimmed, and `None` when empty, because App Service shows
/// a setting that is not set as an empty one. The handler reads its own variables by this rule
/// too, so "empty means unset" holds for every FluxOps variable.
///
/// ```
/// assert_eq!(fluxops_store::setting_value("  30 "), Some("30"));
/// assert_eq!(fluxops_store::setting_value(" "), None);
/// ```
pub fn setting_value(raw: &str) -> Option<&str> {
    Some(raw.trim()).filter(|value| !value.is_empty())
}

/// The Azure sign-in settings of a process, checked: where an account key comes from, which
/// identity to use, or which method is forced.
///
/// Made by [`AzureEnvironment::from_vars`] (or [`AzureEnvironment::from_process`]), which reports
/// every problem at once; [`AzureEnvironment::default`] is an environment with none of the
/// variables set. The sign-in method for a container is then chosen by
/// [`crate::BlobSettings::from_source`]. The connection string never appears in `Debug` output.
#[derive(Clone, Default)]
pub struct AzureEnvironment {
    /// `AZURE_STORAGE_CONNECTION_STRING`, parsed.
    pub(crate) connection: Option<ConnectionString>,
    /// The method the variables ask for, before the container is known.
    pub(crate) method: SignIn,
}

/// The sign-in method the variables ask for. Only [`SignIn::Unspecified`] still depends on the
/// container: Azurite's published key for its development account on a loopback address, the
/// developer's own sign-in anywhere else.
#[derive(Debug, Clone, Default)]
pub(crate) enum SignIn {
    /// The account key of the connection string.
    ConnectionString(ConnectionString),
    /// A managed identity: system-assigned, or user-assigned with this client ID.
    ManagedIdentity { client_id: Option<String> },
    /// Entra workload identity.
    WorkloadIdentity {
        tenant_id: String,
        client_id: String,
        token_file: PathBuf,
    },
    /// The developer's Azure CLI or Azure Developer CLI sign-in.
    Developer,
    /// Nothing set.
    #[default]
    Unspecified,
}

impl AzureEnvironment {
    /// Reads the environment from `(name, value)` pairs, such as the handler's configuration
    /// reads; a value that is not valid UTF-8 is an `Err` holding the raw value. Other variables
    /// are ignored, and an empty value means unset ([`setting_value`]).
    ///
    /// The method is chosen in this order: `FLUXOPS_AZURE_AUTH` (`connection-string`,
    /// `managed-identity`, `workload-identity` or `developer`) if set; the connection string if
    /// `AZURE_STORAGE_CONNECTION_STRING` is set; workload identity if
    /// `AZURE_FEDERATED_TOKEN_FILE` is set (with `AZURE_TENANT_ID` and `AZURE_CLIENT_ID`);
    /// managed identity if `IDENTITY_ENDPOINT` or `AZURE_CLIENT_ID` is set (user-assigned with
    /// the latter); otherwise it depends on the container (see [`crate::BlobSettings::from_source`]).
    ///
    /// # Errors
    /// Every problem at once, one sentence each, naming the variable and never repeating a key:
    /// an unknown `FLUXOPS_AZURE_AUTH`, a malformed connection string, a variable that the
    /// chosen method needs but is missing, a value that is not UTF-8.
    ///
    /// ```
    /// use fluxops_store::AzureEnvironment;
    ///
    /// let problems = AzureEnvironment::from_vars([
    ///     ("FLUXOPS_AZURE_AUTH", Ok::<_, ()>("workload-identity")),
    ///     ("AZURE_STORAGE_CONNECTION_STRING", Ok("AccountName=acct")),
    /// ])
    /// .unwrap_err();
    /// assert_eq!(problems.problems().len(), 4);
    /// ```
    pub fn from_vars<N, V, E>(
        vars: impl IntoIterator<Item = (N, std::result::Result<V, E>)>,
    ) -> std::result::Result<Self, EnvironmentError>
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut problems = Vec::new();
        let mut values: [Option<String>; VARIABLES.len()] = Default::default();
        for (name, value) in vars {
            let Some(index) = VARIABLES.iter().position(|known| *known == name.as_ref()) else {
                continue;
            };
            match value {
                Ok(value) => values[index] = setting_value(value.as_ref()).map(str::to_owned),
                Err(_) => problems.push(format!("{} is not valid UTF-8", VARIABLES[index])),
            }
        }
        let [
            connection_string,
            client_id,
            tenant_id,
            federated_token_file,
            identity_endpoint,
            forced_method,
        ] = values;
        let connection_string_set = connection_string.is_some();
        let connection = connection_string.and_then(|text| {
            ConnectionString::parse(&text)
                .map_err(|problem| problems.push(format!("{CONNECTION_STRING_VAR}: {problem}")))
                .ok()
        });
        let workload = Workload {
            tenant_id,
            client_id: client_id.clone(),
            token_file: federated_token_file,
        };
        let has_client_id = client_id.is_some();
        let managed = SignIn::ManagedIdentity { client_id };
        let method = match forced_method.map(|method| method.to_ascii_lowercase()) {
            None => match &connection {
                Some(connection) => SignIn::ConnectionString(connection.clone()),
                None if workload.token_file.is_some() => workload.sign_in(&mut problems),
                None if identity_endpoint.is_some() || has_client_id => managed,
                None => SignIn::Unspecified,
            },
            Some(forced) => match forced.as_str() {
                "connection-string" => match &connection {
                    Some(connection) => SignIn::ConnectionString(connection.clone()),
                    None => {
                        // A malformed string is reported already.
                        if !connection_string_set {
                            problems.push(format!(
                                "{FORCED_METHOD_VAR}=connection-string needs \
                                 {CONNECTION_STRING_VAR} to be set"
                            ));
                        }
                        SignIn::Unspecified
                    }
                },
                "workload-identity" => workload.sign_in(&mut problems),
                "managed-identity" => managed,
                "developer" => SignIn::Developer,
                _ => {
                    problems.push(format!(
                        "{FORCED_METHOD_VAR}={forced:?}: expected one of connection-string, \
                         managed-identity, workload-identity, developer"
                    ));
                    SignIn::Unspecified
                }
            },
        };
        if problems.is_empty() {
            Ok(AzureEnvironment { connection, method })
        } else {
            Err(EnvironmentError { problems })
        }
    }

    /// Reads the environment of this process, by the rules of [`AzureEnvironment::from_vars`].
    ///
    /// # Errors
    /// Every problem found, as [`AzureEnvironment::from_vars`] reports them.
    pub fn from_process() -> std::result::Result<Self, EnvironmentError> {
        AzureEnvironment::from_vars(
            std::env::vars_os()
                .map(|(name, value)| (name.to_string_lossy().into_owned(), value.into_string())),
        )
    }
}

/// The workload identity's three variables, as given.
struct Workload {
    tenant_id: Option<String>,
    client_id: Option<String>,
    token_file: Option<String>,
}

impl Workload {
    /// The workload identity sign-in; each missing variable is a problem.
    fn sign_in(self, problems: &mut Vec<String>) -> SignIn {
        let mut required = |value: Option<String>, variable: &str| {
            if value.is_none() {
                problems.push(format!("workload identity needs {variable} to be set"));
            }
            value.unwrap_or_default()
        };
        SignIn::WorkloadIdentity {
            tenant_id: required(self.tenant_id, TENANT_ID_VAR),
            client_id: required(self.client_id, CLIENT_ID_VAR),
            token_file: PathBuf::from(required(self.token_file, FEDERATED_TOKEN_FILE_VAR)),
        }
    }
}

impl fmt::Debug for AzureEnvironment {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("AzureEnvironment")
            .field(
                "connection_string",
                &self.connection.as_ref().map(|_| "<redacted>"),
            )
            .field("method", &self.method)
            .finish()
    }
}

/// What is wrong with the Azure variables: one sentence per problem, each naming its variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentError {
    problems: Vec<String>,
}

impl EnvironmentError {
    /// One sentence per problem, naming the variable and what it should hold.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// The problems, for a caller that reports them with its own (such as the handler's
    /// configuration).
    pub fn into_problems(self) -> Vec<String> {
        self.problems
    }
}

impl fmt::Display for EnvironmentError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.problems.join("; "))
    }
}

impl std::error::Error for EnvironmentError {}

impl From<EnvironmentError> for Error {
    fn from(error: EnvironmentError) -> Self {
        Error::new(ErrorKind::InvalidInput, error.to_string())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The environment these variables make; panics on a problem.
    pub(crate) fn environment(vars: &[(&str, &str)]) -> AzureEnvironment {
        AzureEnvironment::from_vars(vars.iter().map(|(name, value)| (name, Ok::<_, ()>(value))))
            .expect("valid test environment")
    }

    fn problems(vars: &[(&str, &str)]) -> Vec<String> {
        AzureEnvironment::from_vars(vars.iter().map(|(name, value)| (name, Ok::<_, ()>(value))))
            .expect_err("invalid test environment")
            .into_problems()
    }

    #[test]
    fn empty_values_mean_unset() {
        let environment = environment(&[
            (CONNECTION_STRING_VAR, " "),
            (FORCED_METHOD_VAR, ""),
            (CLIENT_ID_VAR, "\t"),
        ]);
        assert!(environment.connection.is_none());
        assert!(matches!(environment.method, SignIn::Unspecified));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let problems = problems(&[
            (FORCED_METHOD_VAR, "Workload-Identity"),
            (
                CONNECTION_STRING_VAR,
                "AccountName=acct;AccountKey=not base64!",
            ),
            ("UNRELATED", "x"),
        ]);
        assert_eq!(
            problems,
            [
                "AZURE_STORAGE_CONNECTION_STRING: the AccountKey of account acct is not base64",
                "workload identity needs AZURE_TENANT_ID to be set",
                "workload identity needs AZURE_CLIENT_ID to be set",
                "workload identity needs AZURE_FEDERATED_TOKEN_FILE to be set",
            ]
        );
        assert!(
            problems
                .iter()
                .all(|problem| !problem.contains("not base64!"))
        );
    }

    #[test]
    fn a_forced_method_must_be_known_and_complete() {
        assert_eq!(
            problems(&[(FORCED_METHOD_VAR, "magic")]),
            [
                "FLUXOPS_AZURE_AUTH=\"magic\": expected one of connection-string, \
                 managed-identity, workload-identity, developer"
            ]
        );
        assert_eq!(
            problems(&[(FORCED_METHOD_VAR, "connection-string")]),
            [
                "FLUXOPS_AZURE_AUTH=connection-string needs AZURE_STORAGE_CONNECTION_STRING to be set"
            ]
        );
        // A malformed string is reported once, not also as missing.
        assert_eq!(
            problems(&[
                (FORCED_METHOD_VAR, "connection-string"),
                (CONNECTION_STRING_VAR, "garbage")
            ])
            .len(),
            1
        );
    }

    #[test]
    fn a_value_that_is_not_utf8_is_named() {
        let error =
            AzureEnvironment::from_vars([(CLIENT_ID_VAR, Err::<&str, _>(())), ("OTHER", Err(()))])
                .unwrap_err();
        assert_eq!(error.problems(), ["AZURE_CLIENT_ID is not valid UTF-8"]);
    }

    #[test]
    fn debug_output_hides_the_connection_string() {
        let environment =
            environment(&[(CONNECTION_STRING_VAR, "AccountName=a;AccountKey=c2VjcmV0")]);
        let debug = format!("{environment:?}");
        assert!(!debug.contains("c2VjcmV0"), "{debug}");
    }
}
