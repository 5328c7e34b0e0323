//! The partitions of the event log and the spans (migration 022): all SQL that creates and drops
//! them. The work is done by two database functions that run as the tables' owner, since the
//! application's role may not create or drop tables; they take only times, and the drop refuses
//! any scope but the system's.

use crate::server::db::{begin_scoped, Principal, ScopedTx};
use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

/// How much time one partition holds (UTC boundaries; weeks start on Monday).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PartitionUnit {
    Day,
    Week,
    #[default]
    Month,
}

impl PartitionUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            PartitionUnit::Day => "day",
            PartitionUnit::Week => "week",
            PartitionUnit::Month => "month",
        }
    }

    /// How far ahead partitions are made: the current one and at least the next two, so a
    /// scheduler that misses a day or two never leaves new rows without their partition.
    pub fn ahead(self) -> Duration {
        match self {
            PartitionUnit::Day => Duration::days(2),
            PartitionUnit::Week => Duration::weeks(2),
            PartitionUnit::Month => Duration::days(62),
        }
    }
}

/// One partition of `agent_run_events` or `agent_run_spans`, [lo, hi).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogPartition {
    pub parent: String,
    pub name: String,
    pub lo: DateTime<Utc>,
    pub hi: DateTime<Utc>,
}

/// Makes the partitions of both tables from `now`'s to `now` + the unit's lead; rows that had
/// landed in a DEFAULT partition for a new range move into it. Returns how many were made.
pub async fn create_ahead(
    tx: &mut ScopedTx,
    now: DateTime<Utc>,
    unit: PartitionUnit,
) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT runwire_create_log_partitions($1, $2, $3) AS "made!""#,
        now,
        now + unit.ahead(),
        unit.as_str()
    )
    .fetch_one(tx.conn())
    .await
}

/// Drops the partitions that end before `cutoff` and hold no row of a run inside retention
/// (unfinished, or finished at or after `cutoff`). Returns their names.
pub async fn drop_expired(
    tx: &mut ScopedTx,
    cutoff: DateTime<Utc>,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT name AS "name!" FROM runwire_drop_expired_log_partitions($1) AS name"#,
        cutoff
    )
    .fetch_all(tx.conn())
    .await
}

/// [`create_ahead`] in a system-scoped transaction of its own, committed.
pub async fn create_ahead_committed(
    pool: &PgPool,
    now: DateTime<Utc>,
    unit: PartitionUnit,
) -> Result<i32, sqlx::Error> {
    let mut tx = begin_scoped(pool, Principal::SYSTEM).await?;
    let made = create_ahead(&mut tx, now, unit).await?;
    tx.commit().await?;
    Ok(made)
}

/// [`drop_expired`] in a system-scoped transaction of its own, committed at once: a drop holds
/// its table's exclusive lock until then.
pub async fn drop_expired_committed(
    pool: &PgPool,
    cutoff: DateTime<Utc>,
) -> Result<Vec<String>, sqlx::Error> {
    let mut tx = begin_scoped(pool, Principal::SYSTEM).await?;
    let dropped = drop_expired(&mut tx, cutoff).await?;
    tx.commit().await?;
    Ok(dropped)
}

/// Every range partition of both tables, oldest first (the DEFAULT partitions have no range).
pub async fn list(tx: &mut ScopedTx) -> Result<Vec<LogPartition>, sqlx::Error> {
    sqlx::query_as!(
        LogPartition,
        r#"SELECT parent AS "parent!", partition AS "name!", lo AS "lo!", hi AS "hi!"
           FROM runwire_log_partitions() WHERE lo IS NOT NULL"#
    )
    .fetch_all(tx.conn())
    .await
}
