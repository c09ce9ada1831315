//! The registry's rules, written once over any [`Backend`]: the `<name>/<version>/` layout,
//! immutable versions, the `latest.json` pointer moved only by conditional writes, and digest
//! checks on every download.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::backend::{Backend, ETag, WriteCondition};
use crate::blob::BlobStore;
use crate::digest::sha256_hex;
use crate::error::{Error, ErrorKind, Result};
use crate::limit::ByteLimit;
use crate::local::LocalFolder;
use crate::source::{RegistryKind, RegistrySettings};

/// File name of a version's model artifact.
pub const MODEL_FILE: &str = "model.json";
/// File name of a version's evaluation metrics.
pub const METRICS_FILE: &str = "metrics.json";
/// File name of a model's pointer to its current version.
pub const LATEST_FILE: &str = "latest.json";

/// The `<model-name>/latest.json` document: which version is current and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestPointer {
    /// The current version.
    pub version: String,
    /// Hex SHA-256 of the version's `model.json`; downloads are checked against it.
    pub sha256: String,
    /// Key of the version's `model.json` in the registry.
    pub path: String,
    /// When this version became current.
    #[serde(with = "time::serde::rfc3339")]
    pub published_at: OffsetDateTime,
}

/// The current pointer of a model and the tag it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    /// The pointer.
    pub pointer: LatestPointer,
    /// Its tag, for a conditional update.
    pub etag: ETag,
}

/// A model registry: versions laid out as `<name>/<version>/{model,metrics}.json` plus a
/// `<name>/latest.json` pointer, in any [`Backend`].
///
/// Versions are immutable once written; the pointer only moves with a conditional write, so two
/// publishers cannot silently overwrite each other; every download is checked against the
/// pointer's digest.
#[derive(Debug, Clone)]
pub struct Registry {
    backend: Arc<dyn Backend>,
}

impl Registry {
    /// A registry over any backend.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Registry { backend }
    }

    /// Opens the registry `settings` name (see [`RegistrySettings::from_source`]). Sends no
    /// request, so it succeeds while the service is unreachable; the first operation reports
    /// that.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] when the Blob client or its credential cannot be set up.
    pub fn from_settings(settings: RegistrySettings) -> Result<Self> {
        let backend: Arc<dyn Backend> = match settings {
            RegistrySettings::Folder(folder) => Arc::new(LocalFolder::new(folder)),
            RegistrySettings::Blob(settings) => Arc::new(BlobStore::new(*settings)?),
        };
        Ok(Registry::new(backend))
    }

    /// What the registry is: a folder, or a Blob Storage container whose reads are dependencies
    /// worth reporting. Decided when it was opened.
    pub fn kind(&self) -> RegistryKind {
        self.backend.kind()
    }

    /// Where the registry lives, for messages (never contains a secret).
    pub fn location(&self) -> String {
        self.backend.location()
    }

    /// Writes a new version's artifact and metrics, then makes it `latest`.
    ///
    /// Fails with [`ErrorKind::AlreadyExists`] if the version exists, and with
    /// [`ErrorKind::Conflict`] if another publisher moved `latest` in between.
    pub async fn publish(
        &self,
        name: &str,
        version: &str,
        model_json: Vec<u8>,
        metrics_json: Vec<u8>,
    ) -> Result<Latest> {
        check_segment("model name", name)?;
        check_segment("version", version)?;
        let current = self.latest(name).await?;
        let sha256 = sha256_hex(&model_json);
        for (file, bytes) in [(MODEL_FILE, model_json), (METRICS_FILE, metrics_json)] {
            let key = version_key(name, version, file);
            self.backend
                .put(&key, bytes, WriteCondition::IfAbsent)
                .await?;
        }
        self.point_latest(name, version, sha256, current.map(|latest| latest.etag))
            .await
    }

    /// Reads the current pointer; `Ok(None)` when the model has never been published.
    ///
    /// # Errors
    /// [`ErrorKind::TooLarge`] for a `latest.json` above [`crate::MAX_POINTER_BYTES`] (never
    /// read whole), [`ErrorKind::Integrity`] for one that is not a pointer, and the backend's
    /// errors.
    pub async fn latest(&self, name: &str) -> Result<Option<Latest>> {
        check_segment("model name", name)?;
        let key = latest_key(name);
        let Some(object) = self.backend.read(&key, ByteLimit::POINTER).await? else {
            return Ok(None);
        };
        let pointer: LatestPointer = serde_json::from_slice(&object.bytes).map_err(|error| {
            Error::new(
                ErrorKind::Integrity,
                format!(
                    "{key} in {} is not a valid pointer; publish or promote a version to \
                     replace it",
                    self.location()
                ),
            )
            .with_source(error)
        })?;
        Ok(Some(Latest {
            pointer,
            etag: object.etag,
        }))
    }

    /// Downloads the artifact a pointer names, if it is at most `limit` bytes, and checks it
    /// against the pointer's digest. A larger artifact is refused after reading no more than one
    /// byte past the limit, so it cannot exhaust memory.
    ///
    /// # Errors
    /// [`ErrorKind::TooLarge`] naming the artifact, its size, the limit and the setting that
    /// raises it; [`ErrorKind::Integrity`] when the pointer's path or digest does not match;
    /// [`ErrorKind::NotFound`] when the artifact is missing; and the backend's errors.
    pub async fn fetch_within(
        &self,
        name: &str,
        pointer: &LatestPointer,
        limit: ByteLimit,
    ) -> Result<Vec<u8>> {
        check_segment("version", &pointer.version)?;
        let key = version_key(name, &pointer.version, MODEL_FILE);
        if pointer.path != key {
            return Err(Error::new(
                ErrorKind::Integrity,
                format!(
                    "pointer of {name} in {} names {} instead of {key}; publish or promote a \
                     version to replace it",
                    self.location(),
                    pointer.path
                ),
            ));
        }
        let bytes = self.get_required(&key, limit).await?;
        let actual = sha256_hex(&bytes);
        if actual != pointer.sha256 {
            return Err(Error::new(
                ErrorKind::Integrity,
                format!(
                    "{key} in {} has SHA-256 {actual}, but latest.json expects {}: it changed \
                     after it was published; publish it again as a new version",
                    self.location(),
                    pointer.sha256
                ),
            ));
        }
        Ok(bytes)
    }

    /// Lists a model's versions, oldest first (versions sort by time).
    pub async fn list_versions(&self, name: &str) -> Result<Vec<String>> {
        check_segment("model name", name)?;
        let prefix = format!("{name}/");
        let mut versions: Vec<String> = self
            .backend
            .list(&prefix)
            .await?
            .iter()
            .filter_map(|key| {
                key.strip_prefix(&prefix)?
                    .strip_suffix(&format!("/{MODEL_FILE}"))
                    .filter(|version| !version.contains('/'))
                    .map(str::to_owned)
            })
            .collect();
        versions.sort();
        Ok(versions)
    }

    /// Makes an existing version `latest` (promotion or rollback); its artifact, read to record
    /// its digest, may be at most `limit` bytes.
    ///
    /// `expected` is the tag of the pointer the caller read (`None`: there must be no pointer
    /// yet); the write fails with [`ErrorKind::Conflict`] if the pointer moved since.
    pub async fn promote(
        &self,
        name: &str,
        version: &str,
        expected: Option<ETag>,
        limit: ByteLimit,
    ) -> Result<Latest> {
        check_segment("model name", name)?;
        check_segment("version", version)?;
        let bytes = self
            .get_required(&version_key(name, version, MODEL_FILE), limit)
            .await?;
        self.point_latest(name, version, sha256_hex(&bytes), expected)
            .await
    }

    async fn point_latest(
        &self,
        name: &str,
        version: &str,
        sha256: String,
        expected: Option<ETag>,
    ) -> Result<Latest> {
        let pointer = LatestPointer {
            version: version.to_owned(),
            sha256,
            path: version_key(name, version, MODEL_FILE),
            published_at: OffsetDateTime::now_utc(),
        };
        let bytes = serde_json::to_vec_pretty(&pointer)
            .expect("a pointer is strings and the current UTC time, which RFC 3339 always writes");
        let condition = match expected {
            Some(etag) => WriteCondition::IfMatch(etag),
            None => WriteCondition::IfAbsent,
        };
        let etag = self
            .backend
            .put(&latest_key(name), bytes, condition)
            .await
            .map_err(|error| match error.kind() {
                // A pointer appearing under an `IfAbsent` write is a lost race too.
                ErrorKind::AlreadyExists | ErrorKind::Conflict => Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "another publisher updated {} in {} first; read it again and retry",
                        latest_key(name),
                        self.location()
                    ),
                )
                .with_source(error),
                _ => error,
            })?;
        Ok(Latest { pointer, etag })
    }

    async fn get_required(&self, key: &str, limit: ByteLimit) -> Result<Vec<u8>> {
        match self.backend.read(key, limit).await? {
            Some(object) => Ok(object.bytes),
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "{key} does not exist in {}; publish it again, or promote a version that \
                     exists",
                    self.location()
                ),
            )),
        }
    }
}

fn version_key(name: &str, version: &str, file: &str) -> String {
    format!("{name}/{version}/{file}")
}

fn latest_key(name: &str) -> String {
    format!("{name}/{LATEST_FILE}")
}

/// The registry version of a model made at `created_at` whose ensemble hashes to
/// `ensemble_sha256`: `YYYYMMDDTHHMMSSZ-<first 8 hex digits of the digest>`, in UTC, so versions
/// sort by time and two models made in the same second still differ.
///
/// ```
/// use time::macros::datetime;
///
/// let version = fluxops_store::version_name(datetime!(2026-11-27 22:00:00 UTC), "1a2b3c4d5e6f");
/// assert_eq!(version, "20261127T220000Z-1a2b3c4d");
/// assert!(fluxops_store::is_valid_name(&version));
/// ```
pub fn version_name(created_at: OffsetDateTime, ensemble_sha256: &str) -> String {
    let created_at = created_at.to_offset(time::UtcOffset::UTC);
    let stamp = created_at
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_default();
    let short: String = ensemble_sha256.chars().take(8).collect();
    format!("{stamp}-{short}")
}

/// Whether `value` can be a model name or version: 1-128 ASCII letters, digits, `.`, `_` or `-`,
/// starting with a letter or digit (names become path segments and blob names).
pub fn is_valid_name(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value.starts_with(|first: char| first.is_ascii_alphanumeric())
        && value
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || "._-".contains(character))
}

fn check_segment(what: &str, value: &str) -> Result<()> {
    if is_valid_name(value) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "{what} {value:?} must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
            ),
        ))
    }
}
