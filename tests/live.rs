//! The live bridge end to end over real WebSockets: replay then live, isolation, bad input, forced
//! disconnects, a killed LISTEN backend, a restarted server, and two servers on one database.

mod common;

use common::process::ServerProcess;
use common::ws::{Frame, LiveClient};
use common::PublisherExt;
use common::{principal, TestApp, TestDb};
use rand::Rng;
use runwire::model::{
    CurrentUser, LiveMessage, LiveRequest, NewRun, RunFilter, RunStatus, RunUpdate, SpanKind,
    SpanReport, SpanStatus, UserRole,
};
use runwire::server::auth::tokens;
use runwire::server::events;
use runwire::server::publisher::AgentEventPublisher;
use std::time::Duration;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);

struct Live {
    app: TestApp,
    alice: CurrentUser,
    alice_token: String,
    bob: CurrentUser,
    bob_token: String,
    publisher: AgentEventPublisher,
}

async fn live() -> Live {
    let db = TestDb::new().await;
    let alice = db.user("alice@example.com", UserRole::User).await;
    let bob = db.user("bob@example.com", UserRole::User).await;
    let (_, alice_token) = tokens::create(&db.pool, &alice, &tokens::NewToken::read_write("a"))
        .await
        .unwrap();
    let (_, bob_token) = tokens::create(&db.pool, &bob, &tokens::NewToken::read_write("b"))
        .await
        .unwrap();
    let publisher = AgentEventPublisher::new(db.pool.clone());
    Live {
        app: TestApp::start(db, None).await,
        alice,
        alice_token,
        bob,
        bob_token,
        publisher,
    }
}

async fn start_run(publisher: &AgentEventPublisher, user: &CurrentUser, agent: &str) -> Uuid {
    let new = NewRun {
        agent_name: agent.into(),
        task: "live test".into(),
        task_id: None,
        user_id: None,
        status: RunStatus::InProgress,
        step: None,
        metadata: None,
    };
    publisher.create(principal(user), &new).await.unwrap().id
}

/// Publishes `count` progress events on `run` in batches of `batch`, progress rising from `from`.
async fn publish_progress(
    publisher: &AgentEventPublisher,
    user: &CurrentUser,
    run: Uuid,
    count: usize,
    batch: usize,
) {
    let mut sent = 0;
    while sent < count {
        let n = batch.min(count - sent);
        let updates: Vec<RunUpdate> = (0..n)
            .map(|i| RunUpdate::Progress {
                percent: ((sent + i) as f32 / count as f32) * 99.0,
                step: None,
            })
            .collect();
        publisher
            .apply_batch(principal(user), run, &updates)
            .await
            .unwrap();
        sent += n;
    }
}

async fn user_event_ids(app: &TestApp, user: &CurrentUser) -> Vec<i64> {
    sqlx::query_scalar("SELECT id FROM agent_run_events WHERE user_id = $1 ORDER BY id")
        .bind(user.id)
        .fetch_all(&mut app.db.owner_conn().await)
        .await
        .unwrap()
}

/// Reads event ids until `ready_then` events arrived after Ready, or the stream ends.
async fn expect_events(client: &mut LiveClient, count: usize) -> Vec<i64> {
    let mut ids = vec![];
    while ids.len() < count {
        match client.next(WAIT).await {
            Frame::Event(event, _) => ids.push(event.id),
            Frame::Message(LiveMessage::Ready { .. }) => {}
            other => panic!("after {} events: {other:?}", ids.len()),
        }
    }
    ids
}

/// A client that failed over from a process whose hub was ahead names an event this process's hub
/// has not read yet: the subscription waits for the hub (briefly) instead of being refused.
#[tokio::test]
async fn a_cursor_just_ahead_of_the_hub_waits_for_it() {
    let t = live().await;
    let run = start_run(&t.publisher, &t.alice, "ahead").await;
    t.app.hub_caught_up().await;
    let latest = t.app.bus.last_event_id();
    let mut client =
        LiveClient::subscribe(t.app.addr, &t.alice_token, RunFilter::default(), latest + 1).await;
    // the event the client named appears a moment later (through its own process, say)
    tokio::time::sleep(Duration::from_millis(100)).await;
    publish_progress(&t.publisher, &t.alice, run, 2, 1).await;
    let (mut ready, mut ids) = (false, vec![]);
    while !ready || ids.is_empty() {
        match client.next(WAIT).await {
            Frame::Message(LiveMessage::Ready { .. }) => ready = true,
            Frame::Event(event, _) => ids.push(event.id),
            other => panic!("expected the subscription to go on, got {other:?}"),
        }
    }
    // only what comes after the client's cursor
    assert_eq!(ids, vec![latest + 2]);
}

#[tokio::test]
async fn replay_then_live_in_order_and_only_the_callers() {
    let t = live().await;
    let run = start_run(&t.publisher, &t.alice, "replayer").await;
    publish_progress(&t.publisher, &t.alice, run, 4, 1).await;
    let bobs_run = start_run(&t.publisher, &t.bob, "bob-agent").await;
    t.app.hub_caught_up().await;

    let mut client =
        LiveClient::subscribe(t.app.addr, &t.alice_token, RunFilter::default(), 0).await;
    let replayed = expect_events(&mut client, 5).await;
    match client.next(WAIT).await {
        Frame::Message(LiveMessage::Ready { last_event_id }) => {
            assert!(last_event_id >= replayed[4])
        }
        other => panic!("{other:?}"),
    }
    // live: Bob's event never arrives, Alice's does, with the run as stored
    publish_progress(&t.publisher, &t.bob, bobs_run, 3, 1).await;
    t.publisher
        .update_progress(principal(&t.alice), run, Some("live step".into()), 99.5)
        .await
        .unwrap();
    match client.next(WAIT).await {
        Frame::Event(event, snapshot) => {
            assert_eq!(event.run_id, run);
            assert_eq!(event.step.as_deref(), Some("live step"));
            assert_eq!(snapshot.progress_percent, 99.5);
        }
        other => panic!("{other:?}"),
    }
    let all = user_event_ids(&t.app, &t.alice).await;
    assert_eq!(replayed, all[..5]);

    // resuming from the middle replays exactly the rest
    let mut resumed =
        LiveClient::subscribe(t.app.addr, &t.alice_token, RunFilter::default(), all[2]).await;
    assert_eq!(expect_events(&mut resumed, 3).await, all[3..]);
}

/// The hub hands events out with their payload as the log's raw JSON, not decoded and encoded
/// again: what a subscriber gets, replayed or live, must still equal the stored event exactly.
#[tokio::test]
async fn replayed_and_live_events_equal_the_stored_ones_payload_and_all() {
    let t = live().await;
    let run = start_run(&t.publisher, &t.alice, "payloads").await;
    let span = |id: &str, text: &str| SpanReport {
        span_id: id.into(),
        kind: Some(SpanKind::Llm),
        name: Some("draft \"answer\"".into()),
        model: Some("gpt-4o-mini".into()),
        input_tokens: Some(1234),
        output_tokens: Some(56),
        cost_usd: Some(0.000123456789),
        input: Some(text.into()),
        attributes: serde_json::json!({"nested": {"list": [1, 2.5, -3e-7, null, true]}, "é": "✓"})
            .as_object()
            .cloned(),
        status: Some(SpanStatus::Ok),
        ..Default::default()
    };
    let first = [
        span("a", "héllo ✓ \"quoted\" \\ back\nslash"),
        span("b", ""),
    ];
    t.publisher
        .record_spans(principal(&t.alice), run, &first)
        .await
        .unwrap();
    t.app.hub_caught_up().await;
    let mut client =
        LiveClient::subscribe(t.app.addr, &t.alice_token, RunFilter::default(), 0).await;
    let mut seen = vec![];
    let mut live_sent = false;
    while seen.len() < 4 {
        match client.next(WAIT).await {
            Frame::Event(event, _) => seen.push(*event),
            // replay done: the rest arrive live
            Frame::Message(LiveMessage::Ready { .. }) if !live_sent => {
                live_sent = true;
                let later = [span("c", "🦀 later, live")];
                t.publisher
                    .record_spans(principal(&t.alice), run, &later)
                    .await
                    .unwrap();
            }
            Frame::Message(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(live_sent, "the last event came live, after Ready");
    let mut tx = t.app.db.scoped(&t.alice).await;
    let stored = events::for_run(&mut tx, run, 0, 100).await.unwrap();
    assert_eq!(stored.len(), 4, "created, two spans, one more span");
    assert_eq!(seen, stored);
    assert_eq!(stored[3].payload["span"]["input_preview"], "🦀 later, live");
}

#[tokio::test]
async fn another_users_subscriber_receives_nothing_whatever_its_filter() {
    let t = live().await;
    let run = start_run(&t.publisher, &t.alice, "secret-agent").await;
    let filters = [
        RunFilter::default(),
        RunFilter {
            run_id: Some(run),
            ..Default::default()
        },
        RunFilter {
            agent_name: Some("secret-agent".into()),
            ..Default::default()
        },
        RunFilter {
            search: Some("secret".into()),
            ..Default::default()
        },
    ];
    let mut clients = vec![];
    for filter in filters {
        clients.push(LiveClient::subscribe(t.app.addr, &t.bob_token, filter, 0).await);
    }
    publish_progress(&t.publisher, &t.alice, run, 5, 1).await;
    let bobs_run = start_run(&t.publisher, &t.bob, "bob-agent").await;
    for (i, client) in clients.iter_mut().enumerate() {
        loop {
            match client.next(WAIT).await {
                Frame::Message(LiveMessage::Ready { .. }) => {}
                Frame::Event(event, _) => {
                    assert_eq!(event.user_id, t.bob.id, "filter {i} leaked {event:?}");
                    if i == 0 {
                        assert_eq!(event.run_id, bobs_run);
                        break;
                    }
                }
                Frame::Closed if i > 0 => break, // filters naming Alice's run match none of Bob's
                other => panic!("filter {i}: {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn bad_subscriptions_get_an_error_frame_and_the_server_carries_on() {
    let t = live().await;
    let latest = {
        let run = start_run(&t.publisher, &t.alice, "x").await;
        let _ = run;
        *user_event_ids(&t.app, &t.alice).await.last().unwrap()
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        ([&[0u8][..], b"{not json"].concat(), "malformed"),
        (
            [
                &[0u8][..],
                br#"{"type":"subscribe","filter":{"colour":"red"},"after_event_id":0}"#,
            ]
            .concat(),
            "malformed",
        ),
        (
            [
                &[0u8][..],
                br#"{"type":"subscribe","filter":{},"after_event_id":-1}"#,
            ]
            .concat(),
            "after_event_id must be",
        ),
        (
            [
                &[0u8][..],
                format!(
                    r#"{{"type":"subscribe","filter":{{}},"after_event_id":{}}}"#,
                    latest + 1000
                )
                .as_bytes(),
            ]
            .concat(),
            "in the future",
        ),
        (
            [&[0u8][..], br#"{"type":"ping"}"#].concat(),
            "subscribe first",
        ),
        (
            [
                &[0u8][..],
                format!(
                    r#"{{"type":"subscribe","filter":{{"search":"{}"}},"after_event_id":0}}"#,
                    "x".repeat(10_000)
                )
                .as_bytes(),
            ]
            .concat(),
            "search is",
        ),
    ];
    for (frame, expected) in cases {
        let mut client = LiveClient::connect(t.app.addr, &t.alice_token).await;
        client.send_raw(frame).await;
        match client.next(WAIT).await {
            Frame::Message(LiveMessage::Error { message }) => {
                assert!(message.contains(expected), "{expected}: {message}")
            }
            other => panic!("{expected}: {other:?}"),
        }
        assert!(
            matches!(client.next(Duration::from_secs(3)).await, Frame::Closed),
            "{expected}: closed after the error"
        );
    }
    // unharmed: a good subscription still works
    let mut client =
        LiveClient::subscribe(t.app.addr, &t.alice_token, RunFilter::default(), 0).await;
    assert_eq!(expect_events(&mut client, 1).await.len(), 1);
    // and an anonymous socket must authenticate before anything else (see below)
    let (socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/api/live_runs", t.app.addr))
            .await
            .unwrap();
    let mut anonymous = LiveClient::from_socket(socket);
    anonymous
        .send(&LiveRequest::Subscribe {
            filter: RunFilter::default(),
            after_event_id: 0,
        })
        .await;
    assert!(matches!(
        anonymous.next(WAIT).await,
        Frame::Message(LiveMessage::Error { .. })
    ));
    assert!(matches!(
        anonymous.next(Duration::from_secs(3)).await,
        Frame::Closed
    ));
}

#[tokio::test]
async fn ten_thousand_events_through_a_hundred_forced_disconnects_arrive_exactly_once_in_order() {
    let t = live().await;
    let run = start_run(&t.publisher, &t.alice, "firehose").await;
    let publisher = t.publisher.clone();
    let alice = t.alice.clone();
    let producer = tokio::spawn(async move {
        publish_progress(&publisher, &alice, run, 10_000, 25).await;
    });
    let mut received: Vec<i64> = vec![];
    let mut disconnects = 0;
    let mut rng = rand::thread_rng();
    loop {
        let after = received.last().copied().unwrap_or(0);
        let mut client =
            LiveClient::subscribe(t.app.addr, &t.alice_token, RunFilter::default(), after).await;
        let cut_after = if disconnects < 100 {
            rng.gen_range(1..150)
        } else {
            usize::MAX
        };
        let mut got = 0;
        loop {
            match client
                .next(if disconnects < 100 {
                    WAIT
                } else {
                    Duration::from_secs(3)
                })
                .await
            {
                Frame::Event(event, _) => {
                    received.push(event.id);
                    got += 1;
                    if got >= cut_after {
                        break;
                    }
                }
                Frame::Message(LiveMessage::Ready { .. }) => {}
                Frame::Closed => break,
                other => panic!("{other:?}"),
            }
        }
        drop(client); // cut without a goodbye
        disconnects += 1;
        if disconnects > 100 && producer.is_finished() && received.len() >= 10_001 {
            break;
        }
        assert!(disconnects < 2000, "stuck at {} events", received.len());
    }
    producer.await.unwrap();
    let stored = user_event_ids(&t.app, &t.alice).await;
    assert_eq!(stored.len(), 10_001);
    assert!(
        received.windows(2).all(|w| w[0] < w[1]),
        "in order, no duplicates"
    );
    assert_eq!(received, stored, "every event exactly once");
}

#[tokio::test]
async fn a_killed_listen_backend_loses_nothing() {
    let t = live().await;
    let run = start_run(&t.publisher, &t.alice, "resilient").await;
    let mut client =
        LiveClient::subscribe(t.app.addr, &t.alice_token, RunFilter::default(), 0).await;
    expect_events(&mut client, 1).await;
    let publisher = t.publisher.clone();
    let alice = t.alice.clone();
    let producer =
        tokio::spawn(async move { publish_progress(&publisher, &alice, run, 600, 3).await });
    let mut owner = t.app.db.owner_conn().await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        // The hub reconnects with backoff; on a busy machine that can take a while: wait for its
        // new LISTEN connection (at most 10 s) before killing it again.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let killed: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
            )
            .fetch_all(&mut owner)
            .await
            .unwrap();
            if !killed.is_empty() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the LISTEN connection came back"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    producer.await.unwrap();
    let received = expect_events(&mut client, 600).await;
    let stored = user_event_ids(&t.app, &t.alice).await;
    assert_eq!(received, stored[1..]);
}

#[tokio::test]
async fn a_restarted_server_process_resumes_without_loss() {
    let db = TestDb::new().await;
    let alice = db.user("restart@example.com", UserRole::User).await;
    let (_, token) = tokens::create(&db.pool, &alice, &tokens::NewToken::read_write("a"))
        .await
        .unwrap();
    let publisher = AgentEventPublisher::new(db.pool.clone());
    let run = start_run(&publisher, &alice, "survivor").await;
    let mut server = ServerProcess::start(&db.url, None).await;
    let addr = server.addr;
    let producer = {
        let publisher = publisher.clone();
        let alice = alice.clone();
        tokio::spawn(async move { publish_progress(&publisher, &alice, run, 400, 2).await })
    };
    let mut received = vec![];
    let mut client = LiveClient::subscribe(addr, &token, RunFilter::default(), 0).await;
    received.extend(expect_events(&mut client, 30).await);
    server.child.kill().await.unwrap(); // SIGKILL: no goodbye
    assert!(matches!(
        client.next(Duration::from_secs(5)).await,
        Frame::Closed | Frame::Event(..)
    ));
    let mut server = ServerProcess::start(&db.url, Some(addr)).await;
    producer.await.unwrap();
    let stored = db.event_ids_of(&alice).await;
    let mut client = LiveClient::subscribe(
        addr,
        &token,
        RunFilter::default(),
        *received.last().unwrap(),
    )
    .await;
    let rest = expect_events(&mut client, stored.len() - received.len()).await;
    received.extend(rest);
    assert_eq!(received, stored);
    server.child.kill().await.unwrap();
}

#[tokio::test]
async fn two_servers_on_one_database_both_deliver_every_event() {
    let t = live().await;
    let second = TestApp::start(
        TestDb {
            name: t.app.db.name.clone(),
            url: t.app.db.url.clone(),
            owner: t.app.db.owner.clone(),
            pool: runwire::server::db::app_pool(&t.app.db.owner, 5)
                .await
                .unwrap(),
        },
        None,
    )
    .await;
    let mut on_first =
        LiveClient::subscribe(t.app.addr, &t.alice_token, RunFilter::default(), 0).await;
    let mut on_second =
        LiveClient::subscribe(second.addr, &t.alice_token, RunFilter::default(), 0).await;
    // published through the first server's REST API
    let response = common::agent()
        .post(t.app.url("/api/v1/runs"))
        .bearer_auth(&t.alice_token)
        .json(&serde_json::json!({"agent_name": "fanout", "task": "reach everyone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let run: Uuid = response.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    publish_progress(&t.publisher, &t.alice, run, 20, 1).await;
    let a = expect_events(&mut on_first, 21).await;
    let b = expect_events(&mut on_second, 21).await;
    assert_eq!(a, b);
    assert_eq!(a, user_event_ids(&t.app, &t.alice).await);
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_told_to_resync() {
    let t = live().await;
    let run = start_run(&t.publisher, &t.alice, "flood").await;
    let mut client =
        LiveClient::subscribe(t.app.addr, &t.alice_token, RunFilter::default(), 0).await;
    expect_events(&mut client, 1).await;
    // The client stops reading while more than the hub holds (8,192) plus what the socket and its
    // buffers take is published, quickly: events are small and go out several to a frame, so the
    // kernel's buffers hold tens of thousands. A client that reads nothing cannot ping, and after
    // 45 s of silence the server would rightly drop it instead.
    publish_progress(&t.publisher, &t.alice, run, 100_000, 1_000).await;
    let mut events = 0;
    loop {
        match client.next(WAIT).await {
            Frame::Event(..) => events += 1,
            Frame::Message(LiveMessage::Ready { .. }) => {}
            Frame::Message(LiveMessage::Resync { reason }) => {
                assert!(reason.contains("behind"));
                break;
            }
            other => panic!("after {events} events: {other:?}"),
        }
    }
    assert!(
        events < 100_000,
        "it was told to resync rather than silently skipping"
    );
    // and the stream ends there: resubscribing from its cursor is the way on
    assert!(matches!(
        client.next(Duration::from_secs(3)).await,
        Frame::Closed
    ));
}

#[tokio::test]
async fn sigterm_ends_open_live_sockets_and_stops_promptly() {
    let db = TestDb::new().await;
    let alice = db.user("shutdown@example.com", UserRole::User).await;
    let (_, token) = tokens::create(&db.pool, &alice, &tokens::NewToken::read_write("a"))
        .await
        .unwrap();
    let mut server = ServerProcess::start(&db.url, None).await;
    let addr = server.addr;
    let mut client = LiveClient::subscribe(addr, &token, RunFilter::default(), 0).await;
    assert!(matches!(
        client.next(WAIT).await,
        Frame::Message(LiveMessage::Ready { .. })
    ));
    let pid = nix::unistd::Pid::from_raw(server.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), server.child.wait())
        .await
        .expect("the server stops within 10 s although a socket was open")
        .unwrap();
    assert!(status.success());
    assert!(matches!(
        client.next(Duration::from_secs(2)).await,
        Frame::Closed
    ));
}

/// A socket opened with no header (a browser on another site, which also brings this site's
/// cookie): the token comes in the first message, the cookie never counts.
async fn headerless(t: &Live, origin: &str) -> LiveClient {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/api/live_runs", t.app.addr)
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert("origin", origin.parse().unwrap());
    headers.insert("cookie", "runwire_session=stolen".parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    LiveClient::from_socket(socket)
}

#[tokio::test]
async fn a_client_without_headers_authenticates_in_its_first_message() {
    let t = live().await;
    let mut client = headerless(&t, "https://app.example.org").await;
    client
        .send(&LiveRequest::Authenticate {
            token: t.alice_token.clone(),
        })
        .await;
    client
        .send(&LiveRequest::Subscribe {
            filter: RunFilter::default(),
            after_event_id: 0,
        })
        .await;
    start_run(&t.publisher, &t.bob, "bobs").await;
    let alices = start_run(&t.publisher, &t.alice, "alices").await;
    loop {
        match client.next(WAIT).await {
            Frame::Message(LiveMessage::Ready { .. }) => continue,
            Frame::Event(event, _) => break assert_eq!(event.run_id, alices, "only alice's run"),
            other => panic!("expected alice's event, got {other:?}"),
        }
    }

    // a wrong token, or a subscription with no token: an error, and the socket closes
    for first in [
        LiveRequest::Authenticate {
            token: "rw_not-a-token".into(),
        },
        LiveRequest::Subscribe {
            filter: RunFilter::default(),
            after_event_id: 0,
        },
    ] {
        let mut client = headerless(&t, "https://evil.example").await;
        client.send(&first).await;
        match client.next(WAIT).await {
            Frame::Message(LiveMessage::Error { message }) => {
                assert!(message.contains("sign in"), "{message}")
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }
}
