//! (1) Bounded memory per request and per run.

use crate::common::process::ServerProcess;
use crate::common::ws::{Frame, LiveClient};
use crate::common::{agent, TestDb};
use futures::SinkExt;
use runwire::model::{RunFilter, UserRole, RUN_MAX_BYTES, STEP_MAX_CHARS, TASK_MAX_CHARS};
use runwire::server::auth::tokens::{self, NewToken};
use serde_json::json;
use std::time::Duration;

/// The worst request a signed-up user can send, found by reading the code: a batch of the most
/// updates (1,000) that the body limit (1 MiB) allows, each with the longest step (500 characters),
/// against a run as large as a run may be (a 65,536-character task of 4-byte characters, 64 KiB of
/// metadata), while live subscribers watch it. Two of them must raise the server's peak RSS by less
/// than 64 MB (before: 60 to 128 MB for one, 200 MB for two).
#[tokio::test]
async fn the_worst_batch_raises_the_servers_peak_memory_by_less_than_64_mb() {
    let db = TestDb::new().await;
    let user = db.user("memory@example.com", UserRole::User).await;
    let (_, token) = tokens::create(&db.pool, &user, &NewToken::read_write("m"))
        .await
        .unwrap();
    let server = ServerProcess::start(&db.url, None).await;
    let http = agent();
    let url = |path: &str| format!("http://{}{path}", server.addr);
    let task = "𝕏".repeat(TASK_MAX_CHARS);
    let metadata = json!({ "notes": "m".repeat(64 * 1024 - 20) });
    let created = http
        .post(url("/api/v1/runs"))
        .bearer_auth(&token)
        .json(&json!({ "agent_name": "big", "task": task, "metadata": metadata }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let run: serde_json::Value = created.json().await.unwrap();
    let run_id = run["id"].as_str().unwrap().to_owned();

    // Three live subscribers watch, and read everything.
    let mut watchers = Vec::new();
    for _ in 0..3 {
        let mut client = LiveClient::subscribe(server.addr, &token, RunFilter::default(), 0).await;
        loop {
            if let Frame::Message(runwire::model::LiveMessage::Ready { .. }) =
                client.next(Duration::from_secs(10)).await
            {
                break;
            }
        }
        watchers.push(tokio::spawn(async move {
            let mut progress = 0;
            while let Frame::Event(event, _) = client.next(Duration::from_secs(5)).await {
                // (the run's start may come live too, when the hub had not reached it yet)
                progress += usize::from(event.kind == runwire::model::RunEventKind::Progress);
            }
            progress
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, peak_before) = server.memory_mib();

    let step = "s".repeat(STEP_MAX_CHARS);
    for batch in 0..2 {
        let updates: Vec<_> = (0..1000)
            .map(|i| {
                json!({ "type": "progress", "percent": (batch * 1000 + i) as f64 / 40.0,
                        "step": step })
            })
            .collect();
        let body = serde_json::to_vec(&json!({ "updates": updates })).unwrap();
        assert!(body.len() < 1024 * 1024, "{} bytes", body.len());
        let response = http
            .post(url(&format!("/api/v1/runs/{run_id}/events")))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let mut seen = Vec::new();
    for watcher in watchers {
        seen.push(watcher.await.unwrap());
    }
    assert_eq!(
        seen,
        vec![2000, 2000, 2000],
        "every subscriber got every event"
    );
    let (_, peak_after) = server.memory_mib();
    let rise = peak_after - peak_before;
    println!("peak RSS {peak_before:.1} MiB -> {peak_after:.1} MiB (+{rise:.1})");
    assert!(
        rise < 64.0,
        "the worst batch raised peak RSS by {rise:.1} MiB"
    );
}

/// A run's size is capped: what would take it past [`RUN_MAX_BYTES`] is refused, with nothing stored.
#[tokio::test]
async fn a_run_stops_growing_at_its_size_cap() {
    let db = TestDb::new().await;
    let user = db.user("cap@example.com", UserRole::User).await;
    let (_, token) = tokens::create(&db.pool, &user, &NewToken::read_write("m"))
        .await
        .unwrap();
    let app = crate::common::TestApp::start(db, None).await;
    let http = agent();
    let run: serde_json::Value = http
        .post(app.url("/api/v1/runs"))
        .bearer_auth(&token)
        .json(&json!({ "agent_name": "grow", "task": "t".repeat(TASK_MAX_CHARS) }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = run["id"].as_str().unwrap();
    let evidence = "e".repeat(60 * 1024);
    let mut accepted = 0i64;
    let refusal = loop {
        let response = http
            .post(app.url(&format!("/api/v1/runs/{id}/verification")))
            .bearer_auth(&token)
            .json(&json!({ "passed": false, "evidence": evidence }))
            .send()
            .await
            .unwrap();
        if response.status() != 200 {
            break response;
        }
        accepted += 1;
        assert!(accepted <= 20, "never more than 20 checks");
    };
    assert_eq!(refusal.status(), 422);
    let body: serde_json::Value = refusal.json().await.unwrap();
    assert_eq!(body["field"], "run", "{body}");
    let stored: i64 = sqlx::query_scalar(
        "SELECT (octet_length(task) + octet_length(verification_evidence::text))::bigint FROM agent_runs",
    )
    .fetch_one(&mut app.db.owner_conn().await)
    .await
    .unwrap();
    assert!((stored as usize) <= RUN_MAX_BYTES, "{stored}");
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM agent_run_events WHERE kind = 'verification'")
            .fetch_one(&mut app.db.owner_conn().await)
            .await
            .unwrap();
    assert_eq!(events, accepted, "the refused update left no event");
}

/// A live client's message is at most 16 KiB: a 1 MiB one ends its connection unread, and the
/// server carries on.
#[tokio::test]
async fn a_huge_live_message_closes_the_socket_and_nothing_else() {
    let db = TestDb::new().await;
    let user = db.user("ws@example.com", UserRole::User).await;
    let (_, token) = tokens::create(&db.pool, &user, &NewToken::read_write("m"))
        .await
        .unwrap();
    let app = crate::common::TestApp::start(db, None).await;
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/api/live_runs",
            app.addr
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut huge = vec![0u8];
    huge.extend(std::iter::repeat_n(b' ', 1024 * 1024));
    let _ = socket
        .send(tokio_tungstenite::tungstenite::Message::Binary(huge.into()))
        .await;
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        use futures::StreamExt;
        loop {
            match socket.next().await {
                None
                | Some(Err(_))
                | Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the socket was closed");
    let mut fresh = LiveClient::subscribe(app.addr, &token, RunFilter::default(), 0).await;
    assert!(matches!(
        fresh.next(Duration::from_secs(5)).await,
        Frame::Message(runwire::model::LiveMessage::Ready { .. })
    ));
}
