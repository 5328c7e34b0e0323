//! Starting built-in agents, cancelling runs, and one run's full history for its monitor.

use crate::error::AppError;
use crate::model::{AgentRun, RunTimeline};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use uuid::Uuid;

/// Starts `agent` on `task` for the caller: the run is created `queued` and a built-in worker picks
/// it up. A bad field is a 422 naming it (`task`, `agent`, `task_id`), and nothing is started.
#[server(endpoint = "trigger_agent_run")]
pub async fn trigger_agent_run(
    agent: String,
    task: String,
    #[server(default)] task_id: String,
) -> Result<AgentRun, AppError> {
    use crate::model::TriggerRequest;
    use crate::server::auth::Scope;
    let who = super::ssr::require_scope(Scope::RunsWrite)?.principal();
    let request = TriggerRequest::parse(&agent, &task, &task_id)?;
    super::ssr::state().agents.trigger(who, &request).await
}

/// Cancels one of the caller's runs; its agent stops at once. A finished run is a 409.
#[server(endpoint = "cancel_run", input = Json)]
pub async fn cancel_run(id: Uuid) -> Result<AgentRun, AppError> {
    use crate::model::RunUpdate;
    use crate::server::auth::Scope;
    let who = super::ssr::require_scope(Scope::RunsWrite)?.principal();
    let cancel = RunUpdate::Cancel {
        reason: Some("Cancelled by the user".into()),
    };
    super::ssr::state().publisher.apply(who, id, cancel).await
}

/// One of the caller's runs with its event history; another user's run is "not found".
#[server(endpoint = "get_run_timeline", input = Json)]
pub async fn get_run_timeline(id: Uuid) -> Result<RunTimeline, AppError> {
    let who = super::ssr::reader()?;
    super::ssr::state().reader.timeline(who, id).await
}
