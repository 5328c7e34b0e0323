//! `cleanup-old-runs`: keeps the event log's partitions made ahead and drops the expired ones
//! whole, then deletes runs (and, by cascade, what is left of their events and spans) that
//! finished more than the retention ago, one short transaction per batch; active runs are kept
//! whatever their age. Also clears ended or idle sessions, old idempotency keys and sign-in and
//! sign-up counters.

use super::{JobResult, Scheduler};
use crate::server::db::{begin_scoped, Principal};
use crate::server::partitions;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;

pub(super) async fn run(scheduler: &Scheduler) -> JobResult {
    let now = scheduler.now();
    let cutoff = now - scheduler.config.retention;
    let pool = &scheduler.pool;
    let partitions_made =
        partitions::create_ahead_committed(pool, now, scheduler.config.partition_unit).await?;
    // Before the runs go: dropping a partition first leaves their cascade nothing to delete there.
    let partitions_dropped = partitions::drop_expired_committed(pool, cutoff).await?;
    let (runs_deleted, batches) =
        delete_finished_runs(pool, cutoff, scheduler.config.cleanup_batch).await?;
    let mut tx = begin_scoped(pool, Principal::SYSTEM).await?;
    let (keys, sessions, attempts) =
        super::store::delete_stale_auth_rows(&mut tx, now, scheduler.config.session_idle).await?;
    tx.commit().await?;
    Ok(json!({
        "cutoff": cutoff,
        "partitions_created": partitions_made.made,
        "partitions_busy": partitions_made.busy,
        "partitions_dropped": partitions_dropped,
        "runs_deleted": runs_deleted,
        "batches": batches,
        "idempotency_keys_deleted": keys,
        "sessions_deleted": sessions,
        "auth_attempts_deleted": attempts,
    }))
}

/// Deletes the runs that finished before `cutoff`, `batch` per transaction, until none is left;
/// returns how many runs, in how many transactions.
pub async fn delete_finished_runs(
    pool: &PgPool,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> Result<(u64, u64), sqlx::Error> {
    let (mut runs_deleted, mut batches) = (0u64, 0u64);
    loop {
        let mut tx = begin_scoped(pool, Principal::SYSTEM).await?;
        let deleted = super::store::delete_finished_runs(&mut tx, cutoff, batch).await?;
        tx.commit().await?;
        runs_deleted += deleted;
        batches += 1;
        if deleted < batch as u64 {
            return Ok((runs_deleted, batches));
        }
    }
}
