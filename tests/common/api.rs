//! The REST API as an agent calls it: two users with a read-write token each, and helpers that
//! send a request and read the JSON answer.

use super::{agent, TestApp, TestDb};
use reqwest::{Method, StatusCode};
use runwire::model::{AgentRun, RunEvent, UserRole};
use runwire::server::auth::tokens;
use serde_json::{json, Value};
use uuid::Uuid;

pub struct Api {
    pub app: TestApp,
    pub token: String,
    pub other_token: String,
}

pub async fn api_with_limit(burst: u32) -> Api {
    api_on(|db| TestApp::start_with_limit(db, None, burst)).await
}

/// The two agents' tokens on a database of their own, served by the app `start` makes of it.
pub async fn api_on<F, Fut>(start: F) -> Api
where
    F: FnOnce(TestDb) -> Fut,
    Fut: std::future::Future<Output = TestApp>,
{
    let db = TestDb::new().await;
    let a = db.user("agent-a@example.com", UserRole::User).await;
    let b = db.user("agent-b@example.com", UserRole::User).await;
    let (_, token) = tokens::create(&db.pool, &a, &tokens::NewToken::read_write("a"))
        .await
        .unwrap();
    let (_, other_token) = tokens::create(&db.pool, &b, &tokens::NewToken::read_write("b"))
        .await
        .unwrap();
    Api {
        app: start(db).await,
        token,
        other_token,
    }
}

pub async fn api() -> Api {
    api_with_limit(10_000).await
}

impl Api {
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        self.send_as(&self.token, method, path, body, key).await
    }

    pub async fn send_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = agent()
            .request(method, self.app.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body), None).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None, None).await
    }

    pub async fn start(&self, agent: &str) -> AgentRun {
        let (status, body) = self
            .post(
                "/api/v1/runs",
                json!({"agent_name": agent, "task": "do the thing"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        serde_json::from_value(body).unwrap()
    }

    pub async fn events(&self, run: Uuid) -> Vec<RunEvent> {
        let (status, body) = self.get(&format!("/api/v1/runs/{run}/events")).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_value(body["events"].clone()).unwrap()
    }

    pub async fn run(&self, id: Uuid) -> AgentRun {
        let (status, body) = self.get(&format!("/api/v1/runs/{id}")).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_value(body).unwrap()
    }
}

pub fn assert_error(status: StatusCode, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status.as_u16(), expected_status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
}
