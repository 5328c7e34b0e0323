//! The built-in agents' job queue (`agent_jobs`): every SQL statement on it lives here.

use crate::model::{AgentRun, RunStatus};
use crate::server::db::ScopedTx;
use std::time::Duration;
use uuid::Uuid;

/// A claimed job: the run to work on and whose it is.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ClaimedJob {
    pub run_id: Uuid,
    pub user_id: Uuid,
    pub agent_name: String,
    pub task: String,
}

/// A job whose worker is gone (lease ran out) or that no worker took in time.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StaleJob {
    pub run_id: Uuid,
    pub user_id: Uuid,
    pub status: RunStatus,
    pub claimed: bool,
}

/// Queues `run` for the built-in agent it names (in the transaction that created it).
pub async fn enqueue(tx: &mut ScopedTx, run: &AgentRun) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO agent_jobs (run_id, user_id, agent_name) VALUES ($1, $2, $3)",
        run.id,
        run.user_id,
        &run.agent_name
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// How many of the scoped user's runs wait for a worker. Taken under a lock per user held until the
/// transaction ends, so two concurrent starts cannot both see room for one more.
pub async fn waiting_for_user(tx: &mut ScopedTx) -> Result<i64, sqlx::Error> {
    let user_id = tx.principal().user_id;
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtext('runwire-queue:' || $1::uuid::text))",
        user_id
    )
    .execute(tx.conn())
    .await?;
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "waiting!" FROM agent_jobs
           WHERE user_id = $1 AND finished_at IS NULL AND claimed_at IS NULL"#,
        user_id
    )
    .fetch_one(tx.conn())
    .await
}

/// Takes the oldest waiting job for `worker`, if any. Other workers skip the row it locks, so two
/// processes never take the same job.
pub async fn claim(
    tx: &mut ScopedTx,
    worker: &str,
    lease: Duration,
) -> Result<Option<ClaimedJob>, sqlx::Error> {
    sqlx::query_as!(
        ClaimedJob,
        "WITH next AS (
             SELECT run_id FROM agent_jobs
             WHERE finished_at IS NULL AND claimed_at IS NULL
             ORDER BY created_at
             LIMIT 1
             FOR UPDATE SKIP LOCKED
         )
         UPDATE agent_jobs j
         SET claimed_by = $1, claimed_at = now(), lease_until = now() + make_interval(secs => $2)
         FROM next, agent_runs r
         WHERE j.run_id = next.run_id AND r.id = j.run_id
         RETURNING j.run_id, j.user_id, j.agent_name, r.task",
        worker,
        lease.as_secs_f64()
    )
    .fetch_optional(tx.conn())
    .await
}

/// Extends `worker`'s lease on its job; false when the job is no longer its own (timed out).
pub async fn renew(
    tx: &mut ScopedTx,
    run_id: Uuid,
    worker: &str,
    lease: Duration,
) -> Result<bool, sqlx::Error> {
    let renewed = sqlx::query!(
        "UPDATE agent_jobs SET lease_until = now() + make_interval(secs => $3)
         WHERE run_id = $1 AND claimed_by = $2 AND finished_at IS NULL",
        run_id,
        worker,
        lease.as_secs_f64()
    )
    .execute(tx.conn())
    .await?;
    Ok(renewed.rows_affected() == 1)
}

/// Marks a job done with a short outcome ("completed", "cancelled", "timed out: ...").
pub async fn finish(tx: &mut ScopedTx, run_id: Uuid, outcome: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE agent_jobs SET finished_at = now(), outcome = $2
         WHERE run_id = $1 AND finished_at IS NULL",
        run_id,
        outcome
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Unfinished jobs whose lease ran out, or that waited unclaimed longer than `queue_timeout`,
/// locked for the caller to end; jobs another reaper holds are skipped.
pub async fn lock_stale(
    tx: &mut ScopedTx,
    queue_timeout: Duration,
    limit: i64,
) -> Result<Vec<StaleJob>, sqlx::Error> {
    sqlx::query_as!(
        StaleJob,
        r#"SELECT j.run_id, j.user_id, r.status AS "status: RunStatus",
                  j.claimed_at IS NOT NULL AS "claimed!"
           FROM agent_jobs j JOIN agent_runs r ON r.id = j.run_id
           WHERE j.finished_at IS NULL
             AND (j.lease_until < now()
                  OR (j.claimed_at IS NULL AND j.created_at < now() - make_interval(secs => $1)))
           ORDER BY j.created_at
           LIMIT $2
           FOR UPDATE OF j SKIP LOCKED"#,
        queue_timeout.as_secs_f64(),
        limit
    )
    .fetch_all(tx.conn())
    .await
}

/// Jobs waiting for a worker and jobs being worked on, across all processes.
pub async fn counts(tx: &mut ScopedTx) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE claimed_at IS NULL) AS "waiting!",
                  count(*) FILTER (WHERE claimed_at IS NOT NULL) AS "running!"
           FROM agent_jobs WHERE finished_at IS NULL"#
    )
    .fetch_one(tx.conn())
    .await?;
    Ok((row.waiting, row.running))
}
