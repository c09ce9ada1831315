//! `handler`: the FluxOps custom handler process that the Azure Functions host starts.

use fluxops_handler::{Application, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = fluxops_telemetry::init("fluxops-handler", env!("CARGO_PKG_VERSION"));
    let served = run(telemetry.metrics()).await;
    if let Err(error) = &served {
        tracing::error!(
            error = format!("{error:#}"),
            "handler stopped with an error"
        );
    }
    telemetry.shutdown();
    served
}

async fn run(metrics: fluxops_telemetry::Metrics) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let application = Application::build(config).await?.with_metrics(metrics);
    application.run_until_stopped().await?;
    Ok(())
}
