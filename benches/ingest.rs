//! `make bench` — ingest: events per second through the REST API (one update per request, and batches)
//! next to the same writes done directly in SQL on the same database, in the same run.
//!
//! Each "event" is what the publisher does per update: lock the run, update its row, append one
//! event row (firing NOTIFY), commit. The raw SQL side is the fastest way to store the same thing
//! by hand, without HTTP, JSON, authentication, row-level security or the state machine: per batch,
//! lock the run, one UPDATE of it, then the events in one multi-row INSERT or by COPY (whichever
//! is faster in this run), commit.

#[path = "../tests/common/mod.rs"]
mod common;

use common::TestApp;
use runwire::model::RunStatus;
use serde_json::json;
use sqlx::{Connection, PgConnection};
use std::time::{Duration, Instant};
use uuid::Uuid;

const WRITERS: usize = 8;
const SECONDS: u64 = 5;
const BATCH: usize = 100;

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let (app, token) = common::app_with_agent_token("bench@example.com").await;

    println!(
        "ingest benchmark: {WRITERS} concurrent writers, {SECONDS} s each, batches of {BATCH}"
    );
    println!("(PostgreSQL test cluster, fsync off: both sides pay the same storage cost)\n");
    let rest_single = rest(&app, &token, 1).await;
    let rest_batch = rest(&app, &token, BATCH).await;
    let raw_single = raw(&app, 1, Load::Insert).await;
    let raw_insert = raw(&app, BATCH, Load::Insert).await;
    let raw_copy = raw(&app, BATCH, Load::Copy).await;
    println!(
        "raw batches of {BATCH}: multi-row INSERT {raw_insert:.0} ev/s, COPY {raw_copy:.0} ev/s"
    );
    let raw_batch = raw_insert.max(raw_copy);
    println!(
        "{:<28} {:>12} {:>12} {:>8}",
        "", "REST ev/s", "raw SQL ev/s", "ratio"
    );
    for (name, rest, raw) in [
        ("one update per request", rest_single, raw_single),
        ("batches of 100", rest_batch, raw_batch),
    ] {
        println!(
            "{name:<28} {rest:>12.0} {raw:>12.0} {:>7.0}%",
            100.0 * rest / raw
        );
    }
    let ratio = rest_batch / raw_batch;
    println!(
        "\ngoal: batched REST >= 50% of the fastest raw path: {:.0}% {}",
        100.0 * ratio,
        if ratio >= 0.5 { "met" } else { "MISSED" }
    );
}

async fn new_runs(app: &TestApp, token: &str) -> Vec<Uuid> {
    let client = common::agent();
    let mut ids = vec![];
    for i in 0..WRITERS {
        let run: serde_json::Value = client
            .post(app.url("/api/v1/runs"))
            .bearer_auth(token)
            .json(&json!({"agent_name": format!("bench-{i}"), "task": "ingest benchmark"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(run["id"].as_str().unwrap().parse().unwrap());
    }
    ids
}

/// Progress that rises slowly enough to last the whole run without reaching 100.
fn percent(n: usize) -> f64 {
    (n as f64 / 2_000.0).min(99.0)
}

async fn rest(app: &TestApp, token: &str, batch: usize) -> f64 {
    let runs = new_runs(app, token).await;
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let started = Instant::now();
    let mut tasks = vec![];
    for run in runs {
        let url = if batch == 1 {
            app.url(&format!("/api/v1/runs/{run}/progress"))
        } else {
            app.url(&format!("/api/v1/runs/{run}/events"))
        };
        let token = token.to_owned();
        tasks.push(tokio::spawn(async move {
            let client = common::agent();
            let mut sent = 0usize;
            while Instant::now() < deadline {
                let body = if batch == 1 {
                    json!({"percent": percent(sent), "step": "working"})
                } else {
                    let updates: Vec<_> = (0..batch)
                        .map(|i| json!({"type": "progress", "percent": percent(sent + i), "step": "working"}))
                        .collect();
                    json!({ "updates": updates })
                };
                let response = client.post(&url).bearer_auth(&token).json(&body).send().await.unwrap();
                assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
                sent += batch;
            }
            sent
        }));
    }
    common::rate_of(tasks, started).await
}

/// How the raw side writes a batch of events.
#[derive(Clone, Copy)]
enum Load {
    Insert,
    Copy,
}

async fn raw(app: &TestApp, batch: usize, load: Load) -> f64 {
    let mut owner = app.db.owner_conn().await;
    let user_id: Uuid = sqlx::query_scalar("SELECT id FROM users LIMIT 1")
        .fetch_one(&mut owner)
        .await
        .unwrap();
    let mut runs = vec![];
    for i in 0..WRITERS {
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO agent_runs (user_id, agent_name, task, status, started_at)
             VALUES ($1, $2, 'raw ingest', 'in_progress', now()) RETURNING id",
        )
        .bind(user_id)
        .bind(format!("raw-{i}"))
        .fetch_one(&mut owner)
        .await
        .unwrap();
        runs.push(id);
    }
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let started = Instant::now();
    let mut tasks = vec![];
    for run in runs {
        let options = app.db.owner.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = PgConnection::connect_with(&options).await.unwrap();
            let mut sent = 0usize;
            while Instant::now() < deadline {
                let mut tx = conn.begin().await.unwrap();
                sqlx::query("SELECT 1 FROM agent_runs WHERE id = $1 FOR UPDATE")
                    .bind(run)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                let percents: Vec<f32> = (0..batch).map(|i| percent(sent + i) as f32).collect();
                sqlx::query(
                    "UPDATE agent_runs SET progress_percent = $2, current_step = 'working' WHERE id = $1",
                )
                .bind(run)
                .bind(percents[batch - 1])
                .execute(&mut *tx)
                .await
                .unwrap();
                match load {
                    Load::Insert => {
                        sqlx::query(
                            "INSERT INTO agent_run_events (run_id, user_id, kind, status, progress, step)
                             SELECT $1, $2, 'progress', $3, p, 'working' FROM unnest($4::real[]) p",
                        )
                        .bind(run)
                        .bind(user_id)
                        .bind(RunStatus::InProgress)
                        .bind(&percents)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                    }
                    Load::Copy => {
                        let mut rows = String::new();
                        for p in &percents {
                            rows.push_str(&format!(
                                "{run}\t{user_id}\tprogress\tin_progress\t{p}\tworking\n"
                            ));
                        }
                        let mut copy = tx
                            .copy_in_raw(
                                "COPY agent_run_events (run_id, user_id, kind, status, progress, step) \
                                 FROM STDIN",
                            )
                            .await
                            .unwrap();
                        copy.send(rows.as_bytes()).await.unwrap();
                        copy.finish().await.unwrap();
                    }
                }
                tx.commit().await.unwrap();
                sent += batch;
            }
            sent
        }));
    }
    common::rate_of(tasks, started).await
}
