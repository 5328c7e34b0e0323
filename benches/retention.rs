//! `make bench` — retention at scale: 5,000,000 events of runs that finished months ago, removed
//! once by batched DELETE (deleting their runs 1,000 at a time, the events going by cascade, as
//! `cleanup-old-runs` did before the log was partitioned) and once as `cleanup-old-runs` does now:
//! dropping their monthly partitions, then deleting the runs. Each side gets the same load,
//! generated fresh; each step is timed, and the WAL it wrote measured from the server's WAL
//! position before and after (a checkpoint first, so every step starts from the same state).
//!
//! `RUNWIRE_BENCH_RETENTION_EVENTS` sets a smaller load for a quick look.

#[path = "../tests/common/mod.rs"]
mod common;

use chrono::{Duration, Utc};
use common::{TestApp, TestDb};
use runwire::model::UserRole;
use runwire::server::jobs::{cleanup, JobsConfig};
use runwire::server::partitions;
use runwire::server::seed::bulk::{self as bulk_seed, Load};
use sqlx::PgConnection;
use std::time::Instant;

const EVENTS: u64 = 5_000_000;
const EVENTS_PER_RUN: u32 = 100;
/// Runs deleted per transaction: the cleanup job's own batch.
const BATCH: i64 = 1_000;

/// Time and WAL of one step.
#[derive(Clone, Copy, Default)]
struct Cost {
    seconds: f64,
    wal_bytes: i64,
}

impl std::ops::Add for Cost {
    type Output = Cost;
    fn add(self, other: Cost) -> Cost {
        Cost {
            seconds: self.seconds + other.seconds,
            wal_bytes: self.wal_bytes + other.wal_bytes,
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let events: u64 = std::env::var("RUNWIRE_BENCH_RETENTION_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(EVENTS);
    let app = TestApp::start(TestDb::new().await, None).await;
    // cleanup-old-runs' cutoff with the default retention (30 days)
    let cutoff = Utc::now() - JobsConfig::default().retention;
    let mut owner = app.db.owner_conn().await;

    let loaded = load(&app, &mut owner, "retention-delete@example.com", events).await;
    let batched = measure(&mut owner, delete_runs(&app, cutoff)).await;
    assert_eq!(
        count_events(&mut owner, loaded).await,
        0,
        "every event removed"
    );

    let loaded = load(&app, &mut owner, "retention-drop@example.com", events).await;
    let (dropping, dropped) = measure_with(&mut owner, async {
        partitions::drop_expired_committed(&app.db.pool, cutoff)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(
        count_events(&mut owner, loaded).await,
        0,
        "every event removed"
    );
    let runs_after = measure(&mut owner, delete_runs(&app, cutoff)).await;

    println!("\nremoving {events} events of finished runs past retention (2 cores):");
    println!(
        "  batched DELETE (runs 1,000 a transaction, events by cascade)  {:>6.1} s  {:>8.1} MB of WAL",
        batched.seconds,
        mb(batched.wal_bytes)
    );
    println!(
        "  dropping their {} partitions                                  {:>6.2} s  {:>8.2} MB of WAL",
        dropped.len(),
        dropping.seconds,
        mb(dropping.wal_bytes)
    );
    println!(
        "    then deleting their runs (events already gone)             {:>6.1} s  {:>8.1} MB of WAL",
        runs_after.seconds,
        mb(runs_after.wal_bytes)
    );
    let total = dropping + runs_after;
    println!(
        "  the events by partition: {:.1}% of the time and {:.2}% of the WAL of batched DELETE; \
         the whole cleanup {:.0}% and {:.0}% (goal: less of both)",
        100.0 * dropping.seconds / batched.seconds,
        100.0 * dropping.wal_bytes as f64 / batched.wal_bytes as f64,
        100.0 * total.seconds / batched.seconds,
        100.0 * total.wal_bytes as f64 / batched.wal_bytes as f64
    );
}

fn mb(bytes: i64) -> f64 {
    bytes as f64 / 1_000_000.0
}

/// Loads `events` events for a new user: runs that finished 5 to 8 months ago, none running.
async fn load(app: &TestApp, owner: &mut PgConnection, email: &str, events: u64) -> uuid::Uuid {
    let user = app.db.user(email, UserRole::User).await;
    let load = Load {
        runs: events.div_ceil(u64::from(EVENTS_PER_RUN)),
        events_per_run: EVENTS_PER_RUN,
        until: Utc::now() - Duration::days(150),
        active_newest: 0,
    };
    let loading = Instant::now();
    let made = bulk_seed::generate_load(owner, user.id, load, |_| {})
        .await
        .unwrap();
    assert_eq!(count_events(owner, user.id).await as u64, made.events);
    // Months-old partitions have long been vacuumed; a fresh load would have autovacuum busy on
    // them while they are measured (and a partition's DROP wait for it to give way, 1 s each).
    sqlx::raw_sql("VACUUM (ANALYZE) agent_runs, agent_run_events, agent_run_spans")
        .execute(&mut *owner)
        .await
        .unwrap();
    common::settle_autovacuum(owner).await;
    println!(
        "{email}: {} runs, {} events loaded in {:.0} s",
        made.runs,
        made.events,
        loading.elapsed().as_secs_f64()
    );
    user.id
}

/// Deletes the finished runs past `cutoff` 1,000 per transaction: cleanup-old-runs' own loop.
async fn delete_runs(app: &TestApp, cutoff: chrono::DateTime<Utc>) {
    cleanup::delete_finished_runs(&app.db.pool, cutoff, BATCH)
        .await
        .unwrap();
}

async fn measure(owner: &mut PgConnection, step: impl std::future::Future<Output = ()>) -> Cost {
    measure_with(owner, step).await.0
}

/// Runs `step` after a checkpoint (so each step starts from the same state) and reports its time
/// and the WAL the server wrote meanwhile.
async fn measure_with<T>(
    owner: &mut PgConnection,
    step: impl std::future::Future<Output = T>,
) -> (Cost, T) {
    sqlx::raw_sql("CHECKPOINT")
        .execute(&mut *owner)
        .await
        .unwrap();
    let before: String = sqlx::query_scalar("SELECT pg_current_wal_insert_lsn()::text")
        .fetch_one(&mut *owner)
        .await
        .unwrap();
    let started = Instant::now();
    let out = step.await;
    let seconds = started.elapsed().as_secs_f64();
    let wal_bytes: i64 = sqlx::query_scalar(
        "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn)::bigint",
    )
    .bind(&before)
    .fetch_one(&mut *owner)
    .await
    .unwrap();
    (Cost { seconds, wal_bytes }, out)
}

async fn count_events(conn: &mut PgConnection, user: uuid::Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM agent_run_events WHERE user_id = $1")
        .bind(user)
        .fetch_one(conn)
        .await
        .unwrap()
}
