//! A local stand-in for Application Insights ingestion: an HTTPS server on 127.0.0.1 (port 0)
//! with a throwaway self-signed certificate, which accepts `POST /v2/track` (gzip JSON arrays
//! of envelopes) and keeps every envelope for the test to inspect.
//!
//! It runs on its own thread and runtime, so a test may block its own thread (for instance in
//! `TelemetryGuard::shutdown`) while the exporter is still posting here.

use std::{
    io::Read,
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self, ServerConfig,
        pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    },
    server::TlsStream,
};

/// The instrumentation key the receiver's connection string names.
pub const INSTRUMENTATION_KEY: &str = "00000000-0000-0000-0000-00000000f1f0";

/// What the receiver got.
#[derive(Default)]
struct Inbox {
    /// Whether to decode and keep envelopes (or only count uploads, for benchmarks).
    keep: bool,
    envelopes: Mutex<Vec<Value>>,
    n_uploads: AtomicUsize,
}

/// A running receiver; it stops when the test process ends.
pub struct Receiver {
    address: SocketAddr,
    certificate: Vec<u8>,
    inbox: Arc<Inbox>,
}

impl Receiver {
    /// Starts a receiver that keeps every envelope, and waits until it listens.
    pub fn start() -> Receiver {
        Self::start_with(true)
    }

    /// Starts a receiver that only counts uploads, as cheap as a receiver can be; for
    /// benchmarks, where ingestion work would otherwise compete with the service measured.
    pub fn start_discarding() -> Receiver {
        Self::start_with(false)
    }

    fn start_with(keep: bool) -> Receiver {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
            .expect("test certificate");
        let certificate = certified.cert.der().to_vec();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let config = ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(certificate.clone())], key)
        .expect("TLS config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let inbox = Arc::new(Inbox {
            keep,
            ..Inbox::default()
        });
        let app = Router::new()
            .route("/v2/track", post(track))
            .with_state(Arc::clone(&inbox));
        let (address_sender, address) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("receiver runtime");
            runtime.block_on(async move {
                let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                address_sender
                    .send(tcp.local_addr().expect("address"))
                    .expect("report address");
                let listener = TlsListener { tcp, acceptor };
                axum::serve(listener, app).await.expect("serve");
            });
        });
        Receiver {
            address: address.recv().expect("receiver started"),
            certificate,
            inbox,
        }
    }

    /// A connection string that points the exporter here.
    pub fn connection_string(&self) -> String {
        format!(
            "InstrumentationKey={INSTRUMENTATION_KEY};IngestionEndpoint=https://{}/",
            self.address
        )
    }

    /// The receiver's certificate (DER), to trust in another process.
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    /// A blocking HTTP client that trusts only the receiver's certificate.
    pub fn client(&self) -> reqwest::blocking::Client {
        client_trusting(&self.certificate)
    }

    /// Every envelope received so far, in arrival order (none when discarding).
    pub fn envelopes(&self) -> Vec<Value> {
        self.inbox
            .envelopes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many uploads (`POST /v2/track`) arrived.
    pub fn n_uploads(&self) -> usize {
        self.inbox.n_uploads.load(Ordering::Relaxed)
    }
}

/// A blocking HTTP client that trusts only `certificate` (DER), built on a plain thread as
/// reqwest requires.
pub fn client_trusting(certificate: &[u8]) -> reqwest::blocking::Client {
    let certificate = reqwest::Certificate::from_der(certificate).expect("certificate for reqwest");
    thread::spawn(move || {
        reqwest::blocking::Client::builder()
            .tls_certs_only([certificate])
            .build()
            .expect("client")
    })
    .join()
    .expect("client thread")
}

async fn track(
    State(inbox): State<Arc<Inbox>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::Json<Value> {
    inbox.n_uploads.fetch_add(1, Ordering::Relaxed);
    if !inbox.keep {
        return axum::Json(serde_json::json!({}));
    }
    let gzip = headers
        .get("content-encoding")
        .is_some_and(|value| value == "gzip");
    let mut json = Vec::new();
    if gzip {
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut json)
            .expect("gzip body");
    } else {
        json.extend_from_slice(&body);
    }
    let items: Vec<Value> = serde_json::from_slice(&json).expect("JSON array of envelopes");
    let n_items = items.len();
    inbox
        .envelopes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(items);
    axum::Json(serde_json::json!({
        "itemsReceived": n_items,
        "itemsAccepted": n_items,
        "errors": [],
    }))
}

/// TCP plus a TLS handshake per connection; a failed handshake just drops that connection.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, address)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, address);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
