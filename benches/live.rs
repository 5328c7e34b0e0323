//! `make bench` — live delivery: publish -> subscriber latency (p50/p99) with 1 and with 1,000
//! WebSocket subscribers, next to the floor measured in the same run (INSERT + NOTIFY received by a
//! plain LISTEN connection; the floor and the one-subscriber row alternate in slices); every event
//! counted at every subscriber (lost, resynced); the server's RSS with 1,000 subscribers; and the
//! ceiling: the most deliveries per second (subscribers x events) before the first subscriber is
//! told to resync.
//!
//! The server runs as its own process (the release binary), so its memory can be read and its CPU
//! is its own. The clients run in this process: one decodes every frame and times the events, the
//! others count the events in each frame without decoding it (so the bench's own JSON work does not
//! eat the server's CPU).

#[path = "../tests/common/mod.rs"]
mod common;

use common::process::ServerProcess;
use common::ws::{Frame, LiveClient};
use common::PublisherExt;
use common::TestDb;
use futures::{SinkExt, StreamExt};
use runwire::model::{LiveMessage, LiveRequest, RunFilter, RunUpdate, UserRole};
use runwire::server::auth::tokens;
use runwire::server::db::Principal;
use runwire::server::publisher::AgentEventPublisher;
use sqlx::postgres::PgListener;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const RATE: u64 = 1_000;
const SECONDS: u64 = 30;
/// Publish ticks per second at high rates: each tick publishes rate/TICKS events in one batch.
const TICKS: u64 = 200;
/// Alternating slices of the floor and the one-subscriber row (see `main`).
const SLICES: u64 = 6;

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
    let server = ServerProcess::start_with(
        &db.url,
        None,
        &[
            ("RUNWIRE_LIVE_SOCKETS_PER_USER", "5000"),
            ("RUNWIRE_JOBS", "0"),
        ],
    )
    .await;
    let bench = Bench {
        addr: server.addr,
        token,
        publisher: AgentEventPublisher::new(db.pool.clone()),
        who: common::principal(&user),
        owner: db.owner.clone(),
    };

    println!("live delivery benchmark: {seconds} s per row\n");
    let floor_run = bench
        .publisher
        .start_run(bench.who, None, "floor", "raw floor")
        .await
        .unwrap();
    // The floor and the one-subscriber row alternate in slices of the row's time, so that both are
    // measured on the same machine: on these VMs the floor alone moved by a third between runs a
    // minute apart, and the goal is their ratio.
    let slice = (seconds / SLICES).max(1);
    let mut floor = Vec::new();
    let mut one: Option<Outcome> = None;
    // One run through all the slices, as one long row would have it: each progress update writes a
    // new version of its row, and a run updated thousands of times is slower to update.
    let one_run = bench.new_run().await;
    for slice_no in 0..SLICES {
        floor.extend(raw_floor(&db, floor_run.id, user.id, RATE, slice).await);
        let share = 99.0 / SLICES as f32;
        let progress = slice_no as f32 * share..(slice_no + 1) as f32 * share;
        let part = bench
            .through_server_on(&one_run, progress, 1, RATE, slice, &server)
            .await;
        one = Some(match one {
            None => part,
            Some(so_far) => so_far.and(part),
        });
    }
    let one = one.expect("at least one slice");
    print_row(
        &format!("raw floor: INSERT + NOTIFY -> LISTEN, {RATE}/s"),
        &floor,
        None,
    );
    print_row(
        &format!("1 WebSocket subscriber(s), {RATE}/s"),
        &one.latencies,
        Some(&one),
    );
    let floor_p50 = percentile(&floor, 50.0);
    if std::env::var_os("RUNWIRE_BENCH_ONE").is_some() {
        return;
    }
    let mut results = Vec::new();
    for (subscribers, rate) in [(1000, RATE), (1000, 20)] {
        let outcome = bench
            .through_server(subscribers, rate, seconds, &server)
            .await;
        let name = format!("{subscribers} WebSocket subscriber(s), {rate}/s");
        print_row(&name, &outcome.latencies, Some(&outcome));
        results.push(outcome);
    }
    let thousand = &results[0];
    println!("\ngoals:");
    goal(
        "1 subscriber p50 <= 2x the floor",
        format!(
            "{:.2} ms = {:.2}x the floor's {floor_p50:.2} ms",
            percentile(&one.latencies, 50.0),
            percentile(&one.latencies, 50.0) / floor_p50
        ),
        percentile(&one.latencies, 50.0) <= 2.0 * floor_p50,
    );
    goal(
        "1,000 x 1,000/s: 0 resyncs, lost, duplicated",
        format!(
            "{} resynced, {} lost, {} duplicated",
            thousand.resynced, thousand.lost, thousand.duplicated
        ),
        thousand.resynced == 0 && thousand.lost == 0 && thousand.duplicated == 0,
    );
    // A publisher that fell behind its ticker offered less than 1,000/s: that does not count.
    goal(
        "1,000 x 1,000/s: p50 < 50 ms, p99 < 250 ms",
        format!(
            "p50 {:.1} ms, p99 {:.1} ms, at {:.0}/s",
            percentile(&thousand.latencies, 50.0),
            percentile(&thousand.latencies, 99.0),
            thousand.published_per_s,
        ),
        percentile(&thousand.latencies, 50.0) < 50.0
            && percentile(&thousand.latencies, 99.0) < 250.0
            && thousand.published_per_s >= 0.95 * RATE as f64,
    );
    goal(
        "server RSS with 1,000 sockets < 150 MB",
        format!("{:.0} MB", thousand.rss_mb),
        thousand.rss_mb < 150.0,
    );

    // The ceiling: double the rate until a subscriber falls behind for good.
    let ceiling_seconds = seconds.min(10);
    println!("\nceiling, 1,000 subscribers, {ceiling_seconds} s per step:");
    let mut best = 0u64;
    for rate in [1_000u64, 2_000, 4_000, 8_000, 16_000] {
        let outcome = bench
            .through_server(1000, rate, ceiling_seconds, &server)
            .await;
        let deliveries = outcome.delivered as f64 / outcome.seconds;
        println!(
            "  {rate:>6} events/s: {:>10.0} deliveries/s, p50 {:>7.1} ms, p99 {:>7.1} ms, {} resynced, {} lost, {} duplicated",
            deliveries,
            percentile(&outcome.latencies, 50.0),
            percentile(&outcome.latencies, 99.0),
            outcome.resynced,
            outcome.lost,
            outcome.duplicated,
        );
        if outcome.resynced > 0 || outcome.lost > 0 || outcome.duplicated > 0 {
            break;
        }
        best = best.max(deliveries as u64);
    }
    println!("deliveries/s ceiling (before the first resync): {best}");
}

fn goal(name: &str, measured: String, met: bool) {
    let mark = if met { "met" } else { "MISSED" };
    println!("  {name:<44} {measured:<42} {mark}");
}

/// What one configuration delivered.
struct Outcome {
    latencies: Vec<f64>,
    /// Events a subscriber never got although its stream did not end with a resync.
    lost: usize,
    /// Events a subscriber got more often than they were published (each must arrive once).
    duplicated: usize,
    /// Subscribers told to resync (they fell behind; nothing was skipped silently).
    resynced: usize,
    delivered: usize,
    /// How long publishing and delivering took.
    seconds: f64,
    rss_mb: f64,
    /// How long each publish call took (the publisher's transaction, in the bench's process).
    publish_calls: Vec<f64>,
    /// The rate the publisher really kept (events over the time from the first tick to the last
    /// publish's return): a publisher slower than its ticker offers the server less than asked.
    published_per_s: f64,
    /// Where one subscriber's time went (see [`BREAKDOWN`]).
    breakdown: Option<String>,
}

impl Outcome {
    /// This outcome and a later one of the same configuration, as one.
    fn and(mut self, later: Outcome) -> Outcome {
        self.latencies.extend(later.latencies);
        self.lost += later.lost;
        self.duplicated += later.duplicated;
        self.resynced += later.resynced;
        self.delivered += later.delivered;
        self.seconds += later.seconds;
        self.rss_mb = self.rss_mb.max(later.rss_mb);
        self.publish_calls.extend(later.publish_calls);
        self.published_per_s = self.published_per_s.min(later.published_per_s);
        self.breakdown = match (self.breakdown, later.breakdown) {
            (Some(a), Some(b)) => Some(format!("{a}\n{b}")),
            (a, b) => a.or(b),
        };
        self
    }
}

fn print_row(name: &str, latencies: &[f64], outcome: Option<&Outcome>) {
    let mut line = format!(
        "{name:<44} p50 {:>8.2} ms  p99 {:>8.2} ms",
        percentile(latencies, 50.0),
        percentile(latencies, 99.0),
    );
    if let Some(outcome) = outcome {
        line.push_str(&format!(
            "  delivered {}  lost {}  duplicated {}  resynced {}  server RSS {:.0} MB  (published {:.0}/s, publish call p50 {:.2} ms)",
            outcome.delivered,
            outcome.lost,
            outcome.duplicated,
            outcome.resynced,
            outcome.rss_mb,
            outcome.published_per_s,
            percentile(&outcome.publish_calls, 50.0),
        ));
    }
    println!("{line}");
    if let Some(breakdown) = outcome.and_then(|o| o.breakdown.as_deref()) {
        println!("{breakdown}");
    }
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut values = values.to_vec();
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if values.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[rank]
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

struct Bench {
    addr: SocketAddr,
    token: String,
    publisher: AgentEventPublisher,
    who: Principal,
    /// The database as its owner: for a LISTEN connection of the bench's own.
    owner: sqlx::postgres::PgConnectOptions,
}

impl Bench {
    /// Publishes `rate` progress events a second for `seconds` on a new run.
    async fn through_server(
        &self,
        subscribers: usize,
        rate: u64,
        seconds: u64,
        server: &ServerProcess,
    ) -> Outcome {
        let run = self.new_run().await;
        self.through_server_on(&run, 0.0..99.0, subscribers, rate, seconds, server)
            .await
    }

    async fn new_run(&self) -> runwire::model::AgentRun {
        self.publisher
            .start_run(self.who, None, "bench", "latency")
            .await
            .unwrap()
    }

    /// Publishes on `run`, its progress moving through `progress` (forward only: a later call on
    /// the same run starts where this one ends).
    async fn through_server_on(
        &self,
        run: &runwire::model::AgentRun,
        progress: std::ops::Range<f32>,
        subscribers: usize,
        rate: u64,
        seconds: u64,
        server: &ServerProcess,
    ) -> Outcome {
        let total = (rate * seconds) as usize;
        // The timing client learns the cursor; the rest subscribe from it (no replay).
        let mut timer =
            LiveClient::subscribe(self.addr, &self.token, RunFilter::default(), 0).await;
        let cursor = loop {
            match timer.next(Duration::from_secs(10)).await {
                Frame::Message(LiveMessage::Ready { last_event_id }) => break last_event_id,
                Frame::Event(..) | Frame::Message(_) => {}
                other => panic!("{other:?}"),
            }
        };
        let mut counters = Vec::with_capacity(subscribers.saturating_sub(1));
        for _ in 1..subscribers {
            counters.push(Counter::subscribe(self.addr, &self.token, cursor).await);
        }
        let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let arrived: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let noticed = match subscribers == 1 && std::env::var_os(BREAKDOWN).is_some() {
            true => Some(Notices::listen(&self.owner).await),
            false => None,
        };
        let run_id = run.id;
        let timing = {
            let sent = Arc::clone(&sent);
            let arrived = Arc::clone(&arrived);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(total);
                let mut received = 0;
                while received < total {
                    match timer.next(Duration::from_secs(15)).await {
                        Frame::Event(event, _)
                            if event.run_id == run_id
                                && event.kind == runwire::model::RunEventKind::Progress =>
                        {
                            received += 1;
                            let key = event.step.unwrap_or_default();
                            if let Some(at) = sent.lock().unwrap().remove(&key) {
                                latencies.push(at.elapsed().as_secs_f64() * 1000.0);
                            }
                            arrived.lock().unwrap().insert(key, Instant::now());
                        }
                        Frame::Message(LiveMessage::Resync { .. }) => {
                            return (latencies, received, true)
                        }
                        Frame::Event(..) | Frame::Message(_) => {}
                        _ => break,
                    }
                }
                (latencies, received, false)
            })
        };
        // A progress event of this run, as the server encodes it (fields in RunEvent's order).
        let marker = format!(
            "\"run_id\":\"{}\",\"user_id\":\"{}\",\"kind\":\"progress\"",
            run.id, self.who.user_id
        );
        let counting: Vec<_> = counters
            .into_iter()
            .map(|counter| tokio::spawn(counter.count(total, marker.clone())))
            .collect();
        let started = Instant::now();
        let per_tick = (rate / TICKS).max(1) as usize;
        let ticks = total.div_ceil(per_tick);
        let mut ticker =
            tokio::time::interval(Duration::from_secs_f64(per_tick as f64 / rate as f64));
        let mut n = 0usize;
        let mut publish_calls = Vec::with_capacity(ticks);
        // Each batch's start, by the key of its last event.
        let mut batches = Vec::with_capacity(ticks);
        for _ in 0..ticks {
            ticker.tick().await;
            let mut updates = Vec::with_capacity(per_tick);
            let now = Instant::now();
            batches.push((format!("seq-{}", (n + per_tick).min(total) - 1), now));
            for _ in 0..per_tick.min(total - n) {
                let key = format!("seq-{n}");
                sent.lock().unwrap().insert(key.clone(), now);
                updates.push(RunUpdate::Progress {
                    percent: progress.start
                        + (n as f32 / total as f32) * (progress.end - progress.start),
                    step: Some(key),
                });
                n += 1;
            }
            self.publisher
                .apply_batch(self.who, run.id, &updates)
                .await
                .unwrap();
            publish_calls.push(now.elapsed().as_secs_f64() * 1000.0);
        }
        let published_per_s = total as f64 / started.elapsed().as_secs_f64();
        let rss_mb = server.memory_mib().0;
        let (latencies, received, resynced) = timing.await.unwrap();
        let breakdown =
            noticed.map(|noticed| noticed.breakdown(&batches, &arrived.lock().unwrap()));
        let mut outcome = Outcome {
            latencies,
            lost: 0,
            duplicated: 0,
            resynced: 0,
            delivered: received,
            seconds: 0.0,
            rss_mb,
            publish_calls,
            published_per_s,
            breakdown,
        };
        let mut tally = |received: usize, resynced: bool| {
            if resynced {
                outcome.resynced += 1;
            } else if received > total {
                outcome.duplicated += received - total;
            } else {
                outcome.lost += total - received;
            }
        };
        tally(received, resynced);
        for counter in counting {
            let (received, resynced) = counter.await.unwrap();
            outcome.delivered += received;
            tally(received, resynced);
        }
        outcome.seconds = started.elapsed().as_secs_f64();
        outcome
    }
}

/// Set: the one-subscriber row also says where its time goes, from a LISTEN connection of the
/// bench's own (off by default: one more listener makes every commit signal one more backend).
const BREAKDOWN: &str = "RUNWIRE_BENCH_BREAKDOWN";

/// When each batch's NOTIFY reached a plain LISTEN connection, by the key (step) of the batch's
/// last event.
struct Notices {
    heard: Arc<Mutex<HashMap<String, Instant>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Notices {
    async fn listen(owner: &sqlx::postgres::PgConnectOptions) -> Notices {
        let pool = sqlx::PgPool::connect_with(owner.clone()).await.unwrap();
        let mut listener = PgListener::connect_with(&pool).await.unwrap();
        listener.listen("agent_run_events").await.unwrap();
        let heard: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let task = tokio::spawn({
            let heard = Arc::clone(&heard);
            async move {
                while let Ok(note) = listener.recv().await {
                    let at = Instant::now();
                    let note: serde_json::Value = serde_json::from_str(note.payload()).unwrap();
                    if let Some(step) = note["events"]
                        .as_array()
                        .and_then(|events| events.last())
                        .and_then(|event| event["step"].as_str())
                    {
                        heard.lock().unwrap().insert(step.to_owned(), at);
                    }
                }
            }
        });
        Notices { heard, task }
    }

    /// Publish call -> NOTIFY heard, and NOTIFY heard -> the subscriber's copy, p50 of each.
    fn breakdown(
        self,
        batches: &[(String, Instant)],
        arrived: &HashMap<String, Instant>,
    ) -> String {
        self.task.abort();
        let heard = self.heard.lock().unwrap();
        let (mut to_notify, mut to_subscriber) = (Vec::new(), Vec::new());
        for (key, sent) in batches {
            if let (Some(heard), Some(arrived)) = (heard.get(key), arrived.get(key)) {
                to_notify.push(heard.duration_since(*sent).as_secs_f64() * 1000.0);
                to_subscriber.push(arrived.duration_since(*heard).as_secs_f64() * 1000.0);
            }
        }
        format!(
            "  of which: publish call -> NOTIFY heard p50 {:.2} ms, -> subscriber p50 {:.2} ms ({} of {} batches)",
            percentile(&to_notify, 50.0),
            percentile(&to_subscriber, 50.0),
            to_notify.len(),
            batches.len()
        )
    }
}

/// A subscriber that counts events without decoding frames: it finds each progress event of the
/// run by its text; a resync by `"type":"resync"`.
struct Counter {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Counter {
    async fn subscribe(addr: SocketAddr, token: &str, after: i64) -> Counter {
        let mut request = format!("ws://{addr}/api/live_runs")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let subscribe = LiveRequest::Subscribe {
            filter: RunFilter::default(),
            after_event_id: after,
        };
        socket.send(ping_frame(&subscribe)).await.unwrap();
        // wait for ready, so every counter is live before publishing starts
        loop {
            let frame = socket.next().await.unwrap().unwrap().into_data();
            if contains(&frame, b"\"type\":\"ready\"") {
                return Counter { socket };
            }
        }
    }

    /// Counts events until `total` arrived, a resync, or 15 s of silence; then goes on listening
    /// until 200 ms pass without a frame, so that copies of events sent twice are counted too.
    async fn count(mut self, total: usize, marker: String) -> (usize, bool) {
        let mut received = 0;
        let mut last_ping = Instant::now();
        let event = memchr::memmem::Finder::new(marker.as_bytes());
        let resync = memchr::memmem::Finder::new(b"\"type\":\"resync\"");
        loop {
            if last_ping.elapsed() > Duration::from_secs(10) {
                let _ = self.socket.send(ping_frame(&LiveRequest::Ping)).await;
                last_ping = Instant::now();
            }
            let silence = if received < total {
                Duration::from_secs(15)
            } else {
                Duration::from_millis(200)
            };
            let frame = match tokio::time::timeout(silence, self.socket.next()).await {
                Ok(Some(Ok(frame))) => frame,
                _ => break,
            };
            let Message::Binary(bytes) = frame else {
                continue;
            };
            if resync.find(&bytes).is_some() {
                return (received, true);
            }
            received += event.find_iter(&bytes).count();
        }
        (received, false)
    }
}

fn ping_frame(request: &LiveRequest) -> Message {
    let mut bytes = vec![0u8];
    bytes.extend(serde_json::to_vec(request).unwrap());
    Message::Binary(bytes.into())
}

// memchr's searchers, not a byte-by-byte window compare: 999 counters share the machine with the
// server, and the naive compare was 45% of all CPU in the 1,000-subscriber row (perf, -a).
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}
