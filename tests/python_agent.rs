//! The Python example agent (standard library only) against the real server: its run ends
//! `completed` with every event it sent stored, in order, and the spans of its LLM and tool calls
//! with the run's token and cost totals.

mod common;

use common::{TestApp, TestDb};
use runwire::model::{
    PriceTable, RunEventKind, RunStatus, SpanKind, SpanStatus, TokenUse, UserRole,
};
use runwire::server::auth::tokens;
use runwire::server::{events, runs, spans};
use uuid::Uuid;

#[tokio::test]
async fn the_example_agent_completes_its_run_with_all_events() {
    let db = TestDb::new().await;
    let user = db.user("python@example.com", UserRole::User).await;
    let (_, token) = tokens::create(&db.pool, &user, &tokens::NewToken::read_write("python"))
        .await
        .unwrap();
    let app = TestApp::start(db, None).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/python/example_agent.py"
    );
    let mut command = tokio::process::Command::new("python3");
    command
        .arg(script)
        .args(["--url", &app.url(""), "--token", &token, "--delay", "0"]);
    let run_id = run_id_printed_by(command).await;

    let mut tx = app.db.scoped(&user).await;
    let run = runs::get(&mut tx, run_id).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.agent_name, "researcher-py");
    assert_eq!(run.attempt, 2);
    assert_eq!(run.verification_evidence.len(), 2);
    assert_eq!(run.result.as_ref().unwrap()["papers"], 12);
    let log = events::for_run(&mut tx, run_id, 0, 100).await.unwrap();
    let kinds: Vec<RunEventKind> = log
        .iter()
        .map(|e| e.kind)
        .filter(|k| !k.is_span())
        .collect();
    use RunEventKind::*;
    assert_eq!(
        kinds,
        vec![
            Started,
            Progress,
            Progress,
            Progress,
            Progress,
            Status,
            Status,
            Verification,
            Status,
            Status,
            Progress,
            Status,
            Status,
            Completed
        ]
    );

    // an agent span around three LLM calls and a tool call, each started and ended as it happened
    let spans = spans::page(&mut tx, run_id, None, 100).await.unwrap();
    let agent = spans.iter().find(|s| s.kind == SpanKind::Agent).unwrap();
    assert_eq!(agent.status, SpanStatus::Ok);
    let children: Vec<_> = spans.iter().filter(|s| s.kind != SpanKind::Agent).collect();
    assert_eq!(children.len(), 4);
    assert!(children.iter().all(
        |s| s.parent_span_id.as_deref() == Some(agent.span_id.as_str())
            && s.status == SpanStatus::Ok
    ));
    assert_eq!(
        children.iter().filter(|s| s.kind == SpanKind::Tool).count(),
        1
    );
    assert_eq!(run.tokens_in, Some(3000));
    assert_eq!(run.tokens_out, Some(750));
    let call = PriceTable::shipped()
        .cost(
            "gpt-4o-mini",
            TokenUse {
                input: 1000,
                output: 250,
                cache_read: 200,
            },
        )
        .unwrap();
    assert!((run.cost_usd.unwrap() - 3.0 * call).abs() < 1e-12);
    let span_events = log.iter().filter(|e| e.kind.is_span()).count();
    assert_eq!(span_events, 10, "a start and an end per span");
}

/// The publisher block of the system runwire replaces, verbatim but for its import
/// (`examples/python/dropin_publisher.py`), with runwire's package installed from clients/python
/// into the project venv and a service token: `user_456` is a runwire user's external id.
#[tokio::test]
async fn the_replaced_systems_publisher_block_runs_verbatim() {
    let db = TestDb::new().await;
    let backend = db.user("backend@example.com", UserRole::Admin).await;
    let end_user = db.user("end-user@example.com", UserRole::User).await;
    runwire::server::users::set_external_id(&db.pool, "end-user@example.com", "user_456")
        .await
        .unwrap();
    let service = tokens::NewToken {
        scopes: vec![runwire::model::TokenScope::RunsWriteAny],
        ..tokens::NewToken::for_agent("backend")
    };
    let (_, token) = tokens::create(&db.pool, &backend, &service).await.unwrap();
    let app = TestApp::start(db, None).await;
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/python/dropin_publisher.py"
    );
    let mut command = tokio::process::Command::new(python);
    command
        .arg(script)
        .env("RUNWIRE_URL", app.url(""))
        .env("RUNWIRE_TOKEN", &token)
        .current_dir(std::env::temp_dir());
    let run_id = run_id_printed_by(command).await;

    let mut tx = app.db.scoped(&end_user).await;
    let run = runs::get(&mut tx, run_id)
        .await
        .unwrap()
        .expect("the end user's run");
    assert_eq!(run.user_id, end_user.id);
    assert_eq!(run.agent_name, "orchestrator");
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.metadata["task_ref"], "task_123");
    assert_eq!(
        run.task_id,
        runwire::model::TaskId::parse("task_123").unwrap().uuid
    );
    assert_eq!(run.result.as_ref().unwrap()["answer"], "Refund issued");
    let log = events::for_run(&mut tx, run_id, 0, 100).await.unwrap();
    let steps: Vec<(RunEventKind, Option<&str>)> =
        log.iter().map(|e| (e.kind, e.step.as_deref())).collect();
    use RunEventKind::*;
    assert_eq!(
        steps,
        vec![
            (Started, None),
            (Progress, Some("Routing task")),
            (Status, Some("Verifying")),
            (Completed, Some("Verifying"))
        ]
    );
    assert_eq!(log[1].progress, Some(20.0));
}

/// Runs a Python script that reports a run and prints its id; the id.
async fn run_id_printed_by(mut command: tokio::process::Command) -> Uuid {
    let output = command.output().await.expect("python runs (make py-deps)");
    assert!(
        output.status.success(),
        "the script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}
