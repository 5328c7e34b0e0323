//! Scheduled jobs on fixtures, with an injected clock (no test waits for a schedule): cleanup,
//! daily report, health check, once-only firing across instances, the cron endpoint, /health and
//! /ready, and failure alerts with retries against a local webhook receiver.

mod common;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Json;
use chrono::{DateTime, Duration, TimeZone, Utc};
use common::PublisherExt;
use common::{fast_agents, principal, FixedClock, TestApp, TestDb, CRON_SECRET};
use runwire::model::{AgentRun, CurrentUser, JobName, JobRun, RunStatus, UserRole};
use runwire::server::db::{begin_scoped, Principal};
use runwire::server::jobs::alerts::{AlertConfig, Alerter};
use runwire::server::jobs::{store, JobsConfig, Trigger};
use runwire::server::publisher::AgentEventPublisher;
use runwire::server::seed::{self, SeedRun};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
}

async fn app_at(now: DateTime<Utc>) -> TestApp {
    TestApp::start_at(TestDb::new().await, now).await
}

/// A run created at `created` that ran `took` (None: still running).
async fn seed(
    app: &TestApp,
    user: &CurrentUser,
    agent: &str,
    status: RunStatus,
    created: DateTime<Utc>,
    took: Option<i64>,
) -> Uuid {
    let mut tx = app.db.scoped(user).await;
    let id = seed::insert_seed(
        &mut tx,
        &SeedRun {
            agent_name: agent,
            task: "fixture",
            status,
            progress_percent: 50.0,
            current_step: None,
            result: None,
            error: None,
            created_at: created,
            started_at: Some(created),
            completed_at: took.map(|s| created + Duration::seconds(s)),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&mut app.db.owner_conn().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn cleanup_removes_exactly_the_old_finished_runs_in_batches_and_keeps_active_ones() {
    let now = at(20, 2);
    let app = app_at(now).await;
    let user = app.db.user("clean@example.com", UserRole::User).await;
    let old = now - Duration::days(45);
    let gone = [
        seed(&app, &user, "a", RunStatus::Completed, old, Some(10)).await,
        seed(&app, &user, "a", RunStatus::Failed, old, Some(10)).await,
        seed(
            &app,
            &user,
            "a",
            RunStatus::TimedOut,
            old - Duration::days(300),
            Some(5),
        )
        .await,
    ];
    let kept = [
        // running for 60 days: active runs stay whatever their age
        seed(
            &app,
            &user,
            "a",
            RunStatus::InProgress,
            now - Duration::days(60),
            None,
        )
        .await,
        seed(
            &app,
            &user,
            "a",
            RunStatus::Queued,
            now - Duration::days(90),
            None,
        )
        .await,
        // finished 29 days ago: inside the retention
        seed(
            &app,
            &user,
            "a",
            RunStatus::Completed,
            now - Duration::days(29),
            Some(1),
        )
        .await,
    ];
    let config = JobsConfig {
        cleanup_batch: 2,
        ..Default::default()
    };
    let run = app
        .scheduler_at(now, config)
        .await
        .fire(JobName::CleanupOldRuns, now, Trigger::Schedule)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.outcome, "succeeded", "{}", run.details);
    assert_eq!(run.details["runs_deleted"], 3);
    assert_eq!(run.details["batches"], 2, "two batches of at most 2");
    let left: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM agent_runs ORDER BY created_at")
        .fetch_all(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    let mut expected = kept.to_vec();
    expected.sort_by_key(|id| left.iter().position(|l| l == id));
    assert_eq!(left.len(), 3);
    for id in kept {
        assert!(left.contains(&id));
    }
    for id in gone {
        let events: i64 =
            sqlx::query_scalar("SELECT count(*) FROM agent_run_events WHERE run_id = $1")
                .bind(id)
                .fetch_one(&mut app.db.owner_conn().await)
                .await
                .unwrap();
        assert_eq!(events, 0, "a deleted run's events go with it");
    }
    // the totals follow the deletion
    assert_eq!(
        count(&app, "SELECT sum(total)::bigint FROM run_rollup_hourly").await,
        3
    );
}

#[tokio::test]
async fn the_daily_report_has_exact_numbers_for_yesterday_per_user() {
    let now = at(10, 9);
    let app = app_at(now).await;
    let a = app.db.user("report-a@example.com", UserRole::User).await;
    let b = app.db.user("report-b@example.com", UserRole::User).await;
    let yesterday = |hour| at(9, hour);
    seed(
        &app,
        &a,
        "writer",
        RunStatus::Completed,
        yesterday(1),
        Some(10),
    )
    .await;
    seed(
        &app,
        &a,
        "writer",
        RunStatus::Completed,
        yesterday(5),
        Some(20),
    )
    .await;
    seed(
        &app,
        &a,
        "coder",
        RunStatus::Completed,
        yesterday(23),
        Some(30),
    )
    .await;
    seed(&app, &a, "coder", RunStatus::Failed, yesterday(2), Some(40)).await;
    seed(&app, &a, "coder", RunStatus::Failed, yesterday(3), Some(50)).await;
    seed(
        &app,
        &a,
        "reviewer",
        RunStatus::Failed,
        yesterday(4),
        Some(60),
    )
    .await;
    seed(
        &app,
        &a,
        "reviewer",
        RunStatus::Cancelled,
        yesterday(6),
        Some(70),
    )
    .await;
    seed(
        &app,
        &a,
        "writer",
        RunStatus::InProgress,
        yesterday(7),
        None,
    )
    .await;
    // not yesterday: the day before, and today
    seed(&app, &a, "coder", RunStatus::Failed, at(8, 23), Some(1)).await;
    seed(&app, &a, "coder", RunStatus::Failed, at(10, 0), Some(1)).await;
    seed(
        &app,
        &b,
        "solo",
        RunStatus::Completed,
        yesterday(12),
        Some(8),
    )
    .await;

    let run = app
        .jobs
        .fire(JobName::DailyReport, now, Trigger::Schedule)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.outcome, "succeeded", "{}", run.details);
    assert_eq!(run.details, json!({ "day": "2026-03-09", "users": 2 }));

    let mut tx = app.db.scoped(&a).await;
    let reports = store::recent_reports(&mut tx, 10).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(reports.len(), 1, "A sees only A's report");
    let r = &reports[0];
    assert_eq!(r.day.to_string(), "2026-03-09");
    assert_eq!(
        (r.total, r.completed, r.failed, r.cancelled, r.timed_out),
        (8, 3, 3, 1, 0)
    );
    assert_eq!(r.success_rate(), Some(3.0 / 7.0));
    assert_eq!(r.avg_duration_seconds, Some(280.0 / 7.0));
    assert_eq!(
        r.top_failing,
        json!([
            { "agent": "coder", "failed": 2, "finished": 3 },
            { "agent": "reviewer", "failed": 1, "finished": 2 },
        ])
    );
    let mut tx = app.db.scoped(&b).await;
    let reports = store::recent_reports(&mut tx, 10).await.unwrap();
    assert_eq!((reports[0].total, reports[0].completed), (1, 1));
    assert_eq!(reports[0].top_failing, json!([]));
    tx.commit().await.unwrap();
    // running it again for the same day rewrites, never doubles
    let again = app
        .jobs
        .fire(
            JobName::DailyReport,
            now + Duration::minutes(1),
            Trigger::Http,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.outcome, "succeeded");
    assert_eq!(count(&app, "SELECT count(*) FROM daily_reports").await, 2);
}

#[tokio::test]
async fn the_health_check_times_the_database_and_a_probe_through_the_live_bus() {
    let now = Utc::now();
    let app = app_at(now).await;
    let run = app
        .jobs
        .fire(JobName::HealthCheck, now, Trigger::Schedule)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.outcome, "succeeded", "{}", run.details);
    assert_eq!(run.details["healthy"], true, "{}", run.details);
    let lag = run.details["bus_lag_ms"]
        .as_f64()
        .expect("the probe arrived");
    assert!(lag > 0.0 && lag < 2_000.0, "{lag}");
    assert!(run.details["db_latency_ms"].as_f64().unwrap() > 0.0);
    let mut tx = begin_scoped(&app.db.pool, Principal::SYSTEM).await.unwrap();
    let samples = store::recent_health(&mut tx, 5).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(samples.len(), 1);
    assert!(samples[0].healthy);
    assert!(
        (samples[0].taken_at - now).num_milliseconds().abs() < 1,
        "taken at the clock's time"
    );
}

#[tokio::test]
async fn two_instances_firing_together_run_the_job_once() {
    let now = at(20, 2);
    let app = app_at(now).await;
    let user = app.db.user("once@example.com", UserRole::User).await;
    seed(
        &app,
        &user,
        "a",
        RunStatus::Completed,
        now - Duration::days(40),
        Some(1),
    )
    .await;
    let first = app.scheduler_at(now, JobsConfig::default()).await;
    let second = app.scheduler_at(now, JobsConfig::default()).await;
    let (a, b) = tokio::join!(
        first.fire(JobName::CleanupOldRuns, now, Trigger::Schedule),
        second.fire(JobName::CleanupOldRuns, now, Trigger::Schedule),
    );
    let ran: Vec<JobRun> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(ran.len(), 1, "exactly one instance ran the firing");
    assert_eq!(ran[0].details["runs_deleted"], 1);
    assert_eq!(count(&app, "SELECT count(*) FROM job_runs").await, 1);
    // the same firing, later, on any instance: already done
    assert!(first
        .fire(JobName::CleanupOldRuns, now, Trigger::Schedule)
        .await
        .unwrap()
        .is_none());
    // the next firing runs
    let next = now + Duration::days(1);
    assert!(second
        .fire(JobName::CleanupOldRuns, next, Trigger::Schedule)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn the_cron_endpoint_needs_the_secret_and_is_off_without_one() {
    let app = app_at(Utc::now()).await;
    let call = |job: &str, auth: Option<&str>| {
        let mut request = common::agent().post(app.url(&format!("/api/cron/{job}")));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Bearer test-cron-secre"),
        Some(CRON_SECRET),
    ] {
        let response = call("health-check", auth).await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].as_str().is_some());
    }
    let response = call("health-check", Some(&format!("Bearer {CRON_SECRET}")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let run: JobRun = response.json().await.unwrap();
    assert_eq!(
        (run.job.as_str(), run.trigger.as_str(), run.outcome.as_str()),
        ("health-check", "http", "succeeded")
    );
    let unknown = call("format-disk", Some(&format!("Bearer {CRON_SECRET}")))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let closed = TestApp::start_with_jobs(
        TestDb::new().await,
        None,
        10_000,
        fast_agents(),
        None,
        Arc::new(FixedClock(Utc::now())),
    )
    .await;
    let response = common::agent()
        .post(closed.url("/api/cron/health-check"))
        .header("authorization", "Bearer anything")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("CRON_SECRET"));
}

#[tokio::test]
async fn health_and_ready_report_liveness_and_readiness() {
    let app = app_at(Utc::now()).await;
    let health = common::agent()
        .get(app.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = common::agent().get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["migrations"]["ok"], true);
    assert_eq!(body["bus"], true);
    // a database that misses this binary's newest migration is not ready
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .execute(&mut app.db.owner_conn().await)
    .await
    .unwrap();
    let ready = common::agent().get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["migrations"]["ok"], false, "{body}");
}

/// A webhook receiver that answers 500 to the first `failures` requests, then 200.
async fn receiver(failures: usize) -> (String, Arc<Mutex<Vec<Value>>>, Arc<AtomicUsize>) {
    #[derive(Clone)]
    struct Inbox(Arc<Mutex<Vec<Value>>>, Arc<AtomicUsize>, usize);
    async fn take(State(inbox): State<Inbox>, Json(body): Json<Value>) -> StatusCode {
        let n = inbox.1.fetch_add(1, Ordering::SeqCst);
        if n < inbox.2 {
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
        inbox.0.lock().unwrap().push(body);
        StatusCode::OK
    }
    let received = Arc::new(Mutex::new(Vec::new()));
    let attempts = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route("/hook", post(take))
        .with_state(Inbox(received.clone(), attempts.clone(), failures));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received, attempts)
}

fn alert_config(url: &str) -> AlertConfig {
    AlertConfig {
        webhook: Some(url.to_owned()),
        first_backoff: std::time::Duration::from_millis(10),
        min_finished: 3,
        ..Default::default()
    }
}

#[tokio::test]
async fn an_alert_is_retried_until_the_receiver_takes_it() {
    let (url, received, attempts) = receiver(2).await;
    let alerter = Alerter::new(alert_config(&url));
    assert_eq!(alerter.send(&json!({ "text": "hello" })).await.unwrap(), 3);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    assert_eq!(*received.lock().unwrap(), vec![json!({ "text": "hello" })]);

    let (url, received, attempts) = receiver(usize::MAX).await;
    let alerter = Alerter::new(alert_config(&url));
    let err = alerter.send(&json!({ "text": "lost" })).await.unwrap_err();
    assert_eq!(err.attempts, 4);
    assert!(err.last_error.contains("500"), "{err}");
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
    assert!(received.lock().unwrap().is_empty());
}

#[tokio::test]
async fn failed_runs_and_a_high_failure_rate_are_alerted() {
    let (url, received, _) = receiver(1).await;
    let app = app_at(Utc::now()).await;
    let user = app.db.user("alerts@example.com", UserRole::User).await;
    let alerter = Alerter::new(alert_config(&url));
    let bus = runwire::server::bus::EventBus::start(app.db.pool.clone())
        .await
        .unwrap();
    alerter.start(bus, app.db.pool.clone());
    let publisher = AgentEventPublisher::new(app.db.pool.clone());
    let who = principal(&user);
    let mut failed: Vec<AgentRun> = Vec::new();
    for n in 0..3 {
        let run = publisher
            .start_run(who, None, "flaky-agent", &format!("task {n}"))
            .await
            .unwrap();
        failed.push(
            publisher
                .fail_run(who, run.id, "upstream returned HTTP 503")
                .await
                .unwrap(),
        );
    }
    let done = publisher
        .start_run(who, None, "steady-agent", "fine")
        .await
        .unwrap();
    publisher
        .complete_run(who, done.id, None, None)
        .await
        .unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let texts: Vec<String> = received
            .lock()
            .unwrap()
            .iter()
            .map(|b| b["text"].as_str().unwrap_or("").to_owned())
            .collect();
        let failures = texts
            .iter()
            .filter(|t| t.contains("failed: upstream returned HTTP 503"))
            .count();
        let rates = texts
            .iter()
            .filter(|t| t.contains("failed 3 of its last 3 runs"))
            .count();
        if failures >= 3 && rates >= 1 {
            // give a duplicate time to show up, then insist there is none
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let texts: Vec<String> = received
                .lock()
                .unwrap()
                .iter()
                .map(|b| b["text"].as_str().unwrap_or("").to_owned())
                .collect();
            assert_eq!(
                texts.len(),
                4,
                "three failures and one rate alert: {texts:?}"
            );
            assert!(texts.iter().all(|t| t.contains("flaky-agent")), "{texts:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "alerts so far: {texts:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // a Slack-compatible body
    let first = received.lock().unwrap()[0].clone();
    assert_eq!(first["attachments"][0]["color"], "danger");
    assert!(first["attachments"][0]["fields"].as_array().unwrap().len() >= 3);
    let _ = failed;
}

#[tokio::test]
async fn the_system_page_is_for_admins_and_users_see_their_own_reports() {
    let now = at(10, 9);
    let app = app_at(now).await;
    app.db.user("root@example.com", UserRole::Admin).await;
    let user = app.db.user("someone@example.com", UserRole::User).await;
    seed(&app, &user, "coder", RunStatus::Failed, at(9, 12), Some(3)).await;
    app.jobs
        .fire(JobName::DailyReport, now, Trigger::Schedule)
        .await
        .unwrap();
    app.jobs
        .fire(JobName::CleanupOldRuns, now, Trigger::Schedule)
        .await
        .unwrap();

    let admin = app.signed_in("root@example.com").await;
    let response = app.call(&admin, "system_overview", json!({})).await;
    assert_eq!(response.status(), 200);
    let overview: runwire::model::SystemOverview = response.json().await.unwrap();
    let jobs: Vec<&str> = overview.job_runs.iter().map(|r| r.job.as_str()).collect();
    assert_eq!(jobs, ["cleanup-old-runs", "daily-report"]);
    assert_eq!(overview.reports.len(), 1);
    assert_eq!(overview.schedules.len(), 3);
    let html = admin
        .get(app.url("/system"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Job history") && html.contains("cleanup-old-runs"),
        "{html}"
    );

    let client = app.signed_in("someone@example.com").await;
    let response = app.call(&client, "system_overview", json!({})).await;
    assert_eq!(response.status(), 404);
    let html = client
        .get(app.url("/system"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("This page is for administrators"));
    let reports: Vec<runwire::model::DailyReport> = app
        .call(&client, "daily_reports", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].failed, 1);
    let html = client
        .get(app.url("/dashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"data-day="2026-03-09""#), "{html}");
}
