//! (4) Cross-site request forgery and cross-site WebSocket hijacking.

use crate::common::ws::{Frame, LiveClient};
use crate::common::{agent, browser, TestApp, TestDb, TEST_PASSWORD};
use runwire::model::{LiveMessage, UserRole};
use runwire::server::auth::tokens::{self, NewToken};
use runwire::server::web::WebConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const EVIL: &str = "https://evil.example";

async fn token_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM api_tokens")
        .fetch_one(&mut app.db.owner_conn().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn cookie_writes_from_another_site_are_refused_and_store_nothing() {
    let app = TestApp::start(TestDb::new().await, None).await;
    app.db.user("csrf@example.com", UserRole::User).await;
    let client = app.signed_in("csrf@example.com").await;
    let own = format!("http://{}", app.addr);
    let create = |origin: Option<&str>, site: Option<&str>| {
        let mut request = client
            .post(app.url("/api/create_token"))
            .form(&[("name", "planted"), ("write", "on")]);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        request.send()
    };
    for (origin, site) in [
        (Some(EVIL), None),
        (Some("https://sibling.127.0.0.1"), None),
        (Some("null"), None),
        (None, Some("cross-site")),
        (None, Some("same-site")),
        (Some(EVIL), Some("same-origin")),
    ] {
        let response = create(origin, site).await.unwrap();
        assert_eq!(response.status(), 403, "{origin:?} {site:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "forbidden");
    }
    assert_eq!(token_count(&app).await, 0, "nothing was stored");
    // The page's own origin, or a same-origin fetch, goes through.
    assert_eq!(create(Some(&own), None).await.unwrap().status(), 200);
    assert_eq!(
        create(None, Some("same-origin")).await.unwrap().status(),
        200
    );
    assert_eq!(token_count(&app).await, 2);
}

#[tokio::test]
async fn sign_in_forms_refuse_other_sites_too() {
    let app = TestApp::start(TestDb::new().await, None).await;
    app.db.user("login-csrf@example.com", UserRole::User).await;
    let response = browser()
        .post(app.url("/api/sign_in"))
        .header("origin", EVIL)
        .form(&[
            ("email", "login-csrf@example.com"),
            ("password", TEST_PASSWORD),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("set-cookie").is_none());
    let response = browser()
        .post(app.url("/api/sign_up"))
        .header("origin", EVIL)
        .form(&[
            ("email", "planted@example.com"),
            ("password", "a long enough password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn bearer_requests_carry_no_cookie_authority_and_pass() {
    let app = TestApp::start(TestDb::new().await, None).await;
    let user = app.db.user("bearer@example.com", UserRole::User).await;
    let (_, token) = tokens::create(&app.db.pool, &user, &NewToken::read_write("b"))
        .await
        .unwrap();
    let response = agent()
        .post(app.url("/api/v1/runs"))
        .bearer_auth(&token)
        .header("origin", EVIL)
        .json(&serde_json::json!({ "agent_name": "a", "task": "t" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

/// The live socket with a session cookie, opened by a page of `origin`.
async fn open_live(app: &TestApp, cookie: &str, origin: &str) -> Result<LiveClientSocket, u16> {
    let mut request = format!("ws://{}/api/live_runs", app.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", cookie.parse().unwrap());
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("{other}"),
    }
}

type LiveClientSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Subscribes on `socket`; what the server answers first.
async fn first_answer(socket: LiveClientSocket) -> Frame {
    let mut client = LiveClient::from_socket(socket);
    client
        .send(&runwire::model::LiveRequest::Subscribe {
            filter: runwire::model::RunFilter::default(),
            after_event_id: 0,
        })
        .await;
    client.next(Duration::from_secs(10)).await
}

#[tokio::test]
async fn the_live_socket_ignores_the_cookie_on_pages_of_other_sites() {
    let app = TestApp::start(TestDb::new().await, None).await;
    app.db.user("cswsh@example.com", UserRole::User).await;
    let cookie = session_cookie(&app, "cswsh@example.com").await;
    // another site's page may open the socket (with a token in its first message), but the
    // visitor's cookie it carries never counts: a subscription is refused
    for origin in [EVIL, "http://sibling.localhost"] {
        let socket = open_live(&app, &cookie, origin).await.expect(origin);
        match first_answer(socket).await {
            Frame::Message(LiveMessage::Error { message }) => {
                assert!(message.contains("sign in"), "{origin}: {message}")
            }
            other => panic!("{origin}: the cookie counted: {other:?}"),
        }
    }
    let own = format!("http://{}", app.addr);
    let socket = open_live(&app, &cookie, &own).await.unwrap();
    assert!(matches!(
        first_answer(socket).await,
        Frame::Message(LiveMessage::Ready { .. })
    ));
}

/// The session cookie a sign-in sets, as a Cookie header value.
pub async fn session_cookie(app: &TestApp, email: &str) -> String {
    let response = browser()
        .post(app.url("/api/sign_in"))
        .form(&[("email", email), ("password", TEST_PASSWORD), ("next", "")])
        .send()
        .await
        .unwrap();
    let set = response.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_public_url_names_the_only_origin_and_https_brings_host_cookies() {
    let app = TestApp::start_configured(TestDb::new().await, None, |state| {
        state.web = Arc::new(WebConfig {
            public_origin: Some(WebConfig::parse_public_url("https://runs.example.com").unwrap()),
            ..(*state.web).clone()
        });
    })
    .await;
    app.db.user("public@example.com", UserRole::User).await;
    let sign_in = |origin: &'static str| {
        browser()
            .post(app.url("/api/sign_in"))
            .header("origin", origin)
            .form(&[
                ("email", "public@example.com"),
                ("password", TEST_PASSWORD),
                ("next", ""),
            ])
            .send()
    };
    // the listen address itself is not the public origin
    let local: &'static str = Box::leak(format!("http://{}", app.addr).into_boxed_str());
    assert_eq!(sign_in(local).await.unwrap().status(), 403);
    let response = sign_in("https://runs.example.com").await.unwrap();
    assert!(response.status().is_redirection() || response.status().is_success());
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("__Host-runwire_session="), "{cookie}");
    assert!(
        cookie.contains("Secure") && !cookie.contains("Domain"),
        "{cookie}"
    );
    assert!(response.headers().contains_key("strict-transport-security"));
    // a plain-named cookie planted by a sibling subdomain is not a session
    let token = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    let planted = browser()
        .post(app.url("/api/list_tokens"))
        .header("cookie", format!("runwire_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(planted.status(), 401);
    // while a live socket opened with it from the public origin works
    let cookie = format!("__Host-runwire_session={token}");
    let socket = open_live(&app, &cookie, "https://runs.example.com").await;
    let mut client = LiveClient::from_socket(socket.unwrap());
    client
        .send(&runwire::model::LiveRequest::Subscribe {
            filter: Default::default(),
            after_event_id: 0,
        })
        .await;
    assert!(matches!(
        client.next(Duration::from_secs(5)).await,
        Frame::Message(LiveMessage::Ready { .. })
    ));
}
