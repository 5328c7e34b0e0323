//! What an operator watches: Prometheus metrics, structured logs, and a request id on every request.
//!
//! Metrics go through the `metrics` facade into one process-wide Prometheus recorder; the code that
//! does a thing counts it where it happens (the publisher's commit, the hub, a live socket, a job).
//! Values that are a state rather than a count (pool connections, open sockets, queue depth) are
//! read when `/metrics` is scraped.

pub mod logs;
pub mod requests;

use crate::server::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics::{describe_counter, describe_gauge, describe_histogram, gauge, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

pub const EVENTS_INGESTED: &str = "runwire_events_ingested_total";
pub const LIVE_DELIVERIES: &str = "runwire_live_deliveries_total";
pub const LIVE_SOCKETS_OPEN: &str = "runwire_live_sockets_open";
pub const LIVE_RESYNCS: &str = "runwire_live_resyncs_total";
pub const LIVE_REPLAYED: &str = "runwire_live_replayed_events_total";
pub const HUB_LAG: &str = "runwire_hub_lag_seconds";
pub const HUB_GAP_WAITS: &str = "runwire_hub_gap_waits_total";
pub const HUB_CARRIED: &str = "runwire_hub_carried_events_total";
pub const HUB_HELD_BYTES: &str = "runwire_hub_held_bytes";
pub const HUB_CONNECTED: &str = "runwire_hub_connected";
pub const HTTP_DURATION: &str = "runwire_http_request_duration_seconds";
pub const DB_POOL_CONNECTIONS: &str = "runwire_db_pool_connections";
pub const DB_POOL_MAX: &str = "runwire_db_pool_max_connections";
pub const DB_POOL_ACQUIRE: &str = "runwire_db_pool_acquire_seconds";
pub const DB_POOL_WAITS: &str = "runwire_db_pool_waits_total";
pub const JOB_RUNS: &str = "runwire_job_runs_total";
pub const ALERTS: &str = "runwire_alerts_total";
pub const AGENT_QUEUE: &str = "runwire_agent_queue_depth";
pub const REPLICA_READS: &str = "runwire_read_replica_reads_total";

/// Upper bounds of the latency histograms' buckets, in seconds: 1 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// How often recorded histogram samples are folded into their buckets. Without it they pile up in
/// memory until the next scrape, and nobody may ever scrape.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's recorder, installed on first use (one per process: the `metrics` facade is
/// global, so every app in a test binary shares it).
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .expect("the bucket list is not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        describe();
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            });
        handle
    })
}

fn describe() {
    describe_counter!(EVENTS_INGESTED, "Events committed by this process, by kind");
    describe_counter!(
        LIVE_DELIVERIES,
        "Events sent to live subscribers of this process (one per event and subscriber)"
    );
    describe_gauge!(LIVE_SOCKETS_OPEN, "Live WebSockets open in this process");
    describe_counter!(
        LIVE_RESYNCS,
        "Live subscribers told to resync (they fell behind)"
    );
    describe_counter!(
        LIVE_REPLAYED,
        "Events replayed from the table to live subscribers that reconnected"
    );
    describe_histogram!(
        HUB_LAG,
        Unit::Seconds,
        "From an event's transaction to the hub handing it out (includes the commit)"
    );
    describe_counter!(
        HUB_CARRIED,
        "Events the hub handed out as their NOTIFY carried them, without reading the table"
    );
    describe_counter!(
        HUB_GAP_WAITS,
        "Times the hub waited on a missing event id (a transaction still in flight)"
    );
    describe_gauge!(
        HUB_HELD_BYTES,
        Unit::Bytes,
        "Bytes of events the hub holds for subscribers that have yet to read them"
    );
    describe_gauge!(HUB_CONNECTED, "1 while the hub's LISTEN connection is up");
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer a request (to the response head), by route, method and status"
    );
    describe_gauge!(DB_POOL_CONNECTIONS, "Pooled database connections, by state");
    describe_gauge!(DB_POOL_MAX, "Most connections the pool opens");
    describe_histogram!(
        DB_POOL_ACQUIRE,
        Unit::Seconds,
        "Time to take a pooled connection and begin a transaction"
    );
    describe_counter!(
        DB_POOL_WAITS,
        "Transactions that found every pooled connection busy and had to wait"
    );
    describe_counter!(
        JOB_RUNS,
        "Scheduled job runs by this process, by job and outcome"
    );
    describe_counter!(ALERTS, "Alert webhook deliveries, by outcome");
    describe_gauge!(
        AGENT_QUEUE,
        "Built-in agent jobs across all processes, by state"
    );
    describe_counter!(
        REPLICA_READS,
        "Dashboard reads with DATABASE_READ_URL set, by who served them (the standby, or the \
         primary when the standby lagged)"
    );
}

/// The answer to a scrape.
pub async fn scrape(state: &AppState) -> Response {
    let text = render(state).await;
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// What `RUNWIRE_METRICS_ADDR` serves: `GET /metrics` with no token, and nothing else.
pub fn private_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(state): State<AppState>| async move { scrape(&state).await }),
        )
        .with_state(state)
}

/// The metrics in the Prometheus text format, with the state-like values read now.
pub async fn render(state: &AppState) -> String {
    let recorder = recorder();
    let pool = &state.pool;
    let idle = pool.num_idle() as f64;
    gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(idle);
    gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set((pool.size() as f64 - idle).max(0.0));
    gauge!(DB_POOL_MAX).set(pool.options().get_max_connections() as f64);
    gauge!(LIVE_SOCKETS_OPEN).set(state.live_sockets.total() as f64);
    gauge!(HUB_HELD_BYTES).set(state.bus.held_bytes() as f64);
    gauge!(HUB_CONNECTED).set(if state.bus.is_connected() { 1.0 } else { 0.0 });
    match state.agents.queue_counts().await {
        Ok((waiting, running)) => {
            gauge!(AGENT_QUEUE, "state" => "waiting").set(waiting as f64);
            gauge!(AGENT_QUEUE, "state" => "running").set(running as f64);
        }
        Err(err) => tracing::warn!("metrics: reading the agent queue: {err}"),
    }
    recorder.render()
}
