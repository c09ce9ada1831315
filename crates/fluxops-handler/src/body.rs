//! Request bodies, read whole within `FLUXOPS_MAX_BODY_BYTES`, and refused so that the client
//! can read the refusal.
//!
//! A client that writes its whole body before it reads (Python's `http.client`, `requests`, and
//! the Functions host, which proxies the body to the handler) never sees an answer the server
//! sends early and then closes on: the unread bytes make the kernel reset the connection, and
//! the client gets a broken pipe (behind the host: a 5xx). So a body that is refused (too large,
//! compressed, not JSON) is first drained, read and dropped, up to [`DRAIN_MAX_BYTES`] and
//! [`DRAIN_MAX_TIME`], as nginx's lingering close does; past those bounds the answer says
//! `Connection: close`. A client that asked `Expect: 100-continue` has sent nothing yet and is
//! answered at once.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, header, request::Parts};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use http_body_util::BodyExt;
use tokio::time::Instant;

use crate::error::ApiError;
use crate::state::AppState;

/// Most bytes of a refused body read and dropped before the connection is closed instead.
pub(crate) const DRAIN_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Longest a refused body is drained before the connection is closed instead.
pub(crate) const DRAIN_MAX_TIME: Duration = Duration::from_secs(5);

/// A body refused, and whether the connection must close because it was not drained.
#[derive(Debug)]
pub(crate) struct BodyRejection {
    error: ApiError,
    close: bool,
}

impl IntoResponse for BodyRejection {
    fn into_response(self) -> Response {
        let mut response = self.error.into_response();
        if self.close {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// A JSON request body, read whole: declared `application/json`, not encoded, at most
/// `FLUXOPS_MAX_BODY_BYTES`.
#[derive(Debug)]
pub(crate) struct JsonBody(pub(crate) Bytes);

impl FromRequest<AppState> for JsonBody {
    type Rejection = BodyRejection;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, BodyRejection> {
        let refusal = if !is_json(request.headers()) {
            Some(ApiError::UnsupportedMediaType)
        } else {
            None
        };
        read_bounded(request, state.limits().max_body_bytes, refusal)
            .await
            .map(|(_, bytes)| JsonBody(bytes))
    }
}

/// Reads a request's body whole if it is at most `max_bytes` and not encoded, unless `refusal`
/// already says why it is refused; a refused body is drained first (see the module
/// documentation). Routes with their own content types (the V2 binary tensors) call it with
/// their own checks.
pub(crate) async fn read_bounded(
    request: Request,
    max_bytes: usize,
    refusal: Option<ApiError>,
) -> Result<(Parts, Bytes), BodyRejection> {
    let (parts, body) = request.into_parts();
    let refusal =
        refusal.or_else(|| is_encoded(&parts.headers).then_some(ApiError::UnsupportedEncoding));
    let declared = declared_length(&parts.headers);
    let too_large = || ApiError::PayloadTooLarge { limit: max_bytes };
    let refusal = refusal.or_else(|| {
        declared
            .is_some_and(|length| length > max_bytes as u64)
            .then(too_large)
    });
    if let Some(error) = refusal {
        return Err(refuse(error, &parts.headers, body, 0).await);
    }
    let capacity = declared.map_or(0, |length| length.min(max_bytes as u64) as usize);
    let mut bytes = BytesMut::with_capacity(capacity);
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| BodyRejection {
            error: ApiError::InvalidJson(format!("the body could not be read: {error}")),
            close: true,
        })?;
        if let Ok(data) = frame.into_data() {
            bytes.extend_from_slice(&data);
            if bytes.len() > max_bytes {
                let seen = bytes.len() as u64;
                drop(bytes);
                return Err(refuse(too_large(), &parts.headers, body, seen).await);
            }
        }
    }
    Ok((parts, bytes.freeze()))
}

/// Drains what is left of a refused body (`seen` bytes of it are read already), within bounds.
async fn refuse(error: ApiError, headers: &HeaderMap, mut body: Body, seen: u64) -> BodyRejection {
    let expects_continue = headers
        .get(header::EXPECT)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let beyond_bounds = declared_length(headers).is_some_and(|length| length > DRAIN_MAX_BYTES);
    if expects_continue || beyond_bounds {
        return BodyRejection { error, close: true };
    }
    let deadline = Instant::now() + DRAIN_MAX_TIME;
    let mut drained = seen;
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(None) => {
                return BodyRejection {
                    error,
                    close: false,
                };
            }
            Ok(Some(Ok(frame))) => {
                drained += frame.data_ref().map_or(0, |data| data.len() as u64);
                if drained > DRAIN_MAX_BYTES {
                    return BodyRejection { error, close: true };
                }
            }
            Ok(Some(Err(_))) | Err(_) => return BodyRejection { error, close: true },
        }
    }
}

/// The body's length as the request declares it.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
}

/// Whether the body is compressed or otherwise encoded (`identity` is no encoding).
fn is_encoded(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&byte| byte == b','))
        .map(<[u8]>::trim_ascii)
        .any(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case(b"identity"))
}

/// Whether the request says its body is JSON (`application/json`, parameters allowed).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_static(value)))
            .collect()
    }

    #[test]
    fn only_json_content_types_are_accepted() {
        let with = |value| is_json(&headers(&[(header::CONTENT_TYPE, value)]));
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(!with("text/plain"));
        assert!(!with("application/jsonx"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn any_content_encoding_but_identity_is_refused() {
        let with = |value| is_encoded(&headers(&[(header::CONTENT_ENCODING, value)]));
        for encoded in ["gzip", "deflate", "br", "identity, gzip", "x-custom"] {
            assert!(with(encoded), "{encoded}");
        }
        assert!(!with("identity"));
        assert!(!is_encoded(&HeaderMap::new()));
    }

    fn request(body: &'static [u8], pairs: &[(header::HeaderName, &'static str)]) -> Request {
        let mut request = Request::new(Body::from(body));
        *request.headers_mut() = headers(pairs);
        request
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_read_whole() {
        let read = read_bounded(request(b"{\"a\": 1}", &[]), 8, None).await;
        assert_eq!(read.expect("within").1, Bytes::from_static(b"{\"a\": 1}"));
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_drained_and_refused_without_closing() {
        let refused = read_bounded(request(b"0123456789", &[]), 4, None)
            .await
            .expect_err("too large");
        assert_eq!(refused.error, ApiError::PayloadTooLarge { limit: 4 });
        assert!(!refused.close);
    }

    #[tokio::test]
    async fn a_client_waiting_for_100_continue_is_refused_at_once_and_closed() {
        let pairs = [
            (header::CONTENT_LENGTH, "10"),
            (header::EXPECT, "100-continue"),
        ];
        let refused = read_bounded(request(b"0123456789", &pairs), 4, None)
            .await
            .expect_err("too large");
        assert!(refused.close);
        let huge = [(header::CONTENT_LENGTH, "1000000000")];
        let refused = read_bounded(request(b"", &huge), 4, None)
            .await
            .expect_err("too large to drain");
        assert!(refused.close);
    }
}
