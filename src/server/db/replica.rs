//! A read replica: a streaming standby (`DATABASE_READ_URL`) that takes the dashboard's heavy reads
//! (lists, totals, exports) off the primary. Writes, the event hub and live replay stay on the
//! primary.
//!
//! The consistency rule: a read goes to the standby only once the standby has replayed the primary's
//! WAL as of the moment the read began. So a read sees every write that finished before it started
//! (an agent's POST then GET, a page's live cursor read just before), as a read on the primary
//! would. A standby that lags more than [`REPLICA_WAIT_MAX`] is skipped: the read goes to the primary.

use super::{app_pool, DbError};
use crate::server::telemetry;
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use std::time::Duration;

/// Longest a read waits for the standby to catch up before it reads the primary instead.
pub const REPLICA_WAIT_MAX: Duration = Duration::from_millis(500);
const REPLICA_POLL: Duration = Duration::from_millis(5);

/// The standby's application pool, and the primary's to ask where its WAL stands.
pub struct ReadReplica {
    standby: PgPool,
    primary: PgPool,
}

impl ReadReplica {
    /// Connects to the standby at `read_url` as the application role (the same owner credentials as
    /// the primary's; the role and its password come with the replication).
    pub async fn connect(
        read_url: &str,
        primary: PgPool,
        max_connections: u32,
    ) -> Result<ReadReplica, DbError> {
        let owner: PgConnectOptions = read_url.parse().map_err(|cause| DbError::Connect {
            target: "DATABASE_READ_URL".into(),
            hint: "",
            cause,
        })?;
        let standby = app_pool(&owner, max_connections).await?;
        // The primary itself, or a promoted standby, would make every read wait for a replay
        // that never comes: refuse to start instead.
        let in_recovery = sqlx::query_scalar!(r#"SELECT pg_is_in_recovery() AS "in_recovery!""#)
            .fetch_one(&standby)
            .await?;
        if !in_recovery {
            return Err(DbError::NotAStandby);
        }
        Ok(ReadReplica { standby, primary })
    }

    /// The pool a read that begins now should use: the standby once it has caught up with the
    /// primary as of now, else the primary.
    pub async fn pool_for_read(&self) -> Result<PgPool, sqlx::Error> {
        // The insert position, not the write position: with synchronous_commit off, a commit that
        // has returned may not be written yet, and the standby must still wait for it.
        let target = sqlx::query_scalar!(r#"SELECT pg_current_wal_insert_lsn()::text AS "lsn!""#)
            .fetch_one(&self.primary)
            .await?;
        let deadline = tokio::time::Instant::now() + REPLICA_WAIT_MAX;
        loop {
            // Null once the standby has been promoted: it no longer follows the primary, so it is
            // never caught up, and the primary answers at once.
            let caught_up = sqlx::query_scalar!(
                r#"SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn AS "caught_up""#,
                target
            )
            .fetch_one(&self.standby)
            .await;
            match caught_up {
                Ok(Some(true)) => {
                    metrics::counter!(telemetry::REPLICA_READS, "served_by" => "standby")
                        .increment(1);
                    return Ok(self.standby.clone());
                }
                Ok(Some(false)) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(REPLICA_POLL).await;
                }
                Ok(_) | Err(_) => {
                    metrics::counter!(telemetry::REPLICA_READS, "served_by" => "primary")
                        .increment(1);
                    return Ok(self.primary.clone());
                }
            }
        }
    }
}
