//! Components rendered to HTML as the server sends them: what a screen reader and the browser get.

use super::*;
use crate::model::{fixtures, AgentRun, RunEvent, RunEventKind, RunStatus};
use leptos::prelude::*;
use serde_json::json;
use uuid::Uuid;

fn render<V: RenderHtml + 'static>(view: impl FnOnce() -> V) -> String {
    let owner = Owner::new();
    owner.with(|| view().to_html())
}

fn run(status: RunStatus, progress: f32) -> AgentRun {
    let created = fixtures::epoch();
    AgentRun {
        agent_name: "coder".into(),
        task: "Fix the <b>exporter</b> ".repeat(20),
        status,
        progress_percent: progress,
        current_step: Some("Running cargo test".into()),
        started_at: Some(created + chrono::Duration::seconds(2)),
        completed_at: status
            .is_terminal()
            .then(|| created + chrono::Duration::seconds(64)),
        ..fixtures::run(7)
    }
}

#[test]
fn progress_bar_is_an_accessible_progressbar_clamped_to_0_100() {
    let html = render(|| view! { <ProgressBar value=42.4 label="Run progress"/> });
    assert!(html.contains(r#"role="progressbar""#), "{html}");
    assert!(html.contains(r#"aria-valuenow="42""#), "{html}");
    assert!(html.contains(r#"aria-valuemin="0""#) && html.contains(r#"aria-valuemax="100""#));
    assert!(html.contains(r#"aria-label="Run progress""#));
    // the fill is sized by an attribute: the page's CSP allows no inline style
    assert!(html.contains(r#"width="42.4""#), "{html}");
    assert!(!html.contains("style="), "{html}");
    let over = render(|| view! { <ProgressBar value=250.0/> });
    assert!(
        over.contains(r#"aria-valuenow="100""#) && over.contains(r#"width="100.0""#),
        "{over}"
    );
}

#[test]
fn each_status_badge_has_its_own_class_and_label() {
    let mut classes = std::collections::HashSet::new();
    for status in RunStatus::ALL {
        let html = render(move || view! { <StatusBadge status/> });
        assert!(html.contains(status.badge_class()), "{html}");
        assert!(html.contains(status.label()), "{html}");
        assert!(
            html.contains(&format!(r#"data-status="{status}""#)),
            "{html}"
        );
        classes.insert(status.badge_class());
    }
    assert_eq!(classes.len(), 11);
}

#[test]
fn a_run_card_shows_agent_excerpt_badge_progress_and_escapes_the_task() {
    let html = render(|| view! { <RunCard run=run(RunStatus::Completed, 100.0)/> });
    assert!(
        html.contains(r#"href="/runs/00000000-0000-0000-0000-000000000007""#),
        "{html}"
    );
    assert!(html.contains("coder"));
    assert!(html.contains("status-completed"));
    assert!(html.contains(r#"aria-valuenow="100""#));
    assert!(
        html.contains("&lt;b&gt;exporter"),
        "the task is text, never markup: {html}"
    );
    assert!(!html.contains("<b>"));
    assert!(html.contains('…'), "a long task is cut");
    // a finished run has a fixed duration, from start to completion
    assert!(html.contains("1m 02s"), "{html}");
    let running =
        render(|| view! { <RunCard run=run(RunStatus::InProgress, 30.0) href="/agents?run=x"/> });
    assert!(running.contains(r#"href="/agents?run=x""#));
    // without the browser's clock the server says "running", so hydration agrees
    assert!(running.contains("running"), "{running}");
}

#[test]
fn the_timeline_says_what_each_event_did() {
    let event = |id, kind, status, payload: serde_json::Value| RunEvent {
        id,
        run_id: Uuid::nil(),
        user_id: Uuid::nil(),
        kind,
        status,
        progress: Some(40.0),
        step: Some("Reading 4 sources".into()),
        payload,
        created_at: chrono::Utc::now(),
    };
    let events = vec![
        event(1, RunEventKind::Progress, RunStatus::InProgress, json!({})),
        event(
            2,
            RunEventKind::Verification,
            RunStatus::Verifying,
            json!({ "passed": false, "evidence": { "detail": "2 of 7 claims have no source" } }),
        ),
        event(
            3,
            RunEventKind::Failed,
            RunStatus::Failed,
            json!({ "error": "HTTP 503" }),
        ),
    ];
    let html = render(move || view! { <EventTimeline events earlier=2u64/> });
    assert!(html.contains("40% · Reading 4 sources"), "{html}");
    assert!(html.contains("Verification failed: 2 of 7 claims have no source"));
    assert!(html.contains("Failed: HTTP 503"));
    assert!(html.contains("2 earlier events not shown"));
    assert_eq!(html.matches(r#"class="timeline-entry"#).count(), 3);
}
