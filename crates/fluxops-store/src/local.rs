//! The registry in a local folder: the default for development and for the trainer's output.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::backend::{Backend, ETag, StoredObject, WriteCondition};
use crate::digest::{sha256_hex, sha256_hex_of};
use crate::error::{Error, ErrorKind, Result, io_error_kind};
use crate::limit::{Bounded, ByteLimit, read_within};
use crate::source::RegistryKind;

/// How long a conditional write waits for another writer's lock before reporting a conflict.
const LOCK_WAIT: Duration = Duration::from_secs(5);

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
        Error::new(
            io_error_kind(&error),
            format!("{action} {key} in {}", self.location()),
        )
        .with_source(error)
    }

    fn read_blocking(&self, key: &str, limit: ByteLimit) -> Result<Option<StoredObject>> {
        let Some(file) = self.open(key)? else {
            return Ok(None);
        };
        let read = || {
            let size = file.metadata()?.len();
            read_within(&file, Some(size), limit)
        };
        match read().map_err(|error| self.io_error(key, "cannot read", error))? {
            Bounded::Within(bytes) => {
                let etag = ETag(sha256_hex(&bytes));
                Ok(Some(StoredObject { bytes, etag }))
            }
            Bounded::TooLarge(size) => {
                Err(limit.refuse(&format!("{key} in {}", self.location()), size))
            }
        }
    }

    /// The tag of what is stored under `key` now, hashed in pieces so that any size fits.
    fn current_etag(&self, key: &str) -> Result<Option<ETag>> {
        let Some(file) = self.open(key)? else {
            return Ok(None);
        };
        let digest =
            sha256_hex_of(file).map_err(|error| self.io_error(key, "cannot read", error))?;
        Ok(Some(ETag(digest)))
    }

    /// The file under `key`; `Ok(None)` when there is none.
    fn open(&self, key: &str) -> Result<Option<fs::File>> {
        match fs::File::open(self.path(key)) {
            Ok(file) => Ok(Some(file)),
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
                let current = self.current_etag(key)?;
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
    fn kind(&self) -> RegistryKind {
        RegistryKind::Folder {
            path: self.root.clone(),
        }
    }

    async fn read(&self, key: &str, limit: ByteLimit) -> Result<Option<StoredObject>> {
        let this = self.clone();
        let key = key.to_owned();
        blocking(move || this.read_blocking(&key, limit)).await
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

/// Runs file work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
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

/// An exclusive lock on a key: an operating-system lock on a `.lock` file beside it.
///
/// The file itself stays; the lock goes with the open file, so a writer that dies releases it and
/// no staleness guess is needed.
struct FileLock {
    _file: fs::File,
}

impl FileLock {
    fn acquire(target: &Path) -> io::Result<Self> {
        let mut name = target.file_name().unwrap_or_default().to_owned();
        name.push(".lock");
        let path = target.with_file_name(format!(".{}", name.to_string_lossy()));
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        let started = SystemTime::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(FileLock { _file: file }),
                Err(fs::TryLockError::WouldBlock) => {
                    if started.elapsed().unwrap_or_default() > LOCK_WAIT {
                        return Err(io::Error::new(
                            io::ErrorKind::WouldBlock,
                            "another writer holds the lock",
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(fs::TryLockError::Error(error)) => return Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::Registry;

    const LIMIT: ByteLimit = ByteLimit::new(1024, "TEST_LIMIT");

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn of_many_writers_holding_the_same_tag_exactly_one_moves_latest() {
        let folder = tempfile::tempdir().unwrap();
        let registry = Registry::new(Arc::new(LocalFolder::new(folder.path())));
        let first = registry
            .publish("m", "v0", b"{}".to_vec(), b"{}".to_vec())
            .await
            .unwrap();
        for version in ["v1", "v2", "v3", "v4", "v5", "v6"] {
            LocalFolder::new(folder.path())
                .put(
                    &format!("m/{version}/model.json"),
                    version.as_bytes().to_vec(),
                    WriteCondition::IfAbsent,
                )
                .await
                .unwrap();
        }
        let attempts = ["v1", "v2", "v3", "v4", "v5", "v6"].map(|version| {
            let registry = registry.clone();
            let etag = first.etag.clone();
            tokio::spawn(async move { registry.promote("m", version, Some(etag), LIMIT).await })
        });
        let mut won = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(_) => won += 1,
                Err(error) => assert_eq!(error.kind(), ErrorKind::Conflict, "{error}"),
            }
        }
        assert_eq!(won, 1);
    }

    #[test]
    fn a_version_is_written_once() {
        let folder = tempfile::tempdir().unwrap();
        let local = LocalFolder::new(folder.path());
        local
            .put_blocking("m/v1/model.json", b"a", &WriteCondition::IfAbsent)
            .unwrap();
        let again = local.put_blocking("m/v1/model.json", b"b", &WriteCondition::IfAbsent);
        assert_eq!(again.unwrap_err().kind(), ErrorKind::AlreadyExists);
        assert_eq!(
            fs::read(folder.path().join("m/v1/model.json")).unwrap(),
            b"a"
        );
    }
}
