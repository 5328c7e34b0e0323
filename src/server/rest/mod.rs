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
use crate::model::{QueryProblem, RunQuery};
use crate::server::auth::{Identity, Scope};
use crate::server::db::{begin_scoped, ScopedTx};
use crate::server::rate_limit;
use crate::server::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Router;
use serde::de::DeserializeOwned;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
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
    ("get", "/api/v1/runs/{id}/spans"),
    ("post", "/api/v1/runs/{id}/spans"),
    ("get", "/api/v1/openapi.json"),
    ("post", "/api/agents/run"),
    ("get", "/api/agents/run/{id}"),
    ("get", "/api/agents/active"),
    ("post", "/api/cron/{job}"),
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
];

/// The API's routes and, made from the same calls, their OpenAPI document.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(runs::list, runs::create))
        .routes(routes!(export::export))
        .routes(routes!(runs::get))
        .routes(routes!(runs::events, runs::batch))
        .routes(routes!(runs::progress))
        .routes(routes!(runs::status))
        .routes(routes!(runs::verification))
        .routes(routes!(runs::complete))
        .routes(routes!(runs::fail))
        .routes(routes!(runs::cancel))
        .routes(routes!(runs::spans, runs::record_spans))
        .routes(routes!(openapi::document))
        .routes(routes!(legacy::start))
        .routes(routes!(legacy::get))
        .routes(routes!(legacy::active))
        .routes(routes!(ops::cron))
        .routes(routes!(ops::health))
        .routes(routes!(ops::ready))
        .routes(routes!(ops::metrics))
}

pub fn router() -> Router<AppState> {
    routes()
        .split_for_parts()
        .0
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(axum::middleware::from_fn(|request, next| {
            crate::server::web::refuse_oversized(BODY_LIMIT_BYTES, request, next)
        }))
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
        rate_limit::spend(&AppState::from_ref(state).api_limiter, identity.user.id)?;
        Ok(Caller(identity))
    }
}

impl Caller {
    /// Who the database sees.
    pub fn principal(&self) -> crate::server::db::Principal {
        self.0.principal()
    }

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

/// What a write needs of its request: the method and path and body identify it for its
/// Idempotency-Key, the headers carry the key. A body past the limit is a 413.
pub struct WriteRequest {
    pub method: axum::http::Method,
    pub uri: axum::http::Uri,
    pub headers: axum::http::HeaderMap,
    pub body: Bytes,
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for WriteRequest {
    type Rejection = AppError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, AppError> {
        let (parts, body) = request.into_parts();
        let body = Bytes::from_request(
            axum::extract::Request::from_parts(parts.clone(), body),
            state,
        )
        .await
        .map_err(|rejection: BytesRejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge {
                    limit_bytes: BODY_LIMIT_BYTES,
                }
            } else {
                AppError::BadRequest(rejection.body_text())
            }
        })?;
        Ok(WriteRequest {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
        })
    }
}

/// A run-list query of the one dialect, from a request's query string. A parameter the dialect (and
/// `extra`) does not know is a 400; the problems of known ones are the caller's to judge.
fn run_query(
    uri: &axum::http::Uri,
    extra: &[&str],
) -> Result<(RunQuery, Vec<QueryProblem>), AppError> {
    let pairs: std::collections::HashMap<String, String> =
        form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    if let Some(unknown) = RunQuery::unknown(pairs.keys().map(String::as_str), extra).first() {
        return Err(AppError::BadRequest(format!(
            "unknown query parameter `{unknown}`"
        )));
    }
    Ok(RunQuery::parse_checked(|key| pairs.get(key).cloned()))
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(bytes)
        .map_err(|err| AppError::BadRequest(format!("malformed JSON: {err}")))
}

fn run_id(path: Result<axum::extract::Path<Uuid>, PathRejection>) -> Result<Uuid, AppError> {
    path.map(|p| p.0)
        .map_err(|_| AppError::BadRequest("the run id in the path must be a UUID".to_owned()))
}
