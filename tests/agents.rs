//! Built-in agents: starting them from the /agents form's server function, the worker pool that runs
//! them, cancelling, crashed workers, shutdown, and several processes sharing one queue.

mod common;

use common::PublisherExt;
use common::{fast_agents, TestApp, TestDb};
use runwire::model::{AgentRun, RunEvent, RunEventKind, RunStatus, RunTimeline, UserRole};
use runwire::server::db::{begin_scoped, Principal};
use runwire::server::demo_agent::{queue, AgentRunner, AgentRunnerConfig};
use serde_json::Value;
use std::time::{Duration, Instant};
use uuid::Uuid;

const EMAIL: &str = "agents@example.com";

async fn app_with(config: AgentRunnerConfig) -> (TestApp, reqwest::Client) {
    let app = TestApp::start_with(TestDb::new().await, None, 10_000, config).await;
    app.db.user(EMAIL, UserRole::User).await;
    let client = app.signed_in(EMAIL).await;
    (app, client)
}

/// Posts the /agents form the way the browser's ActionForm does.
async fn trigger(
    app: &TestApp,
    client: &reqwest::Client,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    client
        .post(app.url("/api/trigger_agent_run"))
        .header("accept", "application/json")
        .form(fields)
        .send()
        .await
        .unwrap()
}

async fn start(app: &TestApp, client: &reqwest::Client, agent: &str) -> AgentRun {
    let response = trigger(
        app,
        client,
        &[("agent", agent), ("task", "Summarise the WAL")],
    )
    .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

async fn timeline(app: &TestApp, client: &reqwest::Client, id: Uuid) -> RunTimeline {
    let response = app
        .call(client, "get_run_timeline", serde_json::json!({ "id": id }))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Waits (checking the table, as a test may) until `pred` holds for the run, at most `limit`.
async fn wait_for_run(
    app: &TestApp,
    id: Uuid,
    limit: Duration,
    pred: impl Fn(&AgentRun) -> bool,
) -> AgentRun {
    let deadline = Instant::now() + limit;
    loop {
        let mut tx = begin_scoped(&app.db.pool, Principal::SYSTEM).await.unwrap();
        let run = runwire::server::runs::get(&mut tx, id)
            .await
            .unwrap()
            .unwrap();
        tx.commit().await.unwrap();
        if pred(&run) {
            return run;
        }
        assert!(Instant::now() < deadline, "run never got there: {run:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn job_outcome(app: &TestApp, id: Uuid) -> (Option<String>, Option<String>) {
    sqlx::query_as("SELECT claimed_by, outcome FROM agent_jobs WHERE run_id = $1")
        .bind(id)
        .fetch_one(&mut app.db.owner_conn().await)
        .await
        .unwrap()
}

/// The job's claimant and outcome once it has one, or as it stands after `limit`: the worker marks
/// its job finished in a transaction of its own, just after the run's terminal event (a single
/// read raced it).
async fn finished_job(
    app: &TestApp,
    id: Uuid,
    limit: Duration,
) -> (Option<String>, Option<String>) {
    let deadline = Instant::now() + limit;
    loop {
        let job = job_outcome(app, id).await;
        if job.1.is_some() || Instant::now() > deadline {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    n
}

fn kinds(events: &[RunEvent]) -> Vec<RunEventKind> {
    events.iter().map(|e| e.kind).collect()
}

#[tokio::test]
async fn a_started_agent_walks_its_script_to_completed_through_a_failed_check_and_a_retry() {
    let (app, client) = app_with(fast_agents()).await;
    let run = start(&app, &client, "researcher").await;
    assert_eq!(run.status, RunStatus::Queued);
    assert_eq!(run.agent_name, "researcher");
    assert_eq!(run.task, "Summarise the WAL");

    let done = wait_for_run(&app, run.id, Duration::from_secs(20), |r| {
        r.status.is_terminal()
    })
    .await;
    assert_eq!(done.status, RunStatus::Completed);
    assert_eq!(done.progress_percent, 100.0);
    assert_eq!(done.attempt, 2);
    let checks: Vec<bool> = done
        .verification_evidence
        .iter()
        .map(|v| v.passed)
        .collect();
    assert_eq!(checks, [false, true]);
    let result = done.result.expect("a completed run has a result");
    assert!(
        result["sources"].as_array().is_some_and(|s| !s.is_empty()),
        "{result}"
    );

    let history = timeline(&app, &client, run.id).await;
    let all_kinds = kinds(&history.events);
    let kinds: Vec<RunEventKind> = all_kinds.iter().copied().filter(|k| !k.is_span()).collect();
    assert_eq!(kinds.first(), Some(&RunEventKind::Status)); // queued
    assert_eq!(kinds.last(), Some(&RunEventKind::Completed));
    // the agent traced its work: a root span, LLM and tool calls under it, all ended with the run
    assert_eq!(all_kinds.last(), Some(&RunEventKind::SpanEnded));
    assert!(history.spans.iter().all(|s| !s.is_running()));
    assert!(history
        .spans
        .iter()
        .any(|s| s.kind == runwire::model::SpanKind::Tool));
    assert!(done.tokens_in.is_some_and(|t| t > 0));
    assert!(
        done.cost_usd.is_some_and(|c| c > 0.0),
        "gpt-4o-mini has a price"
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == RunEventKind::Verification)
            .count(),
        2
    );
    let steps: std::collections::BTreeSet<_> = history
        .events
        .iter()
        .filter_map(|e| e.step.clone())
        .collect();
    assert!(steps.len() >= 5, "{steps:?}");
    let statuses: Vec<RunStatus> = history.events.iter().map(|e| e.status).collect();
    for expected in [
        RunStatus::InProgress,
        RunStatus::Verifying,
        RunStatus::Retrying,
    ] {
        assert!(statuses.contains(&expected), "{expected} in {statuses:?}");
    }
    assert!(history.last_event_id > 0);
    let (claimed_by, outcome) = finished_job(&app, run.id, Duration::from_secs(5)).await;
    assert!(claimed_by.unwrap().starts_with(app.agents.instance()));
    assert_eq!(outcome.as_deref(), Some("completed"));
}

#[tokio::test]
async fn a_failing_agent_ends_failed_with_its_error() {
    let mut config = fast_agents();
    config.odds.failure = 1.0;
    let (app, client) = app_with(config).await;
    let run = start(&app, &client, "coder").await;
    let done = wait_for_run(&app, run.id, Duration::from_secs(20), |r| {
        r.status.is_terminal()
    })
    .await;
    assert_eq!(done.status, RunStatus::Failed);
    assert!(done.error.is_some_and(|e| !e.is_empty()));
    assert_eq!(
        finished_job(&app, run.id, Duration::from_secs(5))
            .await
            .1
            .as_deref(),
        Some("failed")
    );
}

#[tokio::test]
async fn bad_requests_name_the_field_and_start_nothing() {
    let (app, client) = app_with(fast_agents()).await;
    let long = "x".repeat(4_001);
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("agent", "coder"), ("task", "")], "task"),
        (&[("agent", "coder"), ("task", "   \n ")], "task"),
        (&[("agent", "coder"), ("task", &long)], "task"),
        (&[("agent", "hacker"), ("task", "do it")], "agent"),
        (
            &[("agent", "coder"), ("task", "do it"), ("task_id", "nope")],
            "task_id",
        ),
    ];
    for (fields, field) in cases {
        let response = trigger(&app, &client, fields).await;
        assert_eq!(response.status(), 422, "{fields:?}");
        let body: Value = response.json().await.unwrap();
        let error = &body["Validation"];
        assert_eq!(error["field"], field, "{body}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let missing = trigger(&app, &client, &[("agent", "coder")]).await;
    assert_eq!(missing.status(), 400);
    let anonymous = trigger(
        &app,
        &common::browser(),
        &[("agent", "coder"), ("task", "x")],
    )
    .await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(count(&app, "agent_runs").await, 0);
    assert_eq!(count(&app, "agent_jobs").await, 0);

    // the longest task the form allows is fine, and the task id is kept
    let task_id = Uuid::new_v4().to_string();
    let longest = "y".repeat(4_000);
    let response = trigger(
        &app,
        &client,
        &[
            ("agent", "reviewer"),
            ("task", &longest),
            ("task_id", &task_id),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let run: AgentRun = response.json().await.unwrap();
    assert_eq!(run.task_id.to_string(), task_id);
}

#[tokio::test]
async fn cancelling_a_run_stops_its_agent_at_once() {
    // real step timings: every pause is at least 300 ms
    let config = AgentRunnerConfig {
        workers: 1,
        speed: 1.0,
        ..fast_agents()
    };
    let (app, client) = app_with(config).await;
    let run = start(&app, &client, "coder").await;
    wait_for_run(&app, run.id, Duration::from_secs(10), |r| {
        r.status == RunStatus::InProgress
    })
    .await;

    let response = app
        .call(&client, "cancel_run", serde_json::json!({ "id": run.id }))
        .await;
    assert_eq!(response.status(), 200);
    let cancelled: AgentRun = response.json().await.unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);

    // The worker lets go well before its current step (>= 300 ms) would have ended.
    let (_, outcome) = finished_job(&app, run.id, Duration::from_secs(2)).await;
    assert!(outcome.is_some(), "the agent kept the run");
    assert_eq!(outcome.as_deref(), Some("ended elsewhere"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let history = timeline(&app, &client, run.id).await;
    assert_eq!(
        kinds(&history.events).last(),
        Some(&RunEventKind::Cancelled)
    );
    assert_eq!(history.run.status, RunStatus::Cancelled);

    // a finished run cannot be cancelled again
    let again = app
        .call(&client, "cancel_run", serde_json::json!({ "id": run.id }))
        .await;
    assert_eq!(again.status(), 409);
    // nor can someone else's run, or a missing one, be touched
    app.db.user("other@example.com", UserRole::User).await;
    let other = app.signed_in("other@example.com").await;
    let theirs = app
        .call(&other, "cancel_run", serde_json::json!({ "id": run.id }))
        .await;
    assert_eq!(theirs.status(), 404);
}

#[tokio::test]
async fn a_run_whose_worker_died_is_timed_out_not_left_running() {
    let config = AgentRunnerConfig {
        workers: 0,
        ..fast_agents()
    };
    let (app, client) = app_with(config).await;
    let run = start(&app, &client, "coder").await;

    // A worker of some other process claims the run, starts it, and dies: its lease runs out.
    let mut tx = begin_scoped(&app.db.pool, Principal::SYSTEM).await.unwrap();
    let job = queue::claim(&mut tx, "dead-host:1:abc/0", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.run_id, run.id);
    tx.commit().await.unwrap();
    let owner = Principal {
        user_id: run.user_id,
        role: UserRole::User,
    };
    runwire::server::publisher::AgentEventPublisher::new(app.db.pool.clone())
        .update_progress(owner, run.id, Some("Planning".into()), 5.0)
        .await
        .unwrap();
    assert_eq!(app.agents.reap().await.unwrap(), 0, "the lease still holds");
    sqlx::query("UPDATE agent_jobs SET lease_until = now() - interval '1 second'")
        .execute(&mut app.db.owner_conn().await)
        .await
        .unwrap();

    assert_eq!(app.agents.reap().await.unwrap(), 1);
    let ended = wait_for_run(&app, run.id, Duration::from_secs(1), |r| {
        r.status.is_terminal()
    })
    .await;
    assert_eq!(ended.status, RunStatus::TimedOut);
    assert!(ended.current_step.unwrap().contains("stopped responding"));
    let (_, outcome) = finished_job(&app, run.id, Duration::from_secs(5)).await;
    assert!(outcome.unwrap().starts_with("Timed out"));
    assert_eq!(
        app.agents.reap().await.unwrap(),
        0,
        "each run is ended once"
    );
}

#[tokio::test]
async fn a_run_no_worker_takes_is_timed_out_after_the_queue_timeout() {
    let config = AgentRunnerConfig {
        workers: 0,
        queue_timeout: Duration::ZERO,
        ..fast_agents()
    };
    let (app, client) = app_with(config).await;
    let run = start(&app, &client, "reviewer").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(app.agents.reap().await.unwrap(), 1);
    let ended = wait_for_run(&app, run.id, Duration::from_secs(1), |r| {
        r.status.is_terminal()
    })
    .await;
    assert_eq!(ended.status, RunStatus::TimedOut);
}

#[tokio::test]
async fn shutting_down_ends_the_runs_in_hand_instead_of_leaving_them_running() {
    let config = AgentRunnerConfig {
        workers: 1,
        speed: 1.0,
        ..fast_agents()
    };
    let (app, client) = app_with(config).await;
    let run = start(&app, &client, "researcher").await;
    wait_for_run(&app, run.id, Duration::from_secs(10), |r| {
        r.status == RunStatus::InProgress
    })
    .await;
    let started = Instant::now();
    app.agents.shutdown(Duration::from_secs(5)).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "workers stop between steps at once"
    );
    let ended = wait_for_run(&app, run.id, Duration::from_secs(1), |r| {
        r.status.is_terminal()
    })
    .await;
    assert_eq!(ended.status, RunStatus::TimedOut);
    assert_eq!(
        finished_job(&app, run.id, Duration::from_secs(5))
            .await
            .1
            .as_deref(),
        Some("abandoned at shutdown")
    );
}

#[tokio::test]
async fn two_workers_never_claim_the_same_run_and_never_wait_on_each_other() {
    let (app, client) = app_with(AgentRunnerConfig {
        workers: 0,
        ..fast_agents()
    })
    .await;
    let first = start(&app, &client, "coder").await;
    let second = start(&app, &client, "coder").await;
    let mut a = begin_scoped(&app.db.pool, Principal::SYSTEM).await.unwrap();
    let mut b = begin_scoped(&app.db.pool, Principal::SYSTEM).await.unwrap();
    let lease = Duration::from_secs(30);
    let claimed_a = queue::claim(&mut a, "a/0", lease).await.unwrap().unwrap();
    // a's claim is not committed yet: b skips the locked row instead of blocking on it
    let claimed_b =
        tokio::time::timeout(Duration::from_secs(5), queue::claim(&mut b, "b/0", lease))
            .await
            .expect("a claim never waits on another worker's lock")
            .unwrap()
            .unwrap();
    assert_eq!(claimed_a.run_id, first.id, "oldest first");
    assert_eq!(claimed_b.run_id, second.id);
    let mut c = begin_scoped(&app.db.pool, Principal::SYSTEM).await.unwrap();
    assert!(queue::claim(&mut c, "c/0", lease).await.unwrap().is_none());
}

#[tokio::test]
async fn runners_in_two_processes_share_one_queue_and_run_each_agent_once() {
    let (app, client) = app_with(fast_agents()).await;
    // a second "process": its own hub and runner on the same database
    let bus = runwire::server::bus::EventBus::start(app.db.pool.clone())
        .await
        .unwrap();
    let other = AgentRunner::new(app.db.pool.clone(), bus, fast_agents());
    other.start();
    let mut runs = Vec::new();
    for _ in 0..8 {
        runs.push(start(&app, &client, "reviewer").await);
    }
    for run in &runs {
        let done = wait_for_run(&app, run.id, Duration::from_secs(30), |r| {
            r.status.is_terminal()
        })
        .await;
        assert_eq!(done.status, RunStatus::Completed);
        let history = timeline(&app, &client, run.id).await;
        let completions = kinds(&history.events)
            .iter()
            .filter(|k| **k == RunEventKind::Completed)
            .count();
        assert_eq!(completions, 1);
        // one script, played once: the first step moves it out of the queue exactly once
        let starts = history
            .events
            .iter()
            .filter(|e| e.status == RunStatus::InProgress && e.kind == RunEventKind::Status)
            .count();
        assert_eq!(
            starts,
            2,
            "start and the restart after the retry: {:?}",
            kinds(&history.events)
        );
    }
    other.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_agents_page_and_run_page_are_server_rendered_with_the_watched_run() {
    let (app, client) = app_with(fast_agents()).await;
    let run = start(&app, &client, "coder").await;
    wait_for_run(&app, run.id, Duration::from_secs(20), |r| {
        r.status.is_terminal()
    })
    .await;
    let page = |path: String| {
        let request = client.get(app.url(&path));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.text().await.unwrap()
        }
    };
    let html = page(format!("/agents?run={}", run.id)).await;
    for expected in [
        "Start an agent",
        "Quick examples",
        "Active agents",
        "How it works",
        r#"class="run-monitor""#,
        r#"data-status="completed""#,
        r#"data-kind="verification""#,
        r#"class="run-card selected""#,
    ] {
        assert!(html.contains(expected), "{expected} missing from {html}");
    }
    let html = page(format!("/runs/{}", run.id)).await;
    assert!(html.contains(r#"class="result-preview""#), "{html}");
    assert!(html.contains("files_changed"));
    let html = page("/runs/not-a-uuid".into()).await;
    assert!(html.contains("That is not a run id"));
}
