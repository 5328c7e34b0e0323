//! The spans repository: all SQL on `agent_run_spans`.

use crate::model::{AgentRun, Span, SpanKind, SpanStatus, UsageRow, USAGE_ROWS_MAX};
use crate::server::db::ScopedTx;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The spans of `run` with these ids, locked until the transaction ends.
///
/// One primary-key probe per id. Written as `span_id = ANY($2)`, PostgreSQL read every span of
/// the run and compared each with every id of the batch whenever its statistics (stale while a
/// run grows) put few spans in a run: 2.6 ms per batch of 100 in the span benchmark, against
/// 0.3 ms for the probes. The run's creation time names the one partition that holds its spans.
///
/// The row locks are not what keeps writers apart (each holds its run's row lock, `runs::lock`).
/// But without `FOR UPDATE` this statement took 1.5 ms per batch in the span benchmark instead of
/// 0.16 ms (pg_stat_statements): the locking subquery cannot be pulled up into a join, so its plan
/// stays the probes whatever the statistics of a growing run say.
pub async fn lock(
    tx: &mut ScopedTx,
    run: &AgentRun,
    span_ids: &[String],
) -> Result<Vec<Span>, sqlx::Error> {
    sqlx::query_as!(
        Span,
        r#"SELECT s.span_id AS "span_id!", s.run_id AS "run_id!", s.parent_span_id,
                  s.kind AS "kind!: SpanKind", s.name AS "name!",
                  s.status AS "status!: SpanStatus", s.started_at AS "started_at!", s.ended_at,
                  s.model, s.input_tokens, s.output_tokens, s.cache_read_tokens,
                  s.reasoning_tokens, s.cost_usd, s.attributes AS "attributes!", s.input_preview,
                  s.output_preview, s.error
           FROM unnest($2::text[]) AS wanted(span_id)
           CROSS JOIN LATERAL (
               SELECT * FROM agent_run_spans
               WHERE run_id = $1 AND span_id = wanted.span_id AND run_created_at = $3
               FOR UPDATE
           ) s"#,
        run.id,
        span_ids,
        run.created_at
    )
    .fetch_all(tx.conn())
    .await
}

/// Writes each span of `run` whole: a new one is inserted, a known one replaced (the database
/// refuses to change an ended one). One statement whatever the batch's size. `all_new` says the
/// caller, holding the run's lock, found none of them stored: then a plain INSERT does, without
/// the upsert's speculative insertion (a probe of the key and a second WAL record per span).
pub async fn save(
    tx: &mut ScopedTx,
    run: &AgentRun,
    spans: &[Span],
    all_new: bool,
) -> Result<(), sqlx::Error> {
    macro_rules! column {
        ($field:ident) => {
            spans.iter().map(|s| s.$field.clone()).collect::<Vec<_>>()
        };
    }
    let kinds: Vec<SpanKind> = column!(kind);
    let statuses: Vec<SpanStatus> = column!(status);
    // Both statements insert the same columns, bound the same way; the upsert adds its conflict
    // clause to the end of the text.
    macro_rules! write_spans {
        ($($on_conflict:literal)?) => {
            sqlx::query!(
                "INSERT INTO agent_run_spans (
                     span_id, run_id, user_id, parent_span_id, kind, name, status, started_at,
                     ended_at, model, input_tokens, output_tokens, cache_read_tokens,
                     reasoning_tokens, cost_usd, attributes, input_preview, output_preview, error,
                     run_created_at)
                 SELECT span_id, run_id, $3, parent_span_id, kind, name, status, started_at,
                        ended_at, model, input_tokens, output_tokens, cache_read_tokens,
                        reasoning_tokens, cost_usd, attributes, input_preview, output_preview,
                        error, $20
                 FROM unnest($1::text[], $2::uuid[], $4::text[], $5::span_kind[], $6::text[],
                             $7::span_status[], $8::timestamptz[], $9::timestamptz[], $10::text[],
                             $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[],
                             $15::float8[], $16::jsonb[], $17::text[], $18::text[], $19::text[])
                     AS t(span_id, run_id, parent_span_id, kind, name, status, started_at,
                          ended_at, model, input_tokens, output_tokens, cache_read_tokens,
                          reasoning_tokens, cost_usd, attributes, input_preview, output_preview,
                          error)" $(+ $on_conflict)?,
                &column!(span_id),
                &column!(run_id),
                run.user_id,
                &column!(parent_span_id) as &[Option<String>],
                &kinds as &[SpanKind],
                &column!(name),
                &statuses as &[SpanStatus],
                &column!(started_at),
                &column!(ended_at) as &[Option<DateTime<Utc>>],
                &column!(model) as &[Option<String>],
                &column!(input_tokens) as &[Option<i64>],
                &column!(output_tokens) as &[Option<i64>],
                &column!(cache_read_tokens) as &[Option<i64>],
                &column!(reasoning_tokens) as &[Option<i64>],
                &column!(cost_usd) as &[Option<f64>],
                &column!(attributes),
                &column!(input_preview) as &[Option<String>],
                &column!(output_preview) as &[Option<String>],
                &column!(error) as &[Option<String>],
                run.created_at,
            )
            .execute(tx.conn())
            .await
            .map(drop)
        };
    }
    if all_new {
        return write_spans!();
    }
    write_spans!(
        " ON CONFLICT (run_id, span_id, run_created_at) DO UPDATE SET
             parent_span_id = EXCLUDED.parent_span_id, kind = EXCLUDED.kind,
             name = EXCLUDED.name, status = EXCLUDED.status, started_at = EXCLUDED.started_at,
             ended_at = EXCLUDED.ended_at, model = EXCLUDED.model,
             input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,
             cache_read_tokens = EXCLUDED.cache_read_tokens,
             reasoning_tokens = EXCLUDED.reasoning_tokens, cost_usd = EXCLUDED.cost_usd,
             attributes = EXCLUDED.attributes, input_preview = EXCLUDED.input_preview,
             output_preview = EXCLUDED.output_preview, error = EXCLUDED.error"
    )
}

/// A page of a run's spans by start time, after the span (`started_at`, `span_id`) when given.
///
/// It does not name the run's partition (its creation time), though that would spare a probe of
/// each other partition's index. PostgreSQL takes the run and its creation time for independent
/// conditions and multiplies their odds: with 90 runs in a partition it expected 66 of a 5,000-span
/// run's spans, read all 5,000 through the primary key and sorted them for each page of 1,000
/// (5.0 ms). By the run alone it expects about 5,000 and reads the page in order from the
/// `(run_id, started_at, span_id)` index of each partition, stopping at the limit (0.75 ms).
///
/// It reads in that order whatever the estimate: bitmap scans and sorts are off for the rest of the
/// transaction (its readers look up only the run's row after the page). After the first page
/// PostgreSQL judges the cursor's row comparison by the start time alone; when many spans share a
/// start time (an exporter's batch, the span benchmark) it expected 1,087 of 3,884 rows left, chose
/// a bitmap scan of all of them and a sort, and took 4.0 ms for each later page against 0.75 ms in
/// index order. With that one plan left, the plan made once per connection serves every page:
/// planning each page anew took 0.6 ms.
pub async fn page(
    tx: &mut ScopedTx,
    run_id: Uuid,
    after: Option<(DateTime<Utc>, String)>,
    limit: i64,
) -> Result<Vec<Span>, sqlx::Error> {
    read_in_index_order(tx).await?;
    let (after_at, after_id) = page_start(after);
    sqlx::query(PAGE_SQL)
        .bind(run_id)
        .bind(after_at)
        .bind(after_id)
        .bind(limit)
        .try_map(span_of_page_row)
        .fetch_all(tx.conn())
        .await
}

/// A row of [`PAGE_SQL`], read by position, as the checked macros (`query_as!`) read theirs. The
/// derived `FromRow` looked up each of the 18 columns by name and checked its type, in every row:
/// with the allocations that came with it, that was a quarter of the server's CPU reading a
/// 5,000-span tree, more than writing it out as JSON (perf). tests/spans.rs reads every field back.
fn span_of_page_row(row: sqlx::postgres::PgRow) -> Result<Span, sqlx::Error> {
    use sqlx::types::Json;
    use sqlx::Row;
    Ok(Span {
        span_id: row.try_get_unchecked(0)?,
        run_id: row.try_get_unchecked(1)?,
        parent_span_id: row.try_get_unchecked(2)?,
        kind: row.try_get_unchecked(3)?,
        name: row.try_get_unchecked(4)?,
        status: row.try_get_unchecked(5)?,
        started_at: row.try_get_unchecked(6)?,
        ended_at: row.try_get_unchecked(7)?,
        model: row.try_get_unchecked(8)?,
        input_tokens: row.try_get_unchecked(9)?,
        output_tokens: row.try_get_unchecked(10)?,
        cache_read_tokens: row.try_get_unchecked(11)?,
        reasoning_tokens: row.try_get_unchecked(12)?,
        cost_usd: row.try_get_unchecked(13)?,
        attributes: row.try_get_unchecked::<Json<_>, _>(14)?.0,
        input_preview: row.try_get_unchecked(15)?,
        output_preview: row.try_get_unchecked(16)?,
        error: row.try_get_unchecked(17)?,
    })
}

/// The plan PostgreSQL runs [`page`] with, executed (`EXPLAIN (ANALYZE, FORMAT JSON)`), so tests can
/// check it reads the index in order.
pub async fn explain_page(
    tx: &mut ScopedTx,
    run_id: Uuid,
    after: Option<(DateTime<Utc>, String)>,
    limit: i64,
) -> Result<serde_json::Value, sqlx::Error> {
    read_in_index_order(tx).await?;
    let (after_at, after_id) = page_start(after);
    sqlx::query_scalar(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {PAGE_SQL}"))
        .bind(run_id)
        .bind(after_at)
        .bind(after_id)
        .bind(limit)
        .fetch_one(tx.conn())
        .await
}

/// [`page`]'s query, as text so that [`explain_page`] runs the very same one. Its columns are read
/// by position ([`span_of_page_row`]).
const PAGE_SQL: &str = "SELECT span_id, run_id, parent_span_id, kind, name, status, started_at,
                               ended_at, model, input_tokens, output_tokens, cache_read_tokens,
                               reasoning_tokens, cost_usd, attributes, input_preview,
                               output_preview, error
                        FROM agent_run_spans
                        WHERE run_id = $1 AND (started_at, span_id) > ($2, $3)
                        ORDER BY started_at, span_id
                        LIMIT $4";

/// Bitmap scans and sorts off, and one plan per connection, for the rest of the transaction.
async fn read_in_index_order(tx: &mut ScopedTx) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "SELECT set_config('enable_bitmapscan', 'off', true) AS bitmap_scans,
                set_config('enable_sort', 'off', true) AS sorts,
                set_config('plan_cache_mode', 'force_generic_plan', true) AS plans"
    )
    .fetch_one(tx.conn())
    .await
    .map(drop)
}

/// Where a page starts: after the given span, or before any time a span can have (a report's
/// RFC 3339 year has four digits), so one index range serves every page.
fn page_start(after: Option<(DateTime<Utc>, String)>) -> (DateTime<Utc>, String) {
    after.unwrap_or_else(|| {
        let before_any_span = chrono::NaiveDate::from_ymd_opt(-1, 1, 1)
            .and_then(|day| day.and_hms_opt(0, 0, 0))
            .map(|start| start.and_utc())
            .expect("a valid date");
        (before_any_span, String::new())
    })
}

/// Tokens and cost of the scoped user's LLM calls started since `since`, by model, costliest first.
pub async fn usage_by_model(
    tx: &mut ScopedTx,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<UsageRow>, sqlx::Error> {
    sqlx::query_as!(
        UsageRow,
        r#"SELECT model AS "name!", count(*) AS "count!",
                  coalesce(sum(input_tokens), 0)::bigint AS "tokens_in!",
                  coalesce(sum(output_tokens), 0)::bigint AS "tokens_out!",
                  sum(cost_usd) AS cost_usd
           FROM agent_run_spans
           WHERE user_id = $1 AND kind = 'llm' AND model IS NOT NULL
             AND ($2::timestamptz IS NULL OR started_at >= $2)
           GROUP BY model
           ORDER BY 5 DESC NULLS LAST, 3 DESC, 1
           LIMIT $3"#,
        tx.principal().user_id,
        since,
        USAGE_ROWS_MAX
    )
    .fetch_all(tx.conn())
    .await
}
