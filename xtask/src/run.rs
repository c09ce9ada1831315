//! `cargo xtask run`: trains the reference model if the local registry has none, then serves it
//! on <http://localhost:7071> (loopback only) until Ctrl-C.
//!
//! The registry and model name come from the handler's own variables (`FLUXOPS_MODEL_SOURCE`,
//! `FLUXOPS_MODEL_NAME`), which the handler then reads too; a Blob Storage source is served as
//! it is, without training.

use std::path::Path;

use crate::run_command;

/// Trains into the registry folder if it has no `latest` pointer for the model, then serves.
pub fn run(root: &Path) -> anyhow::Result<()> {
    let source = env_or("FLUXOPS_MODEL_SOURCE", "models");
    let name = env_or("FLUXOPS_MODEL_NAME", "fluxops");
    let is_folder =
        !(source == "azurite" || source.starts_with("https://") || source.starts_with("http://"));
    if is_folder && !root.join(&source).join(&name).join("latest.json").exists() {
        eprintln!("xtask: no model {name:?} in {source}; training the reference model");
        cargo_run_release(
            root,
            "fluxops-trainer",
            "fluxops-train",
            &["--synthetic", "1000", "--out", &source, "--name", &name],
        )?;
    }
    let port = env_or("FUNCTIONS_CUSTOMHANDLER_PORT", "7071");
    eprintln!("xtask: serving on http://localhost:{port} (Ctrl-C stops)");
    cargo_run_release(root, "fluxops-handler", "handler", &[])
}

/// `cargo run --release -p <package> --bin <bin> -- <args>`.
fn cargo_run_release(root: &Path, package: &str, bin: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut command = vec!["run", "--release", "-p", package, "--bin", bin, "--"];
    command.extend_from_slice(args);
    run_command(root, "cargo", &command)
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}
