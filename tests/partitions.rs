//! The partitioned event log and spans (migrations 022 and 023): retention drops whole partitions
//! only when every run in them is past retention, an unfinished or recent run keeps its rows
//! whatever their age, rows that land in the DEFAULT partition move into theirs when it is made,
//! making partitions beside a reader of the log neither deadlocks nor waits long, event-id cursors
//! read across partitions, and only the system scope may drop anything.

mod common;

use chrono::{DateTime, Duration, Months, Utc};
use common::api::{api_on, Api};
use common::{principal, TestApp, TestDb};
use runwire::model::{JobName, RunStatus, UserRole};
use runwire::server::db::{begin_scoped, Principal};
use runwire::server::events;
use runwire::server::jobs::{JobsConfig, Trigger};
use runwire::server::partitions::{self, PartitionUnit};
use sqlx::PgConnection;
use uuid::Uuid;

const EVENTS: &str = "agent_run_events";
const SPANS: &str = "agent_run_spans";

async fn app_at(now: DateTime<Utc>) -> Api {
    api_on(|db| TestApp::start_at(db, now)).await
}

/// The id of the user the API's first token belongs to.
async fn agent_a(db: &TestDb) -> Uuid {
    db.user("agent-a@example.com", UserRole::User).await.id
}

/// A run written as it is (as the schema's owner): created at `created`, finished at `finished`
/// (None: still running).
async fn run(
    conn: &mut PgConnection,
    user: Uuid,
    created: DateTime<Utc>,
    finished: Option<DateTime<Utc>>,
) -> Uuid {
    let status = match finished {
        Some(_) => RunStatus::Completed,
        None => RunStatus::InProgress,
    };
    sqlx::query_scalar(
        "INSERT INTO agent_runs (user_id, agent_name, task, status, created_at, started_at,
                                 completed_at, progress_percent)
         VALUES ($1, 'retention', 'fixture', $2, $3, $3, $4, 100) RETURNING id",
    )
    .bind(user)
    .bind(status)
    .bind(created)
    .bind(finished)
    .fetch_one(conn)
    .await
    .unwrap()
}

/// An event of `run` written at `at`; returns its id.
async fn event(conn: &mut PgConnection, run: Uuid, at: DateTime<Utc>) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO agent_run_events (run_id, user_id, kind, status, progress, created_at)
         SELECT id, user_id, 'progress', status, 50, $2 FROM agent_runs WHERE id = $1
         RETURNING id",
    )
    .bind(run)
    .bind(at)
    .fetch_one(conn)
    .await
    .unwrap()
}

async fn span(conn: &mut PgConnection, run: Uuid, span_id: &str) {
    sqlx::query(
        "INSERT INTO agent_run_spans (run_id, user_id, span_id, kind, name, status, started_at,
                                      ended_at, run_created_at)
         SELECT id, user_id, $2, 'llm', 'chat', 'ok', created_at, created_at, created_at
         FROM agent_runs WHERE id = $1",
    )
    .bind(run)
    .bind(span_id)
    .execute(conn)
    .await
    .unwrap();
}

/// How many rows of `run` `table` holds.
async fn rows_of(conn: &mut PgConnection, table: &str, run: Uuid) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE run_id = $1"))
        .bind(run)
        .fetch_one(conn)
        .await
        .unwrap()
}

/// The partition that holds the event `id`.
async fn partition_of(conn: &mut PgConnection, id: i64) -> String {
    sqlx::query_scalar("SELECT tableoid::regclass::text FROM agent_run_events WHERE id = $1")
        .bind(id)
        .fetch_one(conn)
        .await
        .unwrap()
}

/// The same day `n` calendar months earlier (or the month's last day).
fn months_before(at: DateTime<Utc>, n: u32) -> DateTime<Utc> {
    at.checked_sub_months(Months::new(n)).unwrap()
}

/// The name the log gives the partition of `table` starting at the month of `at`.
fn month_partition(table: &str, at: DateTime<Utc>) -> String {
    format!("{table}_p{}", at.format("%Y%m01"))
}

/// An unfinished run of today with one event `far` ahead, beyond every partition made ahead: the
/// row is kept in the DEFAULT partition, not refused.
struct FarEvent {
    api: Api,
    conn: PgConnection,
    run: Uuid,
    id: i64,
    far: DateTime<Utc>,
}

async fn an_event_beyond_every_partition() -> FarEvent {
    let now = Utc::now();
    let api = app_at(now).await;
    let mut conn = api.app.db.owner_conn().await;
    let user = agent_a(&api.app.db).await;
    let far = now + Duration::days(200);
    let run = run(&mut conn, user, now, None).await;
    let id = event(&mut conn, run, far).await;
    FarEvent {
        api,
        conn,
        run,
        id,
        far,
    }
}

async fn system_partitions(db: &TestDb) -> Vec<partitions::LogPartition> {
    let mut tx = begin_scoped(&db.pool, Principal::SYSTEM).await.unwrap();
    partitions::list(&mut tx).await.unwrap()
}

async fn make_partitions(db: &TestDb, from: DateTime<Utc>, until: DateTime<Utc>) {
    let mut tx = begin_scoped(&db.pool, Principal::SYSTEM).await.unwrap();
    for table in partitions::LOG_TABLES {
        partitions::create(tx.conn(), table, from, until, PartitionUnit::Month)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

/// The opaque columns of the log (migration 024) that some table or partition of it still
/// gathers statistics on, as "table.column".
async fn opaque_columns_analysed(conn: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname || '.' || a.attname
         FROM pg_class c
         JOIN pg_attribute a ON a.attrelid = c.oid
         WHERE (c.relname LIKE 'agent\\_run\\_events%' AND a.attname = 'payload'
                OR c.relname LIKE 'agent\\_run\\_spans%'
                   AND a.attname IN ('attributes', 'input_preview', 'output_preview', 'error'))
           AND c.relkind IN ('r', 'p') AND a.attstattarget <> 0
         ORDER BY 1",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

/// Fires `cleanup-old-runs` with its clock at `now` (each firing a new one).
async fn fire_cleanup(app: &TestApp, now: DateTime<Utc>) -> serde_json::Value {
    let run = app
        .scheduler_at(now, JobsConfig::default())
        .await
        .fire(JobName::CleanupOldRuns, Utc::now(), Trigger::Http)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.outcome, "succeeded", "{}", run.details);
    run.details
}

#[tokio::test]
async fn retention_drops_a_partition_only_when_every_run_in_it_is_past_retention() {
    let now = Utc::now();
    let api = app_at(now).await;
    let db = &api.app.db;
    let mut conn = db.owner_conn().await;
    let user = agent_a(db).await;
    let months_ago = |n: u32| months_before(now, n);
    make_partitions(db, months_ago(7), now).await;

    // Five months ago: one run, long finished. Its month goes whole.
    let expired = run(&mut conn, user, months_ago(5), Some(months_ago(5))).await;
    let expired_event = event(&mut conn, expired, months_ago(5)).await;
    span(&mut conn, expired, "e1").await;
    // Four months ago: a finished run beside one that never finished. The month stays for the
    // unfinished run; the finished one still goes, row by row.
    let beside = run(&mut conn, user, months_ago(4), Some(months_ago(4))).await;
    event(&mut conn, beside, months_ago(4)).await;
    span(&mut conn, beside, "b1").await;
    let active = run(&mut conn, user, months_ago(4), None).await;
    event(&mut conn, active, months_ago(4)).await;
    event(&mut conn, active, now).await;
    span(&mut conn, active, "a1").await;
    // Three months ago: a run that finished 10 days ago, inside the 30-day retention.
    let recent = run(
        &mut conn,
        user,
        months_ago(3),
        Some(now - Duration::days(10)),
    )
    .await;
    let recent_event = event(&mut conn, recent, months_ago(3)).await;
    event(&mut conn, recent, now - Duration::days(10)).await;
    span(&mut conn, recent, "r1").await;
    let before = system_partitions(db).await;
    assert_eq!(
        partition_of(&mut conn, expired_event).await,
        month_partition(EVENTS, months_ago(5))
    );

    let details = fire_cleanup(&api.app, now).await;
    let dropped: Vec<String> =
        serde_json::from_value(details["partitions_dropped"].clone()).unwrap();
    for table in [EVENTS, SPANS] {
        assert!(
            dropped.contains(&month_partition(table, months_ago(5))),
            "{details}"
        );
        for kept in [months_ago(4), months_ago(3)] {
            assert!(
                !dropped.contains(&month_partition(table, kept)),
                "{table} of {kept}: {details}"
            );
        }
    }
    // Everything dropped had ended before the cutoff; nothing else went.
    let after = system_partitions(db).await;
    let cutoff = now - Duration::days(30);
    for partition in &before {
        let gone = !after.contains(partition);
        assert_eq!(gone, dropped.contains(&partition.name), "{partition:?}");
        assert!(!gone || partition.hi <= cutoff, "{partition:?}");
    }
    assert_eq!(details["runs_deleted"], 2, "{details}");

    assert_eq!(rows_of(&mut conn, EVENTS, expired).await, 0);
    assert_eq!(rows_of(&mut conn, SPANS, expired).await, 0);
    assert_eq!(
        rows_of(&mut conn, EVENTS, beside).await,
        0,
        "deleted with its run"
    );
    assert_eq!(rows_of(&mut conn, SPANS, beside).await, 0);
    assert_eq!(
        rows_of(&mut conn, EVENTS, active).await,
        2,
        "an unfinished run keeps all"
    );
    assert_eq!(rows_of(&mut conn, SPANS, active).await, 1);
    assert_eq!(
        rows_of(&mut conn, EVENTS, recent).await,
        2,
        "a recent run keeps all"
    );
    assert_eq!(rows_of(&mut conn, SPANS, recent).await, 1);
    assert_eq!(
        partition_of(&mut conn, recent_event).await,
        month_partition(EVENTS, months_ago(3))
    );

    // Once the unfinished run ends and ages out, its month goes too.
    let later = now + Duration::days(1);
    sqlx::query(
        "UPDATE agent_runs SET status = 'completed', completed_at = $2 - interval '40 days'
         WHERE id = $1",
    )
    .bind(active)
    .bind(later)
    .execute(&mut conn)
    .await
    .unwrap();
    let details = fire_cleanup(&api.app, now).await;
    let dropped: Vec<String> =
        serde_json::from_value(details["partitions_dropped"].clone()).unwrap();
    assert!(
        dropped.contains(&month_partition(EVENTS, months_ago(4))),
        "{details}"
    );
    assert!(
        !dropped.contains(&month_partition(EVENTS, months_ago(3))),
        "{details}"
    );
    assert_eq!(rows_of(&mut conn, EVENTS, recent).await, 2);
}

#[tokio::test]
async fn rows_without_a_partition_wait_in_the_default_one_and_move_when_it_is_made() {
    let FarEvent {
        api,
        mut conn,
        run,
        id,
        far,
    } = an_event_beyond_every_partition().await;
    let db = &api.app.db;
    assert_eq!(
        partition_of(&mut conn, id).await,
        "agent_run_events_default"
    );

    // The scheduler, run then, makes the partitions ahead of it and moves the row in.
    let details = fire_cleanup(&api.app, far).await;
    assert!(
        details["partitions_created"].as_i64().unwrap() >= 2,
        "{details}"
    );
    assert_eq!(
        partition_of(&mut conn, id).await,
        month_partition(EVENTS, far)
    );
    let ahead = system_partitions(db).await;
    for table in [EVENTS, SPANS] {
        for month in [far, far + Duration::days(31)] {
            let name = month_partition(table, month);
            assert!(ahead.iter().any(|p| p.name == name), "{name} in {ahead:?}");
        }
    }
    // Made again, nothing changes.
    let details = fire_cleanup(&api.app, far).await;
    assert_eq!(details["partitions_created"], 0, "{details}");
    assert_eq!(rows_of(&mut conn, EVENTS, run).await, 1);

    // Weekly partitions where no monthly one lies.
    let made = partitions::create_ahead_committed(
        &db.pool,
        far + Duration::days(400),
        PartitionUnit::Week,
    )
    .await
    .unwrap()
    .made;
    assert!(made >= 4, "two tables, at least two weeks each: {made}");

    // ANALYZE skips the opaque columns of every partition: the migrated ones and those made
    // since, attached over the DEFAULT partition's rows or made empty, by month and by week.
    assert_eq!(
        opaque_columns_analysed(&mut conn).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn event_cursors_read_across_partitions_in_id_order() {
    let now = Utc::now();
    let api = app_at(now).await;
    let db = &api.app.db;
    make_partitions(db, now - Duration::days(100), now).await;
    let mut conn = db.owner_conn().await;
    let user = agent_a(db).await;
    let run = run(&mut conn, user, months_before(now, 3), None).await;
    // ids rise in the order written, whatever month each event is in
    let mut ids = Vec::new();
    for months in [3, 0, 2, 3, 1, 0] {
        ids.push(event(&mut conn, run, months_before(now, months)).await);
    }
    let mut holders: Vec<String> = Vec::new();
    for id in &ids {
        holders.push(partition_of(&mut conn, *id).await);
    }
    holders.sort();
    holders.dedup();
    assert_eq!(holders.len(), 4, "four partitions: {holders:?}");

    // The REST cursor, a page at a time.
    let mut seen = Vec::new();
    let mut after = ids[0];
    loop {
        let (status, body) = api
            .get(&format!("/api/v1/runs/{run}/events?after={after}&limit=2"))
            .await;
        assert_eq!(status, 200, "{body}");
        let page: Vec<i64> = body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect();
        let Some(last) = page.last() else { break };
        after = *last;
        seen.extend(page);
    }
    assert_eq!(seen, ids[1..]);

    // The hub's cursor over every run.
    let a = db.user("agent-a@example.com", UserRole::User).await;
    let mut tx = db.scoped(&a).await;
    let read = events::after_with_runs(&mut tx, ids[1], None, None, 100)
        .await
        .unwrap();
    let read: Vec<i64> = read.iter().map(|(e, _)| e.id).collect();
    assert_eq!(read, ids[2..]);
    let (_, max) = events::in_flight_and_max_id(&mut tx).await.unwrap();
    assert_eq!(max, *ids.iter().max().unwrap());
}

#[tokio::test]
async fn only_the_system_scope_drops_partitions_and_nobody_reads_one_directly() {
    let db = TestDb::new().await;
    let user = db.user("partitions@example.com", UserRole::User).await;
    let admin = db
        .user("partitions-admin@example.com", UserRole::Admin)
        .await;
    let mut tx = db.scoped(&user).await;
    let err = partitions::drop_expired(&mut tx, EVENTS, Utc::now())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("only the system scope"), "{err}");
    drop(tx);

    let name = month_partition(EVENTS, Utc::now());
    for who in [&user, &admin] {
        let mut tx = begin_scoped(&db.pool, principal(who)).await.unwrap();
        let err = sqlx::query(&format!("SELECT count(*) FROM {name}"))
            .execute(tx.conn())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("permission denied"), "{err}");
    }
    // Nor may the application create or drop one itself.
    let mut tx = begin_scoped(&db.pool, Principal::SYSTEM).await.unwrap();
    let err = sqlx::query(&format!("DROP TABLE {name}"))
        .execute(tx.conn())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("must be owner"), "{err}");
}

#[tokio::test]
async fn a_partition_whose_table_is_busy_is_left_for_a_later_run() {
    let now = Utc::now();
    let api = app_at(now).await;
    let db = &api.app.db;
    let old = months_before(now, 5);
    make_partitions(db, old, now).await;
    let mut conn = db.owner_conn().await;
    let user = agent_a(db).await;
    let expired = run(&mut conn, user, old, Some(old)).await;
    event(&mut conn, expired, old).await;
    let partition = month_partition(EVENTS, old);

    // A long reader of the log: the drop waits for it 2 s at most, then leaves the partition.
    let mut reader = db.owner_conn().await;
    sqlx::raw_sql("BEGIN; SELECT count(*) FROM agent_run_events;")
        .execute(&mut reader)
        .await
        .unwrap();
    let waited = std::time::Instant::now();
    let dropped = partitions::drop_expired_committed(&db.pool, now - Duration::days(30))
        .await
        .unwrap();
    assert!(!dropped.contains(&partition), "{dropped:?}");
    // one wait for the table, not one per partition of it (four expired: 8 s)
    let waited = waited.elapsed();
    assert!(waited >= std::time::Duration::from_secs(2), "{waited:?}");
    assert!(waited < std::time::Duration::from_secs(6), "{waited:?}");
    assert!(
        !dropped.is_empty() && dropped.iter().all(|name| name.starts_with(SPANS)),
        "the spans, whose table nobody held, still go: {dropped:?}"
    );
    assert_eq!(rows_of(&mut conn, EVENTS, expired).await, 1);

    sqlx::raw_sql("COMMIT").execute(&mut reader).await.unwrap();
    let dropped = partitions::drop_expired_committed(&db.pool, now - Duration::days(30))
        .await
        .unwrap();
    assert!(dropped.contains(&partition), "{dropped:?}");
    assert_eq!(rows_of(&mut conn, EVENTS, expired).await, 0);
}

/// Waits until some backend of the test database waits for a lock.
async fn until_a_lock_is_awaited(conn: &mut PgConnection) {
    for _ in 0..200 {
        let waiting: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                            WHERE NOT l.granted AND d.datname = current_database())",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        if waiting {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("nobody waited for a lock");
}

#[tokio::test]
async fn making_partitions_beside_a_reader_of_the_log_neither_deadlocks_nor_blocks_it_long() {
    // A row in the DEFAULT partition: its month is made by moving it, the months after it plainly.
    let FarEvent {
        api,
        mut conn,
        run,
        id,
        far,
    } = an_event_beyond_every_partition().await;
    let db = &api.app.db;

    // A reader (a page, the hub) in a transaction whose first statement was pruned to this
    // month's partition: it holds the log's parent table, and not the DEFAULT partition.
    let mut reader = db.owner_conn().await;
    sqlx::raw_sql("BEGIN; LOCK TABLE ONLY agent_run_events IN ACCESS SHARE MODE;")
        .execute(&mut reader)
        .await
        .unwrap();
    let pool = db.pool.clone();
    let making = tokio::spawn(async move {
        partitions::create_ahead_committed(&pool, far, PartitionUnit::Month).await
    });
    until_a_lock_is_awaited(&mut conn).await;
    // The reader's next statement touches every partition of the log, the DEFAULT one too.
    let read = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM agent_run_events")
        .fetch_one(&mut reader)
        .await;
    sqlx::raw_sql("COMMIT").execute(&mut reader).await.unwrap();
    let made = making.await.unwrap();
    assert!(read.is_ok(), "the reader was cancelled: {read:?}");
    let made = made.expect("making partitions");
    assert!(made.made >= 6 && made.busy.is_empty(), "{made:?}");
    assert_eq!(
        partition_of(&mut conn, id).await,
        month_partition(EVENTS, far)
    );

    // A reader that keeps the log past the lock's 2 s: the maker gives the table up (the log's
    // writers, queued behind its request, wait no longer than that) and its rows wait in the
    // DEFAULT partition for the next run.
    let later = far + Duration::days(200);
    let waiting = event(&mut conn, run, later).await;
    sqlx::raw_sql("BEGIN; LOCK TABLE ONLY agent_run_events IN ACCESS SHARE MODE;")
        .execute(&mut reader)
        .await
        .unwrap();
    let made = partitions::create_ahead_committed(&db.pool, later, PartitionUnit::Month)
        .await
        .unwrap();
    assert_eq!(made.busy, [EVENTS], "{made:?}");
    assert!(made.made >= 3, "the spans' partitions are made: {made:?}");
    assert_eq!(
        partition_of(&mut conn, waiting).await,
        "agent_run_events_default"
    );
    sqlx::raw_sql("COMMIT").execute(&mut reader).await.unwrap();
    let made = partitions::create_ahead_committed(&db.pool, later, PartitionUnit::Month)
        .await
        .unwrap();
    assert!(made.made >= 3 && made.busy.is_empty(), "{made:?}");
    assert_eq!(
        partition_of(&mut conn, waiting).await,
        month_partition(EVENTS, later)
    );
}
