//! Single files outside the registry layout (training data, run logs), in a local path or a
//! blob URL, with the same sign-in rules as the registry.

use std::io;
use std::path::Path;

use crate::address::is_blob_url;
use crate::backend::Backend;
use crate::blob::BlobStore;
use crate::environment::process_environment_for;
use crate::error::{Error, ErrorKind, Result};
use crate::settings::BlobSettings;

/// Reads a whole file from a local path or a blob URL such as
/// `https://<account>.blob.core.windows.net/data/train.csv`.
pub async fn read_object(location: &str) -> Result<Vec<u8>> {
    if !is_blob_url(location) {
        return tokio::fs::read(location)
            .await
            .map_err(|error| file_error(location, "cannot read", error));
    }
    let (store, blob) = blob_store(location)?;
    match store.get(&blob).await? {
        Some(object) => Ok(object.bytes),
        None => Err(Error::new(
            ErrorKind::NotFound,
            format!("blob {blob} does not exist in {}", store.location()),
        )),
    }
}

/// Writes a whole file to a local path (creating its folder) or a blob URL such as
/// `https://<account>.blob.core.windows.net/logs/<run>/metrics.json`, replacing what is there.
pub async fn write_object(location: &str, bytes: Vec<u8>) -> Result<()> {
    if !is_blob_url(location) {
        if let Some(folder) = Path::new(location)
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
        {
            tokio::fs::create_dir_all(folder)
                .await
                .map_err(|error| file_error(location, "cannot create the folder of", error))?;
        }
        return tokio::fs::write(location, bytes)
            .await
            .map_err(|error| file_error(location, "cannot write", error));
    }
    let (store, blob) = blob_store(location)?;
    store.overwrite(&blob, bytes).await.map(drop)
}

/// Creates the container a registry source names (a container URL or `azurite`) if it does not
/// exist yet; `Ok(false)` when it already did. For Azurite, which starts empty: in Azure,
/// Terraform creates the containers and the app's identity has no right to.
pub async fn create_container(source: &str) -> Result<bool> {
    let settings = BlobSettings::from_source(source, &process_environment_for(source)?)?;
    BlobStore::new(settings)?.create_container().await
}

fn blob_store(location: &str) -> Result<(BlobStore, String)> {
    let (settings, blob) = BlobSettings::for_blob(location, &process_environment_for(location)?)?;
    Ok((BlobStore::new(settings)?, blob))
}

fn file_error(location: &str, action: &str, error: io::Error) -> Error {
    let kind = match error.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        _ => ErrorKind::Io,
    };
    Error::new(kind, format!("{action} {location}")).with_source(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_files_round_trip_and_missing_ones_are_not_found() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("logs/run-1/metrics.json");
        let location = path.to_str().unwrap();
        write_object(location, b"{\"accuracy\":1}".to_vec())
            .await
            .unwrap();
        assert_eq!(read_object(location).await.unwrap(), b"{\"accuracy\":1}");
        let missing = folder.path().join("nope.csv");
        let error = read_object(missing.to_str().unwrap()).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound);
        assert!(error.to_string().contains("nope.csv"), "{error}");
    }
}
