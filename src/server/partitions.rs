//! The partitions of the event log and the spans (migrations 022 and 023): all SQL that creates
//! and drops them. The work is done by two database functions that run as the tables' owner, since
//! the application's role may not create or drop tables; they take one of the log's two tables and
//! times, and the drop refuses any scope but the system's.

use crate::server::db::{begin_scoped, Principal, ScopedTx};
use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};

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

/// The log's partitioned tables. Each is worked on in a transaction of its own (migration 023).
pub const LOG_TABLES: [&str; 2] = ["agent_run_events", "agent_run_spans"];

/// What making partitions ahead did: how many it made, and the tables it could not lock in time
/// (their new rows wait in the DEFAULT partition until the next run).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionsMade {
    pub made: i32,
    pub busy: Vec<&'static str>,
}

/// Makes the partitions of `table`, one per `unit`, for [`from`, `until`) where none is yet; rows
/// that had landed in its DEFAULT partition for a new range move into it. Returns how many were
/// made. A new partition does not take its table's statistics targets, so the opaque columns of
/// each are then left out of ANALYZE (migration 024).
pub async fn create(
    conn: &mut PgConnection,
    table: &str,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    unit: PartitionUnit,
) -> Result<i32, sqlx::Error> {
    let made = sqlx::query_scalar!(
        r#"SELECT runwire_create_partitions_of($1, $2, $3, $4) AS "made!""#,
        table,
        from,
        until,
        unit.as_str()
    )
    .fetch_one(&mut *conn)
    .await?;
    if made > 0 {
        sqlx::query_scalar!(
            r#"SELECT runwire_skip_opaque_statistics($1) AS "set!""#,
            table
        )
        .fetch_one(conn)
        .await?;
    }
    Ok(made)
}

/// [`create`] from `now`'s partition to `now` + the unit's lead.
pub async fn create_ahead(
    tx: &mut ScopedTx,
    table: &str,
    now: DateTime<Utc>,
    unit: PartitionUnit,
) -> Result<i32, sqlx::Error> {
    create(tx.conn(), table, now, now + unit.ahead(), unit).await
}

/// Drops the partitions of `table` that end before `cutoff` and hold no row of a run inside
/// retention (unfinished, or finished at or after `cutoff`). Returns their names; none when the
/// table could not be locked in time.
pub async fn drop_expired(
    tx: &mut ScopedTx,
    table: &str,
    cutoff: DateTime<Utc>,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT name AS "name!" FROM runwire_drop_expired_partitions_of($1, $2) AS name"#,
        table,
        cutoff
    )
    .fetch_all(tx.conn())
    .await
}

/// [`create_ahead`] for every table of the log, each in a system-scoped transaction of its own,
/// committed: a table is held from its lock to its commit, and never while another is waited for.
pub async fn create_ahead_committed(
    pool: &PgPool,
    now: DateTime<Utc>,
    unit: PartitionUnit,
) -> Result<PartitionsMade, sqlx::Error> {
    let mut done = PartitionsMade::default();
    for table in LOG_TABLES {
        let mut tx = begin_scoped(pool, Principal::SYSTEM).await?;
        match create_ahead(&mut tx, table, now, unit).await {
            Ok(made) => {
                tx.commit().await?;
                done.made += made;
            }
            Err(err) if is_lock_timeout(&err) => {
                tracing::warn!("{table} is busy; its partitions are made on a later run");
                done.busy.push(table);
            }
            Err(err) => return Err(err),
        }
    }
    Ok(done)
}

/// [`drop_expired`] for every table of the log, each in a system-scoped transaction of its own,
/// committed at once: a drop holds its table's exclusive lock until then.
pub async fn drop_expired_committed(
    pool: &PgPool,
    cutoff: DateTime<Utc>,
) -> Result<Vec<String>, sqlx::Error> {
    let mut dropped = Vec::new();
    for table in LOG_TABLES {
        let mut tx = begin_scoped(pool, Principal::SYSTEM).await?;
        dropped.extend(drop_expired(&mut tx, table, cutoff).await?);
        tx.commit().await?;
    }
    Ok(dropped)
}

/// PostgreSQL's lock_not_available: a `lock_timeout` ran out.
fn is_lock_timeout(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "55P03")
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
