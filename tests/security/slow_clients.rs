//! (6) Timeouts and slow clients: exports that never read, slow-loris headers, database timeouts.

use crate::common::process::ServerProcess;
use crate::common::ws::{Frame, LiveClient};
use crate::common::PublisherExt;
use crate::common::{agent, principal, TestApp, TestDb};
use runwire::model::{RunFilter, UserRole};
use runwire::server::auth::tokens::{self, NewToken};
use runwire::server::publisher::AgentEventPublisher;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// 50 exports whose clients never read (each would hold a pooled connection for as long as its
/// client waits, with a pool of 10) delay a normal request by less than a second, and live events
/// keep flowing.
#[tokio::test]
async fn fifty_stalled_exports_do_not_stall_anyone_else() {
    let app = TestApp::start(TestDb::new().await, None).await;
    let owner = app.db.user("bulk@example.com", UserRole::User).await;
    // 20,000 runs of 2 KiB each: an export of 40 MiB, far more than socket buffers take.
    sqlx::query(
        "INSERT INTO agent_runs (user_id, agent_name, task, status, completed_at)
         SELECT $1, 'bulk', repeat('x', 2048) || n, 'completed', now() FROM generate_series(1, 20000) n",
    )
    .bind(owner.id)
    .execute(&mut app.db.owner_conn().await)
    .await
    .unwrap();
    // 50 admins, each may run one export, each of every run
    let mut stalled = Vec::new();
    for n in 0..50 {
        let admin = app
            .db
            .user(&format!("exporter{n}@example.com"), UserRole::Admin)
            .await;
        let (_, token) = tokens::create(
            &app.db.pool,
            &admin,
            &NewToken {
                name: "export".into(),
                scopes: vec![
                    runwire::model::TokenScope::RunsRead,
                    runwire::model::TokenScope::Admin,
                ],
                expires_at: None,
            },
        )
        .await
        .unwrap();
        let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let request = format!(
            "GET /api/v1/runs/export?format=csv HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\r\n",
            app.addr
        );
        socket.write_all(request.as_bytes()).await.unwrap();
        // read the head only, then never again
        let mut head = [0u8; 512];
        let n = socket.read(&mut head).await.unwrap();
        assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
        stalled.push(socket);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let reader = app.db.user("reader@example.com", UserRole::User).await;
    let (_, token) = tokens::create(&app.db.pool, &reader, &NewToken::read_write("r"))
        .await
        .unwrap();
    for _ in 0..5 {
        let started = Instant::now();
        let response = agent()
            .get(app.url("/api/v1/runs?limit=5"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let took = started.elapsed();
        assert_eq!(response.status(), 200);
        assert!(
            took < Duration::from_secs(1),
            "a normal request took {took:?}"
        );
    }
    let mut live = LiveClient::subscribe(app.addr, &token, RunFilter::default(), 0).await;
    assert!(matches!(
        live.next(Duration::from_secs(5)).await,
        Frame::Message(runwire::model::LiveMessage::Ready { .. })
    ));
    let publisher = AgentEventPublisher::new(app.db.pool.clone());
    let started = Instant::now();
    publisher
        .start_run(principal(&reader), None, "live", "still flowing")
        .await
        .unwrap();
    assert!(matches!(
        live.next(Duration::from_secs(5)).await,
        Frame::Event(..)
    ));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // one export per user at a time
    let second = agent()
        .get(app.url("/api/v1/runs/export"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 200, "the reader has no export running");
    drop(second);
    drop(stalled);
}

#[tokio::test]
async fn one_export_per_user_at_a_time() {
    let app = TestApp::start(TestDb::new().await, None).await;
    let user = app.db.user("exports@example.com", UserRole::User).await;
    sqlx::query(
        "INSERT INTO agent_runs (user_id, agent_name, task, status, completed_at)
         SELECT $1, 'bulk', repeat('x', 2048) || n, 'completed', now() FROM generate_series(1, 5000) n",
    )
    .bind(user.id)
    .execute(&mut app.db.owner_conn().await)
    .await
    .unwrap();
    let (_, token) = tokens::create(&app.db.pool, &user, &NewToken::read_write("e"))
        .await
        .unwrap();
    let first = agent()
        .get(app.url("/api/v1/runs/export"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let second = agent()
        .get(app.url("/api/v1/runs/export"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 429);
    // reading the first to its end frees the place
    let csv = first.text().await.unwrap();
    assert_eq!(csv.lines().count(), 5001);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let third = agent()
        .get(app.url("/api/v1/runs/export"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), 200);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let db = TestDb::new().await;
    let server = ServerProcess::start_with(&db.url, None, &[("RUNWIRE_HEADER_TIMEOUT", "1")]).await;
    let mut slow = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match slow.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the slow connection was closed");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_one() {
    let db = TestDb::new().await;
    let server = ServerProcess::start_with(
        &db.url,
        None,
        &[
            ("RUNWIRE_MAX_CONNECTIONS", "4"),
            ("RUNWIRE_HEADER_TIMEOUT", "2"),
        ],
    )
    .await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let response = agent()
        .get(format!("http://{}/health", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // served only once the idle ones were cut off by the header timeout
    assert!(
        started.elapsed() > Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn no_statement_or_idle_transaction_of_the_app_holds_a_connection_for_long() {
    let db = TestDb::new().await;
    let (statement, idle): (String, String) = sqlx::query_as(
        "SELECT current_setting('statement_timeout'), current_setting('idle_in_transaction_session_timeout')",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((statement.as_str(), idle.as_str()), ("30s", "1min"));
}
