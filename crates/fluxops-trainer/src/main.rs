//! `fluxops-train`: train a random forest and write a versioned, verified model artifact.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use fluxops_store::Registry;
use fluxops_telemetry::{Metrics, TrainerPhase};
use fluxops_trainer::{
    Dataset, Progress, TrainOptions, TrainOutcome, publish, render_report, train,
};
use indicatif::{ProgressBar, ProgressStyle};

/// Train a random-forest classifier and write it as a versioned model artifact.
///
/// Reads a CSV file with a header row (every column but the target is a numeric feature), or
/// makes the reference synthetic data set; splits it into stratified train and test sets; fits
/// the forest with smartcore on all cores; checks that the compiled forest predicts exactly what
/// smartcore predicts; prints accuracy, per-class precision/recall/F1 and the confusion matrix;
/// and writes OUT/NAME/VERSION/model.json, metrics.json and OUT/NAME/latest.json.
/// Nothing is written if anything fails.
#[derive(Debug, Parser)]
#[command(name = "fluxops-train", version, about, long_about)]
struct Cli {
    /// CSV file to train on: header row, numeric features, integer class labels in --target.
    /// A local path, or a blob URL such as https://<account>.blob.core.windows.net/data/train.csv.
    #[arg(long, value_name = "FILE.csv", required_unless_present = "synthetic")]
    data: Option<String>,
    /// Instead of --data, make the reference data set with this many rows
    /// (10 standard-normal features, label = feature_0 + feature_1 > 0).
    #[arg(long, value_name = "ROWS", conflicts_with = "data")]
    synthetic: Option<usize>,
    /// Number of features of the --synthetic data set.
    #[arg(long, value_name = "N", default_value_t = 10, requires = "synthetic")]
    synthetic_features: usize,
    /// Name of the label column in the CSV file.
    #[arg(long, default_value = "target")]
    target: String,
    /// Model name in the registry.
    #[arg(long, default_value = "fluxops")]
    name: String,
    /// Registry folder to write the new version into.
    #[arg(long, value_name = "DIR", default_value = "models")]
    out: PathBuf,
    /// Number of trees.
    #[arg(long, default_value_t = 100)]
    n_trees: u16,
    /// Maximum depth of a tree; 0 for unlimited.
    #[arg(long, default_value_t = 10)]
    max_depth: u16,
    /// Minimum number of rows a node needs to be split.
    #[arg(long, default_value_t = 2)]
    min_samples_split: usize,
    /// Seed for the split and the trees: the same seed and data give the same model.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Share of rows held out for evaluation (stratified by class).
    #[arg(long, default_value_t = 0.2)]
    test_size: f64,
    /// Forests fitted independently and merged (fixed, so results do not depend on core count).
    #[arg(long, default_value_t = 4)]
    shards: usize,
    /// Threads to fit on [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    /// After writing to --out, also publish the new version to this registry: a folder, a
    /// container URL (https://<account>.blob.core.windows.net/models), or `azurite`. For a Blob
    /// registry, the run's metrics.json and train.log also go to the `logs` container beside it.
    #[arg(long, value_name = "REGISTRY")]
    publish: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = fluxops_telemetry::init("fluxops-train", env!("CARGO_PKG_VERSION"));
    let run_span = fluxops_telemetry::trainer_run_span(&cli.name);
    let result = run_span.in_scope(|| run(cli, &telemetry.metrics()));
    fluxops_telemetry::record_outcome(&run_span, result.is_ok());
    drop(run_span);
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fluxops-train: error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, metrics: &Metrics) -> anyhow::Result<()> {
    let started = Instant::now();
    let defaults = TrainOptions::default();
    let options = TrainOptions {
        name: cli.name,
        n_trees: cli.n_trees,
        max_depth: (cli.max_depth > 0).then_some(cli.max_depth),
        min_samples_split: cli.min_samples_split,
        test_size: cli.test_size,
        seed: cli.seed,
        n_shards: cli.shards,
        n_threads: cli.threads.unwrap_or(defaults.n_threads),
    };
    let progress = TerminalProgress::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the I/O runtime")?;
    progress.phase("load");
    let load = metrics.trainer_phase(TrainerPhase::Load);
    let data = match (&cli.data, cli.synthetic) {
        (Some(location), _) => {
            let bytes = runtime
                .block_on(fluxops_store::read_object(location))
                .with_context(|| format!("cannot read the training data {location}"))?;
            Dataset::from_csv_bytes(&bytes, location, &cli.target)?
        }
        (None, Some(n_rows)) => Dataset::synthetic(n_rows, cli.synthetic_features, cli.seed),
        (None, None) => anyhow::bail!("give --data FILE.csv or --synthetic ROWS"),
    };
    drop(load);
    let outcome = train(&data, &options, &progress, metrics)?;
    progress.phase("write");
    let publish_phase = metrics.trainer_phase(TrainerPhase::Publish);
    let out = cli.out.to_string_lossy().into_owned();
    let registry = Registry::open(&out)?;
    let latest = runtime
        .block_on(publish(&outcome, &registry))
        .with_context(|| format!("cannot write the model to {}", registry.location()))?;
    progress.finish();
    let report = render_report(&outcome);
    print!("{report}");
    println!(
        "\nwrote     {}/{} (latest) in {:.2} s",
        out.trim_end_matches('/'),
        latest.pointer.path,
        started.elapsed().as_secs_f64()
    );
    if let Some(target) = &cli.publish {
        runtime.block_on(publish_elsewhere(target, &outcome, &report))?;
    }
    drop(publish_phase);
    Ok(())
}

/// Publishes a finished run to another registry; for a Blob registry, also uploads the run's
/// metrics and log to the `logs` container beside it, as the original did with its logs folder.
async fn publish_elsewhere(
    target: &str,
    outcome: &TrainOutcome,
    report: &str,
) -> anyhow::Result<()> {
    if target == fluxops_store::AZURITE_SOURCE {
        // Azurite starts empty; in Azure, Terraform creates the containers.
        for container in [fluxops_store::AZURITE_CONTAINER, LOGS_CONTAINER] {
            if let Some(url) = fluxops_store::blob_location(target, container, "")? {
                fluxops_store::create_container(&url)
                    .await
                    .with_context(|| format!("cannot create the Azurite container {url}"))?;
            }
        }
    }
    let registry = Registry::open(target)?;
    let latest = publish(outcome, &registry)
        .await
        .with_context(|| format!("cannot publish the model to {}", registry.location()))?;
    println!(
        "published {} to {}",
        latest.pointer.path,
        registry.location()
    );
    let run = format!("{}/{}", outcome.report.name, outcome.report.version);
    let logs = [
        ("metrics.json", serde_json::to_vec_pretty(&outcome.report)?),
        ("train.log", report.as_bytes().to_vec()),
    ];
    for (file, bytes) in logs {
        if let Some(url) =
            fluxops_store::blob_location(target, LOGS_CONTAINER, &format!("{run}/{file}"))?
        {
            fluxops_store::write_object(&url, bytes)
                .await
                .with_context(|| format!("cannot upload the run's {file} to {url}"))?;
            println!("uploaded  {url}");
        }
    }
    Ok(())
}

/// The container, beside a Blob registry, that receives each run's metrics and log.
const LOGS_CONTAINER: &str = "logs";

/// A progress bar on stderr when it is a terminal; nothing when piped.
struct TerminalProgress {
    bar: ProgressBar,
}

impl TerminalProgress {
    fn new() -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg:10} [{bar:30}] {pos}/{len} shards {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        TerminalProgress { bar }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for TerminalProgress {
    fn phase(&self, name: &str) {
        self.bar.set_message(name.to_owned());
        self.bar.tick();
    }

    fn shard_fitted(&self, n_shards: usize) {
        self.bar.set_length(n_shards as u64);
        self.bar.inc(1);
    }
}
