//! The dashboard's server side: totals and trend from the rollup (exact numbers on a fixture),
//! search, filters, keyset pages in every order while runs arrive, streamed export, bad input.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::PublisherExt;
use common::{principal, TestApp, TestDb};
use runwire::model::{
    AgentRun, CurrentUser, DashboardSummary, RunPage, RunSort, RunStatus, StatsWindow, UserRole,
};
use runwire::server::publisher::AgentEventPublisher;
use runwire::server::seed::{self, SeedRun};
use serde_json::{json, Value};
use std::collections::HashSet;
use uuid::Uuid;

const EMAIL: &str = "dash@example.com";

async fn app() -> (TestApp, reqwest::Client, CurrentUser) {
    let app = TestApp::start(TestDb::new().await, None).await;
    let user = app.db.user(EMAIL, UserRole::User).await;
    let client = app.signed_in(EMAIL).await;
    (app, client, user)
}

struct Fixture {
    agent: &'static str,
    task: &'static str,
    step: Option<&'static str>,
    status: RunStatus,
    /// how long before now it was created
    age: Duration,
    /// how long it ran, for finished runs
    took: Option<Duration>,
}

async fn insert(app: &TestApp, user: &CurrentUser, runs: &[Fixture]) -> Vec<Uuid> {
    let now = Utc::now();
    let mut tx = app.db.scoped(user).await;
    let mut ids = Vec::new();
    for run in runs {
        let created: DateTime<Utc> = now - run.age;
        let started = created + Duration::seconds(1);
        ids.push(
            seed::insert_seed(
                &mut tx,
                &SeedRun {
                    agent_name: run.agent,
                    task: run.task,
                    status: run.status,
                    progress_percent: if run.status == RunStatus::Completed {
                        100.0
                    } else {
                        10.0
                    },
                    current_step: run.step,
                    result: None,
                    error: None,
                    created_at: created,
                    started_at: Some(started),
                    completed_at: run.took.map(|took| started + took),
                },
            )
            .await
            .unwrap(),
        );
    }
    tx.commit().await.unwrap();
    ids
}

fn fixture() -> Vec<Fixture> {
    let f = |agent, task, step, status, hours: i64, took: Option<i64>| Fixture {
        agent,
        task,
        step,
        status,
        age: Duration::hours(hours) + Duration::minutes(5),
        took: took.map(Duration::seconds),
    };
    use RunStatus::*;
    vec![
        f(
            "coder",
            "Fix the 100% CPU_bug in the exporter",
            Some("Running cargo test"),
            Completed,
            1,
            Some(10),
        ),
        f(
            "coder",
            "Add pagination to /runs",
            Some("Editing src/runs.rs"),
            Failed,
            2,
            Some(20),
        ),
        f(
            "researcher",
            "Compare WAL designs",
            Some("Reading 4 sources"),
            InProgress,
            3,
            None,
        ),
        f(
            "researcher",
            "Survey speculative decoding",
            None,
            Completed,
            50,
            Some(30),
        ),
        f("reviewer", "Review PR #12", None, Cancelled, 100, Some(40)),
        f("reviewer", "Audit licences", None, TimedOut, 240, Some(60)),
        f("coder", "Very old run", None, Completed, 24 * 40, Some(90)),
    ]
}

async fn summary(app: &TestApp, client: &reqwest::Client, window: StatsWindow) -> DashboardSummary {
    let response = app
        .call(client, "dashboard_summary", json!({ "window": window }))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn list(
    app: &TestApp,
    client: &reqwest::Client,
    filter: Value,
    sort: RunSort,
    cursor: Option<String>,
    limit: u32,
) -> reqwest::Response {
    app.call(
        client,
        "list_runs",
        json!({ "filter": filter, "cursor": cursor, "limit": limit, "sort": sort }),
    )
    .await
}

/// The ids of the first page of runs matching `filter`, sorted (order is another test's business).
async fn matching(app: &TestApp, client: &reqwest::Client, filter: Value) -> Vec<Uuid> {
    let mut ids = ids_of(list(app, client, filter, RunSort::Newest, None, 50).await).await;
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

async fn ids_of(response: reqwest::Response) -> Vec<Uuid> {
    assert_eq!(response.status(), 200);
    let page: RunPage = response.json().await.unwrap();
    page.runs.iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn totals_and_trend_are_exact_for_every_window() {
    let (app, client, user) = app().await;
    insert(&app, &user, &fixture()).await;

    let day = summary(&app, &client, StatsWindow::Day).await;
    let s = &day.stats;
    assert_eq!((s.total, s.active, s.completed, s.failed), (3, 1, 1, 1));
    assert_eq!(s.success_rate(), Some(0.5));
    assert_eq!(s.avg_duration_seconds, Some(15.0));
    assert_eq!(day.trend.points.len(), 25);
    assert_eq!(day.trend.points.iter().map(|p| p.total()).sum::<i64>(), 3);

    let week = summary(&app, &client, StatsWindow::Week).await.stats;
    assert_eq!(
        (week.total, week.completed, week.failed, week.cancelled),
        (5, 2, 1, 1)
    );
    assert_eq!(week.avg_duration_seconds, Some(25.0)); // (10 + 20 + 30 + 40) / 4
    let month = summary(&app, &client, StatsWindow::Month).await;
    assert_eq!((month.stats.total, month.stats.timed_out), (6, 1));
    assert_eq!(month.trend.points.len(), 31);
    let all = summary(&app, &client, StatsWindow::All).await;
    assert_eq!(all.stats.total, 7);
    assert_eq!(all.stats.success_rate(), Some(3.0 / 6.0));
    assert_eq!(all.stats.avg_duration_seconds, Some(250.0 / 6.0));
    assert_eq!(all.agents, ["coder", "researcher", "reviewer"]);
    assert_eq!(all.trend.points.iter().map(|p| p.total()).sum::<i64>(), 7);
}

#[tokio::test]
async fn totals_follow_every_status_change_and_deletion() {
    let (app, client, user) = app().await;
    let ids = insert(&app, &user, &fixture()).await;
    let running = ids[2];
    AgentEventPublisher::new(app.db.pool.clone())
        .complete_run(principal(&user), running, None, None)
        .await
        .unwrap();
    let day = summary(&app, &client, StatsWindow::Day).await.stats;
    assert_eq!((day.total, day.active, day.completed), (3, 0, 2));
    // a progress update moves nothing
    let mut tx = app.db.scoped(&user).await;
    sqlx::query("DELETE FROM agent_runs WHERE id = $1")
        .bind(ids[0])
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let day = summary(&app, &client, StatsWindow::Day).await.stats;
    assert_eq!((day.total, day.completed), (2, 1));
    // another user's runs never count
    let other = app.db.user("other@example.com", UserRole::User).await;
    insert(&app, &other, &fixture()).await;
    assert_eq!(
        summary(&app, &client, StatsWindow::All).await.stats.total,
        6
    );
}

#[tokio::test]
async fn search_matches_agent_task_step_and_run_id_prefix() {
    let (app, client, user) = app().await;
    let ids = insert(&app, &user, &fixture()).await;
    let search = |text: &str| matching(&app, &client, json!({ "search": text }));
    assert_eq!(search("REVIEWER").await, sorted(vec![ids[4], ids[5]]));
    assert_eq!(search("wal designs").await, vec![ids[2]]);
    assert_eq!(search("cargo test").await, vec![ids[0]]);
    // an active run's step is matched too (the trigram index holds steps of finished runs only),
    // also across the task and the step
    assert_eq!(search("reading 4 SOURCES").await, vec![ids[2]]);
    assert_eq!(search("wal designs reading").await, vec![ids[2]]);
    assert_eq!(search("exporter running").await, vec![ids[0]]);
    // LIKE's wildcards are plain characters here
    assert_eq!(search("100%").await, vec![ids[0]]);
    assert_eq!(search("CPU_bug").await, vec![ids[0]]);
    assert!(search("CPU%bug").await.is_empty());
    let id = ids[3].to_string();
    assert_eq!(search(&id).await, vec![ids[3]]);
    assert_eq!(search(&id[..8].to_uppercase()).await, vec![ids[3]]);
}

#[tokio::test]
async fn status_agent_and_active_filters_combine() {
    let (app, client, user) = app().await;
    let ids = insert(&app, &user, &fixture()).await;
    let found = |filter: Value| matching(&app, &client, filter);
    assert_eq!(
        found(json!({ "statuses": ["failed", "timed_out"] })).await,
        sorted(vec![ids[1], ids[5]])
    );
    assert_eq!(found(json!({ "active_only": true })).await, vec![ids[2]]);
    assert_eq!(
        found(json!({ "statuses": ["completed"], "agent_name": "coder" })).await,
        sorted(vec![ids[0], ids[6]])
    );
}

#[tokio::test]
async fn pages_have_no_duplicates_or_gaps_in_any_order_while_runs_arrive() {
    let (app, client, user) = app().await;
    let mut fixtures = Vec::new();
    for i in 0..45 {
        fixtures.push(Fixture {
            agent: "coder",
            task: "paged",
            step: None,
            status: if i % 3 == 0 {
                RunStatus::InProgress
            } else {
                RunStatus::Completed
            },
            age: Duration::minutes(i),
            // many equal durations: the id breaks ties
            took: (i % 3 != 0).then(|| Duration::seconds(i % 4)),
        });
    }
    let initial: HashSet<Uuid> = insert(&app, &user, &fixtures).await.into_iter().collect();
    for sort in RunSort::ALL {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let response = list(&app, &client, json!({ "search": "paged" }), sort, cursor, 7).await;
            assert_eq!(response.status(), 200);
            let page: RunPage = response.json().await.unwrap();
            seen.extend(page.runs.iter().map(|r| r.id));
            check_order(&page.runs, sort);
            // a new matching run arrives after every page
            insert(
                &app,
                &user,
                &[Fixture {
                    agent: "coder",
                    task: "paged, arrived later",
                    step: None,
                    status: RunStatus::InProgress,
                    age: Duration::zero(),
                    took: None,
                }],
            )
            .await;
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        let unique: HashSet<Uuid> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "{sort:?}: a run was listed twice");
        assert!(unique.is_superset(&initial), "{sort:?}: a run was skipped");
        if sort == RunSort::Newest {
            // runs that arrive later are newer than the first page: never in a later one
            assert_eq!(unique, initial);
        }
    }
}

fn check_order(runs: &[AgentRun], sort: RunSort) {
    for pair in runs.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        match sort {
            RunSort::Newest => assert!((a.created_at, a.id) > (b.created_at, b.id)),
            RunSort::Oldest => assert!((a.created_at, a.id) < (b.created_at, b.id)),
            RunSort::Longest => {
                let d = |r: &AgentRun| r.completed_at.map(|c| r.duration(c).num_milliseconds());
                assert!(d(a).unwrap_or(-1) >= d(b).unwrap_or(-1));
            }
        }
    }
}

#[tokio::test]
async fn export_streams_the_filtered_view_as_csv_and_json() {
    let (app, client, user) = app().await;
    let ids = insert(&app, &user, &fixture()).await;
    let get = |query: &str| {
        client
            .get(app.url(&format!("/api/v1/runs/export?{query}")))
            .send()
    };

    let response = get("format=csv&status=completed&agent=coder")
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"runwire-runs-"));
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("id,task_id,agent_name,status,"),
        "{csv}"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[1].starts_with(&ids[0].to_string()),
        "newest first: {csv}"
    );
    assert!(lines[1].contains(",completed,") && lines[1].contains(",10.000,"));
    assert!(lines[1].ends_with("Fix the 100% CPU_bug in the exporter"));

    let response = get("format=json&sort=longest").await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    let runs: Vec<AgentRun> = response.json().await.unwrap();
    assert_eq!(runs.len(), 7);
    assert_eq!(runs[0].id, ids[6], "longest first");
    let empty: Vec<AgentRun> = get("format=json&q=nothing-matches")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(empty.is_empty());

    for (query, status) in [
        ("format=xml", 422),
        ("status=exploded", 400),
        ("sort=sideways", 400),
    ] {
        let response = get(query).await.unwrap();
        assert_eq!(response.status(), status, "{query}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    }
    let anonymous = common::browser()
        .get(app.url("/api/v1/runs/export"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    // another user's export holds none of these runs
    app.db.user("other@example.com", UserRole::User).await;
    let other = app.signed_in("other@example.com").await;
    let csv = other
        .get(app.url("/api/v1/runs/export"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 1);
}

#[tokio::test]
async fn bad_cursors_and_huge_searches_get_clear_errors_and_the_page_still_works() {
    let (app, client, user) = app().await;
    insert(&app, &user, &fixture()).await;
    let response = list(
        &app,
        &client,
        json!({}),
        RunSort::Newest,
        Some("garbage".into()),
        5,
    )
    .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body.to_string().contains("malformed cursor"), "{body}");

    let page: RunPage = list(&app, &client, json!({}), RunSort::Oldest, None, 2)
        .await
        .json()
        .await
        .unwrap();
    let response = list(
        &app,
        &client,
        json!({}),
        RunSort::Newest,
        page.next_cursor,
        2,
    )
    .await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("sorted by oldest"));

    let huge = "x".repeat(10_000);
    let response = list(
        &app,
        &client,
        json!({ "search": huge }),
        RunSort::Newest,
        None,
        5,
    )
    .await;
    assert_eq!(response.status(), 422);
    let html = client
        .get(app.url(&format!("/dashboard?q={huge}&status=failed")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("10000 characters"),
        "the page names the problem"
    );
    assert_eq!(
        html.matches("<tr data-run-id=").count(),
        1,
        "and still shows the view"
    );
}

#[tokio::test]
async fn tokens_and_cost_of_the_window_show_by_agent_and_by_model() {
    let (app, client, user) = app().await;
    let ids = insert(&app, &user, &fixture()).await;
    let publisher = AgentEventPublisher::new(app.db.pool.clone());
    let call = |id: &str, model: &str, input: i64, output: i64| runwire::model::SpanReport {
        span_id: id.into(),
        kind: Some(runwire::model::SpanKind::Llm),
        name: Some("chat".into()),
        model: Some(model.into()),
        input_tokens: Some(input),
        output_tokens: Some(output),
        status: Some(runwire::model::SpanStatus::Ok),
        ..Default::default()
    };
    let before = summary(&app, &client, StatsWindow::Day).await;
    assert_eq!((before.stats.tokens_in, before.stats.cost_usd), (0, None));
    assert!(before.usage_by_agent.is_empty() && before.usage_by_model.is_empty());

    // a researcher run (ids[2], running) and a coder run (ids[0], finished) make calls
    let research = [
        call("a", "gpt-4o-mini", 1_000_000, 0),
        call("b", "in-house", 500, 50),
    ];
    publisher
        .record_spans(principal(&user), ids[2], &research)
        .await
        .unwrap();
    publisher
        .record_spans(
            principal(&user),
            ids[0],
            &[call("c", "gpt-4o", 0, 1_000_000)],
        )
        .await
        .unwrap();
    let day = summary(&app, &client, StatsWindow::Day).await;
    assert_eq!(day.stats.tokens_in, 1_000_500);
    assert_eq!(day.stats.tokens_out, 1_000_050);
    // gpt-4o-mini: 1M input tokens at $0.15; gpt-4o: 1M output tokens at $10; in-house: unknown
    assert!(
        (day.stats.cost_usd.unwrap() - 10.15).abs() < 1e-9,
        "{:?}",
        day.stats
    );
    let agents: Vec<(&str, i64, Option<f64>)> = day
        .usage_by_agent
        .iter()
        .map(|u| {
            (
                u.name.as_str(),
                u.tokens_in,
                u.cost_usd.map(|c| (c * 100.0).round() / 100.0),
            )
        })
        .collect();
    assert_eq!(
        agents,
        [
            ("coder", 0, Some(10.0)),
            ("researcher", 1_000_500, Some(0.15))
        ]
    );
    let models: Vec<(&str, i64, Option<f64>)> = day
        .usage_by_model
        .iter()
        .map(|u| {
            (
                u.name.as_str(),
                u.count,
                u.cost_usd.map(|c| (c * 100.0).round() / 100.0),
            )
        })
        .collect();
    assert_eq!(
        models,
        [
            ("gpt-4o", 1, Some(10.0)),
            ("gpt-4o-mini", 1, Some(0.15)),
            ("in-house", 1, None)
        ]
    );
    // the trend carries each bucket's known cost: together the window's
    let trend_cost: f64 = day.trend.points.iter().filter_map(|p| p.cost_usd).sum();
    assert!((trend_cost - 10.15).abs() < 1e-9, "{:?}", day.trend.points);
    assert!(before.trend.points.iter().all(|p| p.cost_usd.is_none()));
    // another user's calls never count
    let other = app.db.user("other@example.com", UserRole::User).await;
    let theirs = insert(&app, &other, &fixture()).await;
    publisher
        .record_spans(principal(&other), theirs[2], &[call("z", "gpt-4o", 5, 5)])
        .await
        .unwrap();
    assert_eq!(summary(&app, &client, StatsWindow::Day).await, day);
}
