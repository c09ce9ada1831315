//! The FluxOps model registry: versioned model artifacts in a local folder or in Azure Blob
//! Storage, with one layout and one set of integrity rules for both.
//!
//! The way in is [`Registry`]: [`Registry::open`] takes the same source string as the handler's
//! `FLUXOPS_MODEL_SOURCE`: a folder, a container URL
//! (`https://<account>.blob.core.windows.net/<container>`) or `azurite`. Storage backends
//! implement the four-call [`Backend`] trait ([`LocalFolder`], [`BlobStore`]); the layout,
//! immutability of versions, conditional pointer updates and digest checks live once in
//! [`Registry`]. Artifacts travel as bytes; `fluxops-inference` parses and verifies their content.
//!
//! Blob Storage sign-in is chosen from the environment ([`AzureEnvironment`], rules on
//! [`BlobSettings::from_source`]): a connection string (signed with SharedKey by this crate, as the
//! SDK has no key support), workload or managed identity, or the developer's Azure CLI sign-in.
//! [`read_object`] and [`write_object`] move single files (training data, run logs) with the
//! same rules.
//!
//! ```
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! use fluxops_store::{ErrorKind, Registry};
//!
//! let folder = tempfile::tempdir()?;
//! let registry = Registry::open(folder.path().to_str().unwrap_or_default())?;
//! let published = registry.publish("fluxops", "v1", b"{}".to_vec(), b"{}".to_vec()).await?;
//! let latest = registry.latest("fluxops").await?.expect("just published");
//! assert_eq!(latest.pointer.version, "v1");
//! assert_eq!(registry.fetch("fluxops", &latest.pointer).await?, b"{}");
//! // Versions are immutable.
//! let again = registry.publish("fluxops", "v1", b"[]".to_vec(), b"{}".to_vec()).await;
//! assert_eq!(again.unwrap_err().kind(), ErrorKind::AlreadyExists);
//! # drop(published);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod address;
mod auth;
mod backend;
mod blob;
mod blob_errors;
mod environment;
mod error;
mod local;
mod object;
mod registry;
mod settings;
mod shared_key;
mod source;

pub use address::is_blob_url;
pub use auth::BlobAuth;
pub use backend::{Backend, ETag, StoredObject, WriteCondition};
pub use blob::BlobStore;
pub use environment::{AzureEnvironment, EnvironmentError, setting_value};
pub use error::{Error, ErrorKind, Result};
pub use local::LocalFolder;
pub use object::{create_container, read_object, write_object};
pub use registry::{
    LATEST_FILE, Latest, LatestPointer, METRICS_FILE, MODEL_FILE, Registry, is_valid_name,
};
pub use settings::{AZURITE_CONTAINER, AZURITE_SOURCE, BlobSettings, RetrySettings, blob_location};
pub use shared_key::AccountKey;
pub use source::{RegistryKind, RegistrySettings};
