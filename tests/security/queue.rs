//! (8) A fair queue for the built-in agents.

use crate::common::{fast_agents, TestApp, TestDb};
use runwire::model::UserRole;
use runwire::server::demo_agent::AgentRunnerConfig;

#[tokio::test]
async fn one_user_may_have_at_most_twenty_runs_waiting() {
    // No workers: every started run waits.
    let config = AgentRunnerConfig {
        workers: 0,
        ..fast_agents()
    };
    let app = TestApp::start_with(TestDb::new().await, None, 10_000, config).await;
    app.db.user("greedy@example.com", UserRole::User).await;
    app.db.user("patient@example.com", UserRole::User).await;
    let greedy = app.signed_in("greedy@example.com").await;
    let start = |client: reqwest::Client| {
        let app = &app;
        async move {
            client
                .post(app.url("/api/trigger_agent_run"))
                .form(&[("agent", "researcher"), ("task", "flood the queue")])
                .send()
                .await
                .unwrap()
        }
    };
    // at once, so a check that does not hold under concurrency would let more through
    let starts = (0..30).map(|_| start(greedy.clone()));
    let statuses: Vec<u16> = futures::future::join_all(starts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        20,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        10,
        "{statuses:?}"
    );
    let refused = start(greedy.clone()).await;
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(
        body["QuotaExceeded"]
            .as_str()
            .map(|m| m.contains("20 runs waiting")),
        Some(true),
        "{body}"
    );
    let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM agent_jobs")
        .fetch_one(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    assert_eq!(waiting, 20, "nothing of a refused start was stored");
    let patient = app.signed_in("patient@example.com").await;
    assert_eq!(
        start(patient).await.status(),
        200,
        "others still get their runs in"
    );
}
