//! Paths of the system runwire replaces, kept so existing agents keep working. `POST /api/agents/run`
//! and `GET /api/agents/run/{id}` are the v1 handlers; only "active" differs.

use super::openapi::{IdempotencyKey, ReadErrors, RunId, WriteErrors};
use super::{Caller, WriteRequest};
use crate::error::AppError;
use crate::model::{AgentRun, NewRun, RunFilter};
use crate::server::state::AppState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::HashMap;

/// `POST /api/agents/run`: the old path of starting a run.
#[utoipa::path(post, path = "/api/agents/run", tag = "legacy", params(IdempotencyKey),
    request_body = NewRun,
    responses((status = 201, description = "The new run", body = AgentRun), ReadErrors, WriteErrors))]
pub async fn start(
    state: State<AppState>,
    caller: Caller,
    request: WriteRequest,
) -> Result<Response, AppError> {
    super::runs::create(state, caller, request).await
}

/// `GET /api/agents/run/{id}`: the old path of reading a run.
#[utoipa::path(get, path = "/api/agents/run/{id}", tag = "legacy", params(RunId),
    responses((status = 200, description = "The run", body = AgentRun), ReadErrors))]
pub async fn get(
    state: State<AppState>,
    caller: Caller,
    path: Result<Path<uuid::Uuid>, PathRejection>,
) -> Result<Response, AppError> {
    super::runs::get(state, caller, path).await
}

/// The runs of `GET /api/agents/active`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ActiveRuns {
    pub runs: Vec<AgentRun>,
}

/// The caller's active runs. The old endpoint took `?user_id=`, which let anyone read anyone's runs;
/// here the user is the token's owner and a `user_id` parameter is refused, not ignored.
#[utoipa::path(get, path = "/api/agents/active", tag = "legacy",
    responses((status = 200, description = "The caller's unfinished runs", body = ActiveRuns),
              ReadErrors))]
pub async fn active(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    if params.contains_key("user_id") {
        return Err(AppError::BadRequest(
            "user_id is not accepted: runs are those of the API token's owner".to_owned(),
        ));
    }
    if let Some(unknown) = params.keys().next() {
        return Err(AppError::BadRequest(format!(
            "unknown query parameter `{unknown}`"
        )));
    }
    let filter = RunFilter {
        active_only: true,
        ..Default::default()
    };
    let page = state
        .reader
        .list(
            caller.principal(),
            &filter,
            crate::model::RunSort::Newest,
            None,
            crate::model::RUN_PAGE_MAX,
        )
        .await?;
    Ok(Json(ActiveRuns { runs: page.runs }).into_response())
}
