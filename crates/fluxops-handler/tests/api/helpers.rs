//! Test harness: a registry in a temporary folder, test models, and the handler on port 0.

use std::sync::LazyLock;
use std::time::Duration;

use fluxops_handler::{Application, Config};
use fluxops_inference::testing::{Stump, placeholder_metadata, stump_artifact};
use fluxops_inference::{
    ClassLabels, EnsembleSpec, Evaluation, ModelArtifact, NodeSpec, RegressionEvaluation, Schema,
    Task, TreeSpec,
};
use fluxops_store::{AzureEnvironment, Registry, RegistrySettings};
use fluxops_telemetry::Metrics;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The model name every test publishes under.
pub const MODEL: &str = "fluxops";
/// Features of the test models.
pub const N_FEATURES: usize = 10;
/// The original project's request body.
pub const SEED_REQUEST: &str = r#"{"features":[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0]}"#;

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "debug".into()),
            )
            .with_test_writer()
            .try_init();
    }
});

/// Five stumps over features 0, 2, 4, 6 and 8 (`<= 0.5` votes the first class, otherwise the
/// second), with `labels` as the two class labels. For the seed request, stumps on features 0,
/// 2 and 4 (values 0.1, 0.3, 0.5) vote the first class and two vote the second: 0.6 / 0.4.
pub fn stumps(labels: [i64; 2]) -> ModelArtifact {
    let stumps: Vec<Stump> = (0..5).map(|tree| Stump::new(tree * 2, 0.5)).collect();
    stump_artifact(N_FEATURES, &labels, &stumps)
}

/// The stumps of [`stumps`] with string labels: `labels[0]` at or below 0.5, `labels[1]` above.
pub fn string_stumps(labels: [&str; 2]) -> ModelArtifact {
    let mut artifact = stumps([0, 1]);
    artifact.schema.task = Task::Classifier {
        labels: ClassLabels::Strings(labels.map(str::to_owned).to_vec()),
    };
    artifact.metadata.evaluation = None;
    ModelArtifact::new(artifact.metadata, artifact.schema, artifact.ensemble)
}

/// A regressor of two stumps over features 0 and 1, averaged: each gives `low` at or below 0.5
/// and `high` above. For the seed request (0.1, 0.2) both give `low`.
pub fn regression_stumps(low: f64, high: f64) -> ModelArtifact {
    let tree = |feature| TreeSpec {
        nodes: vec![
            NodeSpec::split(feature, 0.5, 1, 2),
            NodeSpec::leaf(vec![low]),
            NodeSpec::leaf(vec![high]),
        ],
    };
    let ensemble = EnsembleSpec::averaging(N_FEATURES, 1, vec![tree(0), tree(1)]);
    let schema = Schema {
        feature_names: (0..N_FEATURES).map(|index| format!("x{index}")).collect(),
        task: Task::Regressor {},
    };
    let mut metadata = placeholder_metadata();
    metadata.algorithm.name = "random_forest_regressor".to_owned();
    metadata.evaluation = Some(Evaluation::Regression(RegressionEvaluation::from_values(
        &[1.0, 2.0],
        &[1.5, 2.0],
    )));
    ModelArtifact::new(metadata, schema, ensemble)
}

/// An artifact's bytes under the registry name and version it will be published as.
pub fn artifact_bytes(mut artifact: ModelArtifact, version: &str) -> Vec<u8> {
    artifact.metadata.name = MODEL.to_owned();
    artifact.metadata.version = version.to_owned();
    artifact.to_json()
}

/// Publishes `bytes` as `version` and makes it `latest`.
pub async fn publish(registry: &Registry, version: &str, bytes: Vec<u8>) {
    registry
        .publish(MODEL, version, bytes, b"{}".to_vec())
        .await
        .expect("publish to the test registry");
}

/// A handler serving a temporary registry, stopped when dropped.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub registry: Registry,
    folder: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// The registry folder (for handlers spawned over a temporary folder).
    pub fn folder(&self) -> &std::path::Path {
        self.folder
            .as_ref()
            .expect("this handler serves a registry folder")
            .path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET reaches the handler")
    }

    /// POSTs `body` to `/api/predict` as JSON.
    pub async fn predict(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url("/api/predict"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST reaches the handler")
    }

    /// Polls `/api/health` until `done` holds for its body (see [`wait_for_health`]).
    pub async fn wait_for_health(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        wait_for_health(&self.client, &self.address, what, done).await
    }

    /// Polls `/api/health` until it reports `version` as the model served.
    pub async fn wait_for_version(&self, version: &str) -> Value {
        self.wait_for_health(&format!("serving {version}"), |health| {
            health["model"]["version"] == version
        })
        .await
    }

    /// Opens a prediction that promises a 100-byte body and sends one byte of it: it stays in
    /// flight until it times out or the returned connection is dropped.
    pub async fn stalled_predict(&self) -> tokio::net::TcpStream {
        self.stalled_post("/api/predict").await
    }

    /// Opens a POST to `path` that promises a 100-byte JSON body and sends one byte of it, as
    /// [`TestApp::stalled_predict`] does.
    pub async fn stalled_post(&self, path: &str) -> tokio::net::TcpStream {
        use tokio::io::AsyncWriteExt;
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{"
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        stream
    }

    /// Sends requests made by `send` until one is shed (503), and returns it; panics after 10 s.
    pub async fn wait_until_shed<F: std::future::Future<Output = reqwest::Response>>(
        &self,
        send: impl Fn() -> F,
    ) -> reqwest::Response {
        for _ in 0..1000 {
            let response = send().await;
            if response.status() == 503 {
                return response;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no request was shed within 10 s");
    }

    /// Polls `/api/health` until it reports the problem `code`.
    pub async fn wait_for_problem(&self, code: &str) -> Value {
        self.wait_for_health(&format!("problem {code}"), |health| {
            health["problem"]["code"] == code
        })
        .await
    }

    /// Stops the handler gracefully and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(served) = &self.served {
            served.abort();
        }
    }
}

/// The test configuration: port 0, a fast refresh, small limits where tests probe them.
pub fn test_config() -> Config {
    Config {
        port: 0,
        refresh_interval: Duration::from_millis(50),
        ..Config::default()
    }
}

/// A handler over a registry holding the stump model as version `v1`, already serving it.
pub async fn spawn_app() -> TestApp {
    let app = spawn_app_with(test_config(), Some(stumps([0, 1]))).await;
    app.wait_for_version("v1").await;
    app
}

/// Registry settings for a source (a folder, or a Blob container URL of Azurite's development
/// account, which the store signs with Azurite's published key).
pub fn registry_settings(source: &str) -> RegistrySettings {
    RegistrySettings::from_source(source, &AzureEnvironment::default())
        .expect("a usable test registry source")
}

/// The test's own handle on the registry at `source`.
pub fn open_registry(source: &str) -> Registry {
    Registry::from_settings(registry_settings(source)).expect("open the test registry")
}

/// A handler with `config` (its registry is replaced by a fresh folder), with `model` published
/// as `v1` before it starts, if given. Does not wait for the model.
pub async fn spawn_app_with(config: Config, model: Option<ModelArtifact>) -> TestApp {
    spawn_app_recording(config, model, Metrics::default()).await
}

/// [`spawn_app_with`], recording into `metrics`.
pub async fn spawn_app_recording(
    mut config: Config,
    model: Option<ModelArtifact>,
    metrics: Metrics,
) -> TestApp {
    LazyLock::force(&TRACING);
    let folder = tempfile::tempdir().expect("temporary folder");
    let source = folder.path().to_str().expect("UTF-8 temp path").to_owned();
    let registry = open_registry(&source);
    if let Some(model) = model {
        publish(&registry, "v1", artifact_bytes(model, "v1")).await;
    }
    config.registry = registry_settings(&source);
    serve_recording(config, registry, Some(folder), metrics).await
}

/// A handler serving `config.registry` as it is (a folder, or a Blob container), with
/// `registry` the test's own handle on the same registry. Does not wait for a model.
pub async fn serve(
    config: Config,
    registry: Registry,
    folder: Option<tempfile::TempDir>,
) -> TestApp {
    serve_recording(config, registry, folder, Metrics::default()).await
}

async fn serve_recording(
    config: Config,
    registry: Registry,
    folder: Option<tempfile::TempDir>,
    metrics: Metrics,
) -> TestApp {
    LazyLock::force(&TRACING);
    let application = Application::build(config)
        .await
        .expect("handler starts")
        .with_metrics(metrics);
    let port = application.port();
    let (stop, stopped) = oneshot::channel();
    let served = tokio::spawn(application.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("HTTP client"),
        registry,
        folder,
        stop: Some(stop),
        served: Some(served),
    }
}

/// Polls `<base>/api/health` every 10 ms until `done` holds for its JSON body and returns the
/// body; panics, saying `what` it waited for and the last body, after 10 s.
pub async fn wait_for_health(
    client: &reqwest::Client,
    base: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let url = format!("{base}/api/health");
    let mut last = Value::Null;
    for _ in 0..1000 {
        if let Ok(response) = client.get(&url).send().await
            && let Ok(health) = response.json::<Value>().await
        {
            if done(&health) {
                return health;
            }
            last = health;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("waited 10 s for the handler's health to show {what}; last: {last}");
}

/// The JSON body of a response, checking that it is declared as JSON.
pub async fn json_body(response: reqwest::Response) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type:?}"
    );
    response.json().await.expect("JSON body")
}

/// Checks a response is the error `code` with `status`, in the one error shape, and returns the
/// message.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(response.status().as_u16(), status, "status for {code}");
    let body = json_body(response).await;
    assert_eq!(body["error"]["code"], code, "body {body}");
    let object = body.as_object().expect("object");
    assert_eq!(object.len(), 1, "only `error` at the top: {body}");
    assert_eq!(body["error"].as_object().map(|error| error.len()), Some(2));
    body["error"]["message"]
        .as_str()
        .expect("message is a string")
        .to_owned()
}

/// How many requests `telemetry` has counted as refused with the error `code`.
pub fn validation_failures(
    telemetry: &fluxops_telemetry::testing::CapturedTelemetry,
    code: &str,
) -> Option<f64> {
    telemetry.metric(
        "fluxops.validation.failures",
        &[&format!("error.code={code}")],
    )
}
