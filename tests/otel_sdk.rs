//! A foreign client: the official OpenTelemetry Python SDK with its OTLP/HTTP protobuf exporter
//! (from PyPI, in the project's .venv, which `make test` fills) sends an agent's trace, configured
//! by nothing but the standard environment variables. runwire makes it a run with its three spans,
//! tokens and cost.

mod common;

use common::app_with_agent_token;
use runwire::model::{PriceTable, RunStatus, Span, SpanKind, TokenUse};
use serde_json::Value;

#[tokio::test]
async fn the_opentelemetry_python_sdk_reports_an_agent_run_with_no_runwire_code() {
    let (app, token) = app_with_agent_token("otel@example.com").await;
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/opentelemetry/otel_agent.py"
    );
    assert!(
        std::path::Path::new(python).exists(),
        "{python} is missing: `make py-deps` installs the OpenTelemetry SDK there"
    );
    let output = tokio::process::Command::new(python)
        .arg(script)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", app.url(""))
        .env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            format!("Authorization=Bearer%20{token}"),
        )
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .output()
        .await
        .expect("the venv's python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "agent failed: {stderr}");
    assert!(
        !stderr.contains("Failed to export"),
        "the exporter reported a failure: {stderr}"
    );
    let trace_id = String::from_utf8(output.stdout).unwrap().trim().to_owned();

    let client = common::agent();
    let get = |path: String| {
        let request = client.get(app.url(&path)).bearer_auth(&token);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let runs = get("/api/v1/runs".into()).await;
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "one trace, one run: {runs:?}");
    let run: runwire::model::AgentRun = serde_json::from_value(runs[0].clone()).unwrap();
    assert_eq!(run.agent_name, "trip-planner");
    assert_eq!(run.task, "invoke_agent trip-planner");
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.metadata["trace_id"], trace_id.as_str());
    assert_eq!(run.metadata["session_id"], "conv-otel-1");
    assert_eq!(run.metadata["resource"]["service.name"], "otel-example");
    assert_eq!(run.metadata["resource"]["telemetry.sdk.language"], "python");
    assert_eq!(
        run.result.as_ref().unwrap()["output"],
        "\"Take the 09:40 train.\""
    );

    let spans = get(format!("/api/v1/runs/{}/spans", run.id)).await;
    let spans: Vec<Span> = serde_json::from_value(spans["spans"].clone()).unwrap();
    assert_eq!(
        spans.len(),
        4,
        "the agent span, two LLM calls and a tool call"
    );
    let root = &spans[0];
    assert_eq!(root.kind, SpanKind::Agent);
    assert_eq!(root.parent_span_id, None);
    let llm: Vec<&Span> = spans.iter().filter(|s| s.kind == SpanKind::Llm).collect();
    let tool: Vec<&Span> = spans.iter().filter(|s| s.kind == SpanKind::Tool).collect();
    assert_eq!((llm.len(), tool.len()), (2, 1));
    for span in llm.iter().chain(&tool) {
        assert_eq!(span.parent_span_id.as_deref(), Some(root.span_id.as_str()));
    }
    assert_eq!(llm[0].model.as_deref(), Some("gpt-4o-mini"));
    assert!(llm[0]
        .input_preview
        .as_deref()
        .unwrap()
        .contains("Paris to Lyon"));
    assert_eq!(llm[0].attributes["otel.span_kind"], "client");
    assert!(tool[0].output_preview.as_deref().unwrap().contains("09:40"));

    let prices = PriceTable::shipped();
    let cost = |model: &str, input: i64, output: i64| {
        let tokens = TokenUse {
            input,
            output,
            cache_read: 0,
        };
        prices.cost(model, tokens).unwrap()
    };
    assert_eq!((run.tokens_in, run.tokens_out), (Some(2100), Some(230)));
    let expected = cost("gpt-4o-mini", 1200, 80) + cost("gpt-4o", 900, 150);
    assert!((run.cost_usd.unwrap() - expected).abs() < 1e-12, "{run:?}");
}
