//! The registry in an Azure Blob Storage container, through the official `azure_storage_blob` 1.x
//! clients: conditional uploads for immutability and the `latest` pointer, bounded retries, and
//! errors that say which account, container and blob, and what to do about it.

use std::fmt;
use std::num::NonZero;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::http::headers::HeaderName;
use azure_core::http::policies::Policy;
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RequestContent, RetryOptions};
use azure_identity::{
    ClientAssertionCredentialOptions, DeveloperToolsCredential, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use azure_storage_blob::models::{
    BlobClientDownloadOptions, BlobClientUploadOptions, BlobContainerClientListBlobsOptions,
    HttpRange,
};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use futures::TryStreamExt;

use crate::auth::BlobAuth;
use crate::backend::{Backend, ETag, StoredObject, WriteCondition};
use crate::blob_errors::{Access, credential_setup_error, describe, error_code, translate};
use crate::error::{Error, ErrorKind, Result};
use crate::limit::ByteLimit;
use crate::settings::{BlobSettings, RetrySettings};
use crate::shared_key::SharedKeyPolicy;
use crate::source::RegistryKind;

/// How many ranged requests one download keeps in flight. The SDK's default (the CPU count, at
/// least 8) also keeps up to twice that many 4 MiB partitions buffered ahead of the reader: up to
/// 64 MiB on top of the artifact itself. Two requests bound that to 16 MiB and still overlap one
/// partition's round trip with the next; model loads run in the background, so they need no more.
const DOWNLOAD_PARALLEL: NonZero<usize> = NonZero::new(2).expect("2 is not zero");

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

    fn error(&self, error: azure_core::Error, access: Access, key: Option<&str>) -> Error {
        translate(&self.settings, error, access, key)
    }
}

#[async_trait]
impl Backend for BlobStore {
    fn kind(&self) -> RegistryKind {
        self.settings.kind()
    }

    /// Asks for the first `limit + 1` bytes only, refuses by the blob's size in the first
    /// response's headers before reading its body, and stops reading past the limit.
    async fn read(&self, key: &str, limit: ByteLimit) -> Result<Option<StoredObject>> {
        let options = BlobClientDownloadOptions {
            range: limit
                .max_bytes()
                .checked_add(1)
                .map(|end| HttpRange::new(0, end)),
            parallel: Some(DOWNLOAD_PARALLEL),
            ..Default::default()
        };
        let download = self
            .container
            .blob_client(key)
            .download(Some(options))
            .await;
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
        let refuse = |size| limit.refuse(&format!("blob {key} in {}", self.location()), size);
        // A ranged answer says the whole size after the slash of `Content-Range: bytes 0-9/1234`;
        // an empty blob is answered unranged, with its `Content-Length`.
        let size = result
            .headers
            .get_optional_str(&HeaderName::from_static("content-range"))
            .map_or(result.properties.content_length, total_size);
        if let Some(size) = size
            && size > limit.max_bytes()
        {
            return Err(refuse(Some(size)));
        }
        let capacity = size.unwrap_or(0).min(limit.max_bytes());
        let mut bytes = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        let mut body = result.body;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|error| self.error(error, Access::Read, Some(key)))?
        {
            if (bytes.len() + chunk.len()) as u64 > limit.max_bytes() {
                return Err(refuse(None));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some(StoredObject { bytes, etag }))
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

/// The whole size in a `Content-Range` header (`bytes 0-9/1234`); `None` when unknown (`*`).
fn total_size(content_range: &str) -> Option<u64> {
    content_range.rsplit_once('/')?.1.trim().parse().ok()
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
    use super::*;

    #[test]
    fn the_total_size_comes_after_the_slash() {
        assert_eq!(total_size("bytes 0-4194303/629145600"), Some(629_145_600));
        assert_eq!(total_size("bytes 0-0/1"), Some(1));
        assert_eq!(total_size("bytes 0-9/*"), None);
        assert_eq!(total_size("garbage"), None);
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("m/v1/model.json"), "application/json");
        assert_eq!(content_type("train.csv"), "text/csv");
        assert_eq!(content_type("blob"), "application/octet-stream");
    }
}
