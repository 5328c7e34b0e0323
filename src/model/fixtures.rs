//! Values for the model's unit tests.

use super::{AgentRun, RunEvent, RunEventKind, RunStatus};
use chrono::{TimeZone, Utc};
use uuid::Uuid;

/// An in-progress run with id `id`, made from the JSON the server sends.
pub fn run(id: u128) -> AgentRun {
    serde_json::from_value(serde_json::json!({
        "id": Uuid::from_u128(id), "task_id": Uuid::nil(), "user_id": Uuid::nil(),
        "agent_name": "a", "task": "t", "status": "in_progress", "progress_percent": 0.0,
        "current_step": null, "attempt": 1, "result": null, "error": null,
        "verification_evidence": [], "metadata": {}, "tokens_in": null, "tokens_out": null,
        "cost_usd": null, "created_at": "2026-01-01T00:00:00Z", "started_at": null,
        "completed_at": null, "updated_at": "2026-01-01T00:00:00Z"
    }))
    .unwrap()
}

/// A progress event `id` of run `run_id`.
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
        created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 1).unwrap(),
    }
}
