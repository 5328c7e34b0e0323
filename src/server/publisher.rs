//! The AgentEventPublisher: the one write path for runs, used by the REST API, the built-in agents and
//! anything else that reports work. Each call is one transaction that updates the run row and appends
//! its event(s); the insert trigger NOTIFYs listeners when it commits.

use crate::error::AppError;
use crate::model::{AgentRun, NewRun, RunEventKind, RunStatus, RunUpdate};
use crate::server::db::{begin_scoped, Principal, ScopedTx};
use crate::server::events::{self, NewEvent};
use crate::server::runs;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Clone)]
pub struct AgentEventPublisher {
    pool: PgPool,
}

impl AgentEventPublisher {
    pub fn new(pool: PgPool) -> Self {
        AgentEventPublisher { pool }
    }

    /// Creates a run as described by `new`.
    pub async fn create(&self, who: Principal, new: &NewRun) -> Result<AgentRun, AppError> {
        let mut tx = begin_scoped(&self.pool, who).await?;
        let run = create_in(&mut tx, new).await?;
        tx.commit().await?;
        Ok(run)
    }

    /// Applies one update to a run.
    pub async fn apply(
        &self,
        who: Principal,
        run_id: Uuid,
        update: RunUpdate,
    ) -> Result<AgentRun, AppError> {
        self.apply_batch(who, run_id, std::slice::from_ref(&update))
            .await
    }

    /// Applies `updates` in order, all or nothing.
    pub async fn apply_batch(
        &self,
        who: Principal,
        run_id: Uuid,
        updates: &[RunUpdate],
    ) -> Result<AgentRun, AppError> {
        let mut tx = begin_scoped(&self.pool, who).await?;
        let run = apply_in(&mut tx, run_id, updates).await?;
        tx.commit().await?;
        Ok(run)
    }
}

/// [`AgentEventPublisher::create`] inside a caller's transaction.
pub async fn create_in(tx: &mut ScopedTx, new: &NewRun) -> Result<AgentRun, AppError> {
    new.validate()?;
    let run = runs::insert(tx, new).await?;
    let kind = if run.status == RunStatus::InProgress {
        RunEventKind::Started
    } else {
        RunEventKind::Status
    };
    // The run itself travels as a snapshot; its first event need not repeat the task.
    events::append(tx, vec![NewEvent::of(&run, kind, json!({}))]).await?;
    Ok(run)
}

/// [`AgentEventPublisher::apply_batch`] inside a caller's transaction. Another user's run is
/// "not found" (row-level security hides it).
///
/// The run is changed in place, one update after another, and written when its status changes
/// (so the database's transition guard sees every move) and once at the end: a batch of a thousand
/// progress reports costs one run row in memory and one UPDATE, whatever the run's size.
pub async fn apply_in(
    tx: &mut ScopedTx,
    run_id: Uuid,
    updates: &[RunUpdate],
) -> Result<AgentRun, AppError> {
    if updates.is_empty() {
        return Err(AppError::validation("updates", "send at least one update"));
    }
    let (mut run, now) = runs::lock(tx, run_id).await?.ok_or(AppError::NotFound)?;
    let mut saved_status = run.status;
    let mut recorded = Vec::with_capacity(updates.len());
    for (n, update) in updates.iter().enumerate() {
        let (kind, payload) = run.apply_in_place(update, now)?;
        if run.status != saved_status && n + 1 < updates.len() {
            runs::save_state(tx, &run).await?;
            saved_status = run.status;
        }
        recorded.push(NewEvent::of(&run, kind, payload));
    }
    runs::save(tx, &run).await?;
    events::append(tx, recorded).await?;
    Ok(run)
}
