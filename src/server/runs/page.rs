//! Keyset pages of runs: a list in any of its orders, after a cursor, without OFFSET.

use super::filter::{push_filter, push_filter_with, SearchBy};
use super::RUN_COLUMNS;
use crate::model::{AgentRun, RunCursor, RunFilter, RunPage, RunSort};
use crate::server::db::ScopedTx;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

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
