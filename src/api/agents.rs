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
    use crate::server::auth::Scope;
    use crate::server::publisher::AgentEventPublisher;
    let who = super::ssr::require_scope(Scope::RunsWrite)?.principal();
    AgentEventPublisher::new(super::ssr::state().pool)
        .cancel_run(who, id, Some("Cancelled by the user".into()))
        .await
}

/// One of the caller's runs with its event history; another user's run is "not found".
#[server(endpoint = "get_run_timeline", input = Json)]
pub async fn get_run_timeline(id: Uuid) -> Result<RunTimeline, AppError> {
    use crate::server::{events, runs};
    // Read the cursor first: everything up to it is settled, so the events read next include it all.
    let last_event_id = super::ssr::state().bus.last_event_id();
    let mut tx = super::ssr::scoped_tx().await?;
    let run = runs::get(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let (events, earlier_events) =
        events::newest_for_run(&mut tx, id, crate::model::TIMELINE_MAX_EVENTS).await?;
    tx.commit().await?;
    Ok(RunTimeline {
        run,
        events,
        earlier_events,
        last_event_id,
    })
}
