//! The registry in a local folder: the default for development and for the trainer's output.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use fluxops_inference::sha256_hex;

use crate::backend::{Backend, ETag, StoredObject, WriteCondition};
use crate::error::{Error, ErrorKind, Result};

/// How long a conditional write waits for another writer's lock before reporting a conflict.
const LOCK_WAIT: Duration = Duration::from_secs(5);
/// A lock older than this was left by a writer that died; it is broken.
const STALE_LOCK: Duration = Duration::from_secs(30);

/// A registry folder on the local file system.
///
/// Writes go to a temporary file in the same folder and are then linked or renamed into place,
/// so a crash never leaves a half-written object behind. Tags are the SHA-256 of the content.
#[derive(Debug, Clone)]
pub struct LocalFolder {
    root: PathBuf,
}

impl LocalFolder {
    /// A registry rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalFolder { root: root.into() }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn io_error(&self, key: &str, action: &str, error: io::Error) -> Error {
        let kind = match error.kind() {
            io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            _ => ErrorKind::Io,
        };
        Error::new(kind, format!("{action} {} in {}", key, self.location())).with_source(error)
    }

    fn get_blocking(&self, key: &str) -> Result<Option<StoredObject>> {
        match fs::read(self.path(key)) {
            Ok(bytes) => {
                let etag = ETag(sha256_hex(&bytes));
                Ok(Some(StoredObject { bytes, etag }))
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(self.io_error(key, "cannot read", error)),
        }
    }

    fn put_blocking(&self, key: &str, bytes: &[u8], condition: &WriteCondition) -> Result<ETag> {
        let path = self.path(key);
        let folder = path.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&folder)
            .map_err(|error| self.io_error(key, "cannot create folder for", error))?;
        let etag = ETag(sha256_hex(bytes));
        match condition {
            WriteCondition::IfAbsent => {
                let temporary = write_temporary(&folder, bytes)
                    .map_err(|error| self.io_error(key, "cannot write", error))?;
                // A hard link fails if the target exists: an atomic create-if-absent.
                let linked = fs::hard_link(temporary.path(), &path);
                match linked {
                    Ok(()) => Ok(etag),
                    Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!("{key} already exists in {}", self.location()),
                    )),
                    Err(error) => Err(self.io_error(key, "cannot write", error)),
                }
            }
            WriteCondition::IfMatch(expected) => {
                let _lock = FileLock::acquire(&path).map_err(|error| {
                    Error::new(
                        ErrorKind::Conflict,
                        format!(
                            "{key} in {} is being written by another publisher",
                            self.location()
                        ),
                    )
                    .with_source(error)
                })?;
                let current = self.get_blocking(key)?.map(|object| object.etag);
                if current.as_ref() != Some(expected) {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!(
                            "{key} in {} changed since it was read (expected tag {expected}, found {})",
                            self.location(),
                            current.map_or_else(|| "nothing".to_owned(), |etag| etag.0)
                        ),
                    ));
                }
                let temporary = write_temporary(&folder, bytes)
                    .map_err(|error| self.io_error(key, "cannot write", error))?;
                temporary
                    .persist(&path)
                    .map_err(|error| self.io_error(key, "cannot replace", error))?;
                Ok(etag)
            }
        }
    }

    fn list_blocking(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut folders = vec![self.root.clone()];
        while let Some(folder) = folders.pop() {
            let entries = match fs::read_dir(&folder) {
                Ok(entries) => entries,
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => return Err(self.io_error(prefix, "cannot list", error)),
            };
            for entry in entries {
                let entry = entry.map_err(|error| self.io_error(prefix, "cannot list", error))?;
                let path = entry.path();
                if path.is_dir() {
                    folders.push(path);
                } else if let Some(key) = relative_key(&self.root, &path)
                    && key.starts_with(prefix)
                    && !key.contains("/.")
                    && !key.starts_with('.')
                {
                    keys.push(key);
                }
            }
        }
        Ok(keys)
    }
}

#[async_trait]
impl Backend for LocalFolder {
    fn location(&self) -> String {
        format!("folder {}", self.root.display())
    }

    async fn get(&self, key: &str) -> Result<Option<StoredObject>> {
        let this = self.clone();
        let key = key.to_owned();
        blocking(move || this.get_blocking(&key)).await
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, condition: WriteCondition) -> Result<ETag> {
        let this = self.clone();
        let key = key.to_owned();
        blocking(move || this.put_blocking(&key, &bytes, &condition)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let this = self.clone();
        let prefix = prefix.to_owned();
        blocking(move || this.list_blocking(&prefix)).await
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        Error::new(ErrorKind::Io, "file operation did not finish").with_source(error)
    })?
}

fn relative_key(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).ok()?;
    let parts: Vec<&str> = relative
        .iter()
        .map(|part| part.to_str())
        .collect::<Option<_>>()?;
    Some(parts.join("/"))
}

/// A hidden temporary file next to its destination, removed unless persisted.
fn write_temporary(folder: &Path, bytes: &[u8]) -> io::Result<TemporaryFile> {
    let path = folder.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    ));
    let temporary = TemporaryFile { path };
    let mut file = fs::File::create_new(temporary.path())?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(temporary)
}

struct TemporaryFile {
    path: PathBuf,
}

impl TemporaryFile {
    fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the file over `destination` (atomic on one file system).
    fn persist(self, destination: &Path) -> io::Result<()> {
        fs::rename(&self.path, destination)
    }
}

impl Drop for TemporaryFile {
    fn drop(&mut self) {
        // Already gone after a rename; a leftover only wastes space, so errors are ignored.
        let _ = fs::remove_file(&self.path);
    }
}

/// An exclusive lock on a key held as a `.lock` file beside it.
struct FileLock {
    path: PathBuf,
}

impl FileLock {
    fn acquire(target: &Path) -> io::Result<Self> {
        let mut name = target.file_name().unwrap_or_default().to_owned();
        name.push(".lock");
        let path = target.with_file_name(format!(".{}", name.to_string_lossy()));
        let started = SystemTime::now();
        loop {
            match fs::File::create_new(&path) {
                Ok(_) => return Ok(FileLock { path }),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                    let age = fs::metadata(&path)
                        .and_then(|metadata| metadata.modified())
                        .ok()
                        .and_then(|modified| modified.elapsed().ok());
                    if age.is_some_and(|age| age > STALE_LOCK) {
                        let _ = fs::remove_file(&path);
                        continue;
                    }
                    if started.elapsed().unwrap_or_default() > LOCK_WAIT {
                        return Err(error);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(error) => return Err(error),
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
