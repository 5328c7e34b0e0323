//! `make bench` — spans: ingest over REST in batches of 100 next to a raw multi-row INSERT of the
//! same rows on the same database in the same run, and reading the whole tree of a run with 5,000
//! spans.
//!
//! Each span is a finished LLM call (model, tokens, a short input and output), as exporters send
//! them. The REST side is the publisher: lock the run, fold each report into its stored span, price
//! it, write the spans, the run's totals and one event per span, commit. The raw side stores the same
//! rows by hand, without HTTP, JSON, authentication, row-level security or validation: lock the
//! run, one multi-row INSERT of the spans, one of their events, one UPDATE of the run's totals.
//!
//! The OTLP side sends the same calls as an OpenTelemetry exporter does: protobuf exports of 100
//! ended spans of one trace to `POST /v1/traces`, GenAI attributes for model, tokens and content.
//!
//! Goals: REST >= 20,000 spans/s (and OTLP, printed beside it); the tree of a 5,000-span run read in
//! < 50 ms.

#[path = "../tests/common/mod.rs"]
mod common;

use bytes::Bytes;
use common::TestApp;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

const WRITERS: usize = 8;
const SECONDS: u64 = 5;
const BATCH: usize = 100;
/// Spans per run before a writer moves to a new run (a run holds at most 10,000).
const SPANS_PER_RUN: usize = 5_000;
const TREE_SPANS: usize = 5_000;
const REST_GOAL: f64 = 20_000.0;
const TREE_GOAL_MS: f64 = 50.0;

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let (app, token) = common::app_with_agent_token("spans-bench@example.com").await;
    println!("span benchmark: {WRITERS} concurrent writers, {SECONDS} s each, batches of {BATCH}");
    let rest = rest(&app, &token).await;
    let otlp = otlp(&app, &token).await;
    let raw = raw(&app).await;
    // CPU per span (every process on the machine, server, client and PostgreSQL, which share its
    // cores) varies less than spans per second on a machine whose speed drifts from run to run.
    println!(
        "{:<34} {:>12} {:>12} {:>8} {:>14}",
        "", "sp/s", "raw SQL sp/s", "ratio", "CPU us/span"
    );
    for (what, side) in [
        ("REST, JSON, 100 spans/req", &rest),
        ("OTLP /v1/traces, protobuf, 100/req", &otlp),
        ("raw SQL", &raw),
    ] {
        println!(
            "{what:<34} {:>12.0} {:>12.0} {:>7.0}% {:>14.1}",
            side.per_second,
            raw.per_second,
            100.0 * side.per_second / raw.per_second,
            side.cpu_us_per_span
        );
    }
    for (what, rate) in [("REST", rest.per_second), ("OTLP", otlp.per_second)] {
        println!(
            "goal: {what} span ingest >= {REST_GOAL:.0} spans/s: {rate:.0} {}",
            if rate >= REST_GOAL { "met" } else { "MISSED" }
        );
    }
    let tree = tree_read(&app, &token).await;
    println!(
        "goal: the {TREE_SPANS}-span tree over REST (5 pages of 1,000) < {TREE_GOAL_MS:.0} ms: \
         median {tree:.1} ms {}",
        if tree < TREE_GOAL_MS { "met" } else { "MISSED" }
    );
}

async fn new_run(client: &reqwest::Client, base: &str, token: &str) -> Uuid {
    let run: Value = client
        .post(format!("{base}/api/v1/runs"))
        .bearer_auth(token)
        .json(&json!({"agent_name": "span-bench", "task": "span benchmark"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    run["id"].as_str().unwrap().parse().unwrap()
}

/// A batch of finished LLM calls; span `n` of the run hangs under span `n / 10`.
fn batch_of(first: usize) -> Value {
    let spans: Vec<Value> = (first..first + BATCH)
        .map(|n| {
            json!({
                "span_id": format!("s{n}"),
                "parent_span_id": (n > 0).then(|| format!("s{}", n / 10)),
                "kind": "llm", "name": "chat", "model": "gpt-4o-mini",
                "started_at": "2026-01-01T00:00:00Z", "ended_at": "2026-01-01T00:00:01Z",
                "input_tokens": 1000, "output_tokens": 200,
                "input": "Summarise the findings so far.", "output": "Three findings, one open question."
            })
        })
        .collect();
    json!({ "spans": spans })
}

/// One side's ingest: spans per second, and the machine's CPU time per span meanwhile.
struct Ingest {
    per_second: f64,
    cpu_us_per_span: f64,
}

/// CPU time the machine has spent busy (user, nice, system, interrupts; not idle, I/O wait or
/// steal), in clock ticks of 10 ms, from `/proc/stat`.
fn busy_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().unwrap_or(0))
        .collect();
    [0, 1, 2, 5, 6]
        .iter()
        .map(|&n| fields.get(n).copied().unwrap_or(0))
        .sum()
}

/// Waits for the writers started at `started` (when the machine had been busy `busy_before`
/// ticks) and sums up their spans.
async fn ingest_of(
    tasks: Vec<tokio::task::JoinHandle<usize>>,
    started: Instant,
    busy_before: u64,
) -> Ingest {
    let spans = common::total_of(tasks).await;
    let seconds = started.elapsed().as_secs_f64();
    let busy_us = busy_ticks().saturating_sub(busy_before) as f64 * 10_000.0;
    Ingest {
        per_second: spans as f64 / seconds,
        cpu_us_per_span: busy_us / spans.max(1) as f64,
    }
}

async fn rest(app: &TestApp, token: &str) -> Ingest {
    // The bodies are made before the clock starts: what is measured is the server's work, not
    // the bench building JSON on the same two cores.
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        (0..SPANS_PER_RUN)
            .step_by(BATCH)
            .map(|first| Bytes::from(serde_json::to_vec(&batch_of(first)).unwrap()))
            .collect(),
    );
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let (started, busy_before) = (Instant::now(), busy_ticks());
    let mut tasks = vec![];
    for _ in 0..WRITERS {
        let (app_url, token, bodies) = (app.url(""), token.to_owned(), Arc::clone(&bodies));
        let client = common::agent();
        let mut run = new_run(&client, &app_url, &token).await;
        tasks.push(tokio::spawn(async move {
            let mut sent = 0usize;
            let mut in_run = 0usize;
            while Instant::now() < deadline {
                if in_run == SPANS_PER_RUN {
                    run = new_run(&client, &app_url, &token).await;
                    in_run = 0;
                }
                let response = client
                    .post(format!("{app_url}/api/v1/runs/{run}/spans"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(bodies[in_run / BATCH].clone())
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                // read to the end, as an agent does: the connection then serves the next request
                let answer = response.bytes().await.unwrap();
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
                sent += BATCH;
                in_run += BATCH;
            }
            sent
        }));
    }
    ingest_of(tasks, started, busy_before).await
}

/// An exporter's batch: 100 ended LLM calls of `trace`, span `n` under span `n / 10`.
fn export_of(trace: [u8; 16], first: usize) -> Vec<u8> {
    use common::otlp::{export, int, now_nanos, text};
    use opentelemetry_proto::tonic::trace::v1::Span;
    use prost::Message;
    let start = now_nanos() - 60_000_000_000;
    let id = |n: usize| (n as u64 + 1).to_be_bytes().to_vec();
    let spans = (first..first + BATCH)
        .map(|n| Span {
            trace_id: trace.to_vec(),
            span_id: id(n),
            parent_span_id: if n > 0 { id(n / 10) } else { Vec::new() },
            name: "chat gpt-4o-mini".to_owned(),
            kind: 3,
            start_time_unix_nano: start,
            end_time_unix_nano: start + 1_000_000_000,
            attributes: vec![
                text("gen_ai.operation.name", "chat"),
                text("gen_ai.request.model", "gpt-4o-mini"),
                int("gen_ai.usage.input_tokens", 1000),
                int("gen_ai.usage.output_tokens", 200),
                text("gen_ai.input.messages", "Summarise the findings so far."),
                text(
                    "gen_ai.output.messages",
                    "Three findings, one open question.",
                ),
            ],
            ..Span::default()
        })
        .collect();
    export(vec![], spans).encode_to_vec()
}

/// Traces each OTLP writer has bodies made for before the clock starts: 50,000 spans a second
/// over 5 s of 8 writers, more than twice what the server takes.
const OTLP_TRACES_MADE: u32 = 6;

async fn otlp(app: &TestApp, token: &str) -> Ingest {
    // As on the REST side, the exports are encoded before the clock starts; a writer that gets
    // past them encodes the rest as it goes.
    let trace_of = |writer: usize, traces: u32| {
        let mut trace = [0x5a; 16];
        trace[..4].copy_from_slice(&traces.to_be_bytes());
        trace[4] = writer as u8;
        trace
    };
    let made: Vec<Arc<Vec<Bytes>>> = (0..WRITERS)
        .map(|writer| {
            let bodies = (0..OTLP_TRACES_MADE)
                .flat_map(|traces| {
                    (0..SPANS_PER_RUN)
                        .step_by(BATCH)
                        .map(move |first| Bytes::from(export_of(trace_of(writer, traces), first)))
                })
                .collect();
            Arc::new(bodies)
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let (started, busy_before) = (Instant::now(), busy_ticks());
    let mut tasks = vec![];
    for (writer, made) in made.into_iter().enumerate() {
        let (url, token) = (app.url("/v1/traces"), token.to_owned());
        let client = common::agent();
        tasks.push(tokio::spawn(async move {
            let (mut sent, mut in_trace, mut traces) = (0usize, 0usize, 0u32);
            while Instant::now() < deadline {
                if in_trace == SPANS_PER_RUN {
                    (in_trace, traces) = (0, traces + 1);
                }
                let nth = traces as usize * (SPANS_PER_RUN / BATCH) + in_trace / BATCH;
                let body = made
                    .get(nth)
                    .cloned()
                    .unwrap_or_else(|| Bytes::from(export_of(trace_of(writer, traces), in_trace)));
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/x-protobuf")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                let answer = response.bytes().await.unwrap();
                assert!(answer.is_empty(), "a partial success: {answer:?}");
                sent += BATCH;
                in_trace += BATCH;
            }
            sent
        }));
    }
    ingest_of(tasks, started, busy_before).await
}

async fn raw(app: &TestApp) -> Ingest {
    let mut owner = app.db.owner_conn().await;
    let user_id: Uuid = sqlx::query_scalar("SELECT id FROM users LIMIT 1")
        .fetch_one(&mut owner)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let (started, busy_before) = (Instant::now(), busy_ticks());
    let mut tasks = vec![];
    for _ in 0..WRITERS {
        let options = app.db.owner.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = PgConnection::connect_with(&options).await.unwrap();
            let mut run = raw_run(&mut conn, user_id).await;
            let (mut sent, mut in_run) = (0usize, 0usize);
            while Instant::now() < deadline {
                if in_run == SPANS_PER_RUN {
                    run = raw_run(&mut conn, user_id).await;
                    in_run = 0;
                }
                let ids: Vec<String> = (in_run..in_run + BATCH).map(|n| format!("s{n}")).collect();
                let parents: Vec<Option<String>> = (in_run..in_run + BATCH)
                    .map(|n| (n > 0).then(|| format!("s{}", n / 10)))
                    .collect();
                let mut tx = conn.begin().await.unwrap();
                sqlx::query("SELECT 1 FROM agent_runs WHERE id = $1 FOR UPDATE")
                    .bind(run)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                sqlx::query(
                    "INSERT INTO agent_run_spans (span_id, run_id, user_id, parent_span_id, kind, name,
                         status, started_at, ended_at, model, input_tokens, output_tokens, cost_usd,
                         input_preview, output_preview, run_created_at)
                     SELECT id, $1, $2, parent, 'llm', 'chat', 'ok', '2026-01-01T00:00:00Z',
                            '2026-01-01T00:00:01Z', 'gpt-4o-mini', 1000, 200, 0.00027,
                            'Summarise the findings so far.', 'Three findings, one open question.',
                            (SELECT created_at FROM agent_runs WHERE id = $1)
                     FROM unnest($3::text[], $4::text[]) AS t(id, parent)",
                )
                .bind(run)
                .bind(user_id)
                .bind(&ids)
                .bind(&parents)
                .execute(&mut *tx)
                .await
                .unwrap();
                sqlx::query(
                    "INSERT INTO agent_run_events (run_id, user_id, kind, status, progress, payload)
                     SELECT $1, $2, 'span_ended', 'in_progress', 0,
                            json_build_object('span', json_build_object('span_id', id, 'kind', 'llm',
                                'name', 'chat', 'model', 'gpt-4o-mini', 'input_tokens', 1000,
                                'output_tokens', 200))
                     FROM unnest($3::text[]) AS t(id)",
                )
                .bind(run)
                .bind(user_id)
                .bind(&ids)
                .execute(&mut *tx)
                .await
                .unwrap();
                sqlx::query(
                    "UPDATE agent_runs SET tokens_in = coalesce(tokens_in, 0) + $2,
                         tokens_out = coalesce(tokens_out, 0) + $3, cost_usd = coalesce(cost_usd, 0) + $4
                     WHERE id = $1",
                )
                .bind(run)
                .bind((BATCH * 1000) as i64)
                .bind((BATCH * 200) as i64)
                .bind(BATCH as f64 * 0.00027)
                .execute(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
                sent += BATCH;
                in_run += BATCH;
            }
            sent
        }));
    }
    ingest_of(tasks, started, busy_before).await
}

async fn raw_run(conn: &mut PgConnection, user_id: Uuid) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO agent_runs (user_id, agent_name, task, status, started_at)
         VALUES ($1, 'raw-spans', 'raw span ingest', 'in_progress', now()) RETURNING id",
    )
    .bind(user_id)
    .fetch_one(conn)
    .await
    .unwrap()
}

/// What the reader takes from a page: the cursor, and how many spans it holds. The spans are read
/// to the end and checked as JSON but not built into values: the figure is the server's, not the
/// bench's JSON work on the same two cores.
#[derive(serde::Deserialize)]
struct PageSeen {
    spans: Vec<serde::de::IgnoredAny>,
    next_after: Option<String>,
}

/// Median ms to read every span of a run holding [`TREE_SPANS`], page by page over REST.
async fn tree_read(app: &TestApp, token: &str) -> f64 {
    let client = common::agent();
    let run = new_run(&client, &app.url(""), token).await;
    for first in (0..TREE_SPANS).step_by(BATCH) {
        let response = client
            .post(app.url(&format!("/api/v1/runs/{run}/spans")))
            .bearer_auth(token)
            .json(&batch_of(first))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    // Read as a user opens a finished trace: not while autovacuum works through the rows the
    // ingest phases just wrote (that doubled the median on two cores).
    let mut owner = app.db.owner_conn().await;
    sqlx::raw_sql("VACUUM (ANALYZE) agent_run_spans")
        .execute(&mut owner)
        .await
        .unwrap();
    common::settle_autovacuum(&mut owner).await;
    let mut samples = vec![];
    for _ in 0..13 {
        let started = Instant::now();
        let mut after: Option<String> = None;
        let mut read = 0;
        loop {
            let mut url = app.url(&format!("/api/v1/runs/{run}/spans?limit=1000"));
            if let Some(after) = &after {
                url.push_str(&format!("&after={after}"));
            }
            let page: PageSeen = client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            read += page.spans.len();
            match page.next_after {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(read, TREE_SPANS);
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}
