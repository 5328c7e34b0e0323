use super::RunStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One execution of an agent on a task, as stored in `agent_runs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow, utoipa::ToSchema))]
pub struct AgentRun {
    pub id: Uuid,
    pub task_id: Uuid,
    pub user_id: Uuid,
    pub agent_name: String,
    pub task: String,
    pub status: RunStatus,
    pub progress_percent: f32,
    pub current_step: Option<String>,
    pub attempt: i32,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    #[cfg_attr(feature = "ssr", sqlx(json))]
    pub verification_evidence: Vec<VerificationAttempt>,
    pub metadata: serde_json::Value,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub cost_usd: Option<f64>,
    #[serde(serialize_with = "crate::model::json_time::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::model::json_time::serialize_option")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::model::json_time::serialize_option")]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::model::json_time::serialize")]
    pub updated_at: DateTime<Utc>,
}

/// One verification of a run's output: which attempt, whether it passed, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VerificationAttempt {
    pub attempt: i32,
    pub passed: bool,
    pub evidence: serde_json::Value,
    pub at: DateTime<Utc>,
}

impl AgentRun {
    /// Wall time from start (or creation, for runs never started) to completion, or to `now` while the
    /// run is still going.
    pub fn duration(&self, now: DateTime<Utc>) -> chrono::Duration {
        let start = self.started_at.unwrap_or(self.created_at);
        let end = self.completed_at.unwrap_or(now);
        (end - start).max(chrono::Duration::zero())
    }

    /// The first `max_chars` characters of the task, with an ellipsis when cut (never splits a char).
    pub fn task_excerpt(&self, max_chars: usize) -> String {
        let mut chars = self.task.chars();
        let head: String = chars.by_ref().take(max_chars).collect();
        if chars.next().is_some() {
            format!("{}…", head.trim_end())
        } else {
            head
        }
    }
}

/// "1h 02m", "3m 07s", "12.4s": short enough for a table cell.
pub fn format_duration(duration: chrono::Duration) -> String {
    let millis = duration.num_milliseconds().max(0);
    let secs = millis / 1000;
    match secs {
        0..=59 => format!("{:.1}s", millis as f64 / 1000.0),
        60..=3599 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures;

    fn run(task: &str) -> AgentRun {
        let created = fixtures::epoch() + chrono::Duration::hours(12);
        AgentRun {
            agent_name: "coder".into(),
            task: task.into(),
            progress_percent: 10.0,
            created_at: created,
            started_at: Some(created + chrono::Duration::seconds(2)),
            updated_at: created,
            ..fixtures::run(0)
        }
    }

    #[test]
    fn excerpt_cuts_on_characters_not_bytes() {
        assert_eq!(run("short").task_excerpt(10), "short");
        assert_eq!(run("héllo wörld").task_excerpt(5), "héllo…");
        assert_eq!(run("abc def").task_excerpt(4), "abc…");
    }

    #[test]
    fn duration_runs_from_start_to_completion_or_now() {
        let mut r = run("t");
        let now = r.created_at + chrono::Duration::seconds(62);
        assert_eq!(r.duration(now).num_seconds(), 60);
        r.completed_at = Some(r.created_at + chrono::Duration::seconds(12));
        assert_eq!(r.duration(now).num_seconds(), 10);
        r.started_at = None;
        assert_eq!(r.duration(now).num_seconds(), 12);
    }

    #[test]
    fn durations_format_for_humans() {
        assert_eq!(
            format_duration(chrono::Duration::milliseconds(12_400)),
            "12.4s"
        );
        assert_eq!(format_duration(chrono::Duration::seconds(187)), "3m 07s");
        assert_eq!(format_duration(chrono::Duration::seconds(3720)), "1h 02m");
        assert_eq!(format_duration(chrono::Duration::seconds(-5)), "0.0s");
    }
}
