//! `cargo xtask test`: the README's test command and the body of `.ci/run`.

use std::path::Path;

use crate::run_command;

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
    run_command(root, "cargo", &["test", "--workspace"])?;
    for script in ["ci/check-terraform.sh", "ci/check-pipeline.sh"] {
        if root.join(script).exists() {
            run_command(root, "sh", &[script])?;
        }
    }
    eprintln!("xtask: all checks passed");
    Ok(())
}
