//! A registry source string resolved into settings, the one place that tells a local folder from
//! Blob Storage, and the kind of registry that makes.

use std::fmt;
use std::path::PathBuf;

use crate::address::is_blob_source;
use crate::environment::AzureEnvironment;
use crate::error::Result;
use crate::settings::BlobSettings;

/// Where a registry lives and how to reach it, checked but not opened: the value form of a
/// source string such as the handler's `FLUXOPS_MODEL_SOURCE`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RegistrySettings {
    /// A folder on the local file system.
    Folder(PathBuf),
    /// A Blob Storage container and its sign-in.
    Blob(Box<BlobSettings>),
}

impl RegistrySettings {
    /// Whether [`RegistrySettings::from_source`] reads `source` as Blob Storage, so that it needs
    /// the Azure variables (a folder needs none).
    pub fn is_blob(source: &str) -> bool {
        is_blob_source(source)
    }

    /// Resolves a source: a container URL (`https://<account>.blob.core.windows.net/<container>`)
    /// or [`crate::AZURITE_SOURCE`] is Blob Storage, signed in as `environment` says
    /// ([`BlobSettings::from_source`]); anything else is a folder path (write `./azurite` for a
    /// folder of that name). Sends no request.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidInput`] when a Blob source cannot be used, saying why.
    pub fn from_source(source: &str, environment: &AzureEnvironment) -> Result<Self> {
        if is_blob_source(source) {
            let settings = BlobSettings::from_source(source, environment)?;
            Ok(RegistrySettings::Blob(Box::new(settings)))
        } else {
            Ok(RegistrySettings::Folder(PathBuf::from(source)))
        }
    }
}

impl RegistrySettings {
    /// The kind of registry these settings open.
    pub fn kind(&self) -> RegistryKind {
        match self {
            RegistrySettings::Folder(path) => RegistryKind::Folder { path: path.clone() },
            RegistrySettings::Blob(settings) => settings.kind(),
        }
    }
}

/// What a registry is, decided once when it is opened: a folder, or a Blob Storage container.
/// Never holds a credential, so it may go into logs and telemetry (not to anonymous callers).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryKind {
    /// A folder on the local file system.
    Folder {
        /// The folder.
        path: PathBuf,
    },
    /// A Blob Storage container (or one in Azurite).
    Blob {
        /// The storage account.
        account: String,
        /// The container.
        container: String,
        /// The container's URL, such as `https://<account>.blob.core.windows.net/<container>`;
        /// never with a query string or user information.
        container_url: String,
    },
}

impl RegistryKind {
    /// The container URL of a Blob Storage registry (whose reads are dependencies to report);
    /// `None` for a folder.
    pub fn blob_container_url(&self) -> Option<&str> {
        match self {
            RegistryKind::Blob { container_url, .. } => Some(container_url),
            RegistryKind::Folder { .. } => None,
        }
    }
}

/// "folder models", or "container models of storage account acct (https://...)": where, for
/// messages.
impl fmt::Display for RegistryKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryKind::Folder { path } => write!(formatter, "folder {}", path.display()),
            RegistryKind::Blob {
                account,
                container,
                container_url,
            } => write!(
                formatter,
                "container {container} of storage account {account} ({container_url})"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_azurite_are_blob_storage_and_anything_else_a_folder() {
        let environment = AzureEnvironment::default();
        for (source, blob) in [
            ("https://acct.blob.core.windows.net/models", true),
            ("azurite", true),
            ("./azurite", false),
            ("models", false),
            ("/srv/models", false),
        ] {
            let settings = RegistrySettings::from_source(source, &environment).unwrap();
            assert_eq!(
                matches!(settings, RegistrySettings::Blob(_)),
                blob,
                "{source}"
            );
            assert_eq!(settings.kind().blob_container_url().is_some(), blob);
        }
    }

    #[test]
    fn the_kind_names_where_and_never_a_secret() {
        let environment = crate::environment::tests::environment(&[(
            "AZURE_STORAGE_CONNECTION_STRING",
            "AccountName=devstoreaccount1;AccountKey=c2VjcmV0;BlobEndpoint=http://127.0.0.1:5/devstoreaccount1",
        )]);
        let kind = RegistrySettings::from_source("azurite", &environment)
            .unwrap()
            .kind();
        assert_eq!(
            kind,
            RegistryKind::Blob {
                account: "devstoreaccount1".to_owned(),
                container: "models".to_owned(),
                container_url: "http://127.0.0.1:5/devstoreaccount1/models".to_owned(),
            }
        );
        assert_eq!(
            kind.to_string(),
            "container models of storage account devstoreaccount1 \
             (http://127.0.0.1:5/devstoreaccount1/models)"
        );
        let folder = RegistrySettings::from_source("models", &environment).unwrap();
        assert_eq!(folder.kind().to_string(), "folder models");
    }
}
