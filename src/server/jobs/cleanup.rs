//! `cleanup-old-runs`: keeps the event log's partitions made ahead and drops the expired ones
//! whole, then deletes runs (and, by cascade, what is left of their events and spans) that
//! finished more than the retention ago, one short transaction per batch; active runs are kept
//! whatever their age. Also clears ended or idle sessions, old idempotency keys and sign-in and
//! sign-up counters.

use super::{JobResult, Scheduler};
use crate::server::db::{begin_scoped, Principal};
use crate::server::partitions;
use serde_json::json;

pub(super) async fn run(scheduler: &Scheduler) -> JobResult {
    let now = scheduler.now();
    let cutoff = now - scheduler.config.retention;
    let mut tx = begin_scoped(&scheduler.pool, Principal::SYSTEM).await?;
    let partitions_created =
        partitions::create_ahead(&mut tx, now, scheduler.config.partition_unit).await?;
    tx.commit().await?;
    // Before the runs go: dropping a partition first leaves their cascade nothing to delete there.
    let mut tx = begin_scoped(&scheduler.pool, Principal::SYSTEM).await?;
    let partitions_dropped = partitions::drop_expired(&mut tx, cutoff).await?;
    tx.commit().await?;
    let (mut runs_deleted, mut batches) = (0u64, 0u64);
    loop {
        let mut tx = begin_scoped(&scheduler.pool, Principal::SYSTEM).await?;
        let deleted =
            super::store::delete_finished_runs(&mut tx, cutoff, scheduler.config.cleanup_batch)
                .await?;
        tx.commit().await?;
        runs_deleted += deleted;
        batches += 1;
        if deleted < scheduler.config.cleanup_batch as u64 {
            break;
        }
    }
    let mut tx = begin_scoped(&scheduler.pool, Principal::SYSTEM).await?;
    let (keys, sessions, attempts) =
        super::store::delete_stale_auth_rows(&mut tx, now, scheduler.config.session_idle).await?;
    tx.commit().await?;
    Ok(json!({
        "cutoff": cutoff,
        "partitions_created": partitions_created,
        "partitions_dropped": partitions_dropped,
        "runs_deleted": runs_deleted,
        "batches": batches,
        "idempotency_keys_deleted": keys,
        "sessions_deleted": sessions,
        "auth_attempts_deleted": attempts,
    }))
}
