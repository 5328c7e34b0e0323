//! `runwire seed --runs N`: fills one user with N generated runs and their events, fast enough for a
//! million (COPY in chunks, one transaction). The NOTIFY and rollup triggers are switched off for the
//! load (inside the transaction, so a failed load leaves them on) and the rollup is rebuilt after.
//! Run it while no server is serving: it locks both tables until it commits.

use crate::model::{RunEventKind, RunStatus};
use crate::server::partitions;
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::{Connection, PgConnection};
use std::fmt::Write;
use uuid::Uuid;

const CHUNK_RUNS: u64 = 10_000;
/// Generated runs are spread evenly over this many days before now.
const SPREAD_DAYS: i64 = 90;
/// Only the newest runs are still running, as in life.
const ACTIVE_NEWEST: u64 = 200;

const AGENTS: &[&str] = &[
    "researcher",
    "coder",
    "reviewer",
    "planner",
    "data-analyst",
    "support-bot",
    "translator",
    "summarizer",
];
const VERBS: &[&str] = &[
    "Summarise",
    "Refactor",
    "Review",
    "Translate",
    "Plan",
    "Audit",
    "Benchmark",
    "Document",
    "Triage",
    "Migrate",
];
const OBJECTS: &[&str] = &[
    "the billing service",
    "last week's support tickets",
    "the ingestion pipeline",
    "the onboarding docs",
    "the payments module",
    "the search index",
    "the nightly ETL job",
    "the mobile release notes",
    "the GPU cluster costs",
    "the auth middleware",
];
const STEPS: &[&str] = &[
    "Planning",
    "Calling web_search",
    "Reading sources",
    "Editing files",
    "Running tests",
    "Writing summary",
    "Checking citations",
    "Waiting for CI",
];

/// What a load made.
#[derive(Debug, Clone, Copy)]
pub struct Generated {
    pub runs: u64,
    pub events: u64,
}

/// Adds `runs` runs with `events_per_run` events each for `user_id` (0: none; otherwise at least
/// 2, its start and its end), spread over the 90 days before now; the newest 200 are still running.
pub async fn generate(
    conn: &mut PgConnection,
    user_id: Uuid,
    runs: u64,
    events_per_run: u32,
    progress: impl FnMut(u64),
) -> Result<Generated, sqlx::Error> {
    let load = Load {
        runs,
        events_per_run,
        until: Utc::now(),
        active_newest: ACTIVE_NEWEST,
    };
    generate_load(conn, user_id, load, progress).await
}

/// What [`generate_load`] adds.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub runs: u64,
    pub events_per_run: u32,
    /// The runs are spread over the 90 days before this.
    pub until: DateTime<Utc>,
    /// How many of the newest runs are still running.
    pub active_newest: u64,
}

/// Adds the runs and events `load` describes for `user_id`, in one transaction.
pub async fn generate_load(
    conn: &mut PgConnection,
    user_id: Uuid,
    load: Load,
    mut progress: impl FnMut(u64),
) -> Result<Generated, sqlx::Error> {
    let Load {
        runs,
        until: now,
        active_newest,
        ..
    } = load;
    let events_per_run = if load.events_per_run == 0 {
        0
    } else {
        load.events_per_run.max(2)
    };
    let mut rng = StdRng::seed_from_u64(runs);
    let mut tx = conn.begin().await?;
    // The log's monthly partitions for the spread, so the events land in theirs and not in the
    // DEFAULT partition.
    for table in partitions::LOG_TABLES {
        partitions::create(
            &mut tx,
            table,
            now - Duration::days(SPREAD_DAYS),
            // a running run's events go on a little past `now`
            now + Duration::days(1),
            partitions::PartitionUnit::Month,
        )
        .await?;
    }
    sqlx::raw_sql(
        "ALTER TABLE agent_runs DISABLE TRIGGER agent_runs_rollup_insert_delete;
         ALTER TABLE agent_run_events DISABLE TRIGGER agent_run_events_notify;",
    )
    .execute(&mut *tx)
    .await?;
    let mut made = Generated { runs: 0, events: 0 };
    while made.runs < runs {
        let count = CHUNK_RUNS.min(runs - made.runs);
        let mut run_rows = String::with_capacity(count as usize * 300);
        let mut event_rows = String::with_capacity(count as usize * events_per_run as usize * 120);
        for i in made.runs..made.runs + count {
            let run = GeneratedRun::new(&mut rng, user_id, i, runs, now, active_newest);
            run.write_row(&mut run_rows);
            made.events += run.write_events(&mut event_rows, events_per_run);
        }
        copy(
            &mut tx,
            "COPY agent_runs (id, task_id, user_id, agent_name, task, status, progress_percent, \
             current_step, error, created_at, started_at, completed_at, updated_at) FROM STDIN",
            run_rows,
        )
        .await?;
        if events_per_run > 0 {
            copy(
            &mut tx,
            "COPY agent_run_events (run_id, user_id, kind, status, progress, step, created_at) \
             FROM STDIN",
            event_rows,
        )
        .await?;
        }
        made.runs += count;
        progress(made.runs);
    }
    sqlx::query!("DELETE FROM run_rollup_hourly WHERE user_id = $1", user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
"INSERT INTO run_rollup_hourly (user_id, hour, agent_name, total, completed, failed,
                                        cancelled, timed_out, finished_ms)
         SELECT user_id, date_trunc('hour', created_at, 'UTC'), agent_name, count(*),
                count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),
                count(*) FILTER (WHERE status = 'cancelled'),
                count(*) FILTER (WHERE status = 'timed_out'),
                coalesce(sum(greatest(duration_ms, 0)), 0)
         FROM agent_runs WHERE user_id = $1
         GROUP BY 1, 2, 3",
user_id
)
    .execute(&mut *tx)
    .await?;
    sqlx::raw_sql(
        "ALTER TABLE agent_runs ENABLE TRIGGER agent_runs_rollup_insert_delete;
         ALTER TABLE agent_run_events ENABLE TRIGGER agent_run_events_notify;",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    sqlx::raw_sql("ANALYZE agent_runs; ANALYZE agent_run_events; ANALYZE run_rollup_hourly;")
        .execute(&mut *conn)
        .await?;
    Ok(made)
}

async fn copy(conn: &mut PgConnection, statement: &str, rows: String) -> Result<(), sqlx::Error> {
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(rows.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

struct GeneratedRun {
    id: Uuid,
    user_id: Uuid,
    agent: &'static str,
    task: String,
    status: RunStatus,
    progress: f32,
    step: &'static str,
    error: Option<&'static str>,
    created: DateTime<Utc>,
    started: DateTime<Utc>,
    completed: Option<DateTime<Utc>>,
}

impl GeneratedRun {
    /// Run `i` of `total`; run 0 is the oldest.
    fn new(
        rng: &mut StdRng,
        user_id: Uuid,
        i: u64,
        total: u64,
        now: DateTime<Utc>,
        active_newest: u64,
    ) -> Self {
        let spread = Duration::days(SPREAD_DAYS).num_milliseconds() as f64;
        let age = spread * (total - i) as f64 / total as f64;
        let created = now - Duration::milliseconds(age as i64);
        let started = created + Duration::milliseconds(rng.gen_range(50..3_000));
        let active = total - i <= active_newest;
        let status = if active {
            [
                RunStatus::InProgress,
                RunStatus::Queued,
                RunStatus::Verifying,
                RunStatus::Retrying,
            ][rng.gen_range(0..4)]
        } else {
            match rng.gen_range(0..100) {
                0..=79 => RunStatus::Completed,
                80..=91 => RunStatus::Failed,
                92..=96 => RunStatus::Cancelled,
                _ => RunStatus::TimedOut,
            }
        };
        let completed =
            (!active).then(|| started + Duration::milliseconds(rng.gen_range(2_000..1_200_000)));
        let agent = AGENTS[rng.gen_range(0..AGENTS.len())];
        let task = format!(
            "{} {} (batch {})",
            VERBS[rng.gen_range(0..VERBS.len())],
            OBJECTS[rng.gen_range(0..OBJECTS.len())],
            i / 1_000
        );
        GeneratedRun {
            id: Uuid::new_v4(),
            user_id,
            agent,
            task,
            status,
            progress: if status == RunStatus::Completed {
                100.0
            } else {
                rng.gen_range(0..100) as f32
            },
            step: STEPS[rng.gen_range(0..STEPS.len())],
            error: (status == RunStatus::Failed)
                .then_some("tool call failed: upstream returned HTTP 503"),
            created,
            started,
            completed,
        }
    }

    fn write_row(&self, out: &mut String) {
        let time = |t: DateTime<Utc>| t.to_rfc3339();
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.id,
            Uuid::new_v4(),
            self.user_id,
            self.agent,
            self.task,
            self.status,
            self.progress,
            self.step,
            self.error.unwrap_or("\\N"),
            time(self.created),
            time(self.started),
            self.completed.map(time).unwrap_or_else(|| "\\N".into()),
            time(self.completed.unwrap_or(self.started)),
        );
    }

    /// Writes the run's events: started, progress in between, then how it ended. Returns how many.
    fn write_events(&self, out: &mut String, count: u32) -> u64 {
        let end = self
            .completed
            .unwrap_or(self.started + Duration::seconds(30));
        let span = (end - self.started).num_milliseconds().max(1);
        let terminal = self.status.is_terminal();
        for n in 0..count {
            let at = self.started + Duration::milliseconds(span * i64::from(n) / i64::from(count));
            let last = n + 1 == count;
            let (kind, status) = match (n, last && terminal) {
                (_, true) => (RunEventKind::for_status(self.status), self.status),
                (0, _) => (RunEventKind::Started, RunStatus::InProgress),
                _ => (RunEventKind::Progress, RunStatus::InProgress),
            };
            let progress = if last && terminal {
                self.progress
            } else {
                (n * 90 / count) as f32
            };
            let _ = writeln!(
                out,
                "{}\t{}\t{kind}\t{status}\t{progress}\t{}\t{}",
                self.id,
                self.user_id,
                self.step,
                at.to_rfc3339()
            );
        }
        u64::from(count)
    }
}
