//! Sign-up, sign-in, sessions, API tokens and the brute-force guard, over HTTP against the real router.

mod common;

use common::{browser, TestApp, TestDb, TEST_PASSWORD};
use runwire::error::AppError;
use runwire::model::{AgentRun, ApiToken, RunPage, SessionInfo, UserRole};
use runwire::server::auth::throttle::SIGN_IN_PER_EMAIL;
use serde_json::json;

async fn app() -> TestApp {
    TestApp::start(TestDb::new().await, None).await
}

async fn sign_in(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> reqwest::Response {
    sign_in_then(app, client, email, password, "").await
}

/// Signs in asking to be sent to `next` afterwards.
async fn sign_in_then(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
    next: &str,
) -> reqwest::Response {
    client
        .post(app.url("/api/sign_in"))
        .form(&[("email", email), ("password", password), ("next", next)])
        .send()
        .await
        .unwrap()
}

/// The typed error of a failed call, checked against the HTTP status it came with.
async fn error_of(response: reqwest::Response) -> AppError {
    let status = response.status().as_u16();
    let err: AppError = response.json().await.unwrap();
    assert_eq!(status, err.status_code(), "{err:?}");
    err
}

async fn session_info(app: &TestApp, client: &reqwest::Client) -> SessionInfo {
    client
        .post(app.url("/api/session_info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn session_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&mut app.db.owner_conn().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_up_then_out_then_in_again() {
    let app = app().await;
    let client = browser();
    let response = client
        .post(app.url("/api/sign_up"))
        .form(&[
            ("email", "  New.User@Example.com "),
            ("password", "long enough password"),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert_eq!(response.headers()["location"], "/dashboard");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("runwire_session="));
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "plain http: no Secure flag");
    let info = session_info(&app, &client).await;
    assert_eq!(info.user.unwrap().email, "new.user@example.com");

    client.post(app.url("/api/sign_out")).send().await.unwrap();
    assert_eq!(session_info(&app, &client).await.user, None);
    assert_eq!(session_count(&app).await, 0, "sign-out deletes the session");

    let response = sign_in(
        &app,
        &client,
        "NEW.USER@example.com",
        "long enough password",
    )
    .await;
    assert!(response.status().is_success());
    assert!(session_info(&app, &client).await.user.is_some());
}

#[tokio::test]
async fn cookies_are_secure_behind_https() {
    // X-Forwarded-Proto is believed from a trusted proxy only: here the test client is one.
    let app = TestApp::start_configured(TestDb::new().await, None, |state| {
        std::sync::Arc::make_mut(&mut state.web).trusted_proxies =
            vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    app.db.user("secure@example.com", UserRole::User).await;
    let response = browser()
        .post(app.url("/api/sign_in"))
        .header("x-forwarded-proto", "https")
        .form(&[
            ("email", "secure@example.com"),
            ("password", TEST_PASSWORD),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(cookie.starts_with("__Host-runwire_session="), "{cookie}");
    assert!(response.headers().contains_key("strict-transport-security"));
}

#[tokio::test]
async fn sign_in_rotates_the_session_and_follows_only_local_next() {
    let app = app().await;
    app.db.user("rotate@example.com", UserRole::User).await;
    let client = browser();
    sign_in(&app, &client, "rotate@example.com", TEST_PASSWORD).await;
    let response = sign_in_then(
        &app,
        &client,
        "rotate@example.com",
        TEST_PASSWORD,
        "/agents?x=1",
    )
    .await;
    assert_eq!(response.headers()["location"], "/agents?x=1");
    assert_eq!(session_count(&app).await, 1, "the old session was replaced");

    let response = sign_in_then(
        &app,
        &client,
        "rotate@example.com",
        TEST_PASSWORD,
        "https://evil.example/",
    )
    .await;
    assert_eq!(response.headers()["location"], "/dashboard");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = app().await;
    app.db.user("known@example.com", UserRole::User).await;
    let wrong =
        error_of(sign_in(&app, &browser(), "known@example.com", "not the password").await).await;
    let unknown =
        error_of(sign_in(&app, &browser(), "nobody@example.com", "whatever password").await).await;
    assert_eq!(wrong, AppError::InvalidCredentials);
    assert_eq!(unknown, AppError::InvalidCredentials);
    assert_eq!(wrong.to_string(), "wrong email or password");
    assert_eq!(session_count(&app).await, 0);
}

#[tokio::test]
async fn bad_input_is_a_clear_error_and_changes_nothing() {
    let app = app().await;
    let client = browser();
    let long_email = format!("{}@example.com", "a".repeat(300));
    let long_password = "p".repeat(10_000);
    let cases: Vec<(&str, &str, &str, &str)> = vec![
        ("sign_up", "not-an-email", "long enough password", "email"),
        ("sign_up", &long_email, "long enough password", "email"),
        ("sign_up", "short@example.com", "short", "password"),
        ("sign_up", "long@example.com", &long_password, "password"),
        (
            "sign_up",
            "x'; DROP TABLE users;--",
            "long enough password",
            "email",
        ),
        ("sign_in", &long_email, "whatever", "email"),
        ("sign_in", "someone@example.com", &long_password, "password"),
        ("sign_in", "' OR 1=1 --", "' OR 1=1 --", "email"),
    ];
    for (function, email, password, field) in cases {
        let response = client
            .post(app.url(&format!("/api/{function}")))
            .form(&[("email", email), ("password", password), ("next", "")])
            .send()
            .await
            .unwrap();
        let err = error_of(response).await;
        assert!(
            matches!(err, AppError::Validation { field: ref f, .. } if f == field),
            "{function} {email:.40}: {err:?}"
        );
    }
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    assert_eq!(users, 0);
    assert_eq!(session_count(&app).await, 0);

    // A taken email is a field error too, and the first account is untouched.
    app.db.user("taken@example.com", UserRole::User).await;
    let response = client
        .post(app.url("/api/sign_up"))
        .form(&[
            ("email", "Taken@example.com"),
            ("password", "another long password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(response).await,
        AppError::validation("email", "an account with this email already exists")
    );
    assert!(
        sign_in(&app, &browser(), "taken@example.com", TEST_PASSWORD)
            .await
            .status()
            .is_success()
    );
}

#[tokio::test]
async fn repeated_failures_are_throttled_per_email() {
    let app = app().await;
    app.db.user("target@example.com", UserRole::User).await;
    for _ in 0..SIGN_IN_PER_EMAIL {
        let err =
            error_of(sign_in(&app, &browser(), "target@example.com", "guess guess").await).await;
        assert_eq!(err, AppError::InvalidCredentials);
    }
    // Now even the right password is refused until the window passes.
    let response = sign_in(&app, &browser(), "target@example.com", TEST_PASSWORD).await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after));
    let err = error_of(response).await;
    assert!(
        matches!(err, AppError::RateLimited { retry_after_secs } if retry_after_secs > 0),
        "{err:?}"
    );
    // Another account is not affected by the first one's lock.
    app.db.user("bystander@example.com", UserRole::User).await;
    assert!(
        sign_in(&app, &browser(), "bystander@example.com", TEST_PASSWORD)
            .await
            .status()
            .is_success()
    );
    // Once the window has passed, the right password works and clears the count.
    sqlx::query("UPDATE auth_attempts SET window_started_at = now() - interval '1 hour'")
        .execute(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    assert!(
        sign_in(&app, &browser(), "target@example.com", TEST_PASSWORD)
            .await
            .status()
            .is_success()
    );
}

#[tokio::test]
async fn private_pages_redirect_to_sign_in_without_a_live_session() {
    let app = app().await;
    let user = app.db.user("pages@example.com", UserRole::User).await;
    let anonymous = browser();
    for path in ["/dashboard", "/agents", "/settings/tokens"] {
        let response = anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(
            response.headers()["location"],
            format!("/signin?next={path}")
        );
    }
    let response = anonymous
        .get(app.url("/dashboard?status=failed"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["location"],
        "/signin?next=/dashboard%3Fstatus%3Dfailed"
    );
    for path in ["/", "/signin", "/signup"] {
        assert_eq!(
            anonymous.get(app.url(path)).send().await.unwrap().status(),
            200,
            "{path}"
        );
    }

    // A forged cookie is no session.
    let forged = common::agent();
    let response = forged
        .get(app.url("/dashboard"))
        .header("cookie", "runwire_session=forged-value")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);

    // An expired one neither.
    let client = app.signed_in(&user.email).await;
    assert_eq!(
        client
            .get(app.url("/dashboard"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    sqlx::query("UPDATE sessions SET created_at = now() - interval '40 days', expires_at = now() - interval '1 day'")
        .execute(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    assert_eq!(
        client
            .get(app.url("/dashboard"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    let err = error_of(
        app.call(&client, "list_runs", json!({"filter": {}, "limit": 5}))
            .await,
    )
    .await;
    assert_eq!(err, AppError::Unauthorized);
}

#[tokio::test]
async fn api_tokens_are_shown_once_stored_hashed_and_revocable() {
    let app = app().await;
    let user = app.db.user("tokens@example.com", UserRole::User).await;
    let client = app.signed_in(&user.email).await;
    let response = client
        .post(app.url("/api/create_token"))
        .form(&[("name", "ci agent"), ("write", "on"), ("read", "on")])
        .send()
        .await
        .unwrap();
    let (listing, secret): (ApiToken, String) = response.json().await.unwrap();
    assert!(secret.starts_with("rw_") && secret.len() > 40);
    assert!(secret.starts_with(&listing.prefix));
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
        .fetch_one(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    assert_ne!(stored, secret.as_bytes(), "only a hash is stored");
    let listed: Vec<ApiToken> = client
        .post(app.url("/api/list_tokens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, vec![listing.clone()]);

    // The token authenticates an agent on its own, without any cookie.
    let agent = common::agent();
    let runs = agent
        .post(app.url("/api/list_runs"))
        .bearer_auth(&secret)
        .json(&json!({"filter": {}, "limit": 5}))
        .send()
        .await
        .unwrap();
    assert!(runs.status().is_success());
    let _: Vec<AgentRun> = runs.json::<RunPage>().await.unwrap().runs;

    // Malformed and unknown tokens are refused outright.
    for header in ["Bearer", "Bearer rw_unknown", "Basic abc", "Bearer "] {
        let response = agent
            .get(app.url("/dashboard"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{header}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized");
        assert!(body["error"].is_string());
    }

    // Revoked: refused from then on.
    let revoked = client
        .post(app.url("/api/revoke_token"))
        .form(&[("id", listing.id.to_string())])
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    let response = agent
        .post(app.url("/api/list_runs"))
        .bearer_auth(&secret)
        .json(&json!({"filter": {}, "limit": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // Revoking twice is a not-found, not a success.
    let again = client
        .post(app.url("/api/revoke_token"))
        .form(&[("id", listing.id.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(again).await, AppError::NotFound);

    let bad_name = client
        .post(app.url("/api/create_token"))
        .form(&[("name", "  ")])
        .send()
        .await
        .unwrap();
    assert!(
        matches!(error_of(bad_name).await, AppError::Validation { ref field, .. } if field == "name")
    );
}

#[tokio::test]
async fn the_demo_sign_in_exists_only_when_demo_data_was_seeded() {
    let app = app().await;
    let client = browser();
    assert!(!session_info(&app, &client).await.demo_available);
    let err = error_of(
        client
            .post(app.url("/api/sign_in_demo"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(err, AppError::NotFound);
    assert_eq!(session_count(&app).await, 0);
}
