//! Totals, trend and agent names of a user's runs, from `run_rollup_hourly` (kept by triggers on
//! `agent_runs`): they cost the same at a million runs as at ten.

use crate::model::{RunStats, TrendBucket, TrendPoint, UsageRow, USAGE_ROWS_MAX};
use crate::server::db::ScopedTx;
use chrono::{DateTime, Utc};

/// Totals for the scoped user over runs created since `since` (None: all time), from the hourly
/// rollup: windows start at the top of the hour that holds `since`.
pub async fn stats(
    tx: &mut ScopedTx,
    since: Option<DateTime<Utc>>,
) -> Result<RunStats, sqlx::Error> {
    sqlx::query_as(STATS_SQL)
        .bind(tx.principal().user_id)
        .bind(since)
        .fetch_one(tx.conn())
        .await
}

/// The executed plan of [`stats`] (see [`explain_page`]).
pub async fn explain_stats(
    tx: &mut ScopedTx,
    since: Option<DateTime<Utc>>,
) -> Result<serde_json::Value, sqlx::Error> {
    sqlx::query_scalar(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {STATS_SQL}"))
        .bind(tx.principal().user_id)
        .bind(since)
        .fetch_one(tx.conn())
        .await
}

/// Plain text, not a checked query: [`explain_stats`] runs the very same text under EXPLAIN.
const STATS_SQL: &str = "SELECT coalesce(sum(total), 0)::bigint AS total,
                coalesce(sum(total - completed - failed - cancelled - timed_out), 0)::bigint AS active,
                coalesce(sum(completed), 0)::bigint AS completed,
                coalesce(sum(failed), 0)::bigint AS failed,
                coalesce(sum(cancelled), 0)::bigint AS cancelled,
                coalesce(sum(timed_out), 0)::bigint AS timed_out,
                (sum(finished_ms)::float8
                    / nullif(sum(completed + failed + cancelled + timed_out), 0) / 1000.0)
                    AS avg_duration_seconds,
                coalesce(sum(tokens_in), 0)::bigint AS tokens_in,
                coalesce(sum(tokens_out), 0)::bigint AS tokens_out,
                CASE WHEN sum(costed) > 0 THEN sum(cost_usd) END AS cost_usd
         FROM run_rollup_hourly
         WHERE user_id = $1 AND ($2::timestamptz IS NULL OR hour >= date_trunc('hour', $2, 'UTC'))";

/// Runs per `bucket` since `since`, by how they stand now; only buckets that have runs.
pub async fn trend(
    tx: &mut ScopedTx,
    since: Option<DateTime<Utc>>,
    bucket: TrendBucket,
) -> Result<Vec<TrendPoint>, sqlx::Error> {
    let unit = match bucket {
        TrendBucket::Hour => "hour",
        TrendBucket::Day => "day",
    };
    sqlx::query_as!(
        TrendPoint,
        r#"SELECT date_trunc($3, hour, 'UTC') AS "start!",
                  sum(completed)::bigint AS "completed!",
                  sum(failed)::bigint AS "failed!",
                  sum(cancelled + timed_out)::bigint AS "stopped!",
                  sum(total - completed - failed - cancelled - timed_out)::bigint AS "active!",
                  CASE WHEN sum(costed) > 0 THEN sum(cost_usd) END AS cost_usd
           FROM run_rollup_hourly
           WHERE user_id = $1 AND ($2::timestamptz IS NULL OR hour >= date_trunc('hour', $2, 'UTC'))
           GROUP BY 1
           ORDER BY 1"#,
        tx.principal().user_id,
        since,
        unit
    )
    .fetch_all(tx.conn())
    .await
}

/// The names of the agents the scoped user has runs of, for the agent filter.
pub async fn agent_names(tx: &mut ScopedTx) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT DISTINCT agent_name FROM run_rollup_hourly
         WHERE user_id = $1 AND total > 0 ORDER BY 1 LIMIT 500",
        tx.principal().user_id
    )
    .fetch_all(tx.conn())
    .await
}

/// Tokens and cost of the scoped user's runs since `since`, by agent, costliest first.
pub async fn usage_by_agent(
    tx: &mut ScopedTx,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<UsageRow>, sqlx::Error> {
    sqlx::query_as!(
        UsageRow,
        r#"SELECT agent_name AS "name!", sum(total)::bigint AS "count!",
                  sum(tokens_in)::bigint AS "tokens_in!", sum(tokens_out)::bigint AS "tokens_out!",
                  CASE WHEN sum(costed) > 0 THEN sum(cost_usd) END AS cost_usd
           FROM run_rollup_hourly
           WHERE user_id = $1 AND ($2::timestamptz IS NULL OR hour >= date_trunc('hour', $2, 'UTC'))
           GROUP BY agent_name
           HAVING sum(tokens_in) + sum(tokens_out) > 0 OR sum(costed) > 0
           ORDER BY 5 DESC NULLS LAST, 3 DESC, 1
           LIMIT $3"#,
        tx.principal().user_id,
        since,
        USAGE_ROWS_MAX
    )
    .fetch_all(tx.conn())
    .await
}
