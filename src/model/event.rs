use super::RunStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// What happened to a run; one row of the append-only `agent_run_events` log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type))]
#[cfg_attr(feature = "ssr", sqlx(type_name = "text", rename_all = "snake_case"))]
pub enum RunEventKind {
    Started,
    Progress,
    Status,
    Verification,
    Completed,
    Failed,
    Cancelled,
    TimedOut,
}

impl RunEventKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            RunEventKind::Started => "started",
            RunEventKind::Progress => "progress",
            RunEventKind::Status => "status",
            RunEventKind::Verification => "verification",
            RunEventKind::Completed => "completed",
            RunEventKind::Failed => "failed",
            RunEventKind::Cancelled => "cancelled",
            RunEventKind::TimedOut => "timed_out",
        }
    }
}

impl fmt::Display for RunEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a run's history. `id` is global and increasing: the cursor live subscribers resume from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct RunEvent {
    pub id: i64,
    pub run_id: Uuid,
    pub user_id: Uuid,
    pub kind: RunEventKind,
    /// The run's status right after this event.
    pub status: RunStatus,
    pub progress: Option<f32>,
    pub step: Option<String>,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}
