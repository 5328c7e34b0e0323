//! The agent REST API against the real router and PostgreSQL: every endpoint, every error code,
//! idempotent retries, all-or-nothing batches, and concurrent writers.

mod common;

use common::api::{api, api_on, api_with_limit, assert_error};
use reqwest::{Method, StatusCode};
use runwire::model::{AgentRun, RunEventKind, RunPage, RunStatus};
use runwire::server::rest::ROUTES;
use serde_json::{json, Value};
use uuid::Uuid;

#[tokio::test]
async fn a_run_walks_through_verification_retry_and_completion() {
    let api = api().await;
    let run = api.start("researcher").await;
    assert_eq!(run.status, RunStatus::InProgress);
    assert!(run.started_at.is_some());
    let base = format!("/api/v1/runs/{}", run.id);
    let steps: Vec<(&str, Value)> = vec![
        ("progress", json!({"percent": 30, "step": "Searching"})),
        ("progress", json!({"percent": 60, "step": "Writing"})),
        (
            "status",
            json!({"status": "awaiting_verification", "step": "Waiting for checks"}),
        ),
        ("status", json!({"status": "verifying"})),
        (
            "verification",
            json!({"passed": false, "evidence": {"failing": ["citations"]}}),
        ),
        (
            "status",
            json!({"status": "retrying", "step": "Fixing citations"}),
        ),
        ("status", json!({"status": "in_progress"})),
        ("progress", json!({"percent": 20, "step": "Rewriting"})),
        ("status", json!({"status": "awaiting_verification"})),
        ("status", json!({"status": "verifying"})),
        (
            "complete",
            json!({"result": {"summary": "done"}, "evidence": {"checks": "all green"}}),
        ),
    ];
    for (endpoint, body) in steps {
        let (status, answer) = api.post(&format!("{base}/{endpoint}"), body).await;
        assert_eq!(status, 200, "{endpoint}: {answer}");
    }
    let done = api.run(run.id).await;
    assert_eq!(done.status, RunStatus::Completed);
    assert_eq!(done.progress_percent, 100.0);
    assert_eq!(done.attempt, 2);
    assert_eq!(done.result, Some(json!({"summary": "done"})));
    assert_eq!(
        done.verification_evidence
            .iter()
            .map(|v| (v.attempt, v.passed))
            .collect::<Vec<_>>(),
        vec![(1, false), (2, true)]
    );
    assert!(done.completed_at.is_some());
    let events = api.events(run.id).await;
    assert_eq!(events.len(), 12);
    assert_eq!(events[0].kind, RunEventKind::Started);
    assert_eq!(events[5].kind, RunEventKind::Verification);
    assert_eq!(events[11].kind, RunEventKind::Completed);
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    // the single-run and legacy reads agree
    let (status, legacy) = api.get(&format!("/api/agents/run/{}", run.id)).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_value::<AgentRun>(legacy).unwrap(), done);
}

#[tokio::test]
async fn a_run_awaiting_verification_completes_or_fails_straight_away() {
    // the flow of the system runwire replaces: no `verifying` step between
    let api = api().await;
    for (end, body, status) in [
        (
            "complete",
            json!({"result": {"answer": 42}}),
            RunStatus::Completed,
        ),
        (
            "fail",
            json!({"error": "checks never came"}),
            RunStatus::Failed,
        ),
    ] {
        let run = api.start("orchestrator").await;
        let base = format!("/api/v1/runs/{}", run.id);
        let (code, answer) = api
            .post(
                &format!("{base}/progress"),
                json!({"percent": 20, "step": "Routing task"}),
            )
            .await;
        assert_eq!(code, 200, "{answer}");
        let (code, answer) = api
            .post(
                &format!("{base}/status"),
                json!({"status": "awaiting_verification", "step": "Verifying"}),
            )
            .await;
        assert_eq!(code, 200, "{answer}");
        let (code, answer) = api.post(&format!("{base}/{end}"), body).await;
        assert_eq!(code, 200, "{end}: {answer}");
        assert_eq!(api.run(run.id).await.status, status);
    }
}

#[tokio::test]
async fn every_error_code_is_json_and_changes_nothing() {
    let api = api().await;
    let run = api.start("coder").await;
    let base = format!("/api/v1/runs/{}", run.id);

    // 400: malformed JSON, bad UUID, unknown field, non-object body
    let response = common::agent()
        .post(api.app.url(&format!("{base}/progress")))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_error(status, &response.json().await.unwrap(), 400, "bad_request");
    let (status, body) = api
        .post("/api/v1/runs/not-a-uuid/progress", json!({"percent": 1}))
        .await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = api
        .post(
            &format!("{base}/progress"),
            json!({"percent": 1, "user_id": "x"}),
        )
        .await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = api.post(&format!("{base}/progress"), json!([1, 2])).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = api.get("/api/v1/runs?colour=red").await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = api.get("/api/v1/runs?cursor=garbage").await;
    assert_error(status, &body, 400, "bad_request");

    // 401: no token, unknown token
    let response = common::agent()
        .get(api.app.url("/api/v1/runs"))
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_error(status, &response.json().await.unwrap(), 401, "unauthorized");
    let (status, body) = api
        .send_as("rw_nope", Method::GET, "/api/v1/runs", None, None)
        .await;
    assert_error(status, &body, 401, "unauthorized");

    // 404: unknown run, and another user's run (indistinguishable)
    let (status, body) = api
        .post(
            &format!("/api/v1/runs/{}/progress", Uuid::new_v4()),
            json!({"percent": 5}),
        )
        .await;
    assert_error(status, &body, 404, "not_found");
    for (method, path, body) in [
        (Method::GET, base.clone(), None),
        (Method::GET, format!("{base}/events"), None),
        (
            Method::POST,
            format!("{base}/progress"),
            Some(json!({"percent": 50})),
        ),
        (Method::POST, format!("{base}/cancel"), Some(json!({}))),
    ] {
        let (status, answer) = api
            .send_as(&api.other_token, method, &path, body, None)
            .await;
        assert_error(status, &answer, 404, "not_found");
    }

    // 422: out of range, backwards, bad status name
    let (status, body) = api
        .post(&format!("{base}/progress"), json!({"percent": 150}))
        .await;
    assert_error(status, &body, 422, "validation");
    assert_eq!(body["field"], "percent");
    api.post(&format!("{base}/progress"), json!({"percent": 40}))
        .await;
    let (status, body) = api
        .post(&format!("{base}/progress"), json!({"percent": 10}))
        .await;
    assert_error(status, &body, 422, "validation");
    let (status, body) = api.get("/api/v1/runs?status=exploded").await;
    assert_error(status, &body, 422, "validation");
    let (status, body) = api
        .post("/api/v1/runs", json!({"agent_name": "", "task": "x"}))
        .await;
    assert_error(status, &body, 422, "validation");

    // 409: illegal transition
    let (status, body) = api
        .post(&format!("{base}/status"), json!({"status": "pending"}))
        .await;
    assert_error(status, &body, 409, "conflict");

    // 413: a result over 256 KiB, a body over 1 MiB
    let big = "x".repeat(300 * 1024);
    let (status, body) = api
        .post(&format!("{base}/complete"), json!({"result": big}))
        .await;
    assert_error(status, &body, 413, "payload_too_large");
    let huge = "x".repeat(1_100_000);
    let (status, body) = api
        .post(&format!("{base}/fail"), json!({"error": huge}))
        .await;
    assert_error(status, &body, 413, "payload_too_large");

    // None of that changed the run: progress 40 from the one good update, still running.
    let unchanged = api.run(run.id).await;
    assert_eq!(
        (unchanged.status, unchanged.progress_percent),
        (RunStatus::InProgress, 40.0)
    );
    assert_eq!(api.events(run.id).await.len(), 2);

    // 409: a finished run accepts nothing
    api.post(&format!("{base}/fail"), json!({"error": "boom"}))
        .await;
    let (status, body) = api
        .post(&format!("{base}/progress"), json!({"percent": 90}))
        .await;
    assert_error(status, &body, 409, "conflict");
    assert!(body["error"].as_str().unwrap().contains("already failed"));
}

#[tokio::test]
async fn too_many_requests_per_token_get_429_with_retry_after() {
    let api = api_with_limit(5).await;
    let mut statuses = vec![];
    for _ in 0..8 {
        statuses.push(api.get("/api/v1/runs").await.0.as_u16());
    }
    assert_eq!(&statuses[..5], &[200; 5]);
    assert!(statuses[5..].contains(&429), "{statuses:?}");
    let response = common::agent()
        .get(api.app.url("/api/v1/runs"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    if response.status() == 429 {
        assert!(response.headers().contains_key("retry-after"));
    }
    // another token has its own budget
    let (status, _) = api
        .send_as(&api.other_token, Method::GET, "/api/v1/runs", None, None)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_retried_write_with_the_same_key_is_done_once() {
    let api = api().await;
    let body = json!({"agent_name": "idem", "task": "only once"});
    let first = api
        .send(
            Method::POST,
            "/api/v1/runs",
            Some(body.clone()),
            Some("start-1"),
        )
        .await;
    let second = api
        .send(
            Method::POST,
            "/api/v1/runs",
            Some(body.clone()),
            Some("start-1"),
        )
        .await;
    assert_eq!(first.0, 201);
    assert_eq!(second, first, "the same answer, byte for byte");
    let (_, page) = api.get("/api/v1/runs?agent=idem").await;
    assert_eq!(page["runs"].as_array().unwrap().len(), 1);

    let run: AgentRun = serde_json::from_value(first.1).unwrap();
    let path = format!("/api/v1/runs/{}/progress", run.id);
    // concurrent duplicates: one applies, the rest replay it
    let mut handles = vec![];
    for _ in 0..8 {
        let client = common::agent();
        let url = api.app.url(&path);
        let token = api.token.clone();
        handles.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", "progress-50")
                .json(&json!({"percent": 50}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for handle in handles {
        assert_eq!(handle.await.unwrap(), 200);
    }
    assert_eq!(api.events(run.id).await.len(), 2, "started + one progress");

    // the same key with another request is a client error, and writes nothing
    let (status, answer) = api
        .send(
            Method::POST,
            &path,
            Some(json!({"percent": 60})),
            Some("progress-50"),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(api.run(run.id).await.progress_percent, 50.0);
    // keys belong to their user: B's identical key is B's own
    let (status, answer) = api
        .send_as(
            &api.other_token,
            Method::POST,
            "/api/v1/runs",
            Some(body),
            Some("start-1"),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    // malformed keys are refused
    let long_key = "k".repeat(201);
    let (status, _) = api
        .send(
            Method::POST,
            &path,
            Some(json!({"percent": 70})),
            Some(&long_key),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_batch_is_all_or_nothing() {
    let api = api().await;
    let run = api.start("batcher").await;
    let path = format!("/api/v1/runs/{}/events", run.id);
    let bad = json!({"updates": [
        {"type": "progress", "percent": 10},
        {"type": "progress", "percent": 20},
        {"type": "status", "status": "queued"}
    ]});
    let (status, body) = api.post(&path, bad).await;
    assert_error(status, &body, 409, "conflict");
    assert_eq!(api.run(run.id).await.progress_percent, 0.0);
    assert_eq!(api.events(run.id).await.len(), 1);

    let good = json!({"updates": [
        {"type": "progress", "percent": 10, "step": "a"},
        {"type": "progress", "percent": 20, "step": "b"},
        {"type": "status", "status": "awaiting_verification"},
        {"type": "status", "status": "verifying"},
        {"type": "verification", "passed": true, "evidence": "ok"},
        {"type": "complete", "result": {"n": 1}}
    ]});
    let (status, body) = api.post(&path, good).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "completed");
    let events = api.events(run.id).await;
    assert_eq!(events.len(), 7);
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds[1..3],
        [RunEventKind::Progress, RunEventKind::Progress]
    );
    assert_eq!(events[2].step.as_deref(), Some("b"));

    let (status, body) = api.post(&path, json!({"updates": []})).await;
    assert_error(status, &body, 422, "validation");
}

#[tokio::test]
async fn fifty_concurrent_writers_lose_and_double_nothing() {
    let api = api().await;
    let mut runs = vec![];
    for i in 0..50 {
        runs.push(api.start(&format!("worker-{i}")).await.id);
    }
    let mut handles = vec![];
    for run in runs.clone() {
        let url = api.app.url(&format!("/api/v1/runs/{run}/progress"));
        let token = api.token.clone();
        handles.push(tokio::spawn(async move {
            let client = common::agent();
            for percent in 1..=100 {
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"percent": percent, "step": format!("step {percent}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    for run in runs {
        let row = api.run(run).await;
        assert_eq!(row.progress_percent, 100.0);
        assert_eq!(row.current_step.as_deref(), Some("step 100"));
    }
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM agent_run_events")
        .fetch_one(&mut api.app.db.owner_conn().await)
        .await
        .unwrap();
    assert_eq!(total, 50 * 101);
}

#[tokio::test]
async fn listing_filters_and_pages_without_gaps_or_repeats() {
    let api = api().await;
    for i in 0..25 {
        let run = api.start(if i % 2 == 0 { "even" } else { "odd" }).await;
        if i % 5 == 0 {
            api.post(
                &format!("/api/v1/runs/{}/fail", run.id),
                json!({"error": "nope"}),
            )
            .await;
        }
    }
    let (_, page) = api.get("/api/v1/runs?agent=even&limit=100").await;
    assert_eq!(page["runs"].as_array().unwrap().len(), 13);
    let (_, page) = api.get("/api/v1/runs?status=failed,completed").await;
    assert_eq!(page["runs"].as_array().unwrap().len(), 5);
    let (_, page) = api.get("/api/v1/runs?active=true&limit=200").await;
    assert_eq!(page["runs"].as_array().unwrap().len(), 20);

    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/runs?limit=7&cursor={c}"),
            None => "/api/v1/runs?limit=7".to_owned(),
        };
        let (status, body) = api.get(&path).await;
        assert_eq!(status, 200);
        let page: RunPage = serde_json::from_value(body).unwrap();
        seen.extend(page.runs.iter().map(|r| r.id));
        // runs started between pages are newer than the cursor: they never shift later pages
        api.start("latecomer").await;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no repeats");
    assert_eq!(seen.len(), 25, "no gaps");
}

#[tokio::test]
async fn legacy_paths_work_and_never_take_a_user_from_the_client() {
    let api = api().await;
    let (status, body) = api
        .post(
            "/api/agents/run",
            json!({"agent_name": "legacy", "task": "old client"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mine: AgentRun = serde_json::from_value(body).unwrap();
    let (_, other) = api
        .send_as(
            &api.other_token,
            Method::POST,
            "/api/agents/run",
            Some(json!({"agent_name": "b", "task": "b's"})),
            None,
        )
        .await;
    let (status, active) = api.get("/api/agents/active").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = active["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![mine.id.to_string()]);
    let (status, body) = api
        .get(&format!(
            "/api/agents/active?user_id={}",
            other["user_id"].as_str().unwrap()
        ))
        .await;
    assert_error(status, &body, 400, "bad_request");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("user_id is not accepted"));
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes_and_each_answers() {
    // with metrics served on the app's address, as /metrics is documented
    let api = api_on(|db| {
        common::TestApp::start_configured(db, None, |state| {
            state.metrics_token = Some(std::sync::Arc::from("metrics-token"));
        })
    })
    .await;
    let (status, doc) = api.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    documented.sort();
    let mut routes: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    routes.sort();
    assert_eq!(documented, routes);

    let run = api.start("probe").await;
    for (method, path) in ROUTES {
        let path = path.replace("{id}", &run.id.to_string());
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, body) = api.send(method.clone(), &path, Some(json!({})), None).await;
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {status} {body}"
        );
    }
}
