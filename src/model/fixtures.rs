//! Values for the crate's unit tests: each test changes the fields it is about.

use super::{AgentRun, RunEvent, RunEventKind, RunStatus};
use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

/// 2026-01-01 00:00:00 UTC, when the fixtures happen.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// An in-progress run with id `id`, of agent "a" and task "t", created at [`epoch`], at 0%.
pub fn run(id: u128) -> AgentRun {
    AgentRun {
        id: Uuid::from_u128(id),
        task_id: Uuid::nil(),
        user_id: Uuid::nil(),
        agent_name: "a".into(),
        task: "t".into(),
        status: RunStatus::InProgress,
        progress_percent: 0.0,
        current_step: None,
        attempt: 1,
        result: None,
        error: None,
        verification_evidence: vec![],
        metadata: serde_json::json!({}),
        tokens_in: None,
        tokens_out: None,
        cost_usd: None,
        created_at: epoch(),
        started_at: None,
        completed_at: None,
        updated_at: epoch(),
    }
}

/// A progress event `id` of run `run_id`, a second after [`epoch`].
pub fn event(id: i64, run_id: u128) -> RunEvent {
    RunEvent {
        id,
        run_id: Uuid::from_u128(run_id),
        user_id: Uuid::nil(),
        kind: RunEventKind::Progress,
        status: RunStatus::InProgress,
        progress: None,
        step: None,
        payload: serde_json::json!({}),
        created_at: epoch() + chrono::Duration::seconds(1),
    }
}
