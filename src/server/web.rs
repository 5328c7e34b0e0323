//! How the server faces the web: the address and scheme a request really came from (believing
//! `X-Forwarded-*` only from trusted proxies), the refusal of cross-site requests that ride on a
//! session cookie, the security headers of every response, and the time a request may take.

use crate::error::AppError;
use crate::server::state::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// What the server needs to know about how the web reaches it.
#[derive(Clone, Debug, Default)]
pub struct WebConfig {
    /// `scheme://host[:port]` browsers reach runwire at (RUNWIRE_PUBLIC_URL). None: each request's
    /// own `Host`, over the scheme it came in on.
    pub public_origin: Option<String>,
    /// Proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed (RUNWIRE_TRUSTED_PROXIES).
    pub trusted_proxies: Vec<IpNet>,
    /// Longest a request may take to be answered (streamed bodies may go on after the answer).
    pub request_timeout: Duration,
}

impl WebConfig {
    /// The origin of `RUNWIRE_PUBLIC_URL`, or why it is not a usable one.
    pub fn parse_public_url(text: &str) -> Result<String, String> {
        let url = url::Url::parse(text.trim())
            .map_err(|err| format!("RUNWIRE_PUBLIC_URL `{text}` is not a URL: {err}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "RUNWIRE_PUBLIC_URL `{text}` must be an http or https URL with a host"
            ));
        }
        Ok(url.origin().ascii_serialization())
    }

    /// Parses a comma-separated list of CIDRs or addresses (`10.0.0.0/8, ::1`).
    pub fn parse_proxies(text: &str) -> Result<Vec<IpNet>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<IpNet>()
                    .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("RUNWIRE_TRUSTED_PROXIES: `{part}` is not an address or CIDR")
                    })
            })
            .collect()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// Whether the public URL says https.
    fn public_https(&self) -> bool {
        self.public_origin
            .as_deref()
            .is_some_and(|origin| origin.starts_with("https://"))
    }

    /// Who sent a request that reached us from `peer`. Behind trusted proxies the client is the
    /// right-most `X-Forwarded-For` address that is not itself a trusted proxy (the left part of
    /// that header is whatever the client claimed).
    pub fn client_addr(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddr {
        let peer = canonical(peer);
        let mut ip = peer;
        let mut via_proxy = false;
        if self.trusts(peer) {
            let forwarded = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .collect::<Vec<_>>();
            for hop in forwarded.iter().rev() {
                let Ok(hop) = hop.parse::<IpAddr>() else {
                    break;
                };
                ip = canonical(hop);
                via_proxy = true;
                if !self.trusts(ip) {
                    break;
                }
            }
        }
        let forwarded_https = self.trusts(peer)
            && headers
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
        ClientAddr {
            ip,
            https: self.public_https() || forwarded_https,
            via_proxy,
        }
    }

    /// Whether a browser's `Origin` is this site's: the public origin when one is set, else the
    /// request's own host over its scheme.
    fn is_own_origin(&self, origin: &str, headers: &HeaderMap, https: bool) -> bool {
        let origin = origin.trim_end_matches('/');
        match &self.public_origin {
            Some(public) => origin.eq_ignore_ascii_case(public),
            None => headers
                .get(header::HOST)
                .and_then(|host| host.to_str().ok())
                .is_some_and(|host| {
                    let scheme = if https { "https" } else { "http" };
                    origin.eq_ignore_ascii_case(&format!("{scheme}://{host}"))
                }),
        }
    }
}

/// IPv4 clients reaching an IPv6 socket appear as `::ffff:a.b.c.d`: compare them as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Where a request really came from, as [`WebConfig::client_addr`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr {
    pub ip: IpAddr,
    /// Served to the browser over https (directly, per the public URL, or per a trusted proxy).
    pub https: bool,
    /// The address came from a trusted proxy's `X-Forwarded-For`.
    pub via_proxy: bool,
}

/// Puts the request's [`ClientAddr`] into its extensions, for everything after.
pub async fn client_addr(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    if let Some(peer) = peer {
        let client = state.web.client_addr(peer, request.headers());
        tracing::Span::current().record("client", tracing::field::display(client.ip));
        request.extensions_mut().insert(client);
    }
    next.run(request).await
}

/// The live WebSocket server function's path.
const LIVE_PATH: &str = "/api/live_runs";

/// Refuses a request that could ride on a visitor's cookie from another site: any request but a
/// plain read (and the live WebSocket's upgrade, which is a GET) must come from a page of this site.
/// A browser says where a request comes from in `Origin` (and `Sec-Fetch-Site`); a request with
/// neither is not from a browser and carries no victim's cookie. Bearer-token requests carry no
/// cookie's authority and pass. This covers the sign-in and sign-up forms too (login CSRF).
pub async fn refuse_cross_site(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let upgrade = headers
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let reads = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if (reads && !upgrade) || headers.contains_key(header::AUTHORIZATION) {
        return next.run(request).await;
    }
    let https = request
        .extensions()
        .get::<ClientAddr>()
        .is_some_and(|client| client.https);
    let same_site = match headers.get(header::ORIGIN).map(HeaderValue::to_str) {
        Some(Ok(origin)) => state.web.is_own_origin(origin, headers, https),
        Some(Err(_)) => false,
        None => match headers.get("sec-fetch-site").map(HeaderValue::as_bytes) {
            Some(site) => site == b"same-origin" || site == b"none",
            None => true,
        },
    };
    if same_site {
        next.run(request).await
    } else if upgrade && request.uri().path() == LIVE_PATH {
        // A page of another site may watch runs live with an API token it sends in the socket's
        // first message; a cookie of this site never counts there.
        request.headers_mut().remove(header::COOKIE);
        next.run(request).await
    } else {
        AppError::Forbidden(
            "cross-site request refused: it must come from a page of this site".into(),
        )
        .into_response()
    }
}

/// The Content-Security-Policy of a page whose inline bootstrap script carries `nonce`: the page's
/// own scripts, styles and WebAssembly, and nothing else; never framed.
pub fn content_security_policy(nonce: Option<&str>) -> String {
    let script = match nonce {
        Some(nonce) => format!("script-src 'self' 'wasm-unsafe-eval' 'nonce-{nonce}'"),
        None => "script-src 'self' 'wasm-unsafe-eval'".to_owned(),
    };
    format!(
        "default-src 'self'; {script}; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// Headers every response carries: no sniffing, no framing, no referrer to other sites, HSTS over
/// https, and a strict CSP on any HTML page that did not set its own (error pages).
pub async fn security_headers(request: Request, next: Next) -> Response {
    let https = request
        .extensions()
        .get::<ClientAddr>()
        .is_some_and(|client| client.https);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    let html = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    if html && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        if let Ok(policy) = HeaderValue::from_str(&content_security_policy(None)) {
            headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        }
    }
    response
}

/// Bytes of an over-limit body read and thrown away before its 413, at most, and for how long.
const DISCARD_BYTES_MAX: u64 = 16 * 1024 * 1024;
const DISCARD_TIME: Duration = Duration::from_secs(5);

/// Answers 413 to a request that declares a body longer than `limit`, after reading that body and
/// throwing it away (up to 16 MiB, for at most 5 s). Refused half-read, the body's rest was still
/// unread when the connection closed, so the kernel reset it; a proxy streaming the body in (nginx
/// with `proxy_request_buffering off`) then lost the 413 and answered its client 502 instead, now
/// and then (tests/nginx.rs). A body with no declared length is still cut at the limit by its
/// extractor.
pub async fn refuse_oversized(limit: usize, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => {
            if length <= DISCARD_BYTES_MAX {
                let mut body = request.into_body().into_data_stream();
                let discard = async { while let Some(Ok(_)) = body.next().await {} };
                let _ = tokio::time::timeout(DISCARD_TIME, discard).await;
            }
            AppError::PayloadTooLarge { limit_bytes: limit }.into_response()
        }
        _ => next.run(request).await,
    }
}

/// Answers 503 when a request is not answered in time. A streamed body (an export, a page's
/// later chunks, a WebSocket) goes on after its answer and is not cut. Fired jobs may take long and
/// must not be cancelled half-way: the cron endpoint is exempt.
pub async fn request_timeout(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path().starts_with("/api/cron/") {
        return next.run(request).await;
    }
    let limit = state.web.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => AppError::Unavailable(format!(
            "the request took longer than {} s; try again",
            limit.as_secs()
        ))
        .into_response(),
    }
}

/// Renders a page to its end even when its reader leaves half-way. Leptos streams a page while its
/// resources resolve, on tasks of their own; dropping the body mid-stream (a closed tab, a client
/// that wanted only the first byte) disposes the page's reactive owner while those tasks still run,
/// and they then panic on disposed signals and missing context (found rendering /runs/{id} and
/// /dashboard for readers that hung up after the head). So the page's own stream is driven by a
/// task of its own to the end, whatever the reader does; what nobody reads any more is discarded.
pub async fn finish_abandoned_renders(request: Request, next: Next) -> Response {
    use axum::body::HttpBody;
    use futures::StreamExt;
    let response = next.run(request).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    if !html || response.body().size_hint().exact().is_some() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let (mut chunks, readable) = futures::channel::mpsc::channel(8);
    tokio::spawn(async move {
        let mut page = body.into_data_stream();
        let render = async {
            while let Some(chunk) = page.next().await {
                if futures::SinkExt::send(&mut chunks, chunk).await.is_err() {
                    // the reader is gone: finish the render, keep nothing
                    while page.next().await.is_some() {}
                    return;
                }
            }
        };
        // A render never takes this long; past it, stop (and accept what disposal brings).
        let _ = tokio::time::timeout(ABANDONED_RENDER_LIMIT, render).await;
    });
    Response::from_parts(parts, axum::body::Body::from_stream(readable))
}

/// Longest an abandoned page render is driven on before it is dropped.
const ABANDONED_RENDER_LIMIT: Duration = Duration::from_secs(60);

/// A panic while answering is logged with the request it broke and answered with a 500 naming a
/// reference, never a dropped connection. (A panic while a body streams after its answer can only end
/// the body; it is logged the same way.)
pub async fn catch_panic(request: Request, next: Next) -> Response {
    use futures::FutureExt;
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    match std::panic::AssertUnwindSafe(next.run(request))
        .catch_unwind()
        .await
    {
        Ok(response) => {
            use axum::body::HttpBody;
            // A body of known size is already in memory: nothing left to panic in.
            if response.body().size_hint().exact().is_some() {
                return response;
            }
            let (parts, body) = response.into_parts();
            let guarded = PanicLogged {
                inner: body.into_data_stream(),
                method: method.clone(),
                path,
            };
            Response::from_parts(parts, axum::body::Body::from_stream(guarded))
        }
        Err(panic) => AppError::internal(format!(
            "panic answering {method} {path}: {}",
            panic_message(&*panic)
        ))
        .into_response(),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// A response body whose panics are logged with their request and end the body.
struct PanicLogged {
    inner: axum::body::BodyDataStream,
    method: Method,
    path: String,
}

impl futures::Stream for PanicLogged {
    type Item = Result<bytes::Bytes, axum::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let this = &mut *self;
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            std::pin::Pin::new(&mut this.inner).poll_next(cx)
        }));
        match polled {
            Ok(poll) => poll,
            Err(panic) => {
                let _ = AppError::internal(format!(
                    "panic streaming the answer to {} {}: {}",
                    this.method,
                    this.path,
                    panic_message(&*panic)
                ));
                std::task::Poll::Ready(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let config = WebConfig {
            trusted_proxies: WebConfig::parse_proxies("10.0.0.0/8, ::1").unwrap(),
            ..Default::default()
        };
        let forwarded = headers(&[
            ("x-forwarded-for", "198.51.100.7, 203.0.113.9, 10.0.0.2"),
            ("x-forwarded-proto", "https"),
        ]);
        let via_proxy = config.client_addr("10.0.0.1".parse().unwrap(), &forwarded);
        assert_eq!(via_proxy.ip, "203.0.113.9".parse::<IpAddr>().unwrap());
        assert!(via_proxy.https && via_proxy.via_proxy);
        let direct = config.client_addr("192.0.2.1".parse().unwrap(), &forwarded);
        assert_eq!(direct.ip, "192.0.2.1".parse::<IpAddr>().unwrap());
        assert!(!direct.https && !direct.via_proxy);
        let mapped = config.client_addr("::ffff:10.0.0.1".parse().unwrap(), &forwarded);
        assert_eq!(mapped.ip, "203.0.113.9".parse::<IpAddr>().unwrap());
        let garbage = config.client_addr(
            "10.0.0.1".parse().unwrap(),
            &headers(&[("x-forwarded-for", "not-an-ip")]),
        );
        assert_eq!(garbage.ip, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert!(WebConfig::parse_proxies("10.0.0.0/33").is_err());
    }

    #[test]
    fn own_origin_is_the_public_url_or_else_the_host() {
        let public = WebConfig {
            public_origin: Some(
                WebConfig::parse_public_url("https://runs.example.com/app").unwrap(),
            ),
            ..Default::default()
        };
        let host = headers(&[("host", "runs.example.com")]);
        assert!(public.is_own_origin("https://runs.example.com", &host, true));
        assert!(!public.is_own_origin("https://evil.runs.example.com", &host, true));
        assert!(!public.is_own_origin("http://runs.example.com", &host, false));
        let by_host = WebConfig::default();
        let local = headers(&[("host", "127.0.0.1:3000")]);
        assert!(by_host.is_own_origin("http://127.0.0.1:3000", &local, false));
        assert!(!by_host.is_own_origin("http://127.0.0.1:3001", &local, false));
        assert!(!by_host.is_own_origin("null", &local, false));
        assert!(WebConfig::parse_public_url("ftp://x").is_err());
        assert!(WebConfig::parse_public_url("not a url").is_err());
    }

    #[test]
    fn the_policy_allows_only_the_nonced_bootstrap_and_wasm() {
        let policy = content_security_policy(Some("abc123"));
        assert!(policy.contains("script-src 'self' 'wasm-unsafe-eval' 'nonce-abc123'"));
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(!policy.contains("unsafe-inline"));
        assert!(!content_security_policy(None).contains("nonce"));
    }
}
