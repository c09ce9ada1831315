//! `fluxops-import`: turn an ONNX tree ensemble into a verified FluxOps model and publish it.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use fluxops_onnx::{CheckData, ImportOptions, Imported, MAX_ONNX_BYTES, import};
use fluxops_store::{AzureEnvironment, BlobStore, Registry, RegistrySettings};

/// Import a tree ensemble exported to ONNX (scikit-learn through skl2onnx, LightGBM through
/// onnxmltools) as a versioned FluxOps model.
///
/// Reads MODEL.onnx (ai.onnx.ml TreeEnsembleClassifier, TreeEnsembleRegressor or TreeEnsemble,
/// with the Cast, Identity and ZipMap steps exporters add), converts it into a FluxOps artifact
/// that computes what onnxruntime computes, loads it as the handler would (refusing a model
/// over the handler's limits), and checks it row by row against a plain evaluation of the ONNX
/// attributes: on the --check-data rows and on rows drawn around every split threshold. Only
/// then writes OUT/NAME/VERSION/model.json, metrics.json (provenance and the check) and
/// OUT/NAME/latest.json. Nothing is written if anything fails.
#[derive(Debug, Parser)]
#[command(name = "fluxops-import", version, about, long_about)]
struct Cli {
    /// The ONNX file (at most 128 MiB).
    #[arg(value_name = "MODEL.onnx")]
    model: PathBuf,
    /// Model name in the registry (the handler serves FLUXOPS_MODEL_NAME, `fluxops` by default).
    #[arg(long, default_value = "fluxops")]
    name: String,
    /// Registry folder to write the new version into.
    #[arg(long, value_name = "DIR", default_value = "models")]
    out: PathBuf,
    /// After writing to --out, also publish the new version to this registry: a folder, a
    /// container URL (https://<account>.blob.core.windows.net/models), or `azurite`; signed in
    /// as `fluxops-train --publish` is.
    #[arg(long, value_name = "REGISTRY")]
    publish: Option<String>,
    /// Names of the features, in the order of the model's input, separated by commas
    /// [default: the --check-data header, or feature_0, feature_1, ...].
    #[arg(long, value_name = "a,b,...", value_delimiter = ',')]
    feature_names: Option<Vec<String>>,
    /// Rows to check the imported model on, besides the synthetic ones: a CSV file with one
    /// column per feature in the model's order, a header row of feature names or none; an
    /// empty cell is a missing value.
    #[arg(long, value_name = "FILE.csv")]
    check_data: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = fluxops_telemetry::init("fluxops-import", env!("CARGO_PKG_VERSION"));
    let span = tracing::info_span!(
        "importer.run",
        otel.name = format!("import {}", cli.name).as_str(),
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        model.name = cli.name.as_str(),
    );
    let result = span.in_scope(|| run(cli));
    fluxops_telemetry::record_outcome(&span, result.is_ok());
    drop(span);
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fluxops-import: error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if !fluxops_store::is_valid_name(&cli.name) {
        bail!(
            "--name {:?} must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
            cli.name
        );
    }
    let file = cli.model.display().to_string();
    let bytes = read_capped(&cli.model).with_context(|| format!("cannot read {file}"))?;
    let check_data = match &cli.check_data {
        Some(path) => {
            let source = path.display().to_string();
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read the check data {source}"))?;
            Some(CheckData::from_csv(&bytes, &source)?)
        }
        None => None,
    };
    let options = ImportOptions {
        feature_names: cli.feature_names.map(|names| {
            names
                .into_iter()
                .map(|name| name.trim().to_owned())
                .collect()
        }),
        check_data,
        ..ImportOptions::new(&cli.name, &file)
    };
    let imported = import(&bytes, &options).with_context(|| format!("cannot import {file}"))?;
    let metrics_json =
        serde_json::to_vec_pretty(&imported.report).context("cannot write the import's report")?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the I/O runtime")?;
    let out = Registry::from_settings(RegistrySettings::Folder(cli.out.clone()))?;
    let latest = runtime
        .block_on(out.publish(
            &cli.name,
            &imported.report.version,
            imported.model_json.clone(),
            metrics_json.clone(),
        ))
        .with_context(|| format!("cannot write the model to {}", out.location()))?;
    let mut report = render(&imported);
    report.push_str(&format!(
        "wrote     {}/{} (latest)\n",
        cli.out.display().to_string().trim_end_matches('/'),
        latest.pointer.path
    ));
    if let Some(target) = &cli.publish {
        let registry = runtime.block_on(open_registry(target))?;
        let latest = runtime
            .block_on(registry.publish(
                &cli.name,
                &imported.report.version,
                imported.model_json,
                metrics_json,
            ))
            .with_context(|| format!("cannot publish the model to {}", registry.location()))?;
        report.push_str(&format!(
            "published {} to {}\n",
            latest.pointer.path,
            registry.location()
        ));
    }
    print(&report)
}

/// The file's bytes, refusing a file over [`MAX_ONNX_BYTES`] before reading it.
fn read_capped(path: &Path) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(path)?.len();
    if size > MAX_ONNX_BYTES as u64 {
        bail!(
            "the file has {size} bytes, more than the {MAX_ONNX_BYTES} the importer reads; a model \
             that large would not fit the handler's limits either: export fewer or shallower trees"
        );
    }
    Ok(std::fs::read(path)?)
}

/// The registry `--publish` names, signed in from the Azure variables when it is Blob Storage;
/// Azurite's container is created on the way (in Azure, Terraform creates it).
async fn open_registry(target: &str) -> anyhow::Result<Registry> {
    let environment = if RegistrySettings::is_blob(target) {
        AzureEnvironment::from_process().context("the Azure sign-in variables are not usable")?
    } else {
        AzureEnvironment::default()
    };
    let settings = RegistrySettings::from_source(target, &environment)?;
    if target == fluxops_store::AZURITE_SOURCE
        && let RegistrySettings::Blob(blob_settings) = &settings
    {
        BlobStore::new((**blob_settings).clone())?
            .create_container()
            .await
            .context("cannot create the Azurite container")?;
    }
    Ok(Registry::from_settings(settings)?)
}

/// What was imported and how it was checked, for the terminal.
fn render(imported: &Imported) -> String {
    let report = &imported.report;
    let (source, model, agreement) = (&report.import, &report.model, &report.agreement);
    let outputs = match model.task {
        "classifier" => format!("{} classes", model.n_outputs),
        _ => format!("{} target(s)", model.n_outputs),
    };
    format!(
        "imported  {} ({}, {})\n\
         model     {} {}, {}, {} features, {} trees of depth up to {}, {} nodes, {} precision\n\
         checked   {} rows ({} from the check data, {} synthetic, {} with missing values): \
         labels identical, scores within {:e} (tolerance {:e})\n\
         version   {}\n",
        source.file,
        source.converter,
        source.operator,
        report.name,
        model.task,
        outputs,
        model.n_features,
        model.n_trees,
        model.max_depth,
        model.n_nodes,
        model.precision,
        agreement.rows_checked,
        agreement.rows_from_check_data,
        agreement.synthetic_rows,
        agreement.rows_with_missing_values,
        agreement.max_score_difference,
        agreement.tolerance,
        report.version,
    )
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn print(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != ErrorKind::BrokenPipe => {
            Err(error).context("cannot write to stdout")
        }
        _ => Ok(()),
    }
}
