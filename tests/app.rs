//! The real application router over HTTP: server-rendered pages, server functions, errors.

mod common;

use common::{principal, TestApp, TestDb};
use runwire::error::AppError;
use runwire::model::{AgentRun, RunPage, RunStatus};
use runwire::server::seed;
use runwire::server::seed::{DEMO_EMAIL, DEMO_PASSWORD};
use serde_json::json;

async fn demo_app() -> TestApp {
    let db = TestDb::new().await;
    let demo = seed::seed_demo(&db.pool).await.unwrap();
    TestApp::start(db, Some(principal(&demo))).await
}

/// The demo app and a client signed in with the demo account's printed password.
async fn demo_session() -> (TestApp, reqwest::Client) {
    let app = demo_app().await;
    let client = common::browser();
    let response = client
        .post(app.url("/api/sign_in"))
        .form(&[
            ("email", DEMO_EMAIL),
            ("password", DEMO_PASSWORD),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    (app, client)
}

#[tokio::test]
async fn dashboard_is_server_rendered_with_the_seeded_runs() {
    let (app, client) = demo_session().await;
    let response = client.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = response.text().await.unwrap();
    assert_eq!(html.matches("<tr data-run-id=").count(), 10, "{html}");
    assert!(html.contains("Survey recent papers on retrieval-augmented generation"));
    assert!(html.contains("status-timed_out"));
    // the hydration scripts point at the bundle cargo-leptos / the Makefile produce
    assert!(html.contains("/pkg/runwire.js"));
    assert!(html.contains("/pkg/runwire.wasm"));
}

#[tokio::test]
async fn the_status_filter_in_the_url_is_applied_on_the_server() {
    let (app, client) = demo_session().await;
    let page = |path: &'static str| {
        let request = client.get(app.url(path));
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let html = page("/dashboard?status=failed").await;
    assert_eq!(html.matches("<tr data-run-id=").count(), 1);
    assert!(html.contains("Fix the flaky test in the payments module"));

    // a bad part of a link is named, and the rest of the view still works
    let html = page("/dashboard?status=exploded,failed").await;
    assert!(html.contains("unknown run status `exploded`"), "{html}");
    assert_eq!(html.matches("<tr data-run-id=").count(), 1);
    let html = page("/dashboard/agent-runs?status=exploded").await;
    assert!(html.contains("unknown run status `exploded`"), "{html}");
    assert_eq!(html.matches("<tr data-run-id=").count(), 10);
}

#[tokio::test]
async fn seeding_twice_adds_nothing() {
    let db = TestDb::new().await;
    let first = seed::seed_demo(&db.pool).await.unwrap();
    let second = seed::seed_demo(&db.pool).await.unwrap();
    assert_eq!(first.id, second.id);
    let mut tx = db.scoped(&first).await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM agent_runs")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(count, 10);
    let statuses: Vec<RunStatus> =
        sqlx::query_scalar("SELECT DISTINCT status FROM agent_runs ORDER BY 1")
            .fetch_all(tx.conn())
            .await
            .unwrap();
    let expected: Vec<RunStatus> = RunStatus::ALL
        .into_iter()
        .filter(|s| !matches!(s, RunStatus::Paused | RunStatus::Verifying))
        .collect();
    assert_eq!(
        statuses, expected,
        "the demo shows nine of the eleven states"
    );
}

#[tokio::test]
async fn unknown_paths_answer_404_with_the_app_shell() {
    let (app, client) = demo_session().await;
    let response = client.get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let html = response.text().await.unwrap();
    assert!(html.contains("404 · Page not found"));
    assert!(html.contains("aria-label=\"Main\""));
}

#[tokio::test]
async fn list_runs_server_function_filters_and_validates() {
    let (app, client) = demo_session().await;
    let call = |body: serde_json::Value| client.post(app.url("/api/list_runs")).json(&body).send();
    let response = call(json!({"filter": {"statuses": ["completed"]}, "limit": 50}))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let runs: Vec<AgentRun> = response.json::<RunPage>().await.unwrap().runs;
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.status == RunStatus::Completed));
    assert!(runs[0].created_at >= runs[1].created_at, "newest first");

    let runs: Vec<AgentRun> = call(json!({"filter": {"search": "PAYMENTS"}, "limit": 50}))
        .await
        .unwrap()
        .json::<RunPage>()
        .await
        .unwrap()
        .runs;
    assert_eq!(runs.len(), 1);
    let prefix = &runs[0].id.to_string()[..8];
    let by_id: Vec<AgentRun> = call(json!({"filter": {"search": prefix}, "limit": 50}))
        .await
        .unwrap()
        .json::<RunPage>()
        .await
        .unwrap()
        .runs;
    assert_eq!(
        by_id.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![runs[0].id]
    );
    let literal: Vec<AgentRun> = call(json!({"filter": {"search": "%"}, "limit": 50}))
        .await
        .unwrap()
        .json::<RunPage>()
        .await
        .unwrap()
        .runs;
    assert!(literal.is_empty(), "% is matched literally");

    let response = call(json!({"filter": {}, "limit": 0})).await.unwrap();
    assert!(!response.status().is_success());
    let err: AppError = response.json().await.unwrap();
    assert_eq!(
        err,
        AppError::validation("limit", "must be between 1 and 200")
    );

    let response = call(json!({"filter": {"search": "x".repeat(10_000)}, "limit": 5}))
        .await
        .unwrap();
    let err: AppError = response.json().await.unwrap();
    assert!(
        matches!(err, AppError::Validation { ref field, .. } if field == "search"),
        "{err:?}"
    );

    // A client cannot smuggle in a user id: unknown fields are refused.
    let response =
        call(json!({"filter": {"user_id": "00000000-0000-0000-0000-000000000000"}, "limit": 5}))
            .await
            .unwrap();
    assert!(!response.status().is_success());
    let text = response.text().await.unwrap();
    assert!(text.contains("unknown field `user_id`"), "{text}");
}

#[tokio::test]
async fn server_functions_refuse_anonymous_callers() {
    let app = demo_app().await;
    let response = app
        .call(&app.http, "list_runs", json!({"filter": {}, "limit": 5}))
        .await;
    let err: AppError = response.json().await.unwrap();
    assert_eq!(err, AppError::Unauthorized);
}
