//! Load shedding: at most `FLUXOPS_MAX_CONCURRENCY` requests in flight on the routes that do
//! work; one more is answered 503 `overloaded` with `Retry-After` at once, never queued.
//!
//! A queue would only turn overload into timeouts: every request in it waits for all before it,
//! and the ones at its end are answered 504 after holding memory for the whole timeout. A shed
//! request costs microseconds and tells the caller (or the Functions host, which spreads load over
//! instances) when to come back. The cheap routes (`/`, `/api/health`) are not counted, so
//! health keeps answering in a storm.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::error::ApiError;

/// Makes [`Shed`] services that share one count of requests in flight.
#[derive(Debug, Clone)]
pub(crate) struct ShedLayer {
    in_flight: Arc<InFlight>,
}

impl ShedLayer {
    /// Admits at most `max_in_flight` requests at a time, over every route it wraps.
    pub(crate) fn new(max_in_flight: usize) -> Self {
        ShedLayer {
            in_flight: Arc::new(InFlight {
                count: AtomicUsize::new(0),
                max: max_in_flight,
            }),
        }
    }
}

impl<S> Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Shed<S> {
        Shed {
            inner,
            in_flight: Arc::clone(&self.in_flight),
        }
    }
}

#[derive(Debug)]
struct InFlight {
    count: AtomicUsize,
    max: usize,
}

/// A place among the requests in flight, given back when dropped.
struct Admission(Arc<InFlight>);

impl Admission {
    fn try_new(in_flight: &Arc<InFlight>) -> Option<Self> {
        let before = in_flight.count.fetch_add(1, Ordering::AcqRel);
        let admission = Admission(Arc::clone(in_flight));
        (before < in_flight.max).then_some(admission)
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct Shed<S> {
    inner: S,
    in_flight: Arc<InFlight>,
}

impl<S> Service<Request> for Shed<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ShedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match Admission::try_new(&self.in_flight) {
            Some(admission) => ShedFuture {
                inner: Some(self.inner.call(request)),
                _admission: Some(admission),
            },
            None => ShedFuture {
                inner: None,
                _admission: None,
            },
        }
    }
}

pin_project! {
    /// The inner answer, holding its place until it is ready; or `overloaded`.
    pub(crate) struct ShedFuture<F> {
        #[pin]
        inner: Option<F>,
        _admission: Option<Admission>,
    }
}

impl<F> Future for ShedFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().inner.as_pin_mut() {
            Some(inner) => inner.poll(cx),
            None => Poll::Ready(Ok(ApiError::Overloaded.into_response())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_given_back_and_the_limit_holds() {
        let in_flight = Arc::new(InFlight {
            count: AtomicUsize::new(0),
            max: 2,
        });
        let first = Admission::try_new(&in_flight).expect("room");
        let second = Admission::try_new(&in_flight).expect("room");
        assert!(Admission::try_new(&in_flight).is_none(), "full");
        drop(first);
        let third = Admission::try_new(&in_flight).expect("a place was given back");
        drop((second, third));
        assert_eq!(in_flight.count.load(Ordering::Relaxed), 0);
    }
}
