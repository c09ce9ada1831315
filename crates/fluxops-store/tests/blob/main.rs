//! The Blob Storage backend against a real Azurite (npm `azurite@3.35.0` from `.tools`).
//!
//! `cargo xtask test` starts one Azurite and passes its endpoint in `FLUXOPS_TEST_AZURITE_BLOB`;
//! under CI (`CI=true`) these tests fail without it. A plain `cargo test -p fluxops-store` starts
//! its own Azurite from `.tools` (run `sh ci/tools.sh` once). The managed-identity test always
//! starts its own HTTPS, OAuth-checking Azurite. Set `TEST_LOG=1` to see the store's logs.

mod bounded;
mod errors;
mod identity;
mod objects;
mod registry;
mod support;
