//! The seam between the registry and its storage: the [`Backend`] trait that a folder and a Blob
//! Storage container implement, with the objects, version tags and write conditions it trades in.

use std::fmt;

use async_trait::async_trait;

use crate::error::Result;
use crate::limit::ByteLimit;
use crate::source::RegistryKind;

/// An opaque version tag of a stored object (an HTTP ETag for Blob Storage, a content digest for
/// a folder), used for conditional writes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ETag(pub String);

impl fmt::Display for ETag {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// A stored object's bytes and version tag.
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// The object's content.
    pub bytes: Vec<u8>,
    /// The version tag the content was read at.
    pub etag: ETag,
}

/// When a write may go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// Only if nothing is stored under the key yet (`If-None-Match: *`).
    IfAbsent,
    /// Only if the stored object still has this tag (`If-Match`).
    IfMatch(ETag),
}

/// The storage primitives the registry needs; one implementation per place models live.
///
/// Keys are `/`-separated relative paths such as `fluxops/latest.json`. The registry's layout and
/// integrity rules live once in [`crate::Registry`], on top of these calls.
#[async_trait]
pub trait Backend: Send + Sync + fmt::Debug {
    /// What this backend is: a folder, or a Blob Storage container (never holds a secret).
    fn kind(&self) -> RegistryKind;

    /// Where this backend stores things, for messages and logs (never contains a secret).
    fn location(&self) -> String {
        self.kind().to_string()
    }

    /// Reads an object of at most `limit` bytes, taking in no more than one byte past the limit;
    /// `Ok(None)` when there is none under `key`.
    ///
    /// # Errors
    /// [`crate::ErrorKind::TooLarge`] (from [`ByteLimit`]'s refusal, naming the key and where it
    /// is) for a larger object, and the backend's own errors.
    async fn read(&self, key: &str, limit: ByteLimit) -> Result<Option<StoredObject>>;

    /// Writes an object if `condition` holds, failing with [`crate::ErrorKind::AlreadyExists`]
    /// (for `IfAbsent`) or [`crate::ErrorKind::Conflict`] (for `IfMatch`) when it does not.
    async fn put(&self, key: &str, bytes: Vec<u8>, condition: WriteCondition) -> Result<ETag>;

    /// Lists every key that starts with `prefix`, in no particular order.
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;
}
