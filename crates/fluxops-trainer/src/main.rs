//! `fluxops-train`: train a random forest and write a versioned, verified model artifact.

use std::cell::{Cell, RefCell};
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, anyhow};
use clap::{Parser, ValueEnum};
use fluxops_store::{
    AZURITE_SOURCE, AzureEnvironment, BlobSettings, BlobStore, ByteLimit, EnvironmentError,
    ObjectLocation, Registry, RegistrySettings,
};
use fluxops_telemetry::{Metrics, TrainerPhase};
use fluxops_trainer::{
    DEFAULT_MAX_DATA_BYTES, Dataset, Phases, Progress, TaskKind, TrainOptions, TrainOutcome,
    publish, render_report, train,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Train a random forest and write it as a versioned model artifact.
///
/// Reads a CSV file with a header row (every column but the target is a numeric feature), or
/// makes the reference synthetic data set; splits it into train and test sets (stratified by
/// class for a classifier); fits the forest with smartcore on all cores; checks that the compiled
/// forest predicts exactly what smartcore predicts; prints accuracy, per-class
/// precision/recall/F1 and the confusion matrix (RMSE, MAE and R² for a regression); and writes
/// OUT/NAME/VERSION/model.json, metrics.json and OUT/NAME/latest.json.
/// Nothing is written if the data or the options are bad.
#[derive(Debug, Parser)]
#[command(name = "fluxops-train", version, about, long_about)]
struct Cli {
    /// CSV file to train on: header row, numeric features, the target in --target.
    /// A local path, or a blob URL such as https://<account>.blob.core.windows.net/data/train.csv.
    #[arg(long, value_name = "FILE.csv", required_unless_present = "synthetic")]
    data: Option<String>,
    /// Instead of --data, make the reference data set with this many rows
    /// (10 standard-normal features; target feature_0 + feature_1, or whether it is > 0).
    #[arg(long, value_name = "ROWS", conflicts_with = "data")]
    synthetic: Option<usize>,
    /// Number of features of the --synthetic data set.
    #[arg(long, value_name = "N", default_value_t = 10, requires = "synthetic")]
    synthetic_features: usize,
    /// Name of the target column in the CSV file.
    #[arg(long, default_value = "target")]
    target: String,
    /// What to predict: integer class labels (classification) or numbers (regression).
    #[arg(long, value_enum, default_value_t = Task::Classification)]
    task: Task,
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
    /// Share of rows held out for evaluation (stratified by class for a classifier).
    #[arg(long, default_value_t = 0.2)]
    test_size: f64,
    /// Forests fitted independently and merged (fixed, so results do not depend on core count).
    #[arg(long, default_value_t = 4)]
    shards: usize,
    /// Threads to fit on [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    /// Most training data to take in, in bytes: the --data file's size, or the --synthetic
    /// set's values (8 bytes each). A larger file is refused before it is read whole.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_DATA_BYTES)]
    max_data_bytes: u64,
    /// After writing to --out, also publish the new version to this registry: a folder, a
    /// container URL (https://<account>.blob.core.windows.net/models), or `azurite`. For a Blob
    /// registry, the run's metrics.json (before the model) and train.log (after it) also go to
    /// the `logs` container beside it.
    #[arg(long, value_name = "REGISTRY")]
    publish: Option<String>,
}

/// `--task`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Task {
    Classification,
    Regression,
}

impl From<Task> for TaskKind {
    fn from(task: Task) -> Self {
        match task {
            Task::Classification => TaskKind::Classification,
            Task::Regression => TaskKind::Regression,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = fluxops_telemetry::init("fluxops-train", env!("CARGO_PKG_VERSION"));
    let console = Console::default();
    let run_span = fluxops_telemetry::trainer_run_span(&cli.name);
    let result = run_span.in_scope(|| run(cli, &telemetry.metrics(), &console));
    fluxops_telemetry::record_outcome(&run_span, result.is_ok());
    drop(run_span);
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            console.error(&error);
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, metrics: &Metrics, console: &Console) -> anyhow::Result<()> {
    let started = Instant::now();
    let options = TrainOptions {
        name: cli.name.clone(),
        n_trees: cli.n_trees,
        max_depth: (cli.max_depth > 0).then_some(cli.max_depth),
        min_samples_split: cli.min_samples_split,
        test_size: cli.test_size,
        seed: cli.seed,
        n_shards: cli.shards,
        n_threads: cli.threads.unwrap_or(TrainOptions::default().n_threads),
    };
    // Options and places are checked before the data is read, so a mistake costs no time.
    options.check()?;
    let azure = Azure::from_process();
    let out = cli.out.to_string_lossy().into_owned();
    let registry = Registry::from_settings(azure.registry_settings(&out)?)?;
    let destination = cli
        .publish
        .as_deref()
        .map(|target| Destination::resolve(target, &azure))
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the I/O runtime")?;

    let progress = TerminalProgress::new();
    let mut phases = Phases::new(&progress, metrics);
    let data = phases.run(TrainerPhase::Load, || load(&cli, &azure, &runtime))?;
    let outcome = train(&data, &options, &mut phases)?;
    for warning in &outcome.report().warnings {
        console.warn(warning);
    }
    let latest = phases
        .run(TrainerPhase::Write, || {
            runtime.block_on(publish(&outcome, &registry))
        })
        .with_context(|| format!("cannot write the model to {}", registry.location()))?;
    progress.finish();
    console.say(&render_report(&outcome));
    console.say(&format!(
        "\nwrote     {}/{} (latest) in {:.2} s\n",
        out.trim_end_matches('/'),
        latest.pointer.path,
        started.elapsed().as_secs_f64()
    ));
    if let Some(destination) = destination {
        phases.run(TrainerPhase::Publish, || {
            runtime.block_on(destination.publish(&outcome, console))
        })?;
    }
    Ok(())
}

/// Reads the `--data` file within `--max-data-bytes`, or makes the `--synthetic` set if it fits
/// in that many bytes.
fn load(cli: &Cli, azure: &Azure, runtime: &tokio::runtime::Runtime) -> anyhow::Result<Dataset> {
    let task = cli.task.into();
    match (&cli.data, cli.synthetic) {
        (Some(location), _) => {
            let limit = ByteLimit::new(cli.max_data_bytes, "--max-data-bytes");
            let bytes = runtime
                .block_on(azure.object(location)?.read(limit))
                .with_context(|| format!("cannot read the training data {location}"))?;
            Ok(Dataset::from_csv_bytes(
                &bytes,
                location,
                &cli.target,
                task,
            )?)
        }
        (None, Some(n_rows)) => {
            Dataset::check_synthetic(n_rows, cli.synthetic_features, cli.max_data_bytes)?;
            Ok(Dataset::synthetic(
                n_rows,
                cli.synthetic_features,
                cli.seed,
                task,
            ))
        }
        (None, None) => anyhow::bail!("give --data FILE.csv or --synthetic ROWS"),
    }
}

/// The Azure sign-in variables, read once. Their problems matter only where Blob Storage is
/// used, so a run with local files never fails on them.
struct Azure {
    environment: Result<AzureEnvironment, EnvironmentError>,
    none: AzureEnvironment,
}

impl Azure {
    fn from_process() -> Self {
        Azure {
            environment: AzureEnvironment::from_process(),
            none: AzureEnvironment::default(),
        }
    }

    /// The variables, for a Blob location; every problem with them at once.
    fn environment(&self) -> anyhow::Result<&AzureEnvironment> {
        self.environment
            .as_ref()
            .map_err(|error| anyhow!("the Azure variables cannot be used: {error}"))
    }

    /// A registry source resolved by the store's rules; a folder needs no Azure variables.
    fn registry_settings(&self, source: &str) -> anyhow::Result<RegistrySettings> {
        let environment = if RegistrySettings::is_blob(source) {
            self.environment()?
        } else {
            &self.none
        };
        Ok(RegistrySettings::from_source(source, environment)?)
    }

    /// A single file: a blob URL signed in as the variables say, or a local path.
    fn object(&self, location: &str) -> anyhow::Result<ObjectLocation> {
        let environment = if ObjectLocation::is_blob(location) {
            self.environment()?
        } else {
            &self.none
        };
        Ok(ObjectLocation::parse(location, environment)?)
    }
}

/// The container, beside a Blob registry, that receives each run's metrics and log.
const LOGS_CONTAINER: &str = "logs";

/// Where `--publish` sends a run: a registry and, beside a Blob registry, its `logs` container.
struct Destination {
    registry: Registry,
    /// The registry's container settings, for a Blob registry.
    blob: Option<BlobSettings>,
    /// The variables the run's log files are signed in with.
    environment: AzureEnvironment,
    /// `azurite`, whose containers the trainer creates.
    is_azurite: bool,
}

impl Destination {
    /// Resolves `target` without sending a request.
    fn resolve(target: &str, azure: &Azure) -> anyhow::Result<Self> {
        let settings = azure.registry_settings(target)?;
        let blob = match &settings {
            RegistrySettings::Blob(settings) => Some(settings.as_ref().clone()),
            _ => None,
        };
        let environment = match blob {
            Some(_) => azure.environment()?.clone(),
            None => AzureEnvironment::default(),
        };
        Ok(Destination {
            registry: Registry::from_settings(settings)?,
            blob,
            environment,
            is_azurite: target == AZURITE_SOURCE,
        })
    }

    /// Publishes the run, uploading what can fail before the pointer moves: the run's
    /// `metrics.json` to `logs` first (so a missing container or role stops the run before the
    /// model is live), then the version's files, then the pointer. The run's `train.log`, which
    /// records the publication, is uploaded last; the model is live by then, so a failure there
    /// is a warning.
    async fn publish(&self, outcome: &TrainOutcome, console: &Console) -> anyhow::Result<()> {
        if self.is_azurite {
            self.create_azurite_containers().await?;
        }
        let report = outcome.report();
        let run = format!("{}/{}", report.name, report.version);
        let log_of = |file: &str| {
            self.blob.as_ref().map(|blob| {
                let url = blob.blob_url(LOGS_CONTAINER, &format!("{run}/{file}"));
                ObjectLocation::parse(&url, &self.environment).map(|location| (url, location))
            })
        };
        if let Some(metrics) = log_of("metrics.json") {
            let (url, location) = metrics?;
            location
                .write(outcome.metrics_json())
                .await
                .with_context(|| {
                    format!("cannot upload the run's metrics.json to {url}; nothing was published")
                })?;
            console.say(&format!("uploaded  {url}\n"));
        }
        let latest = publish(outcome, &self.registry)
            .await
            .with_context(|| format!("cannot publish the model to {}", self.registry.location()))?;
        console.say(&format!(
            "published {} to {}\n",
            latest.pointer.path,
            self.registry.location()
        ));
        if let Some(log) = log_of("train.log") {
            match upload_after_publishing(log, console.transcript()).await {
                Ok(url) => console.say(&format!("uploaded  {url}\n")),
                Err(warning) => console.warn(&warning),
            }
        }
        Ok(())
    }

    /// Azurite starts empty; in Azure, Terraform creates the containers.
    async fn create_azurite_containers(&self) -> anyhow::Result<()> {
        let Some(blob) = &self.blob else {
            return Ok(());
        };
        let logs = BlobSettings::new(&blob.blob_url(LOGS_CONTAINER, ""), blob.auth().clone())?;
        for settings in [blob.clone(), logs] {
            let url = settings.container_url().to_owned();
            BlobStore::new(settings)?
                .create_container()
                .await
                .with_context(|| format!("cannot create the Azurite container {url}"))?;
        }
        Ok(())
    }
}

/// Uploads a run log after the model was published: `Ok` with where it went, or `Err` with a
/// warning that says the model is live all the same.
async fn upload_after_publishing(
    log: fluxops_store::Result<(String, ObjectLocation)>,
    text: String,
) -> Result<String, String> {
    let upload = async {
        let (url, location) = log?;
        location.write(text.into_bytes()).await.map(|()| url)
    };
    upload.await.map_err(|error| {
        format!("the model is published, but its run log could not be uploaded: {error}")
    })
}

/// What the run tells a person: the report and progress lines on standard output (kept as the
/// transcript that becomes the run's log), warnings and errors on standard error.
///
/// A reader that went away (`fluxops-train ... | head`) is not an error, as in ripgrep: the run
/// goes on without printing, and its exit status says how the work went.
#[derive(Default)]
struct Console {
    transcript: RefCell<String>,
    stdout_unwritable: Cell<bool>,
}

impl Console {
    /// Prints `text` on standard output, if it is still there, and adds it to the transcript.
    fn say(&self, text: &str) {
        self.transcript.borrow_mut().push_str(text);
        if self.stdout_unwritable.get() {
            return;
        }
        let mut stdout = io::stdout().lock();
        if let Err(error) = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
        {
            self.stdout_unwritable.set(true);
            if error.kind() != io::ErrorKind::BrokenPipe {
                self.warn(&format!(
                    "cannot write to standard output ({error}); the run goes on"
                ));
            }
        }
    }

    /// Everything said so far.
    fn transcript(&self) -> String {
        self.transcript.borrow().clone()
    }

    fn warn(&self, warning: &str) {
        let _ = writeln!(io::stderr(), "fluxops-train: warning: {warning}");
    }

    fn error(&self, error: &anyhow::Error) {
        let mut stderr = io::stderr().lock();
        let _ = writeln!(stderr, "fluxops-train: error: {error}");
        for cause in error.chain().skip(1) {
            let _ = writeln!(stderr, "  caused by: {cause}");
        }
    }
}

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

    /// Clears the bar for the report; later phases draw nothing.
    fn finish(&self) {
        self.bar.finish_and_clear();
        self.bar.set_draw_target(ProgressDrawTarget::hidden());
    }
}

impl Progress for TerminalProgress {
    fn phase(&self, phase: TrainerPhase) {
        self.bar.set_message(phase.name());
        self.bar.tick();
    }

    fn shard_fitted(&self, n_shards: usize) {
        self.bar.set_length(n_shards as u64);
        self.bar.inc(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_log_that_cannot_be_uploaded_after_publishing_is_a_warning() {
        let folder = tempfile::tempdir().unwrap();
        // A path under a regular file cannot be written.
        let blocker = folder.path().join("not-a-folder");
        std::fs::write(&blocker, b"").unwrap();
        let path = blocker.join("fluxops/v1/train.log");
        let location = ObjectLocation::parse(path.to_str().unwrap(), &AzureEnvironment::default())
            .map(|location| (path.display().to_string(), location));
        let warning = upload_after_publishing(location, "report".to_owned())
            .await
            .unwrap_err();
        assert!(warning.starts_with("the model is published"), "{warning}");
        assert!(warning.contains("train.log"), "{warning}");

        let path = folder.path().join("logs/fluxops/v1/train.log");
        let location = ObjectLocation::parse(path.to_str().unwrap(), &AzureEnvironment::default())
            .map(|location| (path.display().to_string(), location));
        assert!(
            upload_after_publishing(location, "report".to_owned())
                .await
                .is_ok()
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "report");
    }
}
