//! The FluxOps HTTP API: the custom handler that Azure Functions runs as the executable `handler`.
//!
//! It loads a verified model from the registry (`fluxops-store`), serves predictions from the
//! inference core (`fluxops-inference`) and swaps in new versions as the registry's `latest`
//! pointer moves, without dropping a request. HTTP request and response types live here and only
//! here.
//!
//! The way in is [`Application`]: [`Config::from_env`] reads the environment,
//! [`Application::build`] opens the registry and binds the port, and
//! [`Application::run_until_stopped`] serves until SIGTERM. [`app`] builds the router alone, for
//! tests that drive it without a socket.
//!
//! Routes (behind the Functions route prefix `api`): `GET /` (the host's readiness probe),
//! `GET /api/health`, `POST /api/predict`, `GET /api/model-info` and `GET /api/openapi.json`.
//! Any tree ensemble is served: a classifier with integer or string labels, or a regressor.
//! Every failure is answered as `{"error": {"code", "message"}}` through [`ApiError`] (under
//! `/v2`, in the Open Inference Protocol's `{"error": "..."}`, see [`ErrorShape`]). Bodies,
//! batches, requests in flight, time and connections are bounded ([`Limits`], [`Config`];
//! `docs/Security.md` lists them), and the anonymous routes name no infrastructure.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use fluxops_handler::{Application, Config};
//!
//! let config = Config { port: 0, ..Config::default() };
//! let application = Application::build(config).await?;
//! println!("listening on port {}", application.port());
//! application.run_until_stopped().await?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod blocking;
mod body;
mod config;
mod error;
mod middleware;
mod routes;
mod serve;
mod startup;
mod state;
mod v2;
mod watcher;

pub use config::{
    Config, ConfigError, MAX_BATCH_VAR, MAX_BODY_VAR, MAX_CONCURRENCY_VAR, MAX_MODEL_BYTES_VAR,
    MODEL_NAME_VAR, MODEL_SOURCE_VAR, PORT_VAR, REFRESH_VAR,
};
pub use error::{ApiError, ErrorBody, ErrorDetail, ErrorShape, InternalCause};
pub use middleware::REQUEST_ID_HEADER;
pub use routes::{OPENAPI_PATH, app};
pub use startup::{Application, StartupError};
pub use state::{AppState, IN_FLIGHT_PER_CORE, Limits};
