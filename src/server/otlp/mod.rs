//! OpenTelemetry in: `POST /v1/traces`, the OTLP/HTTP trace endpoint, so an agent instrumented with
//! any OpenTelemetry SDK shows up live with no runwire code: its exporter is pointed here
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`) with a runwire token (`OTEL_EXPORTER_OTLP_HEADERS`). Protobuf or
//! JSON, gzip or not, decoded by `opentelemetry-proto`; each trace becomes a run and its spans ride
//! the one write path (publisher -> log -> NOTIFY -> hub -> sockets) as `span_*` events.

mod attributes;
mod conventions;
mod ingest;
pub mod mapping;
mod otel_fields;
mod wire;

use crate::error::AppError;
use crate::server::rest::Caller;
use crate::server::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tower_http::decompression::RequestDecompressionLayer;
use wire::Encoding;

pub const TRACES_PATH: &str = "/v1/traces";
/// Largest export, once decompressed (a gzip body is bounded by what it inflates to).
pub const OTLP_BODY_LIMIT_BYTES: usize = 8 * 1024 * 1024;
/// Most spans in one export (the SDKs' batch processors send 512 by default).
pub const OTLP_SPANS_MAX: usize = 5_000;
/// Most traces in one export: each is a transaction of its own.
pub const OTLP_TRACES_MAX: usize = 500;
/// Rejection reasons quoted in a partial success; the rest are counted.
const REASONS_QUOTED: usize = 5;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(TRACES_PATH, post(export))
        .layer(DefaultBodyLimit::max(OTLP_BODY_LIMIT_BYTES))
        .layer(RequestDecompressionLayer::new())
}

/// Accepts an OTLP trace export: 200 (with a partial success naming what was rejected), 400 for a
/// body that is not an export, 401/403 for a missing token or one without `runs:write`, 413, 415
/// for another content type, 429 with Retry-After.
async fn export(
    State(state): State<AppState>,
    caller: Result<Caller, AppError>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(encoding) = Encoding::of(&headers) else {
        return Encoding::Json.refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send application/x-protobuf or application/json (OTLP/HTTP)".to_owned(),
        );
    };
    match accept(&state, caller, body, encoding).await {
        Ok(response) => response,
        Err(err) => encoding.failure(&err),
    }
}

async fn accept(
    state: &AppState,
    caller: Result<Caller, AppError>,
    body: Result<Bytes, BytesRejection>,
    encoding: Encoding,
) -> Result<Response, AppError> {
    let caller = caller?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge {
                limit_bytes: OTLP_BODY_LIMIT_BYTES,
            }
        } else {
            AppError::BadRequest(format!(
                "the body cannot be read: {}",
                rejection.body_text()
            ))
        }
    })?;
    let request = encoding.decode(&body).map_err(AppError::BadRequest)?;
    let mapped = mapping::map_request(&request, chrono::Utc::now());
    drop(request);
    let spans = mapped.span_count() + mapped.rejections.iter().map(|r| r.spans).sum::<usize>();
    if spans > OTLP_SPANS_MAX || mapped.traces.len() > OTLP_TRACES_MAX {
        let message = format!(
            "an export holds at most {OTLP_SPANS_MAX} spans of {OTLP_TRACES_MAX} traces (this one: \
             {spans} spans, {} traces); send smaller batches",
            mapped.traces.len()
        );
        return Ok(encoding.refuse(StatusCode::PAYLOAD_TOO_LARGE, message));
    }
    let outcome = ingest::ingest(state, &caller, mapped).await?;
    let rejected: usize = outcome.rejections.iter().map(|r| r.spans).sum();
    let mut reasons: Vec<&str> = outcome
        .rejections
        .iter()
        .take(REASONS_QUOTED)
        .map(|r| r.reason.as_str())
        .collect();
    let more = outcome.rejections.len().saturating_sub(REASONS_QUOTED);
    let tail = format!("and {more} more");
    if more > 0 {
        reasons.push(&tail);
    }
    let message = if rejected == 0 {
        String::new()
    } else {
        format!(
            "{rejected} of {spans} spans rejected: {}",
            reasons.join("; ")
        )
    };
    Ok(encoding.answer(rejected, message).into_response())
}
