//! Two users and an admin, through every surface that exists: server functions (by session and by API
//! token), server-rendered pages, token management, and SQL as the application role (tests/schema.rs).
//! User A never reads, lists, counts or changes user B's runs; attempts look like "not found".

mod common;

use chrono::Utc;
use common::{TestApp, TestDb};
use runwire::error::AppError;
use runwire::model::{AgentRun, ApiToken, RunPage, RunStats, RunStatus, UserRole};
use runwire::server::seed::{self, SeedRun};
use serde_json::json;
use uuid::Uuid;

struct World {
    app: TestApp,
    a: reqwest::Client,
    b: reqwest::Client,
    admin: reqwest::Client,
    a_run: Uuid,
    b_runs: Vec<Uuid>,
}

async fn world() -> World {
    let db = TestDb::new().await;
    let a = db.user("a@example.com", UserRole::User).await;
    let b = db.user("b@example.com", UserRole::User).await;
    db.user("root@example.com", UserRole::Admin).await;
    let mut ids = vec![];
    for (user, task, count) in [(&a, "alpha secret task", 1), (&b, "bravo secret task", 2)] {
        let mut tx = db.scoped(user).await;
        for _ in 0..count {
            let now = Utc::now();
            let run = SeedRun {
                agent_name: "isolated-agent",
                task,
                status: RunStatus::InProgress,
                progress_percent: 10.0,
                current_step: Some("working"),
                result: None,
                error: None,
                created_at: now,
                started_at: Some(now),
                completed_at: None,
            };
            ids.push(seed::insert_seed(&mut tx, &run).await.unwrap());
        }
        tx.commit().await.unwrap();
    }
    let app = TestApp::start(db, None).await;
    World {
        a: app.signed_in("a@example.com").await,
        b: app.signed_in("b@example.com").await,
        admin: app.signed_in("root@example.com").await,
        a_run: ids[0],
        b_runs: ids[1..].to_vec(),
        app,
    }
}

async fn list(w: &World, client: &reqwest::Client, filter: serde_json::Value) -> Vec<Uuid> {
    let response = w
        .app
        .call(client, "list_runs", json!({"filter": filter, "limit": 200}))
        .await;
    assert!(response.status().is_success());
    let runs: Vec<AgentRun> = response.json::<RunPage>().await.unwrap().runs;
    runs.into_iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn server_functions_show_a_only_her_own_runs() {
    let w = world().await;
    assert_eq!(list(&w, &w.a, json!({})).await, vec![w.a_run]);
    // Filters naming B's run, by id or by text, find nothing.
    assert!(list(&w, &w.a, json!({"run_id": w.b_runs[0]}))
        .await
        .is_empty());
    assert!(list(&w, &w.a, json!({"search": "bravo"})).await.is_empty());
    assert!(
        list(&w, &w.a, json!({"search": &w.b_runs[0].to_string()[..8]}))
            .await
            .is_empty()
    );
    // Counting: A's stats hold only her run.
    let stats: RunStats = w
        .app
        .call(&w.a, "run_stats", json!({"window": "all"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stats.total, 1);
    let stats: RunStats = w
        .app
        .call(&w.b, "run_stats", json!({"window": "all"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stats.total, 2);
    // Reading B's run by id: 404, the same answer as for an id that does not exist.
    for id in [w.b_runs[0], Uuid::new_v4()] {
        let response = w.app.call(&w.a, "get_run", json!({"id": id})).await;
        assert_eq!(response.status(), 404);
        assert_eq!(
            response.json::<AppError>().await.unwrap(),
            AppError::NotFound
        );
    }
    let own: AgentRun = w
        .app
        .call(&w.a, "get_run", json!({"id": w.a_run}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own.task, "alpha secret task");
}

#[tokio::test]
async fn api_tokens_carry_their_owner_and_nobody_else() {
    let w = world().await;
    let (_, a_token): (ApiToken, String) =
        w.a.post(w.app.url("/api/create_token"))
            .form(&[("name", "a agent"), ("write", "on"), ("read", "on")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let agent = common::agent();
    let runs: Vec<AgentRun> = agent
        .post(w.app.url("/api/list_runs"))
        .bearer_auth(&a_token)
        .json(&json!({"filter": {}, "limit": 50}))
        .send()
        .await
        .unwrap()
        .json::<RunPage>()
        .await
        .unwrap()
        .runs;
    assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), vec![w.a_run]);

    // B cannot see or revoke A's token: not found, and it keeps working.
    let b_tokens: Vec<ApiToken> =
        w.b.post(w.app.url("/api/list_tokens"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert!(b_tokens.is_empty());
    let a_tokens: Vec<ApiToken> =
        w.a.post(w.app.url("/api/list_tokens"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let response =
        w.b.post(w.app.url("/api/revoke_token"))
            .form(&[("id", a_tokens[0].id.to_string())])
            .send()
            .await
            .unwrap();
    assert_eq!(response.status(), 404);
    let still: reqwest::Response = agent
        .post(w.app.url("/api/list_runs"))
        .bearer_auth(&a_token)
        .json(&json!({"filter": {}, "limit": 5}))
        .send()
        .await
        .unwrap();
    assert!(still.status().is_success());
}

#[tokio::test]
async fn a_client_cannot_name_another_user() {
    let w = world().await;
    // No field of any server function input can carry a user id: unknown fields are refused ...
    let response = w
        .app
        .call(
            &w.a,
            "list_runs",
            json!({"filter": {"user_id": Uuid::new_v4()}, "limit": 5}),
        )
        .await;
    assert_eq!(response.status(), 400);
    let err: AppError = response.json().await.unwrap();
    assert!(err.to_string().contains("unknown field `user_id`"), "{err}");
    // ... and query strings or headers naming B change nothing.
    let html =
        w.a.get(w.app.url(&format!("/dashboard?user_id={}", w.b_runs[0])))
            .header("x-user-id", w.b_runs[0].to_string())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    assert!(html.contains(&w.a_run.to_string()));
    assert!(!html.contains("bravo secret task"));
}

#[tokio::test]
async fn server_rendered_pages_show_only_the_callers_runs() {
    let w = world().await;
    for path in ["/dashboard", "/agents"] {
        let html =
            w.a.get(w.app.url(path))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
        assert!(html.contains("alpha secret task"), "{path}");
        assert!(!html.contains("bravo secret task"), "{path}");
        for id in &w.b_runs {
            assert!(!html.contains(&id.to_string()), "{path}");
        }
        let html =
            w.b.get(w.app.url(path))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
        assert!(
            html.contains("bravo secret task") && !html.contains("alpha secret task"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_admin_sees_everyone() {
    let w = world().await;
    let mut seen = list(&w, &w.admin, json!({})).await;
    seen.sort();
    let mut all = w.b_runs.clone();
    all.push(w.a_run);
    all.sort();
    assert_eq!(seen, all);
    let response = w
        .app
        .call(&w.admin, "get_run", json!({"id": w.b_runs[1]}))
        .await;
    assert!(response.status().is_success());
}

#[tokio::test]
async fn the_search_function_reads_only_the_callers_runs_and_the_rollup_only_theirs() {
    let w = world().await;
    let a = w.app.db.user("a@example.com", UserRole::User).await;
    let b = w.app.db.user("b@example.com", UserRole::User).await;
    let admin = w.app.db.user("root@example.com", UserRole::Admin).await;
    let search = |caller: runwire::model::CurrentUser, owner: Option<Uuid>| {
        let db = &w.app.db;
        async move {
            let mut tx = db.scoped(&caller).await;
            let ids: Vec<Uuid> = sqlx::query_scalar("SELECT search_run_ids($1, '%secret%', 'x%')")
                .bind(owner)
                .fetch_all(tx.conn())
                .await
                .unwrap();
            ids.len()
        }
    };
    // the function reads as the table owner, so it must check the caller itself
    assert_eq!(search(a.clone(), Some(a.id)).await, 1);
    assert_eq!(
        search(a.clone(), Some(b.id)).await,
        0,
        "A asked for B's runs"
    );
    assert_eq!(
        search(a.clone(), None).await,
        0,
        "A asked for everyone's runs"
    );
    assert_eq!(search(admin.clone(), None).await, 3);
    // through the server: searching never crosses users
    assert_eq!(
        list(&w, &w.a, json!({"search": "secret"})).await,
        vec![w.a_run]
    );
    assert_eq!(
        list(&w, &w.b, json!({"search": "alpha"})).await,
        Vec::<Uuid>::new()
    );
    let prefix = w.a_run.to_string()[..8].to_owned();
    assert!(list(&w, &w.b, json!({ "search": prefix })).await.is_empty());
    // the rollup holds per-user rows that RLS hides from others
    let mut tx = w.app.db.scoped(&a).await;
    let users: Vec<Uuid> = sqlx::query_scalar("SELECT DISTINCT user_id FROM run_rollup_hourly")
        .fetch_all(tx.conn())
        .await
        .unwrap();
    assert_eq!(users, vec![a.id]);
}
