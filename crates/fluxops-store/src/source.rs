//! A registry source string resolved into settings: the one place that tells a local folder from
//! Blob Storage.

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
        }
    }
}
