//! What the scheduled jobs leave behind, as the System page and the dashboard show it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The scheduled jobs runwire runs on itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobName {
    CleanupOldRuns,
    HealthCheck,
    DailyReport,
}

impl JobName {
    pub const ALL: [JobName; 3] = [
        JobName::CleanupOldRuns,
        JobName::HealthCheck,
        JobName::DailyReport,
    ];

    /// The name in URLs (`POST /api/cron/cleanup-old-runs`) and in the job history.
    pub const fn as_str(self) -> &'static str {
        match self {
            JobName::CleanupOldRuns => "cleanup-old-runs",
            JobName::HealthCheck => "health-check",
            JobName::DailyReport => "daily-report",
        }
    }

    pub fn parse(name: &str) -> Option<JobName> {
        Self::ALL.into_iter().find(|job| job.as_str() == name)
    }

    /// The default schedule (cron, UTC, with seconds).
    pub const fn default_schedule(self) -> &'static str {
        match self {
            JobName::CleanupOldRuns => "0 0 2 * * *",
            JobName::HealthCheck => "0 */5 * * * *",
            JobName::DailyReport => "0 0 9 * * *",
        }
    }
}

/// One firing of a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow, utoipa::ToSchema))]
pub struct JobRun {
    pub id: i64,
    pub job: String,
    pub scheduled_for: DateTime<Utc>,
    pub trigger: String,
    pub instance: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// running, succeeded or failed
    pub outcome: String,
    pub details: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct HealthSample {
    pub taken_at: DateTime<Utc>,
    pub healthy: bool,
    pub db_latency_ms: f64,
    pub bus_lag_ms: Option<f64>,
    pub jobs_waiting: i64,
    pub jobs_running: i64,
    pub details: serde_json::Value,
}

/// One user's activity on one (UTC) day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct DailyReport {
    pub day: NaiveDate,
    pub total: i64,
    pub completed: i64,
    pub failed: i64,
    pub cancelled: i64,
    pub timed_out: i64,
    pub avg_duration_seconds: Option<f64>,
    /// `[{"agent": name, "failed": n, "finished": n}]`, most failures first.
    pub top_failing: serde_json::Value,
}

impl DailyReport {
    /// completed / finished that day.
    pub fn success_rate(&self) -> Option<f64> {
        let finished = self.completed + self.failed + self.cancelled + self.timed_out;
        super::stats::success_rate(self.completed, finished)
    }
}

/// What the admin System page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemOverview {
    pub job_runs: Vec<JobRun>,
    /// Newest first.
    pub health: Vec<HealthSample>,
    pub reports: Vec<DailyReport>,
    /// Each job and its schedule as configured.
    pub schedules: Vec<(String, String)>,
}
