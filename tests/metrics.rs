//! What an operator sees: `/metrics` (guarded by its token, or on an address of its own) moves when
//! runs are published and watched; every request has an id in its answer, its error body and its
//! log lines, and the JSON log format writes one object per line.

mod common;

use common::api::{api_on, Api};
use common::metrics::sample;
use common::process::ServerProcess;
use common::ws::{Frame, LiveClient};
use common::{TestApp, TestDb};
use runwire::model::{LiveMessage, RunFilter};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const METRICS_TOKEN: &str = "test-metrics-token";

/// The app's metrics, once its hub is connected (it connects just after the app starts; the gauges
/// are per process, so no app of this binary may report a hub still connecting).
async fn scrape(app: &TestApp) -> String {
    for _ in 0..200 {
        if app.bus.is_connected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    common::metrics::scrape(&app.url("/metrics"), METRICS_TOKEN).await
}

async fn app_with_metrics() -> Api {
    api_on(|db| {
        TestApp::start_configured(db, None, |state| {
            state.metrics_token = Some(Arc::from(METRICS_TOKEN));
        })
    })
    .await
}

#[tokio::test]
async fn metrics_need_their_token_and_are_not_served_without_one() {
    let api = app_with_metrics().await;
    let http = common::agent();
    let url = api.app.url("/metrics");
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(http.get(&url).send().await.unwrap()), 401);
    let wrong = http
        .get(&url)
        .bearer_auth("test-metrics-tokeX")
        .send()
        .await;
    assert_eq!(status(wrong.unwrap()), 401);
    // a user's API token is not the metrics token
    let user = http.get(&url).bearer_auth(&api.token).send().await;
    assert_eq!(status(user.unwrap()), 401);
    let text = scrape(&api.app).await;
    for family in [
        "# TYPE runwire_db_pool_connections gauge",
        "# TYPE runwire_db_pool_max_connections gauge",
        "# TYPE runwire_live_sockets_open gauge",
        "# TYPE runwire_agent_queue_depth gauge",
        "# TYPE runwire_hub_connected gauge",
    ] {
        assert!(text.contains(family), "{family} missing from\n{text}");
    }
    assert_eq!(sample(&text, "runwire_hub_connected"), 1.0);
    assert_eq!(sample(&text, "runwire_db_pool_max_connections"), 10.0);

    let db = TestDb::new().await;
    let closed = TestApp::start(db, None).await;
    let response = http
        .get(closed.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await;
    assert_eq!(status(response.unwrap()), 404);
}

#[tokio::test]
async fn a_publish_and_a_live_delivery_move_the_counters() {
    let api = app_with_metrics().await;
    let before = scrape(&api.app).await;
    let mut client = LiveClient::subscribe(api.app.addr, &api.token, RunFilter::default(), 0).await;
    assert!(matches!(
        client.next(Duration::from_secs(5)).await,
        Frame::Message(LiveMessage::Ready { .. })
    ));
    let watching = scrape(&api.app).await;
    assert!(sample(&watching, "runwire_live_sockets_open") >= 1.0);

    let id = api.start("metered").await.id;
    let updates: Vec<Value> = (1..=4)
        .map(|n| json!({ "type": "progress", "percent": n * 20 }))
        .collect();
    let (status, body) = api
        .post(
            &format!("/api/v1/runs/{id}/events"),
            json!({ "updates": updates }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // a refused write stores nothing and counts nothing
    let (status, _) = api
        .post(
            &format!("/api/v1/runs/{id}/progress"),
            json!({ "percent": 500 }),
        )
        .await;
    assert_eq!(status, 422);
    let mut events = 0;
    while events < 5 {
        match client.next(Duration::from_secs(5)).await {
            Frame::Event(..) => events += 1,
            Frame::Message(_) => {}
            other => panic!("expected the run's events, got {other:?}"),
        }
    }
    let after = scrape(&api.app).await;
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    // Other tests of this binary publish too (the recorder is per process): at least ours.
    let created = moved(r#"runwire_events_ingested_total{kind="started"}"#)
        + moved(r#"runwire_events_ingested_total{kind="status"}"#);
    assert!(created >= 1.0, "{after}");
    assert!(moved(r#"runwire_events_ingested_total{kind="progress"}"#) >= 4.0);
    assert!(moved("runwire_live_deliveries_total") >= 5.0);
    assert!(moved("runwire_hub_lag_seconds_count") >= 5.0);
    let answered = |route: &str, status: u16| {
        moved(&format!(
            r#"runwire_http_request_duration_seconds_count{{route="{route}",method="POST",status="{status}"}}"#
        ))
    };
    assert!(answered("/api/v1/runs/{id}/events", 200) >= 1.0, "{after}");
    assert!(
        answered("/api/v1/runs/{id}/progress", 422) >= 1.0,
        "{after}"
    );
    assert!(moved("runwire_db_pool_acquire_seconds_count") >= 3.0);
    // no time series per run: a route's pattern, never its path
    assert!(
        !after.contains(&id.to_string()),
        "a run id leaked into a label"
    );
}

#[tokio::test]
async fn every_answer_names_its_request_and_errors_quote_it() {
    let api = app_with_metrics().await;
    let http = common::agent();
    let missing = api
        .app
        .url(&format!("/api/v1/runs/{}", uuid::Uuid::new_v4()));
    let ask = |id: &'static str| {
        http.get(&missing)
            .bearer_auth(&api.token)
            .header("x-request-id", id)
            .send()
    };
    let response = ask("trace-7f3a.1").await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["x-request-id"], "trace-7f3a.1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["request_id"], "trace-7f3a.1");
    // a client's id that could forge a log line or carry markup is replaced by a fresh one
    let response = ask("<img src=x>").await.unwrap();
    let given = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&given).is_ok(), "{given}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["request_id"], given.as_str());
    // a page has one too, and two requests never share one
    let page = http.get(api.app.url("/signin")).send().await.unwrap();
    let id = page.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id, given);
}

/// The real binary: `RUNWIRE_METRICS_ADDR` serves metrics with no token on an address of its own
/// (and nothing else there); `RUNWIRE_LOG_FORMAT=json` writes each log line as one JSON object that
/// names its request.
#[tokio::test]
async fn the_binary_serves_metrics_on_their_own_address_and_logs_json() {
    let db = TestDb::new().await;
    let metrics_addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let log_path = std::env::temp_dir().join(format!("runwire-log-{}.jsonl", uuid::Uuid::new_v4()));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut server = ServerProcess::start_logging(
        &db.url,
        None,
        &[
            ("RUNWIRE_METRICS_ADDR", &metrics_addr.to_string()),
            ("RUNWIRE_LOG_FORMAT", "json"),
            ("RUST_LOG", "info"),
        ],
        log,
    )
    .await;
    let http = common::agent();
    // A request before anyone scrapes is counted too (the recorder exists from the start).
    let answered = http
        .get(format!("http://{}/health", server.addr))
        .header("x-request-id", "json-log-probe")
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
    // Both ports are bound before the database is set up, and served once the app is.
    let text = http
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("runwire_db_pool_connections"), "{text}");
    let health = r#"runwire_http_request_duration_seconds_count{route="/health",method="GET",status="200"} 1"#;
    assert!(text.contains(health), "{text}");
    let other = http
        .get(format!("http://{metrics_addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        404,
        "the metrics address serves metrics only"
    );
    // and the app's own address does not serve them at all without a configured token
    let app = http
        .get(format!("http://{}/metrics", server.addr))
        .bearer_auth("a-guess")
        .send()
        .await
        .unwrap();
    assert_eq!(app.status(), 404);

    let line = ServerProcess::answered_line(&log_path, "json-log-probe").await;
    assert_eq!(line["status"], 200);
    assert_eq!(line["spans"][0]["path"], "/health");
    assert_eq!(line["level"], "INFO");
    server.child.kill().await.unwrap();
    let _ = std::fs::remove_file(&log_path);
}
