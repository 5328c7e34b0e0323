//! The runs repository: every SQL statement on `agent_runs` lives here. Each function takes a
//! [`ScopedTx`], so row-level security is always on.

use crate::model::{
    AgentRun, NewRun, RunCursor, RunFilter, RunPage, RunSort, RunStats, RunStatus, TrendBucket,
    TrendPoint,
};
use crate::server::db::ScopedTx;
use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

const RUN_COLUMNS: &str =
    "id, task_id, user_id, agent_name, task, status, progress_percent, current_step, \
     attempt, result, error, verification_evidence, metadata, tokens_in, tokens_out, cost_usd, \
     created_at, started_at, completed_at, updated_at";

/// A run as a list reads it, with the stored duration its keyset may need.
#[derive(sqlx::FromRow)]
struct ListedRun {
    #[sqlx(flatten)]
    run: AgentRun,
    duration_ms: i64,
}

/// At most `limit` runs matching `filter` in `sort` order, after `after` when given (a cursor of
/// the same order).
pub async fn page(
    tx: &mut ScopedTx,
    filter: &RunFilter,
    sort: RunSort,
    after: Option<RunCursor>,
    limit: u32,
) -> Result<RunPage, sqlx::Error> {
    let mut rows: Vec<ListedRun> = Vec::new();
    if filter.search_text().is_some() {
        // Common words match often among the newest runs: a bounded walk finds a full page fast.
        let mut query = page_query(
            "",
            Some(SEARCH_WINDOW),
            tx.owner_filter(),
            filter,
            sort,
            after,
            limit,
        );
        rows = query.build_query_as().fetch_all(tx.conn()).await?;
    }
    // A full page found in the window is exactly the full query's page; otherwise ask it.
    if rows.len() <= limit as usize {
        let mut query = page_query("", None, tx.owner_filter(), filter, sort, after, limit);
        rows = query.build_query_as().fetch_all(tx.conn()).await?;
    }
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last()
            .map(|last| RunCursor::after(&last.run, sort, last.duration_ms).encode())
    } else {
        None
    };
    Ok(RunPage {
        runs: rows.into_iter().map(|row| row.run).collect(),
        next_cursor,
        last_event_id: 0,
    })
}

/// The plan PostgreSQL runs [`page`] with, executed (`EXPLAIN (ANALYZE, FORMAT JSON)`), so tests and
/// benchmarks can check it uses indexes. `window`: the bounded first pass of a search.
pub async fn explain_page(
    tx: &mut ScopedTx,
    window: bool,
    filter: &RunFilter,
    sort: RunSort,
    after: Option<RunCursor>,
    limit: u32,
) -> Result<serde_json::Value, sqlx::Error> {
    let mut query = page_query(
        "EXPLAIN (ANALYZE, FORMAT JSON) ",
        window.then_some(SEARCH_WINDOW),
        tx.owner_filter(),
        filter,
        sort,
        after,
        limit,
    );
    query.build_query_scalar().fetch_one(tx.conn()).await
}

/// How many of the newest runs (in list order) a search first looks through.
const SEARCH_WINDOW: i64 = 5_000;

/// The page query; with `window`, it looks only through that many runs after the cursor (in list
/// order, by owner alone, along the sort's index) before applying the rest of the filter.
fn page_query<'a>(
    prefix: &str,
    window: Option<i64>,
    owner: Option<Uuid>,
    filter: &RunFilter,
    sort: RunSort,
    after: Option<RunCursor>,
    limit: u32,
) -> QueryBuilder<'a, Postgres> {
    let mut query =
        QueryBuilder::<Postgres>::new(format!("{prefix}SELECT {RUN_COLUMNS}, duration_ms FROM "));
    match window {
        Some(window) => {
            query.push("(SELECT * FROM agent_runs");
            push_filter(&mut query, owner, &RunFilter::default());
            push_after(&mut query, sort, after);
            query.push(order_by(sort));
            query.push(" LIMIT ").push_bind(window).push(") AS recent");
            push_filter_with(&mut query, None, filter, SearchBy::Scan);
        }
        None => {
            query.push("agent_runs");
            push_filter(&mut query, owner, filter);
            push_after(&mut query, sort, after);
        }
    }
    query.push(order_by(sort));
    // One extra row tells whether another page exists.
    query.push(" LIMIT ").push_bind(i64::from(limit) + 1);
    query
}

fn push_after(query: &mut QueryBuilder<'_, Postgres>, sort: RunSort, after: Option<RunCursor>) {
    if let Some(cursor) = after {
        let (column, comparison) = match sort {
            RunSort::Newest => ("created_at", "<"),
            RunSort::Oldest => ("created_at", ">"),
            RunSort::Longest => ("duration_ms", "<"),
        };
        query.push(format!(" AND ({column}, id) {comparison} ("));
        match cursor.created_at() {
            Some(created_at) if sort != RunSort::Longest => query.push_bind(created_at),
            _ => query.push_bind(cursor.key),
        };
        query.push(", ").push_bind(cursor.id).push(")");
    }
}

fn order_by(sort: RunSort) -> &'static str {
    match sort {
        RunSort::Newest => " ORDER BY created_at DESC, id DESC",
        RunSort::Oldest => " ORDER BY created_at ASC, id ASC",
        RunSort::Longest => " ORDER BY duration_ms DESC, id DESC",
    }
}

/// Creates a run for the scoped user.
pub async fn insert(tx: &mut ScopedTx, new: &NewRun) -> Result<AgentRun, sqlx::Error> {
    let user_id = tx.principal().user_id;
    sqlx::query_as(&format!(
        "INSERT INTO agent_runs (user_id, task_id, agent_name, task, status, current_step, metadata,
                                 started_at)
         VALUES ($1, coalesce($2, gen_random_uuid()), $3, $4, $5, $6, coalesce($7, '{{}}'::jsonb),
                 CASE WHEN $5 = 'in_progress'::run_status THEN now() END)
         RETURNING {RUN_COLUMNS}"
    ))
    .bind(user_id)
    .bind(new.task_id)
    .bind(&new.agent_name)
    .bind(&new.task)
    .bind(new.status)
    .bind(&new.step)
    .bind(&new.metadata)
    .fetch_one(tx.conn())
    .await
}

/// A run with a figure read in the same statement.
#[derive(sqlx::FromRow)]
struct RunWith<T> {
    #[sqlx(flatten)]
    run: AgentRun,
    figure: T,
}

/// The run, locked until the transaction ends so concurrent updates of one run apply one at a time,
/// and the transaction's time: the time its events are stamped with, so a run rebuilt from its events
/// has the very timestamps of the stored one.
pub async fn lock(
    tx: &mut ScopedTx,
    id: Uuid,
) -> Result<Option<(AgentRun, DateTime<Utc>)>, sqlx::Error> {
    let row: Option<RunWith<DateTime<Utc>>> = sqlx::query_as(&format!(
        "SELECT {RUN_COLUMNS}, now() AS figure FROM agent_runs WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(|row| (row.run, row.figure)))
}

/// Writes the small fields of a run's state: enough for the database's transition guard to see a
/// status change within a batch. [`save`] writes the rest once the batch is done.
pub async fn save_state(tx: &mut ScopedTx, run: &AgentRun) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE agent_runs SET status = $2, progress_percent = $3, current_step = $4, attempt = $5,
                started_at = $6, completed_at = $7
         WHERE id = $1",
    )
    .bind(run.id)
    .bind(run.status)
    .bind(run.progress_percent)
    .bind(&run.current_step)
    .bind(run.attempt)
    .bind(run.started_at)
    .bind(run.completed_at)
    .execute(tx.conn())
    .await
    .map(drop)
}

/// Writes every field an update may change.
pub async fn save(tx: &mut ScopedTx, run: &AgentRun) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE agent_runs SET status = $2, progress_percent = $3, current_step = $4, attempt = $5,
                result = $6, error = $7, verification_evidence = $8, started_at = $9,
                completed_at = $10
         WHERE id = $1",
    )
    .bind(run.id)
    .bind(run.status)
    .bind(run.progress_percent)
    .bind(&run.current_step)
    .bind(run.attempt)
    .bind(&run.result)
    .bind(&run.error)
    .bind(sqlx::types::Json(&run.verification_evidence))
    .bind(run.started_at)
    .bind(run.completed_at)
    .execute(tx.conn())
    .await
    .map(drop)
}

/// The runs with these ids (those the scoped user may see), each with the newest of its events the
/// row reflects: read in one statement, so the pair is consistent.
pub async fn by_ids_as_of(
    tx: &mut ScopedTx,
    ids: &[Uuid],
) -> Result<Vec<(AgentRun, i64)>, sqlx::Error> {
    let rows: Vec<RunWith<i64>> = sqlx::query_as(&format!(
        "SELECT {RUN_COLUMNS},
                coalesce((SELECT max(e.id) FROM agent_run_events e WHERE e.run_id = r.id), 0) AS figure
         FROM agent_runs r WHERE id = ANY($1)"
    ))
    .bind(ids)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(|row| (row.run, row.figure)).collect())
}

/// `SELECT id FROM agent_runs WHERE <the fixed parts of filter>`, for use as a subquery: statuses
/// change, so live subscriptions are narrowed only by what never does.
pub fn push_matching_ids(
    query: &mut QueryBuilder<'_, Postgres>,
    owner: Option<Uuid>,
    filter: &RunFilter,
) {
    let identity = RunFilter {
        statuses: vec![],
        active_only: false,
        ..filter.clone()
    };
    query.push("SELECT id FROM agent_runs");
    push_filter(query, owner, &identity);
}

pub async fn get(tx: &mut ScopedTx, id: Uuid) -> Result<Option<AgentRun>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {RUN_COLUMNS} FROM agent_runs WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(tx.conn())
    .await
}

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

const STATS_SQL: &str = "SELECT coalesce(sum(total), 0)::bigint AS total,
                coalesce(sum(total - completed - failed - cancelled - timed_out), 0)::bigint AS active,
                coalesce(sum(completed), 0)::bigint AS completed,
                coalesce(sum(failed), 0)::bigint AS failed,
                coalesce(sum(cancelled), 0)::bigint AS cancelled,
                coalesce(sum(timed_out), 0)::bigint AS timed_out,
                (sum(finished_ms)::float8
                    / nullif(sum(completed + failed + cancelled + timed_out), 0) / 1000.0)
                    AS avg_duration_seconds
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
    sqlx::query_as(
        "SELECT date_trunc($3, hour, 'UTC') AS start,
                sum(completed)::bigint AS completed,
                sum(failed)::bigint AS failed,
                sum(cancelled + timed_out)::bigint AS stopped,
                sum(total - completed - failed - cancelled - timed_out)::bigint AS active
         FROM run_rollup_hourly
         WHERE user_id = $1 AND ($2::timestamptz IS NULL OR hour >= date_trunc('hour', $2, 'UTC'))
         GROUP BY 1
         ORDER BY 1",
    )
    .bind(tx.principal().user_id)
    .bind(since)
    .bind(unit)
    .fetch_all(tx.conn())
    .await
}

/// The names of the agents the scoped user has runs of, for the agent filter.
pub async fn agent_names(tx: &mut ScopedTx) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT agent_name FROM run_rollup_hourly
         WHERE user_id = $1 AND total > 0 ORDER BY 1 LIMIT 500",
    )
    .bind(tx.principal().user_id)
    .fetch_all(tx.conn())
    .await
}

/// How a filter's search is applied.
#[derive(Clone, Copy)]
enum SearchBy {
    /// Through the trigram index (`search_run_ids`), for queries over all of a user's runs.
    Index,
    /// Row by row, for a query over a bounded set of rows already read.
    Scan,
}

/// The WHERE clause of a run filter. `owner` names the user explicitly (RLS would filter anyway) so
/// the planner can use the (user_id, ...) indexes.
fn push_filter(query: &mut QueryBuilder<'_, Postgres>, owner: Option<Uuid>, filter: &RunFilter) {
    push_filter_with(query, owner, filter, SearchBy::Index);
}

fn push_filter_with(
    query: &mut QueryBuilder<'_, Postgres>,
    owner: Option<Uuid>,
    filter: &RunFilter,
    search_by: SearchBy,
) {
    query.push(" WHERE true");
    if let Some(user_id) = owner {
        query.push(" AND user_id = ").push_bind(user_id);
    }
    if !filter.statuses.is_empty() {
        query
            .push(" AND status = ANY(")
            .push_bind(filter.statuses.clone())
            .push(")");
    }
    if filter.active_only {
        query.push(" AND status NOT IN ('completed', 'failed', 'cancelled', 'timed_out')");
    }
    if let Some(agent) = &filter.agent_name {
        query.push(" AND agent_name = ").push_bind(agent.clone());
    }
    if let Some(task_id) = filter.task_id {
        query.push(" AND task_id = ").push_bind(task_id);
    }
    if let Some(run_id) = filter.run_id {
        query.push(" AND id = ").push_bind(run_id);
    }
    if let Some(search) = filter.search_text() {
        let pattern = format!("%{}%", escape_like(search));
        let id_prefix = format!("{}%", escape_like(&search.to_ascii_lowercase()));
        match search_by {
            SearchBy::Index => query
                .push(" AND id IN (SELECT search_run_ids(")
                .push_bind(owner)
                .push(", lower(")
                .push_bind(pattern)
                .push("), ")
                .push_bind(id_prefix)
                .push("))"),
            SearchBy::Scan => query
                .push(" AND (search_text LIKE lower(")
                .push_bind(pattern)
                .push(") OR id::text LIKE ")
                .push_bind(id_prefix)
                .push(")"),
        };
    }
}

/// Makes user text match literally inside a LIKE pattern.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// A run to insert as it is, used by the demo seed (the publisher writes through transitions instead).
pub struct SeedRun<'a> {
    pub agent_name: &'a str,
    pub task: &'a str,
    pub status: RunStatus,
    pub progress_percent: f32,
    pub current_step: Option<&'a str>,
    pub result: Option<serde_json::Value>,
    pub error: Option<&'a str>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

pub async fn insert_seed(tx: &mut ScopedTx, run: &SeedRun<'_>) -> Result<Uuid, sqlx::Error> {
    let user_id = tx.principal().user_id;
    let kind = match run.status {
        RunStatus::Completed => "completed",
        RunStatus::Failed => "failed",
        RunStatus::Cancelled => "cancelled",
        RunStatus::TimedOut => "timed_out",
        RunStatus::Pending => "started",
        _ => "status",
    };
    sqlx::query_scalar(
        "WITH run AS (
             INSERT INTO agent_runs (user_id, agent_name, task, status, progress_percent, current_step,
                                     result, error, created_at, started_at, completed_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, coalesce($11, $10, $9))
             RETURNING id, status, progress_percent, current_step, user_id
         ), event AS (
             INSERT INTO agent_run_events (run_id, user_id, kind, status, progress, step)
             SELECT id, user_id, $12, status, progress_percent, current_step FROM run
         )
         SELECT id FROM run",
    )
    .bind(user_id)
    .bind(run.agent_name)
    .bind(run.task)
    .bind(run.status)
    .bind(run.progress_percent)
    .bind(run.current_step)
    .bind(&run.result)
    .bind(run.error)
    .bind(run.created_at)
    .bind(run.started_at)
    .bind(run.completed_at)
    .bind(kind)
    .fetch_one(tx.conn())
    .await
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_match_literally() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(escape_like("plain"), "plain");
    }
}
