//! Operations endpoints: `POST /api/cron/{job}` for external cron systems, `GET /health`
//! (liveness) and `GET /ready` (PostgreSQL reachable, migrations applied, live bus connected).

use super::openapi::ErrorBody;
use crate::error::AppError;
use crate::model::JobName;
use crate::model::JobRun;
use crate::server::auth::bearer_token;
use crate::server::db::MIGRATOR;
use crate::server::jobs::Trigger;
use crate::server::state::AppState;
use crate::server::telemetry;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use subtle::ConstantTimeEq;

/// Fires `job` now. The caller must send `Authorization: Bearer $CRON_SECRET`; without a configured
/// secret the endpoint is disabled (503), never open.
#[utoipa::path(post, path = "/api/cron/{job}", tag = "operations", security(("cronSecret" = [])),
    params(("job" = String, Path, pattern = "^(cleanup-old-runs|health-check|daily-report)$",
            description = "The job to fire")),
    responses((status = 200, description = "The job's run", body = JobRun),
              (status = 401, description = "Wrong or missing secret", body = ErrorBody),
              (status = 404, description = "No such job", body = ErrorBody),
              (status = 409, description = "The job is already running", body = ErrorBody),
              (status = 503, description = "Disabled: no CRON_SECRET is set", body = ErrorBody)))]
pub async fn cron(
    State(state): State<AppState>,
    Path(job): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some(presented) = bearer_token(&headers) else {
        return Err(AppError::Unauthorized);
    };
    let Some(secret) = state.cron_secret.as_deref() else {
        return Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "error": "the cron endpoint is disabled: set CRON_SECRET to enable it",
                "code": "disabled",
            })),
        )
            .into_response());
    };
    if !same_secret(presented, secret) {
        return Err(AppError::Unauthorized);
    }
    let job = JobName::parse(&job).ok_or(AppError::NotFound)?;
    let now = chrono::Utc::now();
    match state.jobs.fire(job, now, Trigger::Http).await? {
        Some(run) => Ok(Json(run).into_response()),
        None => Err(AppError::Conflict(format!(
            "{} is already running on this or another instance",
            job.as_str()
        ))),
    }
}

/// Same time whatever matches: the comparison never tells how much of a guess was right.
fn same_secret(presented: &str, secret: &str) -> bool {
    bool::from(presented.as_bytes().ct_eq(secret.as_bytes()))
}

/// This process's metrics in the Prometheus text format. The scraper sends
/// `Authorization: Bearer $RUNWIRE_METRICS_TOKEN`; without a configured token the endpoint is not
/// served here (404), never open. (`RUNWIRE_METRICS_ADDR` serves it with no token on an address of
/// its own.)
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("metricsToken" = [])),
    responses((status = 200, description = "Metrics, Prometheus text format 0.0.4",
               body = String, content_type = "text/plain"),
              (status = 401, description = "Wrong or missing token", body = ErrorBody),
              (status = 404, description = "Not served here: no RUNWIRE_METRICS_TOKEN is set",
               body = ErrorBody)))]
pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some(presented) = bearer_token(&headers) else {
        return Err(AppError::Unauthorized);
    };
    let Some(token) = state.metrics_token.as_deref() else {
        return Err(AppError::NotFound);
    };
    if !same_secret(presented, token) {
        return Err(AppError::Unauthorized);
    }
    Ok(telemetry::scrape(&state).await)
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "operations", security(()),
    responses((status = 200, description = "The process answers", body = Object)))]
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: 200 when this instance can serve, 503 naming what is missing.
#[utoipa::path(get, path = "/ready", tag = "operations", security(()),
    responses((status = 200, description = "Ready to serve", body = Object),
              (status = 503, description = "Not ready: says what is missing", body = Object)))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let database = crate::server::db::applied_migration(&state.pool).await;
    let expected = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let (database_ok, migrations_ok, applied) = match &database {
        Ok(applied) => (true, *applied >= expected, *applied),
        Err(_) => (false, false, 0),
    };
    let bus_ok = state.bus.is_connected();
    let ready = database_ok && migrations_ok && bus_ok;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "database": database_ok,
        "migrations": { "applied": applied, "expected": expected, "ok": migrations_ok },
        "bus": bus_ok,
    });
    (status, Json(body)).into_response()
}
