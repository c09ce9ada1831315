//! FluxOps chores, reached as `cargo xtask <command>` (see `.cargo/config.toml`).
//!
//! - `test`: everything CI checks, in the order a failure is cheapest to find.
//! - `run`: trains the reference model if the local registry is empty, then serves it.
//! - `package`: builds the release handler that ships and lays out the Azure Functions zip;
//!   `package-trainer` builds the trainer the deploy job uses, the same way.

mod elf;
mod package;
mod run;
mod test;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "FluxOps chores: test, run locally, package for Azure Functions")]
struct Cli {
    #[command(subcommand)]
    command: Chore,
}

#[derive(Subcommand)]
enum Chore {
    /// Run every check CI runs: formatting, lints, all tests, infrastructure and pipeline checks.
    Test,
    /// Train the reference model if the local registry is empty, then serve on localhost:7071.
    Run,
    /// Build the shipped handler (glibc 2.28 floor), check host.json and function.json, write
    /// the Functions zip.
    Package,
    /// Build the trainer the deploy job publishes models with, the same way, into
    /// dist/fluxops-train.
    PackageTrainer,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let root = project_root();
    match cli.command {
        Chore::Test => test::run(&root),
        Chore::Run => run::run(&root),
        Chore::Package => package::run(&root),
        Chore::PackageTrainer => package::trainer(&root),
    }
}

/// The workspace root (the folder above `xtask/`).
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs a command in `root`, echoing it, and fails if it fails.
fn run_command(root: &Path, program: &str, args: &[&str]) -> anyhow::Result<()> {
    run_command_with_env(root, program, args, &[])
}

/// Like [`run_command`], with extra environment variables for the command.
fn run_command_with_env(
    root: &Path,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<()> {
    // Long values (a PATH) are shortened in the echo, not in what the command gets.
    let settings: Vec<String> = env
        .iter()
        .map(|(name, value)| match value.get(..60) {
            Some(start) if value.len() > 60 => format!("{name}={start}... "),
            _ => format!("{name}={value} "),
        })
        .collect();
    eprintln!("xtask: $ {}{program} {}", settings.concat(), args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root)
        .status()
        .with_context(|| format!("cannot start {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed with {status}", args.join(" "));
    }
    Ok(())
}
