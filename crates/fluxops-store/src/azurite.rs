//! Azurite, the local Azure Storage emulator, as the store sees it: its development account,
//! which `UseDevelopmentStorage=true` and a loopback URL of that account sign in to with its
//! published key, and the [`AZURITE_SOURCE`] registry source.
//!
//! These are the one home of the account's name, key and default URL; the test support crate
//! `fluxops-azurite` (which starts Azurite for tests) builds its URLs and connection strings from
//! them, so nothing that ships links test support.

use crate::address::{ContainerAddress, push_segments};
use crate::environment::AzureEnvironment;
use crate::error::Result;
use crate::shared_key::{AccountKey, ConnectionString};

/// The source string that means "the Azurite development account" (or whatever
/// `AZURE_STORAGE_CONNECTION_STRING` names), container [`AZURITE_CONTAINER`].
pub const AZURITE_SOURCE: &str = "azurite";
/// The registry container used for the [`AZURITE_SOURCE`] source.
pub const AZURITE_CONTAINER: &str = "models";
/// The development account's name (Azurite's, and the Azure Storage Emulator's before it).
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// The development account's key, published by Microsoft for the emulators: it protects nothing.
pub const AZURITE_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The development account's URL (a connection string's `BlobEndpoint`) when Azurite listens on
/// its default port, 10000: what `UseDevelopmentStorage=true` means.
pub(crate) const DEFAULT_ACCOUNT_URL: &str = "http://127.0.0.1:10000/devstoreaccount1";

/// The [`AZURITE_SOURCE`] registry: container [`AZURITE_CONTAINER`] of the connection string's
/// account (by default the development account at [`DEFAULT_ACCOUNT_URL`]), and its key.
pub(crate) fn azurite_registry(
    environment: &AzureEnvironment,
) -> Result<(ContainerAddress, AccountKey)> {
    let connection = environment
        .connection
        .clone()
        .unwrap_or_else(ConnectionString::development);
    let mut container_url = connection.blob_endpoint;
    push_segments(&mut container_url, &[AZURITE_CONTAINER]);
    let (address, _) = ContainerAddress::parse(container_url.as_str())?;
    Ok((address, connection.key))
}
