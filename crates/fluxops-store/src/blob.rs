//! The registry in an Azure Blob Storage container, through the official `azure_storage_blob` 1.x
//! clients: conditional uploads for immutability and the `latest` pointer, bounded retries, and
//! errors that say which account, container and blob, and what to do about it.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind as AzureErrorKind;
use azure_core::http::policies::Policy;
use azure_core::http::{
    ClientOptions, ExponentialRetryOptions, RequestContent, RetryOptions, StatusCode,
};
use azure_identity::{
    ClientAssertionCredentialOptions, DeveloperToolsCredential, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use azure_storage_blob::models::{BlobClientUploadOptions, BlobContainerClientListBlobsOptions};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use futures::TryStreamExt;

use crate::backend::{Backend, ETag, StoredObject, WriteCondition};
use crate::error::{Error, ErrorKind, Result};
use crate::settings::{BlobAuth, BlobSettings, RetrySettings};
use crate::shared_key::SharedKeyPolicy;

/// Role that lets an identity read blobs (the handler).
const READER_ROLE: &str = "Storage Blob Data Reader";
/// Role that lets an identity write blobs (the trainer publishing a version).
const CONTRIBUTOR_ROLE: &str = "Storage Blob Data Contributor";

/// A registry container in Azure Blob Storage (or Azurite).
///
/// Versions are uploaded with `If-None-Match: *` and the pointer with `If-Match: <ETag>`, so the
/// service itself refuses overwrites; tags are the blobs' ETags.
pub struct BlobStore {
    container: BlobContainerClient,
    settings: BlobSettings,
}

impl fmt::Debug for BlobStore {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("BlobStore")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What a failed request was doing, for the advice in its error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

impl BlobStore {
    /// Connects to the container `settings` names, and logs (at `info`) how it signs in.
    ///
    /// No request is sent yet, so this succeeds even while the service is unreachable.
    pub fn new(settings: BlobSettings) -> Result<Self> {
        let client_options = client_options(settings.retry());
        let mut options = BlobContainerClientOptions {
            client_options: client_options.clone(),
            ..Default::default()
        };
        let credential: Option<Arc<dyn TokenCredential>> = match settings.auth() {
            BlobAuth::SharedKey(key) => {
                let policy: Arc<dyn Policy> = SharedKeyPolicy::new(key.clone());
                options.client_options.per_try_policies.push(policy);
                None
            }
            BlobAuth::ManagedIdentity { client_id } => Some(
                ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                    user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                    client_options,
                }))
                .map_err(|error| credential_setup_error(&settings, error))?,
            ),
            BlobAuth::WorkloadIdentity {
                tenant_id,
                client_id,
                token_file,
            } => Some(
                WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
                    credential_options: ClientAssertionCredentialOptions { client_options },
                    client_id: Some(client_id.clone()),
                    tenant_id: Some(tenant_id.clone()),
                    token_file_path: Some(token_file.clone()),
                }))
                .map_err(|error| credential_setup_error(&settings, error))?,
            ),
            BlobAuth::DeveloperTools => Some(
                DeveloperToolsCredential::new(None)
                    .map_err(|error| credential_setup_error(&settings, error))?,
            ),
        };
        let container = BlobContainerClient::new(settings.url().clone(), credential, Some(options))
            .map_err(|error| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!("cannot use {}", describe(&settings)),
                )
                .with_source(error)
            })?;
        tracing::info!(
            "Blob Storage {}: signing in with {}",
            describe(&settings),
            settings.auth()
        );
        Ok(BlobStore {
            container,
            settings,
        })
    }

    /// The settings this store was made from.
    pub fn settings(&self) -> &BlobSettings {
        &self.settings
    }

    /// Creates the container if it does not exist yet; `Ok(false)` when it already did.
    ///
    /// For Azurite and tests: in Azure, Terraform creates the containers and the app's
    /// identity has no right to.
    pub async fn create_container(&self) -> Result<bool> {
        match self.container.create(None).await {
            Ok(_) => Ok(true),
            Err(error) if error_code(&error) == Some("ContainerAlreadyExists") => Ok(false),
            Err(error) => Err(self.error(error, Access::Write, None)),
        }
    }

    /// Writes a blob whatever is there (for logs and data files, not for the registry).
    pub(crate) async fn overwrite(&self, key: &str, bytes: Vec<u8>) -> Result<ETag> {
        self.upload(key, bytes, BlobClientUploadOptions::default())
            .await
    }

    async fn upload(
        &self,
        key: &str,
        bytes: Vec<u8>,
        options: BlobClientUploadOptions<'_>,
    ) -> Result<ETag> {
        let options = BlobClientUploadOptions {
            blob_content_type: Some(content_type(key).to_owned()),
            ..options
        };
        let result = self
            .container
            .blob_client(key)
            .upload(RequestContent::from(bytes), Some(options))
            .await
            .map_err(|error| self.error(error, Access::Write, Some(key)))?;
        result
            .etag
            .map(|etag| ETag(etag.to_string()))
            .ok_or_else(|| self.missing_etag(key))
    }

    fn missing_etag(&self, key: &str) -> Error {
        Error::new(
            ErrorKind::Unavailable,
            format!(
                "{} answered without an ETag for blob {key}",
                self.location()
            ),
        )
    }

    /// Turns an SDK error into ours: what failed, where, and what to do about it.
    fn error(&self, error: azure_core::Error, access: Access, key: Option<&str>) -> Error {
        let settings = &self.settings;
        let target = match key {
            Some(key) => format!("blob {key} in {}", describe(settings)),
            None => describe(settings),
        };
        let (kind, message) = match error.kind() {
            AzureErrorKind::HttpResponse {
                status, error_code, ..
            } => {
                let code = error_code.as_deref().unwrap_or("no error code");
                let detail = service_detail(&error)
                    .map(|detail| format!(" \"{detail}\""))
                    .unwrap_or_default();
                let status_code = u16::from(*status);
                match *status {
                    StatusCode::NotFound if code == "ContainerNotFound" => (
                        ErrorKind::NotFound,
                        format!(
                            "container {} does not exist in storage account {} ({}): create it, \
                             or fix the registry URL",
                            settings.container(),
                            settings.account(),
                            settings.container_url()
                        ),
                    ),
                    StatusCode::NotFound => (
                        ErrorKind::NotFound,
                        format!("{target} does not exist (HTTP 404 {code})"),
                    ),
                    StatusCode::Conflict => (
                        ErrorKind::AlreadyExists,
                        format!("{target} already exists (HTTP 409 {code})"),
                    ),
                    StatusCode::PreconditionFailed => (
                        ErrorKind::Conflict,
                        format!("{target} changed since it was read (HTTP 412 {code})"),
                    ),
                    StatusCode::Unauthorized | StatusCode::Forbidden => (
                        ErrorKind::PermissionDenied,
                        format!(
                            "{target}: access refused (HTTP {status_code} {code}{detail}); {}",
                            permission_advice(settings, access)
                        ),
                    ),
                    StatusCode::BadRequest => (
                        ErrorKind::InvalidInput,
                        format!("{target}: request refused (HTTP 400 {code}{detail})"),
                    ),
                    _ => (
                        ErrorKind::Unavailable,
                        format!(
                            "{target}: the service answered HTTP {status_code} {code}{detail} after {}",
                            tries(settings.retry())
                        ),
                    ),
                }
            }
            AzureErrorKind::Io | AzureErrorKind::Connection => (
                ErrorKind::Unavailable,
                format!(
                    "cannot reach {} for {target} after {}",
                    settings.container_url(),
                    tries(settings.retry())
                ),
            ),
            AzureErrorKind::Credential => (
                ErrorKind::PermissionDenied,
                format!(
                    "{target}: could not get a token with {} ({})",
                    settings.auth(),
                    token_advice(settings.auth())
                ),
            ),
            _ => (ErrorKind::Unavailable, format!("{target}: request failed")),
        };
        Error::new(kind, message).with_source(error)
    }
}

#[async_trait]
impl Backend for BlobStore {
    fn location(&self) -> String {
        describe(&self.settings)
    }

    async fn get(&self, key: &str) -> Result<Option<StoredObject>> {
        let download = self.container.blob_client(key).download(None).await;
        let result = match download {
            Ok(result) => result,
            Err(error) if error_code(&error) == Some("BlobNotFound") => return Ok(None),
            Err(error) => return Err(self.error(error, Access::Read, Some(key))),
        };
        let etag = result
            .properties
            .etag
            .map(|etag| ETag(etag.to_string()))
            .ok_or_else(|| self.missing_etag(key))?;
        let bytes = result
            .body
            .collect()
            .await
            .map_err(|error| self.error(error, Access::Read, Some(key)))?;
        Ok(Some(StoredObject {
            bytes: bytes.to_vec(),
            etag,
        }))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, condition: WriteCondition) -> Result<ETag> {
        let options = match condition {
            WriteCondition::IfAbsent => BlobClientUploadOptions::default().if_not_exists(),
            WriteCondition::IfMatch(etag) => BlobClientUploadOptions {
                if_match: Some(etag.0.into()),
                ..Default::default()
            },
        };
        self.upload(key, bytes, options).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let options = BlobContainerClientListBlobsOptions {
            prefix: Some(prefix.to_owned()),
            ..Default::default()
        };
        let list_error = |error| self.error(error, Access::Read, None);
        let mut blobs = self
            .container
            .list_blobs(Some(options))
            .map_err(list_error)?;
        let mut keys = Vec::new();
        while let Some(blob) = blobs.try_next().await.map_err(list_error)? {
            keys.extend(blob.name);
        }
        Ok(keys)
    }
}

/// "container models of storage account acct (https://...)": names account and container.
fn describe(settings: &BlobSettings) -> String {
    format!(
        "container {} of storage account {} ({})",
        settings.container(),
        settings.account(),
        settings.container_url()
    )
}

fn permission_advice(settings: &BlobSettings, access: Access) -> String {
    if !settings.auth().uses_token() {
        return "the account key was refused: check AccountKey in AZURE_STORAGE_CONNECTION_STRING \
                (a firewall rule on the account also gives 403)"
            .to_owned();
    }
    let role = match access {
        Access::Read => READER_ROLE,
        Access::Write => CONTRIBUTOR_ROLE,
    };
    format!(
        "grant {} the role '{role}' on container {} (or on account {})",
        settings.auth(),
        settings.container(),
        settings.account()
    )
}

fn token_advice(auth: &BlobAuth) -> &'static str {
    match auth {
        BlobAuth::ManagedIdentity { client_id: None } => {
            "is a system-assigned identity enabled on this app?"
        }
        BlobAuth::ManagedIdentity { .. } => {
            "is the user-assigned identity with AZURE_CLIENT_ID attached to this app?"
        }
        BlobAuth::WorkloadIdentity { .. } => {
            "is the federated credential set up for this service account?"
        }
        BlobAuth::DeveloperTools => "run `az login` first",
        BlobAuth::SharedKey(_) => "the account key needs no token",
    }
}

fn tries(retry: RetrySettings) -> String {
    format!(
        "{} tries over at most {:.1} s",
        retry.max_retries + 1,
        retry.max_elapsed.as_secs_f64()
    )
}

fn credential_setup_error(settings: &BlobSettings, error: azure_core::Error) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!(
            "cannot set up {} for {}",
            settings.auth(),
            describe(settings)
        ),
    )
    .with_source(error)
}

/// The service's own explanation from an error body: `<AuthenticationErrorDetail>`, else the first
/// line of `<Message>` (the next lines hold request IDs and times).
fn service_detail(error: &azure_core::Error) -> Option<String> {
    let AzureErrorKind::HttpResponse {
        raw_response: Some(response),
        ..
    } = error.kind()
    else {
        return None;
    };
    let body = String::from_utf8_lossy(response.body());
    ["AuthenticationErrorDetail", "Message"]
        .iter()
        .find_map(|tag| {
            let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
            let end = start + body[start..].find('<')?;
            body[start..end]
                .lines()
                .next()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
        })
}

fn error_code(error: &azure_core::Error) -> Option<&str> {
    match error.kind() {
        AzureErrorKind::HttpResponse { error_code, .. } => error_code.as_deref(),
        _ => None,
    }
}

fn client_options(retry: RetrySettings) -> ClientOptions {
    let duration = |duration: std::time::Duration| {
        time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
    };
    ClientOptions {
        retry: RetryOptions::exponential(ExponentialRetryOptions {
            initial_delay: duration(retry.initial_delay),
            max_retries: retry.max_retries,
            max_total_elapsed: duration(retry.max_elapsed),
            max_delay: duration(retry.max_elapsed.min(std::time::Duration::from_secs(4))),
        }),
        ..Default::default()
    }
}

fn content_type(key: &str) -> &'static str {
    match key.rsplit_once('.').map(|(_, extension)| extension) {
        Some("json") => "application/json",
        Some("csv") => "text/csv",
        Some("log" | "txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use azure_core::http::headers::Headers;
    use azure_core::http::{RawResponse, StatusCode};

    use super::*;
    use crate::settings::AzureEnvironment;

    fn store(auth: BlobAuth) -> BlobStore {
        let settings =
            BlobSettings::new("https://acct.blob.core.windows.net/models", auth).unwrap();
        BlobStore::new(settings).unwrap()
    }

    fn http_error(status: StatusCode, code: &str) -> azure_core::Error {
        azure_core::Error::with_message(
            AzureErrorKind::HttpResponse {
                status,
                error_code: Some(code.to_owned()),
                raw_response: None,
            },
            "refused",
        )
    }

    #[test]
    fn statuses_map_to_kinds_with_account_container_and_blob() {
        let store = store(BlobAuth::DeveloperTools);
        for (status, code, kind, words) in [
            (
                StatusCode::NotFound,
                "ContainerNotFound",
                ErrorKind::NotFound,
                "container models does not exist in storage account acct",
            ),
            (
                StatusCode::NotFound,
                "BlobNotFound",
                ErrorKind::NotFound,
                "blob m/v1/model.json in container models of storage account acct",
            ),
            (
                StatusCode::Conflict,
                "BlobAlreadyExists",
                ErrorKind::AlreadyExists,
                "already exists",
            ),
            (
                StatusCode::PreconditionFailed,
                "ConditionNotMet",
                ErrorKind::Conflict,
                "changed since it was read",
            ),
            (
                StatusCode::ServiceUnavailable,
                "ServerBusy",
                ErrorKind::Unavailable,
                "5 tries",
            ),
        ] {
            let error = store.error(
                http_error(status, code),
                Access::Read,
                Some("m/v1/model.json"),
            );
            assert_eq!(error.kind(), kind, "{error}");
            assert!(error.to_string().contains(words), "{error}");
        }
    }

    #[test]
    fn permission_errors_name_the_role_to_grant() {
        let identity = store(BlobAuth::ManagedIdentity { client_id: None });
        let read = identity.error(
            http_error(StatusCode::Forbidden, "AuthorizationPermissionMismatch"),
            Access::Read,
            Some("m/latest.json"),
        );
        assert_eq!(read.kind(), ErrorKind::PermissionDenied);
        assert!(
            read.to_string().contains("'Storage Blob Data Reader'"),
            "{read}"
        );
        let write = identity.error(
            http_error(StatusCode::Unauthorized, "InvalidAuthenticationInfo"),
            Access::Write,
            Some("m/latest.json"),
        );
        assert!(
            write
                .to_string()
                .contains("'Storage Blob Data Contributor'"),
            "{write}"
        );
        let keyed = BlobStore::new(
            BlobSettings::from_source(
                "https://acct.blob.core.windows.net/models",
                &AzureEnvironment {
                    connection_string: Some("AccountName=acct;AccountKey=a2V5".into()),
                    ..AzureEnvironment::default()
                },
            )
            .unwrap(),
        )
        .unwrap();
        let refused = keyed.error(
            http_error(StatusCode::Forbidden, "AuthenticationFailed"),
            Access::Read,
            None,
        );
        assert!(
            refused.to_string().contains("account key was refused"),
            "{refused}"
        );
    }

    #[test]
    fn the_service_explanation_is_kept() {
        let body = "<?xml version=\"1.0\"?><Error><Code>AuthenticationFailed</Code><Message>Server \
                    failed to authenticate the request.\nRequestId:1</Message>\
                    <AuthenticationErrorDetail>Invalid token audience.</AuthenticationErrorDetail></Error>";
        let error = azure_core::Error::with_message(
            AzureErrorKind::HttpResponse {
                status: StatusCode::Forbidden,
                error_code: Some("AuthenticationFailed".to_owned()),
                raw_response: Some(Box::new(RawResponse::from_bytes(
                    StatusCode::Forbidden,
                    Headers::new(),
                    body,
                ))),
            },
            "refused",
        );
        let mapped = store(BlobAuth::DeveloperTools).error(error, Access::Read, None);
        assert!(
            mapped
                .to_string()
                .contains("(HTTP 403 AuthenticationFailed \"Invalid token audience.\")"),
            "{mapped}"
        );
    }

    #[test]
    fn network_errors_are_unavailable() {
        let store = store(BlobAuth::DeveloperTools);
        let error = store.error(
            azure_core::Error::with_message(AzureErrorKind::Io, "connection refused"),
            Access::Read,
            Some("m/latest.json"),
        );
        assert_eq!(error.kind(), ErrorKind::Unavailable);
        assert!(
            error
                .to_string()
                .contains("cannot reach https://acct.blob.core.windows.net/models")
        );
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("m/v1/model.json"), "application/json");
        assert_eq!(content_type("train.csv"), "text/csv");
        assert_eq!(content_type("blob"), "application/octet-stream");
    }
}
