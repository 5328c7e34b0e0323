//! `make bench` — live delivery: publish -> subscriber latency (p50/p99) with 1 and with 1,000
//! WebSocket subscribers at 1,000 events/s, next to the floor measured in the same run (INSERT +
//! NOTIFY received by a plain LISTEN connection), plus the server's RSS with 1,000 subscribers.
//!
//! The server runs as its own process (the release binary) so its memory can be read.

#[path = "../tests/common/mod.rs"]
mod common;

use common::process::ServerProcess;
use common::ws::{Frame, LiveClient};
use common::PublisherExt;
use common::TestDb;
use runwire::model::{LiveMessage, RunFilter, RunUpdate, UserRole};
use runwire::server::auth::tokens;
use runwire::server::publisher::AgentEventPublisher;
use sqlx::postgres::PgListener;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RATE: u64 = 1_000;
const SECONDS: u64 = 30;

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let seconds: u64 = std::env::var("RUNWIRE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SECONDS);
    let db = TestDb::new().await;
    let user = db.user("live-bench@example.com", UserRole::User).await;
    let (_, token) = tokens::create(&db.pool, &user, &tokens::NewToken::read_write("bench"))
        .await
        .unwrap();
    let mut server = ServerProcess::start(&db.url, None).await;
    let addr = server.addr;
    let publisher = AgentEventPublisher::new(db.pool.clone());
    let who = common::principal(&user);

    println!("live delivery benchmark: {seconds} s per row\n");
    let floor_run = publisher
        .start_run(who, None, "floor", "raw floor")
        .await
        .unwrap();
    let floor = raw_floor(&db, floor_run.id, user.id, RATE, seconds).await;
    print_row(
        &format!("raw floor: INSERT + NOTIFY -> LISTEN, {RATE}/s"),
        &floor,
        None,
    );
    for (subscribers, rate) in [(1usize, RATE), (1000, RATE), (1000, 20)] {
        let outcome =
            through_server(addr, &token, &publisher, who, subscribers, rate, seconds).await;
        let rss = rss_mb(server.pid());
        let name = format!("{subscribers} WebSocket subscriber(s), {rate}/s");
        print_row(&name, &outcome.latencies, Some((&outcome, rss)));
        let (p50, p99) = (
            percentile(&outcome.latencies, 50.0),
            percentile(&outcome.latencies, 99.0),
        );
        println!(
            "    vs floor: p50 {:.1}x (goal <= 3x), p99 {:.1}x (goal <= 10x)",
            p50 / percentile(&floor, 50.0),
            p99 / percentile(&floor, 99.0)
        );
    }
    println!("\ngoals: no loss; server RSS with 1,000 subscribers < 150 MB");
    server.child.kill().await.unwrap();
}

struct Outcome {
    latencies: Vec<f64>,
    /// Events a subscriber never got although its stream did not end with a resync.
    lost: usize,
    /// Subscribers told to resync (they fell behind; nothing was skipped silently).
    resynced: usize,
    delivered: usize,
}

fn print_row(name: &str, latencies: &[f64], extra: Option<(&Outcome, f64)>) {
    let mut line = format!(
        "{name:<44} p50 {:>8.2} ms  p99 {:>8.2} ms",
        percentile(latencies, 50.0),
        percentile(latencies, 99.0),
    );
    if let Some((outcome, rss)) = extra {
        line.push_str(&format!(
            "  delivered {}  lost {}  resynced {}  server RSS {rss:.0} MB",
            outcome.delivered, outcome.lost, outcome.resynced
        ));
    }
    println!("{line}");
}

fn percentile(sorted_or_not: &[f64], p: f64) -> f64 {
    let mut values = sorted_or_not.to_vec();
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if values.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[rank]
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// An event row INSERTed directly (its trigger NOTIFYs), timed to a plain LISTEN connection.
async fn raw_floor(
    db: &TestDb,
    run: uuid::Uuid,
    user: uuid::Uuid,
    rate: u64,
    seconds: u64,
) -> Vec<f64> {
    let owner_pool = sqlx::PgPool::connect_with(db.owner.clone()).await.unwrap();
    let mut listener = PgListener::connect_with(&owner_pool).await.unwrap();
    listener.listen("agent_run_events").await.unwrap();
    let sent: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let sender_sent = Arc::clone(&sent);
    let pool = owner_pool.clone();
    let total = rate * seconds;
    let sender = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
        for _ in 0..total {
            ticker.tick().await;
            let at = Instant::now();
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO agent_run_events (run_id, user_id, kind, status, progress, step)
                 VALUES ($1, $2, 'progress', 'in_progress', 1, 'floor') RETURNING id",
            )
            .bind(run)
            .bind(user)
            .fetch_one(&pool)
            .await
            .unwrap();
            sender_sent.lock().unwrap().insert(id, at);
        }
    });
    let mut latencies = Vec::with_capacity(total as usize);
    while latencies.len() < total as usize {
        let note = tokio::time::timeout(Duration::from_secs(10), listener.recv())
            .await
            .unwrap()
            .unwrap();
        let id = serde_json::from_str::<serde_json::Value>(note.payload()).unwrap()["id"]
            .as_i64()
            .unwrap();
        // the notification can beat the INSERT's own reply: wait for its send time to be recorded
        let at = loop {
            if let Some(at) = sent.lock().unwrap().remove(&id) {
                break at;
            }
            tokio::task::yield_now().await;
        };
        latencies.push(at.elapsed().as_secs_f64() * 1000.0);
    }
    sender.await.unwrap();
    latencies
}

async fn through_server(
    addr: std::net::SocketAddr,
    token: &str,
    publisher: &AgentEventPublisher,
    who: runwire::server::db::Principal,
    subscribers: usize,
    rate: u64,
    seconds: u64,
) -> Outcome {
    let run = publisher
        .start_run(who, None, "bench", "latency")
        .await
        .unwrap();
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let total = (rate * seconds) as usize;
    let mut clients = Vec::with_capacity(subscribers);
    let mut cursor = 0;
    for i in 0..subscribers {
        let mut client = LiveClient::subscribe(addr, token, RunFilter::default(), cursor).await;
        // The first client learns the current cursor; the rest subscribe from it (no replay).
        loop {
            match client.next(Duration::from_secs(10)).await {
                Frame::Message(LiveMessage::Ready { last_event_id }) => {
                    if i == 0 {
                        cursor = last_event_id;
                    }
                    break;
                }
                Frame::Message(_) => {}
                other => panic!("{other:?}"),
            }
        }
        clients.push(client);
    }
    // One client measures latency; all of them count what they receive.
    let mut receivers = vec![];
    for (i, mut client) in clients.into_iter().enumerate() {
        let sent = Arc::clone(&sent);
        receivers.push(tokio::spawn(async move {
            let mut latencies = vec![];
            let mut received = 0usize;
            let mut resynced = false;
            while received < total {
                match client.next(Duration::from_secs(15)).await {
                    Frame::Event(event, _) => {
                        received += 1;
                        if i == 0 {
                            let key = event.step.unwrap_or_default();
                            if let Some(at) = sent.lock().unwrap().get(&key) {
                                latencies.push(at.elapsed().as_secs_f64() * 1000.0);
                            }
                        }
                    }
                    Frame::Message(LiveMessage::Resync { .. }) => {
                        resynced = true;
                        break;
                    }
                    Frame::Message(_) => {}
                    _ => break,
                }
            }
            (latencies, received, resynced)
        }));
    }
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    for n in 0..total {
        ticker.tick().await;
        let key = format!("seq-{n}");
        sent.lock().unwrap().insert(key.clone(), Instant::now());
        let update = RunUpdate::Progress {
            percent: (n as f32 / total as f32) * 99.0,
            step: Some(key),
        };
        publisher.apply(who, run.id, update).await.unwrap();
    }
    let mut outcome = Outcome {
        latencies: vec![],
        lost: 0,
        resynced: 0,
        delivered: 0,
    };
    for receiver in receivers {
        let (latencies, received, resynced) = receiver.await.unwrap();
        outcome.latencies.extend(latencies);
        outcome.delivered += received;
        if resynced {
            outcome.resynced += 1;
        } else {
            outcome.lost += total - received;
        }
    }
    outcome
}
