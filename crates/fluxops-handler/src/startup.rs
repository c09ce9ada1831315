//! Start-up and shutdown: bind the listener, watch the registry, serve until told to stop.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use fluxops_store::Registry;
use fluxops_telemetry::Metrics;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::routes::app;
use crate::serve::serve;
use crate::state::AppState;
use crate::watcher;

/// Why the handler could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// The registry the configuration names cannot be opened.
    #[error("cannot open the model registry named by FLUXOPS_MODEL_SOURCE")]
    Registry {
        /// What the store said (it names the source, without any credential).
        #[source]
        source: fluxops_store::Error,
    },
    /// The address is taken or not allowed.
    #[error("cannot listen on {address}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
}

/// A handler bound to its port, ready to serve.
///
/// [`Application::build`] binds the listener itself, so port 0 works and [`Application::port`]
/// tells the port chosen.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    registry: Registry,
    config: Config,
    metrics: Metrics,
}

impl Application {
    /// Opens the registry and binds the listener; nothing is served or loaded yet.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let registry = Registry::from_settings(config.registry.clone())
            .map_err(|source| StartupError::Registry { source })?;
        let requested = SocketAddr::new(config.host, config.port);
        let bind_error = |source| StartupError::Bind {
            address: requested,
            source,
        };
        let listener = TcpListener::bind(requested).await.map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        Ok(Application {
            listener,
            address,
            registry,
            config,
            metrics: Metrics::default(),
        })
    }

    /// Records requests and model reloads into `metrics` (from `fluxops_telemetry`'s guard);
    /// without it nothing is recorded.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The port the handler listens on.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Serves until SIGTERM (how the Functions host stops its handler) or Ctrl-C, then lets the
    /// requests in flight finish.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then stops accepting connections and lets the requests
    /// in flight finish (each is bounded by the request timeout).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let state = AppState::new(&self.config, self.metrics);
        let watcher = tokio::spawn(watcher::supervise(
            self.registry,
            state.clone(),
            watcher::WatchSettings::from(&self.config),
        ));
        tracing::info!(address = %self.address, "listening");
        let served = serve(
            self.listener,
            app(state),
            self.config.header_read_timeout,
            shutdown,
        )
        .await;
        watcher.abort();
        tracing::info!("stopped");
        served
    }
}

/// Completes on SIGTERM or Ctrl-C (SIGINT).
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("Ctrl-C received; finishing requests in flight"),
        () = terminate => tracing::info!("SIGTERM received; finishing requests in flight"),
    }
}
