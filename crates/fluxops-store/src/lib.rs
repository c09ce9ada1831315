//! The FluxOps model registry: versioned model artifacts in a local folder or in Azure Blob
//! Storage, with one layout and one set of integrity rules for both.
//!
//! The way in is [`Registry`]. [`RegistrySettings::from_source`] resolves the same source string
//! as the handler's `FLUXOPS_MODEL_SOURCE` (a folder, a container URL
//! `https://<account>.blob.core.windows.net/<container>`, or `azurite`) with an
//! [`AzureEnvironment`], and [`Registry::from_settings`] opens it; [`Registry::kind`] then says
//! what it is ([`RegistryKind`]). Storage backends implement the small [`Backend`] trait
//! ([`LocalFolder`], [`BlobStore`]); the layout, immutability of versions, conditional pointer
//! updates and digest checks live once in [`Registry`]. Artifacts travel as bytes;
//! `fluxops-inference` parses and verifies their content.
//!
//! Every read takes a [`ByteLimit`] and never takes in more than one byte past it: the pointer's
//! is [`MAX_POINTER_BYTES`], an artifact's is the caller's ([`Registry::fetch_within`]), so a
//! huge or endless object is refused with [`ErrorKind::TooLarge`] before it can exhaust memory.
//!
//! Blob Storage sign-in comes from the Azure variables, read and checked once into an
//! [`AzureEnvironment`] ([`AzureEnvironment::from_vars`] reports every problem at once;
//! [`AzureEnvironment::from_process`] is the only place the store reads the process environment):
//! a connection string (signed with SharedKey by this crate, as the SDK has no key support),
//! workload or managed identity, or the developer's Azure CLI sign-in. [`ObjectLocation`] moves
//! single files (training data, run logs) with the same rules.
//!
//! ```
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! use fluxops_store::{
//!     AzureEnvironment, ByteLimit, ErrorKind, Registry, RegistryKind, RegistrySettings,
//! };
//!
//! let folder = tempfile::tempdir()?;
//! let source = folder.path().to_str().unwrap_or_default();
//! let settings = RegistrySettings::from_source(source, &AzureEnvironment::default())?;
//! let registry = Registry::from_settings(settings)?;
//! assert!(matches!(registry.kind(), RegistryKind::Folder { .. }));
//! registry.publish("fluxops", "v1", b"{}".to_vec(), b"{}".to_vec()).await?;
//! let latest = registry.latest("fluxops").await?.expect("just published");
//! assert_eq!(latest.pointer.version, "v1");
//! let limit = ByteLimit::new(256 << 20, "FLUXOPS_MAX_MODEL_BYTES");
//! assert_eq!(registry.fetch_within("fluxops", &latest.pointer, limit).await?, b"{}");
//! // Versions are immutable.
//! let again = registry.publish("fluxops", "v1", b"[]".to_vec(), b"{}".to_vec()).await;
//! assert_eq!(again.unwrap_err().kind(), ErrorKind::AlreadyExists);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod address;
mod auth;
mod azurite;
mod backend;
mod blob;
mod blob_errors;
mod digest;
mod environment;
mod error;
mod limit;
mod local;
mod object;
mod registry;
mod settings;
mod shared_key;
mod source;

pub use auth::BlobAuth;
pub use azurite::{AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY, AZURITE_CONTAINER, AZURITE_SOURCE};
pub use backend::{Backend, ETag, StoredObject, WriteCondition};
pub use blob::BlobStore;
pub use digest::sha256_hex;
pub use environment::{AzureEnvironment, EnvironmentError, setting_value};
pub use error::{Error, ErrorKind, Result};
pub use limit::{ByteLimit, MAX_POINTER_BYTES};
pub use local::LocalFolder;
pub use object::ObjectLocation;
pub use registry::{
    LATEST_FILE, Latest, LatestPointer, METRICS_FILE, MODEL_FILE, Registry, is_valid_name,
    version_name,
};
pub use settings::{BlobSettings, RetrySettings};
pub use shared_key::AccountKey;
pub use source::{RegistryKind, RegistrySettings};
