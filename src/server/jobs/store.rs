//! Every SQL statement of the scheduled jobs: their history, health samples, reports, and the
//! deletes of the cleanup.

use crate::model::{DailyReport, HealthSample, JobRun};
use crate::server::db::ScopedTx;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

/// Records the start of a firing; None when another instance already recorded the same firing.
pub async fn begin_run(
    tx: &mut ScopedTx,
    job: &str,
    scheduled_for: DateTime<Utc>,
    trigger: &str,
    instance: &str,
    now: DateTime<Utc>,
) -> Result<Option<JobRun>, sqlx::Error> {
    sqlx::query_as!(
        JobRun,
        "INSERT INTO job_runs (job, scheduled_for, trigger, instance, started_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (job, scheduled_for) DO NOTHING
         RETURNING id, job, scheduled_for, trigger, instance, started_at, finished_at, outcome, details",
        job,
        scheduled_for,
        trigger,
        instance,
        now
    )
    .fetch_optional(tx.conn())
    .await
}

pub async fn finish_run(
    tx: &mut ScopedTx,
    id: i64,
    outcome: &str,
    details: &Value,
    now: DateTime<Utc>,
) -> Result<JobRun, sqlx::Error> {
    sqlx::query_as!(
        JobRun,
        "UPDATE job_runs SET finished_at = $2, outcome = $3, details = $4 WHERE id = $1
         RETURNING id, job, scheduled_for, trigger, instance, started_at, finished_at, outcome, details",
        id,
        now,
        outcome,
        details
    )
    .fetch_one(tx.conn())
    .await
}

pub async fn recent_runs(tx: &mut ScopedTx, limit: i64) -> Result<Vec<JobRun>, sqlx::Error> {
    sqlx::query_as!(
        JobRun,
        "SELECT id, job, scheduled_for, trigger, instance, started_at, finished_at, outcome, details
         FROM job_runs ORDER BY started_at DESC, id DESC LIMIT $1",
        limit
    )
    .fetch_all(tx.conn())
    .await
}

/// Deletes up to `batch` finished runs that ended before `cutoff` (their events go with them);
/// returns how many. Runs another transaction holds are skipped, never waited for.
pub async fn delete_finished_runs(
    tx: &mut ScopedTx,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query!(
        "DELETE FROM agent_runs WHERE id IN (
             SELECT id FROM agent_runs
             WHERE completed_at < $1
               AND status IN ('completed', 'failed', 'cancelled', 'timed_out')
             ORDER BY completed_at
             LIMIT $2
             FOR UPDATE SKIP LOCKED)",
        cutoff,
        batch
    )
    .execute(tx.conn())
    .await?;
    Ok(deleted.rows_affected())
}

/// Idempotency keys past their replay window, sessions past their end or idle too long, and old
/// sign-in and sign-up counters.
pub async fn delete_stale_auth_rows(
    tx: &mut ScopedTx,
    now: DateTime<Utc>,
    session_idle: chrono::Duration,
) -> Result<(u64, u64, u64), sqlx::Error> {
    let keys = sqlx::query!(
        "DELETE FROM idempotency_keys WHERE created_at < $1::timestamptz - interval '24 hours'",
        now
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    let sessions = sqlx::query!(
        "DELETE FROM sessions WHERE expires_at < $1 OR last_seen_at < $2",
        now,
        now - session_idle
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    let attempts = sqlx::query!(
        "DELETE FROM auth_attempts WHERE window_started_at < $1::timestamptz - interval '1 day'",
        now
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    sqlx::query!(
        "DELETE FROM alerts_sent WHERE sent_at < $1::timestamptz - interval '7 days'",
        now
    )
    .execute(tx.conn())
    .await?;
    Ok((keys, sessions, attempts))
}

pub async fn insert_health(tx: &mut ScopedTx, sample: &HealthSample) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO health_samples (taken_at, healthy, db_latency_ms, bus_lag_ms, jobs_waiting,
                                     jobs_running, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        sample.taken_at,
        sample.healthy,
        sample.db_latency_ms,
        sample.bus_lag_ms,
        sample.jobs_waiting,
        sample.jobs_running,
        &sample.details
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn recent_health(
    tx: &mut ScopedTx,
    limit: i64,
) -> Result<Vec<HealthSample>, sqlx::Error> {
    sqlx::query_as!(
        HealthSample,
        "SELECT taken_at, healthy, db_latency_ms, bus_lag_ms, jobs_waiting, jobs_running, details
         FROM health_samples ORDER BY taken_at DESC LIMIT $1",
        limit
    )
    .fetch_all(tx.conn())
    .await
}

/// Writes every user's report for `day` from the hourly rollup (again, if it ran before);
/// returns how many users had runs that day.
pub async fn write_daily_reports(tx: &mut ScopedTx, day: NaiveDate) -> Result<u64, sqlx::Error> {
    let written = sqlx::query!(
"WITH day_rows AS (
             SELECT * FROM run_rollup_hourly
             WHERE hour >= $1::date::timestamp AT TIME ZONE 'UTC'
               AND hour < ($1::date + 1)::timestamp AT TIME ZONE 'UTC'
         ), per_agent AS (
             SELECT user_id, agent_name, sum(failed) AS failed,
                    sum(completed + failed + cancelled + timed_out) AS finished
             FROM day_rows GROUP BY 1, 2
         ), failing AS (
             SELECT user_id,
                    jsonb_agg(jsonb_build_object('agent', agent_name, 'failed', failed,
                                                 'finished', finished)
                              ORDER BY failed DESC, agent_name) FILTER (WHERE failed > 0) AS top
             FROM (SELECT *, row_number() OVER (PARTITION BY user_id ORDER BY failed DESC, agent_name) AS n
                   FROM per_agent) ranked
             WHERE n <= 3
             GROUP BY 1
         )
         INSERT INTO daily_reports (user_id, day, total, completed, failed, cancelled, timed_out,
                                    avg_duration_seconds, top_failing)
         SELECT d.user_id, $1, sum(total), sum(completed), sum(failed), sum(cancelled), sum(timed_out),
                sum(finished_ms)::float8 / nullif(sum(completed + failed + cancelled + timed_out), 0)
                    / 1000.0,
                coalesce(f.top, '[]')
         FROM day_rows d LEFT JOIN failing f USING (user_id)
         GROUP BY d.user_id, f.top
         HAVING sum(total) > 0
         ON CONFLICT (user_id, day) DO UPDATE SET
             total = EXCLUDED.total, completed = EXCLUDED.completed, failed = EXCLUDED.failed,
             cancelled = EXCLUDED.cancelled, timed_out = EXCLUDED.timed_out,
             avg_duration_seconds = EXCLUDED.avg_duration_seconds, top_failing = EXCLUDED.top_failing,
             created_at = now()",
day
)
    .execute(tx.conn())
    .await?;
    Ok(written.rows_affected())
}

/// The scoped user's reports (an admin's: everyone's), newest first.
pub async fn recent_reports(
    tx: &mut ScopedTx,
    limit: i64,
) -> Result<Vec<DailyReport>, sqlx::Error> {
    // The owner named for the index (an admin reads everyone's: no owner).
    let owner = tx.owner_filter();
    sqlx::query_as!(
        DailyReport,
        "SELECT day, total, completed, failed, cancelled, timed_out, avg_duration_seconds, top_failing
         FROM daily_reports WHERE ($1::uuid IS NULL OR user_id = $1)
         ORDER BY day DESC LIMIT $2",
        owner,
        limit
    )
    .fetch_all(tx.conn())
    .await
}

/// Claims an alert by its key; false when it was already claimed (by this or another replica).
pub async fn claim_alert(tx: &mut ScopedTx, key: &str) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query!(
        "INSERT INTO alerts_sent (key) VALUES ($1) ON CONFLICT DO NOTHING",
        key
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// (failed, finished) runs of one agent of a user over the last 24 hours, from the rollup.
pub async fn agent_outcomes_last_day(
    tx: &mut ScopedTx,
    user_id: uuid::Uuid,
    agent_name: &str,
) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT coalesce(sum(failed), 0)::bigint AS "failed!",
                  coalesce(sum(completed + failed + cancelled + timed_out), 0)::bigint AS "finished!"
           FROM run_rollup_hourly
           WHERE user_id = $1 AND agent_name = $2 AND hour >= now() - interval '24 hours'"#,
        user_id,
        agent_name
    )
    .fetch_one(tx.conn())
    .await?;
    Ok((row.failed, row.finished))
}

/// Takes the advisory lock of `job` on `conn` (a session lock: it lives as long as the connection
/// or until [`unlock_job`]); false when another session holds it.
pub async fn try_lock_job(conn: &mut sqlx::PgConnection, job: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_lock(hashtext('runwire-job:' || $1)) AS "locked!""#,
        job
    )
    .fetch_one(conn)
    .await
}

pub async fn unlock_job(conn: &mut sqlx::PgConnection, job: &str) -> Result<(), sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT pg_advisory_unlock(hashtext('runwire-job:' || $1)) AS "unlocked!""#,
        job
    )
    .fetch_one(conn)
    .await
    .map(drop)
}
