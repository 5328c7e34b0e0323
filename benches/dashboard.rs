//! `make bench` — the dashboard at a million runs: one user with 1,000,000 runs and 5,000,000 events
//! (loaded with `runwire seed`'s COPY generator), then each dashboard query timed through its server
//! function over HTTP (as the browser calls it), next to the same repository query run directly on
//! the database in the same process (the bare SQL, with row-level security as in production).
//! Also: time to first byte of the server-rendered /dashboard (the bundle and first paint: first_load.rs).
//!
//! Goal: each server function < 50 ms and <= 2x its bare SQL.

#[path = "../tests/common/mod.rs"]
mod common;

use common::process::ServerProcess;
use common::{TestDb, TEST_PASSWORD};
use runwire::model::{RunFilter, RunSort, RunStatus, StatsWindow, UserRole};
use runwire::server::db::ScopedTx;
use runwire::server::runs;
use runwire::server::seed::bulk as bulk_seed;
use serde_json::{json, Value};
use std::future::Future;
use std::time::Instant;

const RUNS: u64 = 1_000_000;
const EVENTS_PER_RUN: u32 = 5;
const SAMPLES: usize = 30;

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let runs_wanted: u64 = std::env::var("RUNWIRE_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(RUNS);
    let db = TestDb::new().await;
    let user = db.user("dashboard-bench@example.com", UserRole::User).await;
    let started = Instant::now();
    let mut owner = db.owner_conn().await;
    let made = bulk_seed::generate(&mut owner, user.id, runs_wanted, EVENTS_PER_RUN, |_| {})
        .await
        .unwrap();
    println!(
        "dashboard benchmark: {} runs, {} events loaded in {:.0} s\n",
        made.runs,
        made.events,
        started.elapsed().as_secs_f64()
    );
    let server = ServerProcess::start(&db.url, None).await;
    let base = format!("http://{}", server.addr);
    let http = common::browser();
    let response = http
        .post(format!("{base}/api/sign_in"))
        .form(&[
            ("email", user.email.as_str()),
            ("password", TEST_PASSWORD),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "sign-in: {}",
        response.status()
    );

    let search = |text: &str| RunFilter {
        search: Some(text.into()),
        ..Default::default()
    };
    let failed = RunFilter {
        statuses: vec![RunStatus::Failed],
        ..Default::default()
    };
    let pages = [
        (
            "first page (50 newest)",
            RunFilter::default(),
            RunSort::Newest,
        ),
        ("search common word", search("payments"), RunSort::Newest),
        ("search rare text", search("(batch 517)"), RunSort::Newest),
        ("filtered page (failed)", failed.clone(), RunSort::Newest),
        ("failed, longest first", failed, RunSort::Longest),
    ];
    println!(
        "{:<28} {:>12} {:>12} {:>8}   (median of {SAMPLES}; p95 in brackets)",
        "query", "server fn", "bare SQL", "ratio"
    );
    let mut worst: f64 = 0.0;
    for window in [StatsWindow::Day, StatsWindow::Month, StatsWindow::All] {
        let name = format!("stats + trend, {}", window.label());
        let via_server = time(|| {
            let request = http
                .post(format!("{base}/api/dashboard_summary"))
                .json(&json!({ "window": window }));
            async move {
                ok(request.send().await.unwrap()).await;
            }
        })
        .await;
        let bare = time(|| {
            let db = &db;
            let user = &user;
            async move {
                let mut tx: ScopedTx = db.scoped(user).await;
                let since = window.since(chrono::Utc::now());
                runs::stats(&mut tx, since).await.unwrap();
                runs::trend(&mut tx, since, window.trend_bucket())
                    .await
                    .unwrap();
                runs::agent_names(&mut tx).await.unwrap();
                tx.commit().await.unwrap();
            }
        })
        .await;
        worst = worst.max(report(&name, via_server, bare));
    }
    for (name, filter, sort) in pages {
        let via_server = time(|| {
            let request = http
                .post(format!("{base}/api/list_runs"))
                .json(&json!({ "filter": filter, "limit": 50, "sort": sort }));
            async move {
                ok(request.send().await.unwrap()).await;
            }
        })
        .await;
        let bare = time(|| {
            let (db, user, filter) = (&db, &user, &filter);
            async move {
                let mut tx = db.scoped(user).await;
                runs::page(&mut tx, filter, sort, None, 50).await.unwrap();
                tx.commit().await.unwrap();
            }
        })
        .await;
        worst = worst.max(report(name, via_server, bare));
    }
    println!("\nslowest server function: {worst:.1} ms (goal < 50 ms)");

    let ttfb = time(|| {
        let request = http.get(format!("{base}/dashboard"));
        async move {
            let response = request.send().await.unwrap();
            assert!(response.status().is_success());
            // headers are out: the first byte has arrived; the body is read outside the timing
            drop(response);
        }
    })
    .await;
    let full = time(|| {
        let request = http.get(format!("{base}/dashboard"));
        async move {
            request.send().await.unwrap().bytes().await.unwrap();
        }
    })
    .await;
    println!(
        "SSR /dashboard: first byte {:.1} ms, whole page {:.1} ms (median)",
        median(&ttfb),
        median(&full)
    );
    drop(server);
}

async fn ok(response: reqwest::Response) -> Value {
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

/// Milliseconds of each of SAMPLES runs, after three warm-ups.
async fn time<F, Fut>(mut call: F) -> Vec<f64>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    for _ in 0..3 {
        call().await;
    }
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let started = Instant::now();
        call().await;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    samples
}

fn median(samples: &[f64]) -> f64 {
    percentile(samples, 50.0)
}

fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * p / 100.0).round() as usize]
}

/// Prints one row and returns the server function's median.
fn report(name: &str, via_server: Vec<f64>, bare: Vec<f64>) -> f64 {
    let (server, sql) = (median(&via_server), median(&bare));
    println!(
        "{name:<28} {server:>7.2} ms [{:>5.1}] {sql:>6.2} ms [{:>5.1}] {:>6.2}x",
        percentile(&via_server, 95.0),
        percentile(&bare, 95.0),
        server / sql
    );
    server
}
