//! Scheduled jobs: `cleanup-old-runs`, `health-check` and `daily-report`, on cron schedules, in
//! every server process. Each firing runs once across replicas: its (job, time) row in `job_runs`
//! is unique, and a session advisory lock per job keeps two runs of one job from overlapping. An
//! external cron can fire a job through `POST /api/cron/{job}` instead. Time comes from a [`Clock`]
//! so tests fire jobs at any instant without waiting.

pub mod alerts;
pub mod cleanup;
mod health;
mod report;
pub mod store;

use crate::error::AppError;
use crate::model::{JobName, JobRun};
use crate::server::bus::EventBus;
use crate::server::db::{begin_scoped, Principal};
use crate::server::demo_agent::AgentRunner;
use crate::server::partitions::PartitionUnit;
use crate::server::publisher::AgentEventPublisher;
use crate::server::telemetry;
use chrono::{DateTime, Utc};
use cron::Schedule;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Where time comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// How the jobs are scheduled and what they keep.
#[derive(Clone, Debug)]
pub struct JobsConfig {
    pub cleanup: Schedule,
    pub health: Schedule,
    pub report: Schedule,
    /// Finished runs older than this are deleted by `cleanup-old-runs`.
    pub retention: chrono::Duration,
    /// Runs deleted per transaction, so the cleanup never holds long locks.
    pub cleanup_batch: i64,
    /// Sessions unused this long are deleted with the expired ones.
    pub session_idle: chrono::Duration,
    /// How much time one partition of the event log and the spans holds.
    pub partition_unit: PartitionUnit,
}

impl Default for JobsConfig {
    fn default() -> Self {
        let schedule =
            |job: JobName| parse_schedule(job.default_schedule()).expect("valid default");
        JobsConfig {
            cleanup: schedule(JobName::CleanupOldRuns),
            health: schedule(JobName::HealthCheck),
            report: schedule(JobName::DailyReport),
            retention: chrono::Duration::days(30),
            cleanup_batch: 1_000,
            session_idle: crate::server::auth::sessions::SessionPolicy::default().idle,
            partition_unit: PartitionUnit::default(),
        }
    }
}

impl JobsConfig {
    pub fn schedule(&self, job: JobName) -> &Schedule {
        match job {
            JobName::CleanupOldRuns => &self.cleanup,
            JobName::HealthCheck => &self.health,
            JobName::DailyReport => &self.report,
        }
    }
}

/// A cron expression in UTC: the usual five fields (`0 2 * * *`), or six with seconds first.
pub fn parse_schedule(text: &str) -> Result<Schedule, String> {
    let fields = text.split_whitespace().count();
    let full = if fields == 5 {
        format!("0 {text}")
    } else {
        text.to_owned()
    };
    Schedule::from_str(&full).map_err(|err| format!("`{text}` is not a cron schedule: {err}"))
}

/// Why a job was asked to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Http,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Http => "http",
        }
    }
}

pub struct Scheduler {
    pool: PgPool,
    /// The health check's probe runs are published like any other run.
    publisher: AgentEventPublisher,
    bus: Arc<EventBus>,
    agents: Arc<AgentRunner>,
    config: JobsConfig,
    clock: Arc<dyn Clock>,
    instance: String,
    probe_user: tokio::sync::OnceCell<uuid::Uuid>,
}

impl Scheduler {
    pub fn new(
        pool: PgPool,
        bus: Arc<EventBus>,
        agents: Arc<AgentRunner>,
        config: JobsConfig,
        clock: Arc<dyn Clock>,
    ) -> Arc<Scheduler> {
        let instance = agents.instance().to_owned();
        Arc::new(Scheduler {
            publisher: AgentEventPublisher::new(pool.clone()),
            pool,
            bus,
            agents,
            config,
            clock,
            instance,
            probe_user: tokio::sync::OnceCell::new(),
        })
    }

    pub fn config(&self) -> &JobsConfig {
        &self.config
    }

    /// Fires every job on its schedule until the process ends.
    pub fn start(self: &Arc<Self>) {
        for job in JobName::ALL {
            tokio::spawn(Arc::clone(self).keep_firing(job));
        }
    }

    async fn keep_firing(self: Arc<Self>, job: JobName) {
        loop {
            let now = self.clock.now();
            let Some(next) = self.config.schedule(job).after(&now).next() else {
                return;
            };
            let wait = (next - now).to_std().unwrap_or(Duration::ZERO);
            tokio::time::sleep(wait).await;
            match self.fire(job, next, Trigger::Schedule).await {
                Ok(Some(run)) if run.outcome == "failed" => {
                    tracing::warn!("job {} failed: {}", job.as_str(), run.details)
                }
                Ok(_) => {}
                Err(err) => tracing::warn!("job {}: {err}", job.as_str()),
            }
        }
    }

    /// Runs `job` for the firing at `scheduled_for`, unless another instance already did (None).
    /// A job that fails is recorded as failed with its error; only bookkeeping errors are returned.
    pub async fn fire(
        &self,
        job: JobName,
        scheduled_for: DateTime<Utc>,
        trigger: Trigger,
    ) -> Result<Option<JobRun>, AppError> {
        // Held on one connection for the whole run: a second run of the same job waits its turn
        // (skips), and a crashed process releases it with its connection.
        let mut lock = self.pool.acquire().await?;
        if !store::try_lock_job(&mut lock, job.as_str()).await? {
            return Ok(None);
        }
        let outcome = self.fire_locked(job, scheduled_for, trigger).await;
        let _ = store::unlock_job(&mut lock, job.as_str()).await;
        outcome
    }

    async fn fire_locked(
        &self,
        job: JobName,
        scheduled_for: DateTime<Utc>,
        trigger: Trigger,
    ) -> Result<Option<JobRun>, AppError> {
        let mut tx = begin_scoped(&self.pool, Principal::SYSTEM).await?;
        let started = store::begin_run(
            &mut tx,
            job.as_str(),
            scheduled_for,
            trigger.as_str(),
            &self.instance,
            self.clock.now(),
        )
        .await?;
        tx.commit().await?;
        let Some(run) = started else {
            return Ok(None);
        };
        let result = match job {
            JobName::CleanupOldRuns => cleanup::run(self).await,
            JobName::HealthCheck => health::run(self).await,
            JobName::DailyReport => report::run(self).await,
        };
        let (outcome, details) = match result {
            Ok(details) => ("succeeded", details),
            Err(err) => ("failed", json!({ "error": err.to_string() })),
        };
        metrics::counter!(telemetry::JOB_RUNS, "job" => job.as_str(), "outcome" => outcome)
            .increment(1);
        let mut tx = begin_scoped(&self.pool, Principal::SYSTEM).await?;
        let finished =
            store::finish_run(&mut tx, run.id, outcome, &details, self.clock.now()).await?;
        tx.commit().await?;
        Ok(Some(finished))
    }
}

/// The scheduler's view, for job bodies.
impl Scheduler {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

type JobResult = Result<Value, AppError>;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn default_schedules_fire_when_the_issue_says() {
        let config = JobsConfig::default();
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 1, 59, 59).unwrap();
        let next = |s: &Schedule| s.after(&at).next().unwrap();
        assert_eq!(
            next(&config.cleanup),
            Utc.with_ymd_and_hms(2026, 3, 1, 2, 0, 0).unwrap()
        );
        assert_eq!(
            next(&config.health),
            Utc.with_ymd_and_hms(2026, 3, 1, 2, 0, 0).unwrap()
        );
        assert_eq!(
            next(&config.report),
            Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
        );
        let later = Utc.with_ymd_and_hms(2026, 3, 1, 2, 0, 0).unwrap();
        assert_eq!(
            config.health.after(&later).next().unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 1, 2, 5, 0).unwrap()
        );
    }

    #[test]
    fn five_field_crontab_lines_are_accepted_and_garbage_is_named() {
        let schedule = parse_schedule("30 3 * * *").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        assert_eq!(
            schedule.after(&at).next().unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 1, 3, 30, 0).unwrap()
        );
        let err = parse_schedule("every tuesday").unwrap_err();
        assert!(
            err.contains("`every tuesday` is not a cron schedule"),
            "{err}"
        );
    }
}
