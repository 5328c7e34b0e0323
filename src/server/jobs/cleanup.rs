//! `cleanup-old-runs`: deletes runs (and, by cascade, their events) that finished more than the
//! retention ago, one short transaction per batch; active runs are kept whatever their age. Also
//! clears ended or idle sessions, old idempotency keys and sign-in and sign-up counters.

use super::{JobResult, Scheduler};
use crate::server::db::{begin_scoped, Principal};
use serde_json::json;

pub(super) async fn run(scheduler: &Scheduler) -> JobResult {
    let now = scheduler.now();
    let cutoff = now - scheduler.config.retention;
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
        "runs_deleted": runs_deleted,
        "batches": batches,
        "idempotency_keys_deleted": keys,
        "sessions_deleted": sessions,
        "auth_attempts_deleted": attempts,
    }))
}
