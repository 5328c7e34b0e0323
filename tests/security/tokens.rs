//! (5) API tokens with scopes and expiry; tokens manage nothing; one rate limit per user.

use crate::common::ws::{Frame, LiveClient};
use crate::common::{agent, TestApp, TestDb};
use runwire::model::{LiveMessage, RunFilter, TokenScope, UserRole};
use runwire::server::auth::tokens::{self, NewToken};
use serde_json::json;
use std::time::Duration;

fn scoped(name: &str, scopes: &[TokenScope]) -> NewToken {
    NewToken {
        name: name.to_owned(),
        scopes: scopes.to_vec(),
        expires_at: None,
    }
}

#[tokio::test]
async fn a_token_does_only_what_its_scopes_say() {
    let app = TestApp::start(TestDb::new().await, None).await;
    let user = app.db.user("scopes@example.com", UserRole::User).await;
    let (_, writer) = tokens::create(&app.db.pool, &user, &scoped("w", &[TokenScope::RunsWrite]))
        .await
        .unwrap();
    let (_, reader) = tokens::create(&app.db.pool, &user, &scoped("r", &[TokenScope::RunsRead]))
        .await
        .unwrap();
    let http = agent();
    let created = http
        .post(app.url("/api/v1/runs"))
        .bearer_auth(&writer)
        .json(&json!({ "agent_name": "a", "task": "t" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let read_with = |token: &str, path: String| http.get(app.url(&path)).bearer_auth(token).send();
    assert_eq!(
        read_with(&writer, format!("/api/v1/runs/{id}"))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        read_with(&reader, format!("/api/v1/runs/{id}"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        read_with(&writer, "/api/v1/runs/export".into())
            .await
            .unwrap()
            .status(),
        403
    );
    let refused = http
        .post(app.url(&format!("/api/v1/runs/{id}/progress")))
        .bearer_auth(&reader)
        .json(&json!({ "percent": 10 }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("runs:write"),
        "{body}"
    );
    // server functions too: reading and watching need runs:read
    let listed = http
        .post(app.url("/api/list_runs"))
        .bearer_auth(&writer)
        .json(&json!({ "filter": {}, "limit": 5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 403);
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/api/live_runs",
            app.addr
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {writer}").parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403, "a write-only token cannot watch")
        }
        other => panic!("the upgrade went through: {:?}", other.map(|_| ())),
    }
    let mut live = LiveClient::subscribe(app.addr, &reader, RunFilter::default(), 0).await;
    assert!(matches!(
        live.next(Duration::from_secs(5)).await,
        Frame::Event(..) | Frame::Message(LiveMessage::Ready { .. })
    ));
}

#[tokio::test]
async fn only_an_admin_token_with_the_admin_scope_reads_every_tenant() {
    let app = TestApp::start(TestDb::new().await, None).await;
    let admin = app.db.user("root@example.com", UserRole::Admin).await;
    let other = app.db.user("tenant@example.com", UserRole::User).await;
    let (_, tenant_token) = tokens::create(&app.db.pool, &other, &NewToken::read_write("t"))
        .await
        .unwrap();
    agent()
        .post(app.url("/api/v1/runs"))
        .bearer_auth(&tenant_token)
        .json(&json!({ "agent_name": "tenant-agent", "task": "t" }))
        .send()
        .await
        .unwrap();
    let count = |token: String| {
        let app = &app;
        async move {
            let page: serde_json::Value = agent()
                .get(app.url("/api/v1/runs"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            page["runs"].as_array().unwrap().len()
        }
    };
    let (_, plain) = tokens::create(&app.db.pool, &admin, &NewToken::read_write("plain"))
        .await
        .unwrap();
    assert_eq!(
        count(plain).await,
        0,
        "an admin's ordinary token sees only the admin's runs"
    );
    let (_, full) = tokens::create(
        &app.db.pool,
        &admin,
        &scoped("full", &[TokenScope::RunsRead, TokenScope::Admin]),
    )
    .await
    .unwrap();
    assert_eq!(count(full).await, 1);
    let refused = tokens::create(&app.db.pool, &other, &scoped("x", &[TokenScope::Admin])).await;
    assert!(matches!(
        refused,
        Err(runwire::error::AppError::Forbidden(_))
    ));
    // through the browser too
    let client = app.signed_in("tenant@example.com").await;
    let response = client
        .post(app.url("/api/create_token"))
        .form(&[("name", "escalate"), ("read", "on"), ("admin", "on")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn tokens_cannot_manage_tokens() {
    let app = TestApp::start(TestDb::new().await, None).await;
    let user = app.db.user("mint@example.com", UserRole::User).await;
    let (listing, token) = tokens::create(&app.db.pool, &user, &NewToken::read_write("t"))
        .await
        .unwrap();
    let http = agent();
    for (function, form) in [
        (
            "create_token",
            vec![("name", "minted".to_owned()), ("write", "on".to_owned())],
        ),
        ("list_tokens", vec![]),
        ("revoke_token", vec![("id", listing.id.to_string())]),
    ] {
        let response = http
            .post(app.url(&format!("/api/{function}")))
            .bearer_auth(&token)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{function}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL")
        .fetch_one(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let app = TestApp::start(TestDb::new().await, None).await;
    let user = app.db.user("expiry@example.com", UserRole::User).await;
    let client = app.signed_in("expiry@example.com").await;
    let created: (runwire::model::ApiToken, String) = client
        .post(app.url("/api/create_token"))
        .form(&[("name", "short"), ("read", "on"), ("expires_in", "7d")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (listing, token) = created;
    let expires = listing.expires_at.expect("it expires");
    let in_days = (expires - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((6.9..=7.0).contains(&in_days), "{in_days}");
    let get = || {
        agent()
            .get(app.url("/api/v1/runs"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(get().await.unwrap().status(), 200);
    sqlx::query(
        "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1",
    )
    .bind(user.id)
    .execute(&mut app.db.owner_conn().await)
    .await
    .unwrap();
    assert_eq!(get().await.unwrap().status(), 401);
    let bad = client
        .post(app.url("/api/create_token"))
        .form(&[("name", "bad"), ("read", "on"), ("expires_in", "forever")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
}

#[tokio::test]
async fn the_rate_limit_is_per_user_however_many_tokens_they_mint() {
    let app = TestApp::start_with_limit(TestDb::new().await, None, 20).await;
    let user = app.db.user("limits@example.com", UserRole::User).await;
    let mut tokens_of_user = Vec::new();
    for n in 0..4 {
        let (_, token) =
            tokens::create(&app.db.pool, &user, &NewToken::read_write(&format!("t{n}")))
                .await
                .unwrap();
        tokens_of_user.push(token);
    }
    let requests = (0..80).map(|n| {
        let token = tokens_of_user[n % 4].clone();
        let app = &app;
        async move {
            agent()
                .get(app.url("/api/v1/runs?limit=1"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let started = std::time::Instant::now();
    let statuses = futures::future::join_all(requests).await;
    // the burst of 20, plus what 20 per second refills while the requests were answered
    let refilled = (20.0 * started.elapsed().as_secs_f64()).ceil() as usize;
    let allowed = statuses.iter().filter(|s| **s == 200).count();
    assert!(
        allowed <= 20 + refilled,
        "{allowed} of 80 went through four tokens of one user (at most {} allowed)",
        20 + refilled
    );
    assert!(
        allowed < 80 - 20,
        "four tokens did not buy four budgets: {allowed} allowed"
    );
    assert!(statuses.iter().all(|s| *s == 200 || *s == 429));
}
