//! Service tokens against the real router and PostgreSQL: one key of a backend that publishes for
//! many end users, naming each run's user by runwire id or external id; every other token acts for
//! its own user only, and nothing is stored when a request is refused. Task ids that are not UUIDs.

mod common;

use common::api::Api;
use common::{TestApp, TestDb};
use reqwest::{Method, StatusCode};
use runwire::model::{AgentRun, TaskId, TokenScope, UserRole};
use runwire::server::auth::tokens::{self, NewToken};
use runwire::server::users;
use serde_json::{json, Value};

struct World {
    api: Api,
    service: String,
    alice: String,
    bob: String,
    alice_id: uuid::Uuid,
}

async fn world() -> World {
    let db = TestDb::new().await;
    let admin = db.user("backend@example.com", UserRole::Admin).await;
    let alice = db.user("alice@example.com", UserRole::User).await;
    let bob = db.user("bob@example.com", UserRole::User).await;
    users::set_external_id(&db.pool, "alice@example.com", "user_456")
        .await
        .unwrap();
    let service_scopes = NewToken {
        scopes: vec![TokenScope::RunsWriteAny],
        ..NewToken::for_agent("backend")
    };
    let (_, service) = tokens::create(&db.pool, &admin, &service_scopes)
        .await
        .unwrap();
    // a user cannot make themselves a service token
    let refused = tokens::create(&db.pool, &bob, &service_scopes).await;
    assert!(
        matches!(refused, Err(runwire::error::AppError::Forbidden(_))),
        "{refused:?}"
    );
    let mut own = Vec::new();
    for user in [&alice, &bob] {
        own.push(
            tokens::create(&db.pool, user, &NewToken::read_write("own"))
                .await
                .unwrap()
                .1,
        );
    }
    let [alice_token, bob_token] = <[String; 2]>::try_from(own).unwrap();
    World {
        alice_id: alice.id,
        api: Api {
            app: TestApp::start(db, None).await,
            token: alice_token.clone(),
            other_token: bob_token.clone(),
        },
        service,
        alice: alice_token,
        bob: bob_token,
    }
}

impl World {
    async fn send(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.api.send_as(token, method, path, body, None).await
    }

    async fn runs_of(&self, token: &str) -> Vec<AgentRun> {
        let (status, body) = self.send(token, Method::GET, "/api/v1/runs", None).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_value(body["runs"].clone()).unwrap()
    }
}

fn new_run(user_id: &str) -> Value {
    json!({"agent_name": "orchestrator", "task": "route", "task_id": "task_123", "user_id": user_id})
}

#[tokio::test]
async fn a_service_token_reports_runs_of_the_users_it_names() {
    let w = world().await;
    // by external id: alice's run, done as alice
    let (status, body) = w
        .send(
            &w.service,
            Method::POST,
            "/api/v1/runs",
            Some(new_run("user_456")),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let run: AgentRun = serde_json::from_value(body).unwrap();
    assert_eq!(run.user_id, w.alice_id);
    assert_eq!(run.task_id, TaskId::parse("task_123").unwrap().uuid);
    assert_eq!(run.metadata["task_ref"], "task_123");
    // its updates name only the run; they are done as its owner
    for (path, body) in [
        ("progress", json!({"percent": 20, "step": "Routing task"})),
        (
            "status",
            json!({"status": "awaiting_verification", "step": "Verifying"}),
        ),
        ("complete", json!({"result": {"ok": true}})),
    ] {
        let (status, answer) = w
            .send(
                &w.service,
                Method::POST,
                &format!("/api/v1/runs/{}/{path}", run.id),
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "{path}: {answer}");
    }
    let seen = w.runs_of(&w.alice).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].status, runwire::model::RunStatus::Completed);
    let (_, events) = w
        .send(
            &w.alice,
            Method::GET,
            &format!("/api/v1/runs/{}/events", run.id),
            None,
        )
        .await;
    let owners: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(owners, vec![w.alice_id.to_string(); 4]);
    assert!(w.runs_of(&w.bob).await.is_empty(), "bob sees none of it");
    // by runwire id too; the task id's text finds the task's runs
    let (status, _) = w
        .send(
            &w.service,
            Method::POST,
            "/api/v1/runs",
            Some(new_run(&w.alice_id.to_string())),
        )
        .await;
    assert_eq!(status, 201);
    let (_, found) = w
        .send(&w.alice, Method::GET, "/api/v1/runs?task_id=task_123", None)
        .await;
    assert_eq!(found["runs"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn other_tokens_act_for_their_own_user_and_refusals_store_nothing() {
    let w = world().await;
    // a plain token naming someone else: 403, whether they exist or not
    for other in ["user_456", &w.alice_id.to_string(), "nobody"] {
        let (status, body) = w
            .send(&w.bob, Method::POST, "/api/v1/runs", Some(new_run(other)))
            .await;
        assert_eq!(status, 403, "{other}: {body}");
    }
    // a service token naming no one: 404
    let (status, _) = w
        .send(
            &w.service,
            Method::POST,
            "/api/v1/runs",
            Some(new_run("nobody")),
        )
        .await;
    assert_eq!(status, 404);
    assert!(w.runs_of(&w.alice).await.is_empty());
    assert!(w.runs_of(&w.bob).await.is_empty());
    // naming oneself is fine, by id or by external id
    let (status, _) = w
        .send(
            &w.alice,
            Method::POST,
            "/api/v1/runs",
            Some(new_run(&w.alice_id.to_string())),
        )
        .await;
    assert_eq!(status, 201);
    let (status, body) = w
        .send(
            &w.alice,
            Method::POST,
            "/api/v1/runs",
            Some(new_run("user_456")),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // bob cannot report on alice's run; the service can
    let run = &w.runs_of(&w.alice).await[0];
    let progress = Some(json!({"percent": 50}));
    let path = format!("/api/v1/runs/{}/progress", run.id);
    let (status, _) = w.send(&w.bob, Method::POST, &path, progress.clone()).await;
    assert_eq!(status, 404);
    let (status, _) = w.send(&w.service, Method::POST, &path, progress).await;
    assert_eq!(status, 200);
    // a service token's writes to a run that does not exist: 404
    let missing = format!("/api/v1/runs/{}/progress", uuid::Uuid::new_v4());
    let (status, _) = w
        .send(
            &w.service,
            Method::POST,
            &missing,
            Some(json!({"percent": 5})),
        )
        .await;
    assert_eq!(status, 404);
    // the service token reads nothing: it was given no read scope
    let (status, _) = w.send(&w.service, Method::GET, "/api/v1/runs", None).await;
    assert_eq!(status, 403);
}
