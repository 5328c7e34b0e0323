//! Paths of the system runwire replaces, kept so existing agents keep working. `POST /api/agents/run`
//! and `GET /api/agents/run/{id}` are the v1 handlers; only "active" differs.

use super::Caller;
use crate::error::AppError;
use crate::model::RunFilter;
use crate::server::state::AppState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::collections::HashMap;

/// The caller's active runs. The old endpoint took `?user_id=`, which let anyone read anyone's runs;
/// here the user is the token's owner and a `user_id` parameter is refused, not ignored.
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
    Ok(Json(json!({ "runs": page.runs })).into_response())
}
