//! `POST /v1/traces` against the real router and PostgreSQL, as an OpenTelemetry exporter calls it:
//! protobuf and JSON, gzip, a trace arriving in pieces becoming one live run, partial success for
//! bad spans, each bad request answered as OTLP says with nothing stored, retries that store
//! nothing twice, and isolation between users.

mod common;

use common::api::{api, api_with_limit, Api};
use common::otlp::{export, int, now_nanos, text};
use common::ws::{Frame, LiveClient};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use prost::Message;
use reqwest::StatusCode;
use runwire::model::{
    PriceTable, RunEventKind, RunFilter, RunStatus, SpanKind, SpanStatus, TokenUse,
};
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;
use uuid::Uuid;

const PROTOBUF: &str = "application/x-protobuf";

fn span(
    trace: [u8; 16],
    id: u8,
    parent: Option<u8>,
    name: &str,
    attributes: Vec<KeyValue>,
) -> Span {
    let start = now_nanos() - 5_000_000_000 + u64::from(id) * 1_000_000;
    Span {
        trace_id: trace.to_vec(),
        span_id: vec![id; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        name: name.to_owned(),
        start_time_unix_nano: start,
        end_time_unix_nano: start + 250_000_000,
        attributes,
        ..Span::default()
    }
}

/// An agent's trace: an LLM call and a tool call under the root `invoke_agent` span.
fn agent_trace(trace: [u8; 16]) -> (Span, Span, Span) {
    let root = span(
        trace,
        1,
        None,
        "invoke_agent planner",
        vec![
            text("gen_ai.operation.name", "invoke_agent"),
            text("gen_ai.agent.name", "planner"),
        ],
    );
    let chat = span(
        trace,
        2,
        Some(1),
        "chat gpt-4o-mini",
        vec![
            text("gen_ai.operation.name", "chat"),
            text("gen_ai.request.model", "gpt-4o-mini"),
            int("gen_ai.usage.input_tokens", 1000),
            int("gen_ai.usage.output_tokens", 250),
        ],
    );
    let tool = span(
        trace,
        3,
        Some(1),
        "execute_tool search",
        vec![
            text("gen_ai.operation.name", "execute_tool"),
            text("gen_ai.tool.name", "search"),
        ],
    );
    (root, chat, tool)
}

async fn send(
    api: &Api,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
    gzip: bool,
) -> reqwest::Response {
    let mut request = common::agent()
        .post(api.app.url("/v1/traces"))
        .bearer_auth(token)
        .header("content-type", content_type);
    let body = if gzip {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&body).unwrap();
        request = request.header("content-encoding", "gzip");
        encoder.finish().unwrap()
    } else {
        body
    };
    request.body(body).send().await.unwrap()
}

/// Sends a protobuf export; returns the status and the decoded answer (or the raw body).
async fn send_proto(
    api: &Api,
    token: &str,
    export: &ExportTraceServiceRequest,
) -> (StatusCode, ExportTraceServiceResponse) {
    let response = send(api, token, PROTOBUF, export.encode_to_vec(), false).await;
    let status = response.status();
    assert_eq!(response.headers()["content-type"], PROTOBUF);
    let bytes = response.bytes().await.unwrap();
    let answer = if status == 200 {
        ExportTraceServiceResponse::decode(bytes.as_ref()).unwrap()
    } else {
        ExportTraceServiceResponse::default()
    };
    (status, answer)
}

async fn span_total(api: &Api, run: Uuid) -> usize {
    let (_, body) = api.get(&format!("/api/v1/runs/{run}/spans")).await;
    body["spans"].as_array().unwrap().len()
}

async fn run_count(api: &Api) -> usize {
    let (_, body) = api.get("/api/v1/runs?limit=100").await;
    body["runs"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_trace_sent_in_two_exports_is_one_live_run_that_ends_with_its_root() {
    let api = api().await;
    let mut live = LiveClient::subscribe(api.app.addr, &api.token, RunFilter::default(), 0).await;
    let trace = [7u8; 16];
    let (root, chat, tool) = agent_trace(trace);
    let service = vec![text("service.name", "planner-svc")];

    // children first, as a batch processor sends them while the root still runs
    let (status, answer) =
        send_proto(&api, &api.token, &export(service.clone(), vec![chat, tool])).await;
    assert_eq!(status, 200);
    assert_eq!(answer.partial_success, None);
    let (_, body) = api.get("/api/v1/runs").await;
    let run: runwire::model::AgentRun = serde_json::from_value(body["runs"][0].clone()).unwrap();
    assert_eq!(run.status, RunStatus::InProgress);
    assert_eq!(run.agent_name, "planner-svc");
    assert_eq!(run.metadata["trace_id"], "07".repeat(16));
    let expected = PriceTable::shipped()
        .cost(
            "gpt-4o-mini",
            TokenUse {
                input: 1000,
                output: 250,
                cache_read: 0,
            },
        )
        .unwrap();
    assert_eq!((run.tokens_in, run.tokens_out), (Some(1000), Some(250)));
    assert!((run.cost_usd.unwrap() - expected).abs() < 1e-12);

    // the root ends: same run, completed
    let (status, _) = send_proto(&api, &api.token, &export(service, vec![root])).await;
    assert_eq!(status, 200);
    assert_eq!(run_count(&api).await, 1);
    let run = api.run(run.id).await;
    assert_eq!(run.status, RunStatus::Completed);
    let (_, body) = api.get(&format!("/api/v1/runs/{}/spans", run.id)).await;
    let spans: Vec<runwire::model::Span> = serde_json::from_value(body["spans"].clone()).unwrap();
    let kinds: Vec<(SpanKind, SpanStatus)> = spans.iter().map(|s| (s.kind, s.status)).collect();
    assert_eq!(
        kinds,
        vec![
            (SpanKind::Agent, SpanStatus::Ok),
            (SpanKind::Llm, SpanStatus::Ok),
            (SpanKind::Tool, SpanStatus::Ok)
        ]
    );
    assert_eq!(spans[1].parent_span_id.as_deref(), Some("0101010101010101"));

    // the subscriber saw it all, live: the run start, three spans end, the run complete
    let mut kinds = Vec::new();
    while !kinds.contains(&RunEventKind::Completed) {
        match tokio::time::timeout(Duration::from_secs(10), live.next(Duration::from_secs(10)))
            .await
        {
            Ok(Frame::Event(event, _)) => kinds.push(event.kind),
            Ok(Frame::Message(_)) => {}
            other => panic!("live stream ended early: {other:?}"),
        }
    }
    use RunEventKind::*;
    assert_eq!(
        kinds,
        vec![Started, SpanEnded, SpanEnded, SpanEnded, Completed]
    );
}

#[tokio::test]
async fn json_and_gzip_exports_are_read_and_answered_in_kind() {
    let api = api().await;
    let start = now_nanos() - 1_000_000_000;
    let body = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "curl-agent"}}]},
        "scopeSpans": [{"scope": {"name": "manual"}, "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174",
            "name": "chat claude",
            "kind": 3,
            "startTimeUnixNano": start.to_string(),
            "endTimeUnixNano": (start + 400_000_000).to_string(),
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": "unknown-model-7b"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "42"}},
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 7}}
            ],
            "status": {"code": 2, "message": "rate limited upstream"}
        }]}]
    }]});
    let response = send(
        &api,
        &api.token,
        "application/json",
        body.to_string().into_bytes(),
        true,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer, json!({}), "all accepted: no partial success");

    let (_, runs) = api.get("/api/v1/runs").await;
    let run = &runs["runs"][0];
    // a lone root span is the agent; its error fails the run; an unknown model's cost is unknown
    assert_eq!(run["agent_name"], "curl-agent");
    assert_eq!(run["task"], "chat claude");
    assert_eq!(run["status"], "failed");
    assert_eq!(run["error"], "rate limited upstream");
    assert_eq!(run["tokens_in"], 42);
    assert_eq!(run["cost_usd"], Value::Null);
    let (_, body) = api
        .get(&format!(
            "/api/v1/runs/{}/spans",
            run["id"].as_str().unwrap()
        ))
        .await;
    let span = &body["spans"][0];
    assert_eq!(span["span_id"], "eee19b7ec3c1b174");
    assert_eq!(span["kind"], "llm");
    assert_eq!(span["attributes"]["otel.span_kind"], "client");
    assert_eq!(span["attributes"]["otel.scope.name"], "manual");
}

#[tokio::test]
async fn bad_spans_get_a_partial_success_and_the_good_ones_are_kept() {
    let api = api().await;
    let trace = [9u8; 16];
    let good = span(trace, 1, None, "fine", vec![]);
    let no_id = Span {
        span_id: vec![],
        ..span(trace, 2, Some(1), "no id", vec![])
    };
    let zero_time = Span {
        start_time_unix_nano: 0,
        ..span(trace, 3, Some(1), "zero", vec![])
    };
    let (status, answer) = send_proto(
        &api,
        &api.token,
        &export(vec![], vec![no_id, good, zero_time]),
    )
    .await;
    assert_eq!(status, 200);
    let partial = answer.partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 2);
    assert!(
        partial.error_message.contains("span id"),
        "{}",
        partial.error_message
    );
    assert!(
        partial.error_message.contains("start time"),
        "{}",
        partial.error_message
    );
    let (_, runs) = api.get("/api/v1/runs").await;
    let run_id: Uuid = runs["runs"][0]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(span_total(&api, run_id).await, 1);
}

#[tokio::test]
async fn bad_requests_are_answered_as_otlp_says_and_store_nothing() {
    let api = api().await;
    let (root, chat, _) = agent_trace([3u8; 16]);
    let valid = export(vec![], vec![root, chat]).encode_to_vec();
    let cases: Vec<(&str, &str, Vec<u8>, bool, u16)> = vec![
        (
            "garbage",
            PROTOBUF,
            b"\xff\xff\xff\xffnot protobuf".to_vec(),
            false,
            400,
        ),
        (
            "truncated",
            PROTOBUF,
            valid[..valid.len() - 9].to_vec(),
            false,
            400,
        ),
        (
            "bad json",
            "application/json",
            b"{\"resourceSpans\": [".to_vec(),
            false,
            400,
        ),
        (
            "bad hex id",
            "application/json",
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"01"}]}]}]}"#
                .to_vec(),
            false,
            400,
        ),
        ("wrong type", "text/plain", valid.clone(), false, 415),
        ("not gzip", PROTOBUF, valid.clone(), false, 400),
        (
            "too large",
            PROTOBUF,
            vec![0x0a; 9 * 1024 * 1024],
            false,
            413,
        ),
        ("gzip bomb", PROTOBUF, vec![0; 64 * 1024 * 1024], true, 413),
    ];
    for (what, content_type, body, gzip, expected) in cases {
        let mut request = common::agent()
            .post(api.app.url("/v1/traces"))
            .bearer_auth(&api.token)
            .header("content-type", content_type);
        let body = if gzip {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            encoder.write_all(&body).unwrap();
            request = request.header("content-encoding", "gzip");
            encoder.finish().unwrap()
        } else if what == "not gzip" {
            request = request.header("content-encoding", "gzip");
            body
        } else {
            body
        };
        let response = request.body(body).send().await.unwrap();
        assert_eq!(response.status().as_u16(), expected, "{what}");
        let _ = response.bytes().await;
    }
    // too many spans in one export: a 413 naming the limit
    let many: Vec<Span> = (0..=runwire::server::otlp::OTLP_SPANS_MAX)
        .map(|n| Span {
            span_id: (n as u64 + 1).to_be_bytes().to_vec(),
            ..span([4u8; 16], 1, None, "s", vec![])
        })
        .collect();
    let (status, _) = send_proto(&api, &api.token, &export(vec![], many)).await;
    assert_eq!(status, 413);
    // no token, a token without write: 401, 403
    let response = common::agent()
        .post(api.app.url("/v1/traces"))
        .header("content-type", PROTOBUF)
        .body(valid.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let read_only = read_only_token(&api).await;
    let (status, _) = send_proto(
        &api,
        &read_only,
        &export(vec![], vec![agent_trace([3u8; 16]).0]),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        run_count(&api).await,
        0,
        "nothing of a rejected request is stored"
    );
}

async fn read_only_token(api: &Api) -> String {
    let user = api
        .app
        .db
        .user("reader@example.com", runwire::model::UserRole::User)
        .await;
    let new = runwire::server::auth::tokens::NewToken {
        scopes: vec![runwire::model::TokenScope::RunsRead],
        ..runwire::server::auth::tokens::NewToken::for_agent("reader")
    };
    runwire::server::auth::tokens::create(&api.app.db.pool, &user, &new)
        .await
        .unwrap()
        .1
}

#[tokio::test]
async fn a_retried_export_stores_nothing_twice() {
    let api = api().await;
    let (root, chat, tool) = agent_trace([5u8; 16]);
    let whole = export(vec![], vec![chat, tool, root]);
    assert_eq!(send_proto(&api, &api.token, &whole).await.0, 200);
    let (_, runs) = api.get("/api/v1/runs").await;
    let run_id: Uuid = runs["runs"][0]["id"].as_str().unwrap().parse().unwrap();
    let before = api.events(run_id).await.len();
    let (status, answer) = send_proto(&api, &api.token, &whole).await;
    assert_eq!((status, answer.partial_success), (StatusCode::OK, None));
    assert_eq!(api.events(run_id).await.len(), before);
    assert_eq!(run_count(&api).await, 1);
    assert_eq!(api.run(run_id).await.tokens_in, Some(1000));
}

#[tokio::test]
async fn a_trace_attaches_to_its_senders_run_and_never_to_anothers() {
    let api = api().await;
    let mine = api.start("reporter").await;
    let (root, chat, _) = agent_trace([6u8; 16]);
    let attach = vec![text("runwire.run_id", &mine.id.to_string())];
    let (status, answer) = send_proto(
        &api,
        &api.token,
        &export(attach.clone(), vec![chat.clone(), root.clone()]),
    )
    .await;
    assert_eq!((status, answer.partial_success), (StatusCode::OK, None));
    let run = api.run(mine.id).await;
    assert_eq!(span_total(&api, mine.id).await, 2);
    assert_eq!(
        run.status,
        RunStatus::Completed,
        "the run follows the root span"
    );
    assert_eq!(run_count(&api).await, 1);

    // the other user names that run: rejected, nothing stored on it
    let other_root = Span {
        span_id: vec![0x21; 8],
        ..root
    };
    let (status, answer) =
        send_proto(&api, &api.other_token, &export(attach, vec![other_root])).await;
    assert_eq!(status, 200);
    let partial = answer.partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("names no run of yours"),
        "{}",
        partial.error_message
    );
    assert_eq!(span_total(&api, mine.id).await, 2);

    // the same trace id from the other user is a run of theirs, not an addition to this one
    let (status, _) = send_proto(&api, &api.other_token, &export(vec![], vec![chat])).await;
    assert_eq!(status, 200);
    let (_, theirs) = api
        .send_as(
            &api.other_token,
            reqwest::Method::GET,
            "/api/v1/runs",
            None,
            None,
        )
        .await;
    assert_eq!(theirs["runs"].as_array().unwrap().len(), 1);
    assert_ne!(theirs["runs"][0]["id"], json!(mine.id));
    assert_eq!(span_total(&api, mine.id).await, 2);
}

#[tokio::test]
async fn an_exporter_past_its_rate_is_told_when_to_retry() {
    let api = api_with_limit(2).await;
    let failing = Span {
        status: Some(Status {
            message: "x".into(),
            code: 2,
        }),
        ..span([8u8; 16], 1, None, "s", vec![])
    };
    let body = export(vec![], vec![failing]);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = send(&api, &api.token, PROTOBUF, body.encode_to_vec(), false).await;
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
        }
        statuses.push(response.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}
