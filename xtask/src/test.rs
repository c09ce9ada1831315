//! `cargo xtask test`: the README's test command and the body of `.ci/run`.

use std::path::Path;

use anyhow::Context;

use crate::{run_command, run_command_with_env};

use fluxops_azurite as azurite;

/// Runs every check, cheapest first, stopping at the first failure. The formatting, lint and
/// tool steps are the same scripts the pipeline's jobs run, so the two cannot drift.
pub fn run(root: &Path) -> anyhow::Result<()> {
    run_command(root, "sh", &["ci/setup-tools.sh"])?;
    run_command(root, "sh", &["ci/rust-check.sh", "fmt"])?;
    run_command(root, "sh", &["ci/rust-check.sh", "clippy"])?;
    // The Blob Storage tests talk to a real Azurite, started here and stopped even on failure.
    let azurite = azurite::Azurite::start(root, &[])
        .context("cannot start Azurite for the Blob Storage tests")?;
    let tested = run_command_with_env(
        root,
        "cargo",
        &["test", "--workspace"],
        &[(azurite::AZURITE_ENV, azurite.blob_endpoint())],
    );
    drop(azurite);
    tested?;
    for script in ["ci/check-terraform.sh", "ci/check-pipeline.sh"] {
        run_command(root, "sh", &[script])?;
    }
    eprintln!("xtask: all checks passed");
    Ok(())
}
