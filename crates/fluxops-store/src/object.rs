//! Single files outside the registry layout (training data, run logs), in a local path or a
//! blob URL, with the same sign-in rules as the registry.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::address::is_blob_url;
use crate::backend::Backend;
use crate::blob::BlobStore;
use crate::environment::AzureEnvironment;
use crate::error::{Error, ErrorKind, Result, io_error_kind};
use crate::limit::{Bounded, ByteLimit, read_within};
use crate::local::blocking;
use crate::settings::BlobSettings;

/// Where a single file lives, resolved once: a local path, or a blob and the settings to reach
/// its container.
///
/// ```
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// use fluxops_store::{AzureEnvironment, ByteLimit, ErrorKind, ObjectLocation};
///
/// let folder = tempfile::tempdir()?;
/// let path = folder.path().join("logs/run-1/train.log");
/// let log = ObjectLocation::parse(path.to_str().unwrap_or_default(), &AzureEnvironment::default())?;
/// log.write(b"accuracy 0.97".to_vec()).await?;
/// assert_eq!(log.read(ByteLimit::new(1024, "--max-log-bytes")).await?, b"accuracy 0.97");
/// let refused = log.read(ByteLimit::new(4, "--max-log-bytes")).await.unwrap_err();
/// assert_eq!(refused.kind(), ErrorKind::TooLarge);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ObjectLocation {
    place: Place,
}

#[derive(Debug, Clone)]
enum Place {
    File(PathBuf),
    Blob {
        settings: Box<BlobSettings>,
        blob: String,
    },
}

impl ObjectLocation {
    /// Whether [`ObjectLocation::parse`] reads `location` as a blob URL, so that it needs the
    /// Azure variables (a local path needs none).
    pub fn is_blob(location: &str) -> bool {
        is_blob_url(location)
    }

    /// Resolves a blob URL such as `https://<account>.blob.core.windows.net/data/train.csv`
    /// (signed in as `environment` says, by the registry's rules), or else a local path. Sends
    /// no request.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a blob URL that cannot be used, saying why.
    pub fn parse(location: &str, environment: &AzureEnvironment) -> Result<Self> {
        let place = if is_blob_url(location) {
            let (settings, blob) = BlobSettings::for_blob(location, environment)?;
            Place::Blob {
                settings: Box::new(settings),
                blob,
            }
        } else {
            Place::File(PathBuf::from(location))
        };
        Ok(ObjectLocation { place })
    }

    /// Reads the whole file if it is at most `limit` bytes, taking in no more than one byte
    /// past the limit.
    ///
    /// # Errors
    /// [`ErrorKind::TooLarge`] naming the file, its size, the limit and what raises it;
    /// [`ErrorKind::NotFound`] when there is no such file; and the storage's own errors.
    pub async fn read(&self, limit: ByteLimit) -> Result<Vec<u8>> {
        match &self.place {
            Place::File(path) => {
                let path = path.clone();
                blocking(move || read_file(&path, limit)).await
            }
            Place::Blob { settings, blob } => {
                let store = BlobStore::new(settings.as_ref().clone())?;
                match store.read(blob, limit).await? {
                    Some(object) => Ok(object.bytes),
                    None => Err(Error::new(
                        ErrorKind::NotFound,
                        format!("blob {blob} does not exist in {}", store.location()),
                    )),
                }
            }
        }
    }

    /// Writes the whole file, replacing what is there; a local file's folder is created.
    pub async fn write(&self, bytes: Vec<u8>) -> Result<()> {
        match &self.place {
            Place::File(path) => {
                if let Some(folder) = path
                    .parent()
                    .filter(|folder| !folder.as_os_str().is_empty())
                {
                    tokio::fs::create_dir_all(folder)
                        .await
                        .map_err(|error| file_error(path, "cannot create the folder of", error))?;
                }
                tokio::fs::write(path, bytes)
                    .await
                    .map_err(|error| file_error(path, "cannot write", error))
            }
            Place::Blob { settings, blob } => {
                let store = BlobStore::new(settings.as_ref().clone())?;
                store.overwrite(blob, bytes).await.map(drop)
            }
        }
    }
}

/// The path, or the blob's URL: never a credential.
impl fmt::Display for ObjectLocation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Place::File(path) => write!(formatter, "{}", path.display()),
            Place::Blob { settings, blob } => {
                formatter.write_str(&settings.blob_url(settings.container(), blob))
            }
        }
    }
}

fn read_file(path: &Path, limit: ByteLimit) -> Result<Vec<u8>> {
    let read = || {
        let file = fs::File::open(path)?;
        let size = file.metadata()?.len();
        read_within(file, Some(size), limit)
    };
    match read().map_err(|error| file_error(path, "cannot read", error))? {
        Bounded::Within(bytes) => Ok(bytes),
        Bounded::TooLarge(size) => Err(limit.refuse(&path.display().to_string(), size)),
    }
}

fn file_error(path: &Path, action: &str, error: io::Error) -> Error {
    Error::new(
        io_error_kind(&error),
        format!("{action} {}", path.display()),
    )
    .with_source(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: ByteLimit = ByteLimit::new(1024, "TEST_LIMIT");

    #[tokio::test]
    async fn local_files_round_trip_and_missing_ones_are_not_found() {
        let folder = tempfile::tempdir().unwrap();
        let local = |path: std::path::PathBuf| {
            ObjectLocation::parse(path.to_str().unwrap(), &AzureEnvironment::default()).unwrap()
        };
        let metrics = local(folder.path().join("logs/run-1/metrics.json"));
        metrics.write(b"{\"accuracy\":1}".to_vec()).await.unwrap();
        assert_eq!(metrics.read(LIMIT).await.unwrap(), b"{\"accuracy\":1}");
        let error = local(folder.path().join("nope.csv"))
            .read(LIMIT)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound);
        assert!(error.to_string().contains("nope.csv"), "{error}");
    }
}
