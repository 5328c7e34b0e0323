//! The seed's repository: runs written as they are, with the one event that says so.

use crate::model::{RunEventKind, RunStatus};
use crate::server::db::ScopedTx;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// How many runs the scoped user has.
pub async fn count_runs(tx: &mut ScopedTx) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM agent_runs WHERE user_id = $1"#,
        tx.principal().user_id
    )
    .fetch_one(tx.conn())
    .await
}

/// A run to insert as it is, used by the demo seed (the publisher writes through transitions instead).
pub struct SeedRun<'a> {
    pub agent_name: &'a str,
    pub task: &'a str,
    pub status: RunStatus,
    pub progress_percent: f32,
    pub current_step: Option<&'a str>,
    pub result: Option<serde_json::Value>,
    pub error: Option<&'a str>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

pub async fn insert_seed(tx: &mut ScopedTx, run: &SeedRun<'_>) -> Result<Uuid, sqlx::Error> {
    let user_id = tx.principal().user_id;
    // A run created already working starts with `started`; any other with its status event.
    let kind = match run.status {
        RunStatus::InProgress => RunEventKind::Started,
        status => RunEventKind::for_status(status),
    };
    sqlx::query_scalar!(
"WITH run AS (
             INSERT INTO agent_runs (user_id, agent_name, task, status, progress_percent, current_step,
                                     result, error, created_at, started_at, completed_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                     coalesce($11::timestamptz, $10::timestamptz, $9::timestamptz))
             RETURNING id, status, progress_percent, current_step, user_id
         ), event AS (
             INSERT INTO agent_run_events (run_id, user_id, kind, status, progress, step)
             SELECT id, user_id, $12, status, progress_percent, current_step FROM run
         )
         SELECT id AS \"id!\" FROM run",
user_id,
run.agent_name,
run.task,
run.status as RunStatus,
run.progress_percent,
run.current_step,
run.result,
run.error,
run.created_at,
run.started_at,
run.completed_at,
kind.as_str()
)
    .fetch_one(tx.conn())
    .await
}
