//! (9) Output escaping: CSV formulas, and webhook URLs never in errors or logs. (Slack markup escaping
//! is tested beside the alert builder, `server::jobs::alerts`.)

use crate::common::{agent, TestApp, TestDb};
use runwire::model::UserRole;
use runwire::server::auth::tokens::{self, NewToken};
use runwire::server::jobs::alerts::{AlertConfig, Alerter};
use serde_json::json;

#[tokio::test]
async fn exported_cells_a_spreadsheet_would_run_are_neutralised() {
    let app = TestApp::start(TestDb::new().await, None).await;
    let user = app.db.user("csv@example.com", UserRole::User).await;
    let (_, token) = tokens::create(&app.db.pool, &user, &NewToken::read_write("c"))
        .await
        .unwrap();
    for (agent_name, task) in [
        ("=cmd", "=HYPERLINK(\"http://evil.example\",\"click\")"),
        ("+sum", "+1+1"),
        ("@at", "@SUM(A1:A9)"),
        ("minus", "-2+3"),
    ] {
        let response = agent()
            .post(app.url("/api/v1/runs"))
            .bearer_auth(&token)
            .json(&json!({ "agent_name": agent_name, "task": task }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let csv = agent()
        .get(app.url("/api/v1/runs/export?format=csv"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let mut cells = 0;
    for record in reader.records() {
        for cell in record.unwrap().iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a live formula in the export: {cell:?}"
            );
            cells += 1;
        }
    }
    assert!(cells > 0);
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
}

#[tokio::test]
async fn a_failed_webhook_never_names_its_url() {
    let secret_url = "http://127.0.0.1:9/services/T000/B000/secret-webhook-path";
    let alerter = Alerter::new(AlertConfig {
        webhook: Some(secret_url.to_owned()),
        retries: 1,
        first_backoff: std::time::Duration::from_millis(10),
        ..Default::default()
    });
    let failed = alerter.send(&json!({ "text": "x" })).await.unwrap_err();
    let said = format!("{failed} {failed:?}");
    assert!(!said.contains("secret-webhook-path"), "{said}");
    assert!(!said.contains("127.0.0.1:9"), "{said}");
}
