//! `cargo xtask test`: the README's test command and the body of `.ci/run`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::run_command;

#[path = "azurite.rs"]
mod azurite;

/// Runs every check, cheapest first, stopping at the first failure.
pub fn run(root: &Path) -> anyhow::Result<()> {
    run_command(root, "sh", &["ci/tools.sh"])?;
    run_command(root, "cargo", &["fmt", "--all", "--", "--check"])?;
    run_command(
        root,
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // The Blob Storage tests talk to a real Azurite, started here and stopped even on failure.
    let azurite = azurite::Azurite::start(root, &[])
        .context("cannot start Azurite for the Blob Storage tests")?;
    eprintln!(
        "xtask: Azurite blob service at {} ({}={0})",
        azurite.blob_endpoint(),
        azurite::AZURITE_ENV
    );
    let tested = run_with_env(
        root,
        "cargo",
        &["test", "--workspace"],
        (azurite::AZURITE_ENV, azurite.blob_endpoint()),
    );
    drop(azurite);
    tested?;
    for script in ["ci/check-terraform.sh", "ci/check-pipeline.sh"] {
        if root.join(script).exists() {
            run_command(root, "sh", &[script])?;
        }
    }
    eprintln!("xtask: all checks passed");
    Ok(())
}

/// Like [`run_command`], with one extra environment variable for the command.
fn run_with_env(
    root: &Path,
    program: &str,
    args: &[&str],
    (name, value): (&str, &str),
) -> anyhow::Result<()> {
    eprintln!("xtask: $ {name}={value} {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .env(name, value)
        .current_dir(root)
        .status()
        .with_context(|| format!("cannot start {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed with {status}", args.join(" "));
    }
    Ok(())
}
