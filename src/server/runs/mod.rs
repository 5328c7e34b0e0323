//! The runs repository: every SQL statement on `agent_runs`, in rooms by concept: the writes and
//! single-run reads here, list pages and the filter-to-SQL builder in [`page`], totals from the hourly
//! rollup in [`rollup`]. Each function takes a [`ScopedTx`], so row-level security is always on.

mod filter;
mod page;
mod rollup;

pub use filter::push_matching_ids;
pub use page::{explain_page, page};
pub use rollup::{agent_names, explain_stats, stats, trend, usage_by_agent};

use crate::model::{AgentRun, NewRun, RunStatus, VerificationAttempt};
use crate::server::db::{hub_planner_settings, Principal, ScopedTx};
use crate::server::events::{EventColumns, NewEvent};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

/// The columns of a full [`AgentRun`], in its field order.
pub(crate) const RUN_COLUMNS: &str =
    "id, task_id, user_id, agent_name, task, status, progress_percent, current_step, \
     attempt, result, error, verification_evidence, metadata, tokens_in, tokens_out, cost_usd, \
     created_at, started_at, completed_at, updated_at";

/// A run as the checked queries read it (its verification history arrives as JSON).
struct RunRow {
    id: Uuid,
    task_id: Uuid,
    user_id: Uuid,
    agent_name: String,
    task: String,
    status: RunStatus,
    progress_percent: f32,
    current_step: Option<String>,
    attempt: i32,
    result: Option<serde_json::Value>,
    error: Option<String>,
    verification_evidence: Json<Vec<VerificationAttempt>>,
    metadata: serde_json::Value,
    tokens_in: Option<i64>,
    tokens_out: Option<i64>,
    cost_usd: Option<f64>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    /// The transaction's time (`now()`), read with the row to save a round trip where it is needed.
    read_at: DateTime<Utc>,
}

impl From<RunRow> for AgentRun {
    fn from(row: RunRow) -> AgentRun {
        AgentRun {
            id: row.id,
            task_id: row.task_id,
            user_id: row.user_id,
            agent_name: row.agent_name,
            task: row.task,
            status: row.status,
            progress_percent: row.progress_percent,
            current_step: row.current_step,
            attempt: row.attempt,
            result: row.result,
            error: row.error,
            verification_evidence: row.verification_evidence.0,
            metadata: row.metadata,
            tokens_in: row.tokens_in,
            tokens_out: row.tokens_out,
            cost_usd: row.cost_usd,
            created_at: row.created_at,
            started_at: row.started_at,
            completed_at: row.completed_at,
            updated_at: row.updated_at,
        }
    }
}

/// Creates a run for the scoped user.
pub async fn insert(tx: &mut ScopedTx, new: &NewRun) -> Result<AgentRun, sqlx::Error> {
    let user_id = tx.principal().user_id;
    let row = sqlx::query_as!(
        RunRow,
        r#"INSERT INTO agent_runs (user_id, task_id, agent_name, task, status, current_step, metadata,
                                 started_at)
         VALUES ($1, coalesce($2, gen_random_uuid()), $3, $4, $5, $6, coalesce($7, '{}'::jsonb),
                 CASE WHEN $5 = 'in_progress'::run_status THEN now() END)
         RETURNING id, task_id, user_id, agent_name, task, status AS "status: RunStatus",
                   progress_percent, current_step, attempt, result, error,
                   verification_evidence AS "verification_evidence: Json<Vec<VerificationAttempt>>",
                   metadata, tokens_in, tokens_out, cost_usd, created_at, started_at, completed_at,
                   updated_at, now() AS "read_at!""#,
        user_id,
        new.task_id.as_ref().map(|task| task.uuid),
        new.agent_name,
        new.task,
        new.status as RunStatus,
        new.step,
        new.stored_metadata(),
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(row.into())
}

/// The run, locked until the transaction ends so concurrent updates of one run apply one at a time,
/// and the transaction's time: the time its events are stamped with, so a run rebuilt from its events
/// has the very timestamps of the stored one.
pub async fn lock(
    tx: &mut ScopedTx,
    id: Uuid,
) -> Result<Option<(AgentRun, DateTime<Utc>)>, sqlx::Error> {
    let row = sqlx::query_as!(
        RunRow,
        r#"SELECT id, task_id, user_id, agent_name, task, status AS "status: RunStatus",
                  progress_percent, current_step, attempt, result, error,
                  verification_evidence AS "verification_evidence: Json<Vec<VerificationAttempt>>",
                  metadata, tokens_in, tokens_out, cost_usd, created_at, started_at, completed_at,
                  updated_at, now() AS "read_at!"
           FROM agent_runs WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(|row| {
        let now = row.read_at;
        (row.into(), now)
    }))
}

/// Writes the small fields of a run's state: enough for the database's transition guard to see a
/// status change within a batch. [`save`] writes the rest once the batch is done.
pub async fn save_state(tx: &mut ScopedTx, run: &AgentRun) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE agent_runs SET status = $2, progress_percent = $3, current_step = $4, attempt = $5,
                started_at = $6, completed_at = $7
         WHERE id = $1",
        run.id,
        run.status as RunStatus,
        run.progress_percent,
        run.current_step,
        run.attempt,
        run.started_at,
        run.completed_at,
    )
    .execute(tx.conn())
    .await
    .map(drop)
}

/// A run row's version: the transaction that wrote it last (its `xmin`). Any write of the row
/// changes it, so a copy of the run taken at one version is the row as stored while the version
/// still matches.
pub type RowVersion = i64;

/// Writes every field an update may change; returns the row's new version.
pub async fn save(tx: &mut ScopedTx, run: &AgentRun) -> Result<RowVersion, sqlx::Error> {
    sqlx::query_scalar!(
        r#"UPDATE agent_runs SET status = $2, progress_percent = $3, current_step = $4, attempt = $5,
                result = $6, error = $7, verification_evidence = $8, started_at = $9,
                completed_at = $10
         WHERE id = $1
         RETURNING xmin::text::bigint AS "version!""#,
        run.id,
        run.status as RunStatus,
        run.progress_percent,
        run.current_step,
        run.attempt,
        run.result,
        run.error,
        Json(&run.verification_evidence) as _,
        run.started_at,
        run.completed_at,
    )
    .fetch_one(tx.conn())
    .await
}

/// What [`save_state_and_append`] wrote: the row's new version and the transaction's time, which
/// is the run's `updated_at` and its events' `created_at`.
pub struct SavedInOneTrip {
    pub version: RowVersion,
    pub at: DateTime<Utc>,
}

/// Writes a run's status, progress and step and appends its events, as `who`, in one statement that
/// commits on its own (one round trip), but only if the run's row is still at `version`: None when
/// it is not, or when `who` may not see the run. Outside a [`ScopedTx`] because it is a transaction
/// of its own: the database function sets `who`'s scope first (see
/// `migrations/20261127000028_one_trip_run_state.sql`).
///
/// For updates that change nothing else of the run: the caller checks that.
pub async fn save_state_and_append(
    pool: &sqlx::PgPool,
    who: Principal,
    run: &AgentRun,
    version: RowVersion,
    events: &[NewEvent],
) -> Result<Option<SavedInOneTrip>, sqlx::Error> {
    let columns = EventColumns::of(events);
    let row = sqlx::query!(
        r#"SELECT version AS "version!", updated_at AS "updated_at!"
           FROM runwire_save_state_and_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"#,
        who.user_id,
        who.role.as_str(),
        run.id,
        version,
        run.status as RunStatus,
        run.progress_percent,
        run.current_step,
        &columns.kinds as &[&str],
        &columns.statuses as &[RunStatus],
        &columns.progress,
        &columns.steps as &[Option<&str>],
        &columns.payloads as &[&str],
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| SavedInOneTrip {
        version: row.version,
        at: row.updated_at,
    }))
}

/// A run with a figure read in the same statement.
#[derive(sqlx::FromRow)]
struct RunWith<T> {
    #[sqlx(flatten)]
    run: AgentRun,
    figure: T,
}

/// The runs with these ids (those the scoped user may see), each with the newest of its events the
/// row reflects: read in one statement, so the pair is consistent. (Dynamic: a checked query cannot
/// take the column list of [`RUN_COLUMNS`].) Each of the runs has an event after `after_id`.
///
/// The row comparison is what makes PostgreSQL read the run's newest event from the (run_id, id)
/// index: with `run_id = r.id` alone it walks the whole log backwards by id from the newest event
/// of any run, assuming runs' events are spread evenly; for a run whose last event is 100,000
/// events old that was 12 ms per call (the profile of the span benchmark found it in the hub).
pub async fn by_ids_as_of(
    tx: &mut ScopedTx,
    ids: &[Uuid],
    after_id: i64,
) -> Result<Vec<(AgentRun, i64)>, sqlx::Error> {
    let rows: Vec<RunWith<i64>> = sqlx::query_as(&by_ids_as_of_sql())
        .bind(ids)
        .bind(after_id)
        .fetch_all(tx.conn())
        .await?;
    Ok(rows.into_iter().map(|row| (row.run, row.figure)).collect())
}

/// [`by_ids_as_of`]'s statement; its parameters are the ids and `after_id`.
fn by_ids_as_of_sql() -> String {
    format!(
        "SELECT {RUN_COLUMNS},
                coalesce((SELECT max(e.id) FROM agent_run_events e
                          WHERE e.run_id = r.id AND (e.run_id, e.id) > (r.id, $2)), $2) AS figure
         FROM agent_runs r WHERE id = ANY($1)"
    )
}

/// The plan [`by_ids_as_of`] runs with in the event hub: the generic one, made with the hub's
/// settings (`db::hub_planner_settings`), executed for `ids` and `after_id`. Postgres 15 shows a
/// generic plan only for a prepared statement, so this prepares the same statement, with the
/// settings made for the rest of the transaction. The values are typed (UUIDs, an integer), so
/// writing them into EXECUTE cannot inject SQL.
pub async fn explain_by_ids_as_of_generic(
    tx: &mut ScopedTx,
    ids: &[Uuid],
    after_id: i64,
) -> Result<serde_json::Value, sqlx::Error> {
    let conn = tx.conn();
    sqlx::raw_sql(&format!(
        "SELECT {};
         PREPARE runwire_by_ids_as_of(uuid[], bigint) AS {}",
        hub_planner_settings(true),
        by_ids_as_of_sql()
    ))
    .execute(&mut *conn)
    .await?;
    let ids: Vec<String> = ids.iter().map(|id| format!("'{id}'")).collect();
    let plan = sqlx::query_scalar(&format!(
        "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE runwire_by_ids_as_of(ARRAY[{}]::uuid[], {after_id})",
        ids.join(",")
    ))
    .fetch_one(&mut *conn)
    .await?;
    sqlx::raw_sql("DEALLOCATE runwire_by_ids_as_of")
        .execute(conn)
        .await?;
    Ok(plan)
}

pub async fn get(tx: &mut ScopedTx, id: Uuid) -> Result<Option<AgentRun>, sqlx::Error> {
    let row = sqlx::query_as!(
        RunRow,
        r#"SELECT id, task_id, user_id, agent_name, task, status AS "status: RunStatus",
                  progress_percent, current_step, attempt, result, error,
                  verification_evidence AS "verification_evidence: Json<Vec<VerificationAttempt>>",
                  metadata, tokens_in, tokens_out, cost_usd, created_at, started_at, completed_at,
                  updated_at, now() AS "read_at!"
           FROM agent_runs WHERE id = $1"#,
        id
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(AgentRun::from))
}

/// How many spans the run holds (kept by [`save_span_totals`]).
pub async fn span_count(tx: &mut ScopedTx, id: Uuid) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar!("SELECT span_count FROM agent_runs WHERE id = $1", id)
        .fetch_one(tx.conn())
        .await
}

/// Writes the run's token and cost totals and adds `new_spans` to its span count; returns the count.
pub async fn save_span_totals(
    tx: &mut ScopedTx,
    run: &AgentRun,
    new_spans: i32,
) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar!(
        "UPDATE agent_runs SET tokens_in = $2, tokens_out = $3, cost_usd = $4,
                               span_count = span_count + $5
         WHERE id = $1
         RETURNING span_count",
        run.id,
        run.tokens_in,
        run.tokens_out,
        run.cost_usd,
        new_spans
    )
    .fetch_one(tx.conn())
    .await
}

/// Who owns run `id` (for a service token, which writes as the owner).
pub async fn owner_of(tx: &mut ScopedTx, id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!("SELECT user_id FROM agent_runs WHERE id = $1", id)
        .fetch_optional(tx.conn())
        .await
}
