//! The accept loop: HTTP/1.1 connections served with hyper, each closed when it is idle or slow
//! to send a request's head for longer than the header read timeout, and drained on shutdown.
//!
//! `axum::serve` has no way to set hyper's header read timeout (nor a timer to run it), so a
//! client could hold a connection open without ever finishing a request. The loop is axum's,
//! with that one setting added.

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting, lets every
/// request in flight finish, closes idle connections, and returns once all are closed.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    // Connections watch `stop` to start closing; the loop waits on `closed` until all did.
    let (stop, stopping) = watch::channel(());
    let (closed, connections) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    wait_after_accept_error(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let stopping = stopping.clone();
        let connections = connections.clone();
        let app = app.clone();
        tokio::spawn(async move {
            serve_connection(stream, app, header_read_timeout, stopping).await;
            drop(connections);
        });
    }
    drop(listener);
    drop(stop);
    drop(connections);
    closed.closed().await;
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    app: Router,
    header_read_timeout: Duration,
    mut stopping: watch::Receiver<()>,
) {
    // Without TCP_NODELAY small responses wait for the client's delayed ACK (40 ms).
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    tokio::pin!(connection);
    let served = tokio::select! {
        served = connection.as_mut() => served,
        _ = stopping.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = served {
        // A client that goes away, or is cut off by the header read timeout.
        tracing::debug!(%error, "connection ended");
    }
}

/// After a failed accept: a connection that failed on its own way in is the client's affair;
/// anything else (a full file table, say) clears only as connections close, so wait a moment.
async fn wait_after_accept_error(error: io::Error) {
    let clients_own = matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    );
    if !clients_own {
        tracing::warn!(%error, "cannot accept a connection; retrying in 100 ms");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
