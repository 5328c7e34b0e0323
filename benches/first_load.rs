//! `make bench` — a first visit: what the browser downloads for /dashboard and /agents (the release
//! bundle as the server sends it: gzip, precompressed by `make site-release`), and the time to first
//! contentful paint of /dashboard showing 50 runs, in headless Chromium (end2end/bench/first-load.mjs).
//! Also the run page of a run with 5,000 spans (it loads the first 1,000, its waterfall draws 100
//! rows): first paint, when it is interactive (hydrated), and, reached by a click inside the app,
//! when its waterfall is painted.
//!
//! Then, on an open run page, how soon a span's start shows in the waterfall next to how soon a
//! plain run update shows (end2end/bench/live-latency.mjs).
//!
//! Goals: each route's first load downloads < 500 KB gzip of WASM; the browser renders the
//! 5,000-span run page < 200 ms (a click in the app to the painted waterfall), and a cold load of it
//! is interactive < 200 ms after its first paint; span start to visible p50 within 2x a run update's.

#[path = "../tests/common/mod.rs"]
mod common;

use common::process::ServerProcess;
use common::{principal, PublisherExt, TestDb, TEST_PASSWORD};
use runwire::model::{CurrentUser, NewRun, RunStatus, SpanKind, SpanReport, SpanStatus, UserRole};
use runwire::server::auth::tokens;
use runwire::server::publisher::AgentEventPublisher;
use serde_json::Value;

const ROWS: usize = 50;
const SAMPLES: usize = 10;
const WASM_GOAL_KB: f64 = 500.0;
const SPANS: usize = 5_000;
const SPANS_GOAL_MS: f64 = 200.0;
const LATENCY_SAMPLES: usize = 60;

#[tokio::main]
async fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let site = root.join("target/site-release");
    assert!(
        site.join("pkg/runwire.wasm.gz").exists(),
        "no release bundle: run `make site-release` (make bench does)"
    );
    let db = TestDb::new().await;
    let user = db.user("first-load@example.com", UserRole::User).await;
    let publisher = AgentEventPublisher::new(db.pool.clone());
    for n in 0..ROWS {
        let new = NewRun {
            agent_name: ["researcher", "coder", "reviewer"][n % 3].into(),
            task: format!("first-load bench task number {n}, long enough to wrap like a real one"),
            task_id: None,
            user_id: None,
            status: RunStatus::InProgress,
            step: Some("Working".into()),
            metadata: None,
        };
        publisher.create(principal(&user), &new).await.unwrap();
    }
    let traced = publisher
        .start_run(
            principal(&user),
            None,
            "tracer",
            "a run with five thousand spans",
        )
        .await
        .unwrap();
    for first in (0..SPANS).step_by(runwire::model::SPAN_BATCH_MAX) {
        let reports: Vec<SpanReport> = (first..first + runwire::model::SPAN_BATCH_MAX)
            .map(|n| SpanReport {
                span_id: format!("s{n}"),
                parent_span_id: (n > 0).then(|| format!("s{}", n / 10)),
                kind: Some(SpanKind::Llm),
                name: Some("chat".into()),
                model: Some("gpt-4o-mini".into()),
                input_tokens: Some(1000),
                output_tokens: Some(200),
                status: Some(SpanStatus::Ok),
                ..Default::default()
            })
            .collect();
        publisher
            .record_spans(principal(&user), traced.id, &reports)
            .await
            .unwrap();
    }
    let server = ServerProcess::start_with(
        &db.url,
        None,
        &[("LEPTOS_SITE_ROOT", site.to_str().unwrap())],
    )
    .await;
    let routes = node_script(
        root,
        "first-load.mjs",
        &[
            &format!("http://{}", server.addr),
            &user.email,
            TEST_PASSWORD,
            &SAMPLES.to_string(),
            &traced.id.to_string(),
        ],
    );
    println!("first load, release bundle, {SAMPLES} cold loads each (cache disabled)");
    println!(
        "{:<12} {:>10} {:>8} {:>8} {:>6} {:>10} {:>10} {:>13}",
        "route", "WASM gz", "JS gz", "CSS gz", "rows", "FCP p50", "FCP max", "hydrated p50"
    );
    let mut worst_wasm = 0.0f64;
    let mut spans_page = None;
    for (path, route) in routes.as_object().unwrap() {
        let kb = |kind: &str| route["bytes"][kind].as_f64().unwrap_or(0.0) / 1024.0;
        let (fcp, hydrated) = (sorted(&route["fcp_ms"]), sorted(&route["hydrated_ms"]));
        let p50 = |ms: &[f64]| ms.get(ms.len() / 2).copied().unwrap_or(f64::NAN);
        if path.starts_with("/runs/") {
            let navigated = sorted(&route["navigated_ms"]);
            spans_page = Some((p50(&fcp), p50(&hydrated), p50(&navigated)));
        }
        worst_wasm = worst_wasm.max(kb("wasm"));
        let name = if path.starts_with("/runs/") {
            "/runs/{id}"
        } else {
            path.as_str()
        };
        println!(
            "{name:<12} {:>7.0} KB {:>5.0} KB {:>5.0} KB {:>6} {:>7.0} ms {:>7.0} ms {:>10.0} ms",
            kb("wasm"),
            kb("js"),
            kb("css"),
            route["rows"],
            p50(&fcp),
            fcp.last().copied().unwrap_or(f64::NAN),
            p50(&hydrated),
        );
    }
    println!(
        "goal: WASM per first load < {WASM_GOAL_KB:.0} KB gzip: {:.0} KB {}",
        worst_wasm,
        if worst_wasm < WASM_GOAL_KB {
            "met"
        } else {
            "MISSED"
        }
    );
    if let Some((fcp, hydrated, navigated)) = spans_page {
        let verdict = |ms: f64| if ms < SPANS_GOAL_MS { "met" } else { "MISSED" };
        println!(
            "goal: the browser renders the {SPANS}-span run page < {SPANS_GOAL_MS:.0} ms, \
             from a click in the app to its waterfall painted (p50 of {SAMPLES}): {navigated:.0} ms {}",
            verdict(navigated)
        );
        let after_paint = hydrated - fcp;
        println!(
            "goal: a cold load of it interactive < {SPANS_GOAL_MS:.0} ms after its first paint: \
             {after_paint:.0} ms {}",
            verdict(after_paint)
        );
    }
    live_latency(&db, &user, &publisher, &server, root).await;
    drop(server);
}

/// Span start to visible next to a plain run update to visible, on an open run page (issue goal:
/// the span's p50 within 2x the update's).
async fn live_latency(
    db: &TestDb,
    user: &CurrentUser,
    publisher: &AgentEventPublisher,
    server: &ServerProcess,
    root: &std::path::Path,
) {
    let run = publisher
        .start_run(principal(user), None, "live", "span and update latency")
        .await
        .unwrap();
    let (_, token) = tokens::create(&db.pool, user, &tokens::NewToken::read_write("bench"))
        .await
        .unwrap();
    let measured = node_script(
        root,
        "live-latency.mjs",
        &[
            &format!("http://{}", server.addr),
            &user.email,
            TEST_PASSWORD,
            &token,
            &run.id.to_string(),
            &LATENCY_SAMPLES.to_string(),
        ],
    );
    let p50 = |key: &str| {
        let ms = sorted(&measured[key]);
        (ms[ms.len() / 2], ms[ms.len() * 9 / 10])
    };
    let (update, update_p90) = p50("update_ms");
    let (span, span_p90) = p50("span_ms");
    println!(
        "\nlive on an open run page, {LATENCY_SAMPLES} each, from the REST call to the DOM \
         (headless Chromium, release bundle):"
    );
    println!("  run update (progress step) visible: p50 {update:.1} ms, p90 {update_p90:.1} ms");
    println!("  span start (waterfall line) visible: p50 {span:.1} ms, p90 {span_p90:.1} ms");
    println!(
        "goal: span start to visible p50 within 2x a run update's: {:.2}x {}",
        span / update,
        if span <= 2.0 * update {
            "met"
        } else {
            "MISSED"
        }
    );
}

/// Runs one of end2end/bench's scripts, which prints its figures as one JSON object.
fn node_script(root: &std::path::Path, script: &str, args: &[&str]) -> Value {
    let output = std::process::Command::new("node")
        .current_dir(root.join("end2end"))
        .arg(format!("bench/{script}"))
        .args(args)
        .output()
        .expect("node runs (make e2e-deps installs playwright)");
    assert!(
        output.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A JSON array of milliseconds, sorted.
fn sorted(samples: &Value) -> Vec<f64> {
    let mut ms: Vec<f64> = samples
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    ms.sort_by(f64::total_cmp);
    ms
}
