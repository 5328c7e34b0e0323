//! (7) Live socket limits: per user, and a socket ends with its credential.

use crate::common::ws::{Frame, LiveClient};
use crate::common::PublisherExt;
use crate::common::{browser, TestApp, TestDb};
use crate::forgery::session_cookie;
use runwire::model::{LiveMessage, LiveRequest, RunFilter, UserRole, LIVE_SOCKETS_PER_USER};
use runwire::server::auth::tokens::{self, NewToken};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn ready(client: &mut LiveClient) -> bool {
    matches!(
        client.next(Duration::from_secs(5)).await,
        Frame::Message(LiveMessage::Ready { .. })
    )
}

#[tokio::test]
async fn a_user_holds_at_most_twenty_live_sockets() {
    let app = TestApp::start(TestDb::new().await, None).await;
    let user = app.db.user("sockets@example.com", UserRole::User).await;
    let other = app
        .db
        .user("other-sockets@example.com", UserRole::User)
        .await;
    let (_, token) = tokens::create(&app.db.pool, &user, &NewToken::read_write("s"))
        .await
        .unwrap();
    let (_, other_token) = tokens::create(&app.db.pool, &other, &NewToken::read_write("o"))
        .await
        .unwrap();
    let mut open = Vec::new();
    for _ in 0..LIVE_SOCKETS_PER_USER {
        let mut client = LiveClient::subscribe(app.addr, &token, RunFilter::default(), 0).await;
        assert!(ready(&mut client).await);
        open.push(client);
    }
    let mut one_more = LiveClient::subscribe(app.addr, &token, RunFilter::default(), 0).await;
    match one_more.next(Duration::from_secs(5)).await {
        Frame::Message(LiveMessage::Error { message }) => {
            assert!(message.contains("too many live views"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // someone else is not affected, and closing one frees a place
    let mut theirs = LiveClient::subscribe(app.addr, &other_token, RunFilter::default(), 0).await;
    assert!(ready(&mut theirs).await);
    open.pop().unwrap().close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = LiveClient::subscribe(app.addr, &token, RunFilter::default(), 0).await;
    assert!(ready(&mut again).await);
}

/// Waits until the socket ends (an error frame, then closed); returns how long that took.
async fn ends_within(client: &mut LiveClient, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        match client.next(limit).await {
            Frame::Message(LiveMessage::Error { message }) => {
                assert!(message.contains("sign in again"), "{message}");
            }
            Frame::Closed | Frame::StreamError(_) => return started.elapsed(),
            Frame::Message(LiveMessage::Ready { .. }) | Frame::Event(..) => {}
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < limit, "the socket is still open");
    }
}

async fn cookie_socket(app: &TestApp, cookie: &str) -> LiveClient {
    let mut request = format!("ws://{}/api/live_runs", app.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", cookie.parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut client = LiveClient::from_socket(socket);
    client
        .send(&LiveRequest::Subscribe {
            filter: RunFilter::default(),
            after_event_id: 0,
        })
        .await;
    assert!(ready(&mut client).await);
    client
}

#[tokio::test]
async fn signing_out_closes_the_sessions_sockets_within_five_seconds() {
    let app = TestApp::start(TestDb::new().await, None).await;
    app.db.user("signout@example.com", UserRole::User).await;
    let cookie = session_cookie(&app, "signout@example.com").await;
    let other_cookie = session_cookie(&app, "signout@example.com").await;
    let mut socket = cookie_socket(&app, &cookie).await;
    let mut other_session = cookie_socket(&app, &other_cookie).await;
    let response = browser()
        .post(app.url("/api/sign_out"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(response.status().as_u16() < 400);
    let took = ends_within(&mut socket, Duration::from_secs(5)).await;
    println!("socket closed {took:?} after sign-out");
    // the same user's other session goes on: it still gets new events
    let user = runwire::server::users::find_by_email(&app.db.pool, "signout@example.com")
        .await
        .unwrap()
        .unwrap();
    runwire::server::publisher::AgentEventPublisher::new(app.db.pool.clone())
        .start_run(crate::common::principal(&user), None, "after", "sign-out")
        .await
        .unwrap();
    assert!(matches!(
        other_session.next(Duration::from_secs(5)).await,
        Frame::Event(..)
    ));
}

#[tokio::test]
async fn revoking_a_token_closes_its_sockets_within_five_seconds() {
    let app = TestApp::start(TestDb::new().await, None).await;
    let user = app.db.user("revoke@example.com", UserRole::User).await;
    let (listing, token) = tokens::create(&app.db.pool, &user, &NewToken::read_write("r"))
        .await
        .unwrap();
    let mut socket = LiveClient::subscribe(app.addr, &token, RunFilter::default(), 0).await;
    assert!(ready(&mut socket).await);
    assert!(tokens::revoke(&app.db.pool, user.id, listing.id)
        .await
        .unwrap());
    let took = ends_within(&mut socket, Duration::from_secs(5)).await;
    println!("socket closed {took:?} after revocation");
}

#[tokio::test]
async fn an_expiring_session_closes_its_socket_when_it_expires() {
    let app = TestApp::start(TestDb::new().await, None).await;
    app.db.user("expire@example.com", UserRole::User).await;
    let cookie = session_cookie(&app, "expire@example.com").await;
    sqlx::query("UPDATE sessions SET expires_at = now() + interval '2 seconds'")
        .execute(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    let mut socket = cookie_socket(&app, &cookie).await;
    let took = ends_within(&mut socket, Duration::from_secs(8)).await;
    assert!(took < Duration::from_secs(7), "{took:?}");
}
