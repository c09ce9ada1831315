//! Work on the blocking pool that stops when its request is gone.
//!
//! A request the timeout layer gives up on (or whose client disconnects) is dropped, but a
//! closure already running on the blocking pool would go on to the end. [`run_blocking`] hands
//! the closure a [`Cancellation`] that turns true when the request's future is dropped, so long
//! work can stop between steps.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::task::JoinError;

/// Whether the request a piece of work belongs to has been given up on.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cancellation(Arc<AtomicBool>);

impl Cancellation {
    /// True once the request is gone: stop and return anything.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Sets the flag when dropped: when the request's future ends, whichever way.
struct CancelOnDrop(Cancellation);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        (self.0).0.store(true, Ordering::Relaxed);
    }
}

/// Runs `work` on the blocking pool and waits for it; `work` should check its [`Cancellation`]
/// between steps and give up once it is set.
pub(crate) async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce(&Cancellation) -> T + Send + 'static,
) -> Result<T, JoinError> {
    let guard = CancelOnDrop(Cancellation::default());
    let cancellation = guard.0.clone();
    let result = tokio::task::spawn_blocking(move || work(&cancellation)).await;
    drop(guard);
    result
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn work_sees_its_request_dropped_and_stops() {
        let (started, is_started) = std::sync::mpsc::channel();
        let (finished, is_finished) = std::sync::mpsc::channel();
        let request = tokio::spawn(run_blocking(move |cancellation| {
            started.send(()).expect("the test waits");
            let mut steps = 0;
            while !cancellation.is_cancelled() && steps < 10_000 {
                std::thread::sleep(Duration::from_millis(1));
                steps += 1;
            }
            finished.send(steps).expect("the test waits");
        }));
        tokio::task::spawn_blocking(move || is_started.recv().expect("the work starts"))
            .await
            .expect("started");
        // Give up on the request while the work runs, as the timeout layer does.
        request.abort();
        let steps = tokio::task::spawn_blocking(move || is_finished.recv().expect("it ends"))
            .await
            .expect("finished");
        assert!(steps < 10_000, "the work ran all its {steps} steps");
    }

    #[tokio::test]
    async fn work_that_finishes_sees_no_cancellation() {
        let seen = run_blocking(|cancellation| cancellation.is_cancelled())
            .await
            .expect("no panic");
        assert!(!seen);
    }
}
