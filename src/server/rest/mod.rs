//! The HTTP API for agents: JSON over `/api/v1`, authenticated by `Authorization: Bearer <token>`
//! (or a browser session), plus the paths of the system runwire replaces. Every error leaves through
//! `AppError`'s one `IntoResponse`: `{ "error": ..., "code": ... }` with the matching status.

pub mod export;
pub mod idempotency;
mod legacy;
pub mod openapi;
mod ops;
mod runs;

use crate::error::AppError;
use crate::server::auth::{Identity, Scope};
use crate::server::db::{begin_scoped, ScopedTx};
use crate::server::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use std::num::NonZeroU32;
use std::sync::Arc;
use uuid::Uuid;

/// Largest accepted request body (a batch of updates); one run's `result` is limited to 256 KiB.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;
/// Most updates in one batch.
pub const BATCH_MAX_UPDATES: usize = 1000;

/// Every route, as the OpenAPI document lists them (tests/rest.rs checks both agree).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/runs"),
    ("get", "/api/v1/runs/export"),
    ("post", "/api/v1/runs"),
    ("get", "/api/v1/runs/{id}"),
    ("get", "/api/v1/runs/{id}/events"),
    ("post", "/api/v1/runs/{id}/events"),
    ("post", "/api/v1/runs/{id}/progress"),
    ("post", "/api/v1/runs/{id}/status"),
    ("post", "/api/v1/runs/{id}/verification"),
    ("post", "/api/v1/runs/{id}/complete"),
    ("post", "/api/v1/runs/{id}/fail"),
    ("post", "/api/v1/runs/{id}/cancel"),
    ("get", "/api/v1/openapi.json"),
    ("post", "/api/agents/run"),
    ("get", "/api/agents/run/{id}"),
    ("get", "/api/agents/active"),
    ("post", "/api/cron/{job}"),
    ("get", "/health"),
    ("get", "/ready"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/runs", get(runs::list).post(runs::create))
        .route("/api/v1/runs/export", get(export::export))
        .route("/api/v1/runs/{id}", get(runs::get))
        .route(
            "/api/v1/runs/{id}/events",
            get(runs::events).post(runs::batch),
        )
        .route("/api/v1/runs/{id}/progress", post(runs::progress))
        .route("/api/v1/runs/{id}/status", post(runs::status))
        .route("/api/v1/runs/{id}/verification", post(runs::verification))
        .route("/api/v1/runs/{id}/complete", post(runs::complete))
        .route("/api/v1/runs/{id}/fail", post(runs::fail))
        .route("/api/v1/runs/{id}/cancel", post(runs::cancel))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/agents/run", post(runs::create))
        .route("/api/agents/run/{id}", get(runs::get))
        .route("/api/agents/active", get(legacy::active))
        .route("/api/cron/{job}", post(ops::cron))
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
}

/// Requests per second and burst allowed per user (whatever token or session they use), per process:
/// minting more tokens does not buy more requests.
pub type ApiLimiter = governor::DefaultKeyedRateLimiter<Uuid>;

pub fn limiter(per_second: u32, burst: u32) -> Arc<ApiLimiter> {
    let rate = NonZeroU32::new(per_second.max(1)).expect("at least 1");
    let burst = NonZeroU32::new(burst.max(1)).expect("at least 1");
    Arc::new(governor::RateLimiter::keyed(
        governor::Quota::per_second(rate).allow_burst(burst),
    ))
}

/// The authenticated, rate-limited caller of an API request, allowed what the request does: reads
/// need the `runs:read` scope, writes `runs:write`.
pub struct Caller(pub Identity);

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let identity = parts
            .extensions
            .get::<Identity>()
            .cloned()
            .ok_or(AppError::Unauthorized)?;
        let needed = match parts.method {
            axum::http::Method::GET | axum::http::Method::HEAD => Scope::RunsRead,
            _ => Scope::RunsWrite,
        };
        let identity = identity.require(needed)?;
        let limiter = AppState::from_ref(state).api_limiter;
        if let Err(not_until) = limiter.check_key(&identity.user.id) {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            return Err(AppError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        Ok(Caller(identity))
    }
}

impl Caller {
    /// A transaction scoped to this caller.
    pub async fn begin(&self, state: &AppState) -> Result<ScopedTx, AppError> {
        Ok(begin_scoped(&state.pool, self.0.principal()).await?)
    }
}

/// Query parameters, or a 400 naming what is wrong with them.
fn query<T>(query: Result<axum::extract::Query<T>, QueryRejection>) -> Result<T, AppError> {
    query
        .map(|q| q.0)
        .map_err(|rejection| AppError::BadRequest(rejection.body_text()))
}

/// The request body, or why it could not be read (413 past the limit).
fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, AppError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge {
                limit_bytes: BODY_LIMIT_BYTES,
            }
        } else {
            AppError::BadRequest(rejection.body_text())
        }
    })
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(bytes)
        .map_err(|err| AppError::BadRequest(format!("malformed JSON: {err}")))
}

fn run_id(path: Result<axum::extract::Path<Uuid>, PathRejection>) -> Result<Uuid, AppError> {
    path.map(|p| p.0)
        .map_err(|_| AppError::BadRequest("the run id in the path must be a UUID".to_owned()))
}
