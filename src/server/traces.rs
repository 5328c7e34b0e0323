//! The traces repository: all SQL on `agent_run_traces`, which maps a user's OpenTelemetry trace ids
//! to the runs they became.

use crate::server::db::ScopedTx;
use uuid::Uuid;

/// Holds the caller's trace `trace_id` until the transaction ends, so two requests carrying spans
/// of one new trace make one run between them, not two.
pub async fn lock(tx: &mut ScopedTx, trace_id: &str) -> Result<(), sqlx::Error> {
    let key = format!("{}:{trace_id}", tx.principal().user_id);
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 14)) AS locked",
        key
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(())
}

/// The run the caller's trace `trace_id` became, if it has arrived before. Named by the caller's
/// own id: an admin's token sees every user's rows, and trace ids are only unique per user.
pub async fn run_of(tx: &mut ScopedTx, trace_id: &str) -> Result<Option<Uuid>, sqlx::Error> {
    let user_id = tx.principal().user_id;
    sqlx::query_scalar!(
        "SELECT run_id FROM agent_run_traces WHERE user_id = $1 AND trace_id = $2",
        user_id,
        trace_id
    )
    .fetch_optional(tx.conn())
    .await
}

/// Records that the caller's trace `trace_id` is run `run_id` (the first link of a trace stays).
pub async fn link(tx: &mut ScopedTx, trace_id: &str, run_id: Uuid) -> Result<(), sqlx::Error> {
    let user_id = tx.principal().user_id;
    sqlx::query!(
        "INSERT INTO agent_run_traces (user_id, trace_id, run_id) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, trace_id) DO NOTHING",
        user_id,
        trace_id,
        run_id
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}
