//! The events repository: all SQL on the append-only `agent_run_events` log.

use crate::model::{AgentRun, LiveFrame, RunEvent, RunEventKind, RunFilter, RunStatus};
use crate::server::db::ScopedTx;
use crate::server::runs;
use serde::Serialize;
use serde_json::value::RawValue;
use sqlx::{Postgres, QueryBuilder};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use uuid::Uuid;

pub const EVENT_COLUMNS: &str =
    "id, run_id, user_id, kind, status, progress, step, payload, created_at";

/// An event to append: what happened to a run and how the run stood right after.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub run_id: Uuid,
    pub user_id: Uuid,
    pub kind: RunEventKind,
    pub status: RunStatus,
    pub progress: f32,
    pub step: Option<String>,
    /// Already JSON: the log stores it as is.
    pub payload: Box<RawValue>,
}

impl NewEvent {
    /// `kind` happened to `run`, which now stands as given; `payload` is serialised once, here.
    pub fn of(run: &AgentRun, kind: RunEventKind, payload: &impl Serialize) -> NewEvent {
        let payload = serde_json::value::to_raw_value(payload)
            .expect("an event's payload is plain data: string keys, finite numbers");
        NewEvent {
            run_id: run.id,
            user_id: run.user_id,
            kind,
            status: run.status,
            progress: run.progress_percent,
            step: run.current_step.clone(),
            payload,
        }
    }
}

/// Appends events in one statement, in the given order (their ids rise in that order). The NOTIFY
/// trigger fires once for the statement.
///
/// Call it only after the transaction has written something else (every caller has written the
/// run row): a transaction takes its id at its first write, and one that took event ids before it
/// had one could be missed by the hub's wait for the writers of a gap (see [`InFlight`]).
pub async fn append(tx: &mut ScopedTx, events: Vec<NewEvent>) -> Result<(), sqlx::Error> {
    for event in &events {
        tx.note_appended(event.kind.as_str());
    }
    let columns = EventColumns::of(&events);
    sqlx::query!(
        "INSERT INTO agent_run_events (run_id, user_id, kind, status, progress, step, payload)
         SELECT run_id, user_id, kind, status, progress, step, payload::json
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::run_status[], $5::real[], $6::text[],
                     $7::text[])
             WITH ORDINALITY AS e(run_id, user_id, kind, status, progress, step, payload, n)
         ORDER BY n",
        &columns.run_ids,
        &columns.user_ids,
        &columns.kinds as &[&str],
        &columns.statuses as &[RunStatus],
        &columns.progress,
        &columns.steps as &[Option<&str>],
        &columns.payloads as &[&str],
    )
    .execute(tx.conn())
    .await
    .map(drop)
}

/// New events as columns, one array per column: how a statement takes any number of them.
pub(crate) struct EventColumns<'a> {
    pub run_ids: Vec<Uuid>,
    pub user_ids: Vec<Uuid>,
    pub kinds: Vec<&'static str>,
    pub statuses: Vec<RunStatus>,
    pub progress: Vec<f32>,
    pub steps: Vec<Option<&'a str>>,
    /// As text: sqlx would send JSON as jsonb, which PostgreSQL parses into its binary form.
    pub payloads: Vec<&'a str>,
}

impl<'a> EventColumns<'a> {
    pub fn of(events: &'a [NewEvent]) -> EventColumns<'a> {
        EventColumns {
            run_ids: events.iter().map(|e| e.run_id).collect(),
            user_ids: events.iter().map(|e| e.user_id).collect(),
            kinds: events.iter().map(|e| e.kind.as_str()).collect(),
            statuses: events.iter().map(|e| e.status).collect(),
            progress: events.iter().map(|e| e.progress).collect(),
            steps: events.iter().map(|e| e.step.as_deref()).collect(),
            payloads: events.iter().map(|e| e.payload.get()).collect(),
        }
    }
}

/// A run's events after `after_id`, oldest first.
pub async fn for_run(
    tx: &mut ScopedTx,
    run_id: Uuid,
    after_id: i64,
    limit: i64,
) -> Result<Vec<RunEvent>, sqlx::Error> {
    sqlx::query_as!(
        RunEvent,
        r#"SELECT id, run_id, user_id, kind AS "kind: RunEventKind", status AS "status: RunStatus",
                  progress, step, payload, created_at
           FROM agent_run_events WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT $3"#,
        run_id,
        after_id,
        limit
    )
    .fetch_all(tx.conn())
    .await
}

/// The newest `limit` events of a run, oldest first, and how many older ones were left out.
pub async fn newest_for_run(
    tx: &mut ScopedTx,
    run_id: Uuid,
    limit: usize,
) -> Result<(Vec<RunEvent>, u64), sqlx::Error> {
    let mut events = sqlx::query_as!(
        RunEvent,
        r#"SELECT id, run_id, user_id, kind AS "kind: RunEventKind", status AS "status: RunStatus",
                  progress, step, payload, created_at
           FROM agent_run_events WHERE run_id = $1 ORDER BY id DESC LIMIT $2"#,
        run_id,
        limit as i64
    )
    .fetch_all(tx.conn())
    .await?;
    events.reverse();
    let earlier = match events.first() {
        Some(oldest) if events.len() >= limit => sqlx::query_scalar!(
            r#"SELECT count(*) AS "count!" FROM agent_run_events WHERE run_id = $1 AND id < $2"#,
            run_id,
            oldest.id
        )
        .fetch_one(tx.conn())
        .await? as u64,
        _ => 0,
    };
    Ok((events, earlier))
}

/// A run as stored, and the newest of its events the stored row already reflects. Its live frame is
/// encoded once, by whichever subscriber needs it first.
#[derive(Debug)]
pub struct StoredRun {
    pub run: AgentRun,
    pub as_of: i64,
    frame: OnceLock<LiveFrame>,
    bytes: OnceLock<usize>,
}

impl StoredRun {
    pub fn new(run: AgentRun, as_of: i64) -> StoredRun {
        StoredRun {
            run,
            as_of,
            frame: OnceLock::new(),
            bytes: OnceLock::new(),
        }
    }

    /// The run as a live snapshot frame.
    pub fn frame(&self) -> &LiveFrame {
        self.frame
            .get_or_init(|| LiveFrame::of_run(&self.run, self.as_of))
    }

    /// Roughly the memory it takes, with its frame.
    pub fn approx_bytes(&self) -> usize {
        // Measured once: measuring writes the run's JSON fields out.
        *self
            .bytes
            .get_or_init(|| 2 * self.run.stored_bytes() + 1024)
    }
}

/// An event as the hub and live replay hand it out: its payload stays the JSON the log holds,
/// from the row to the frame. Decoded into a `serde_json::Value`, it was a quarter of the server's
/// CPU under span ingest (perf: the hub's catch-up), for a value that is only ever encoded again.
pub type LoggedEvent = RunEvent<Box<RawValue>>;

impl LoggedEvent {
    /// Roughly the memory the event takes, with its frame.
    pub fn approx_bytes(&self) -> usize {
        256 + self.step.as_ref().map_or(0, String::len) + 2 * self.payload.get().len()
    }
}

/// Events after `after_id` in id order, of runs matching `filter` (all runs when None), up to
/// `up_to`, each with its run as it is now (one shared copy per run).
pub async fn after_with_runs(
    tx: &mut ScopedTx,
    after_id: i64,
    up_to: Option<i64>,
    filter: Option<&RunFilter>,
    limit: i64,
) -> Result<Vec<(LoggedEvent, Arc<StoredRun>)>, sqlx::Error> {
    let mut query = QueryBuilder::<Postgres>::new(format!(
        "SELECT {EVENT_COLUMNS} FROM agent_run_events WHERE id > "
    ));
    query.push_bind(after_id);
    if let Some(up_to) = up_to {
        query.push(" AND id <= ").push_bind(up_to);
    }
    if let Some(filter) = filter {
        query.push(" AND run_id IN (");
        runs::push_matching_ids(&mut query, tx.owner_filter(), filter);
        query.push(")");
    }
    query.push(" ORDER BY id LIMIT ").push_bind(limit);
    let events: Vec<LoggedEvent> = query.build_query_as().fetch_all(tx.conn()).await?;
    let mut run_ids: Vec<Uuid> = events.iter().map(|e| e.run_id).collect();
    run_ids.sort();
    run_ids.dedup();
    let found: HashMap<Uuid, Arc<StoredRun>> = runs::by_ids_as_of(tx, &run_ids, after_id)
        .await?
        .into_iter()
        .map(|(run, as_of)| (run.id, Arc::new(StoredRun::new(run, as_of))))
        .collect();
    Ok(events
        .into_iter()
        .filter_map(|event| {
            let run = Arc::clone(found.get(&event.run_id)?);
            Some((event, run))
        })
        .collect())
}

/// The ids and times of the events after `after_id` in id order: what the hub reads while no one
/// listens, to keep its cursor without reading payloads and runs nobody is sent (an index-only
/// read of the log's key).
pub async fn ids_after(
    tx: &mut ScopedTx,
    after_id: i64,
    limit: i64,
) -> Result<Vec<(i64, chrono::DateTime<chrono::Utc>)>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT id, created_at FROM agent_run_events WHERE id > $1 ORDER BY id LIMIT $2",
        after_id,
        limit
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.id, row.created_at))
        .collect())
}

/// The writing transactions in flight at one moment: any of them may hold event ids that are not
/// visible yet. A snapshot lists the running transactions below its `xmax` only; `xmax` is one past
/// the newest *finished* transaction, and one that started later and is still running is not
/// listed at all (PostgreSQL treats every id from `xmax` on as running). So the set is the
/// snapshot's list plus every transaction id from its `xmax` up to `below`, an id handed out after
/// the snapshot was taken.
#[derive(Clone, Debug, Default)]
pub struct InFlight {
    /// `pg_snapshot` as text.
    snapshot: String,
    /// `xid8` as text: a transaction id assigned after the snapshot.
    below: String,
}

/// The transactions in flight now, and the largest event id visible now. Takes a transaction id
/// (so each call uses one up; it writes nothing, so its commit waits for no disk).
pub async fn in_flight_and_max_id(tx: &mut ScopedTx) -> Result<(InFlight, i64), sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT s::text AS "snapshot!", pg_current_xact_id()::text AS "below!",
                  (SELECT coalesce(max(id), 0) FROM agent_run_events) AS "max_id!"
           FROM pg_current_snapshot() s"#
    )
    .fetch_one(tx.conn())
    .await?;
    let in_flight = InFlight {
        snapshot: row.snapshot,
        below: row.below,
    };
    Ok((in_flight, row.max_id))
}

/// Whether every transaction of `in_flight` has committed or aborted as far as a snapshot taken now
/// can tell: then any statement after this one sees what they wrote.
///
/// What this replaced lost events for good: it took the set from the snapshot's list alone, which
/// leaves out a transaction newer than the newest finished one (see [`InFlight`];
/// `tests/hub.rs` sets that up, and 1 run in 4 of its many-writers test hit it by chance, as did
/// `tests/failover.rs` now and then). It also asked `pg_xact_status`, which reads the commit log,
/// where a committing transaction is marked a moment before snapshots stop counting it as running:
/// "committed" there does not yet mean "visible to the next statement".
pub async fn all_finished(tx: &mut ScopedTx, in_flight: &InFlight) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT pg_snapshot_xmax(cur) >= $2::text::xid8
                  AND NOT EXISTS (SELECT FROM pg_snapshot_xip(cur) x
                                  WHERE x >= pg_snapshot_xmax($1::text::pg_snapshot)
                                    AND x < $2::text::xid8)
                  AND NOT EXISTS (SELECT FROM pg_snapshot_xip($1::text::pg_snapshot) x
                                  WHERE NOT pg_visible_in_snapshot(x, cur))
                  AS "finished!"
           FROM pg_current_snapshot() cur"#,
        in_flight.snapshot,
        in_flight.below
    )
    .fetch_one(tx.conn())
    .await
}
