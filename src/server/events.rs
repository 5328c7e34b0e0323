//! The events repository: all SQL on the append-only `agent_run_events` log.

use crate::model::{AgentRun, RunEvent, RunEventKind};
use crate::server::db::ScopedTx;
use serde_json::Value;
use uuid::Uuid;

pub const EVENT_COLUMNS: &str =
    "id, run_id, user_id, kind, status, progress, step, payload, created_at";

/// Appends events for runs in one statement, in the given order. The NOTIFY trigger fires per row.
pub async fn append(
    tx: &mut ScopedTx,
    events: &[(&AgentRun, RunEventKind, Value)],
) -> Result<Vec<RunEvent>, sqlx::Error> {
    let mut run_ids = Vec::with_capacity(events.len());
    let mut user_ids = Vec::with_capacity(events.len());
    let mut kinds = Vec::with_capacity(events.len());
    let mut statuses = Vec::with_capacity(events.len());
    let mut progress = Vec::with_capacity(events.len());
    let mut steps = Vec::with_capacity(events.len());
    let mut payloads = Vec::with_capacity(events.len());
    for (run, kind, payload) in events {
        run_ids.push(run.id);
        user_ids.push(run.user_id);
        kinds.push(kind.as_str());
        statuses.push(run.status);
        progress.push(run.progress_percent);
        steps.push(run.current_step.clone());
        payloads.push(payload.clone());
    }
    let mut appended: Vec<RunEvent> = sqlx::query_as(&format!(
        "INSERT INTO agent_run_events (run_id, user_id, kind, status, progress, step, payload)
         SELECT run_id, user_id, kind, status, progress, step, payload FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::run_status[], $5::real[],
                              $6::text[], $7::jsonb[])
             WITH ORDINALITY AS e(run_id, user_id, kind, status, progress, step, payload, n)
         ORDER BY n
         RETURNING {EVENT_COLUMNS}"
    ))
    .bind(run_ids)
    .bind(user_ids)
    .bind(kinds)
    .bind(statuses)
    .bind(progress)
    .bind(steps)
    .bind(payloads)
    .fetch_all(tx.conn())
    .await?;
    appended.sort_by_key(|event| event.id);
    Ok(appended)
}

/// A run's events after `after_id`, oldest first.
pub async fn for_run(
    tx: &mut ScopedTx,
    run_id: Uuid,
    after_id: i64,
    limit: i64,
) -> Result<Vec<RunEvent>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM agent_run_events WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    ))
    .bind(run_id)
    .bind(after_id)
    .bind(limit)
    .fetch_all(tx.conn())
    .await
}
