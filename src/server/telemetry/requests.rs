//! Every request gets an id (the client's `X-Request-Id` when it is a sane one, else a new one): it
//! is on the request's log lines, in its error body and in the answer's `X-Request-Id`. Each answer
//! is logged once and timed into the latency histogram by route, method and status.

use super::HTTP_DURATION;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tracing::Instrument;

pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");
/// Longest client-sent request id that is kept; a longer or odd one is replaced.
pub const REQUEST_ID_MAX: usize = 64;

tokio::task_local! {
    static CURRENT: RequestId;
}

/// A request's id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// The client's id when it is 1 to 64 of `A-Z a-z 0-9 - _ . :` (so it cannot forge log
    /// lines or smuggle markup), else a new UUID.
    pub fn from_header(value: Option<&HeaderValue>) -> RequestId {
        let sane = value
            .and_then(|v| v.to_str().ok())
            .filter(|id| (1..=REQUEST_ID_MAX).contains(&id.len()))
            .filter(|id| {
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
            });
        match sane {
            Some(id) => RequestId(id.to_owned()),
            None => RequestId(uuid::Uuid::new_v4().to_string()),
        }
    }

    /// The id of the request being answered, when there is one.
    pub fn current() -> Option<String> {
        CURRENT.try_with(|id| id.0.clone()).ok()
    }
}

/// The outermost layer: names, logs and times every request.
pub async fn observe(mut request: Request, next: Next) -> Response {
    let id = RequestId::from_header(request.headers().get(&REQUEST_ID_HEADER));
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        request
            .headers_mut()
            .insert(REQUEST_ID_HEADER.clone(), value);
    }
    request.extensions_mut().insert(id.clone());
    let method = request.method().clone();
    // A route's pattern, never its path: ids in paths would make a time series per run.
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || route_of_unmatched(request.uri().path()),
        |m| m.as_str().to_owned(),
    );
    let span = tracing::info_span!(
        "request",
        request_id = %id.0,
        method = %method,
        path = %request.uri().path(),
        // Known once the trusted-proxy rules have run (web::client_addr records it).
        client = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut response = CURRENT
        .scope(id.clone(), next.run(request).instrument(span.clone()))
        .await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    metrics::histogram!(
        HTTP_DURATION,
        "route" => route,
        "method" => method.to_string(),
        "status" => status.to_string()
    )
    .record(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "answered"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        response
            .headers_mut()
            .insert(REQUEST_ID_HEADER.clone(), value);
    }
    response
}

/// The route label of a request no route matched (static files, unknown paths): a few fixed names,
/// so a client requesting random paths cannot grow the metrics without bound.
fn route_of_unmatched(path: &str) -> String {
    if path.starts_with("/pkg/") {
        "/pkg/{file}"
    } else {
        "unmatched"
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_client_id_is_kept_and_anything_else_replaced() {
        let keep = HeaderValue::from_static("req-42.a:b_c");
        assert_eq!(RequestId::from_header(Some(&keep)).0, "req-42.a:b_c");
        for bad in [
            "",
            "has space",
            "<script>",
            "x\"y",
            &"a".repeat(REQUEST_ID_MAX + 1),
        ] {
            let value = HeaderValue::from_str(bad).unwrap();
            let id = RequestId::from_header(Some(&value)).0;
            assert_ne!(id, bad);
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{bad:?} -> {id}");
        }
        assert!(uuid::Uuid::parse_str(&RequestId::from_header(None).0).is_ok());
    }
}
