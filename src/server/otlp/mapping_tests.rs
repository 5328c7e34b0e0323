use super::*;
use crate::model::SpanKind;
use chrono::TimeZone;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as Any, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::Event, ResourceSpans, ScopeSpans, Status};

const TRACE: [u8; 16] = [0xab; 16];
const START: u64 = 1_764_000_000_000_000_000;

fn now() -> DateTime<Utc> {
    Utc.timestamp_nanos(START as i64) + chrono::Duration::hours(1)
}

fn kv(key: &str, value: Any) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        key_strindex: 0,
    }
}

fn s(key: &str, value: &str) -> KeyValue {
    kv(key, Any::StringValue(value.to_owned()))
}

fn i(key: &str, value: i64) -> KeyValue {
    kv(key, Any::IntValue(value))
}

fn span(id: u8, parent: Option<u8>, name: &str, attributes: Vec<KeyValue>) -> OtelSpan {
    OtelSpan {
        trace_id: TRACE.to_vec(),
        span_id: vec![id; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        name: name.to_owned(),
        kind: 1,
        start_time_unix_nano: START + u64::from(id) * 1_000_000,
        end_time_unix_nano: START + 500_000_000,
        attributes,
        ..OtelSpan::default()
    }
}

fn export(resource: Vec<KeyValue>, spans: Vec<OtelSpan>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource,
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            schema_url: String::new(),
        }],
    }
}

fn id(byte: u8) -> String {
    format!("{byte:02x}").repeat(8)
}

#[test]
fn a_genai_agent_trace_becomes_a_run_with_an_llm_and_a_tool_span() {
    let root = span(
        1,
        None,
        "invoke_agent travel-planner",
        vec![
            s("gen_ai.operation.name", "invoke_agent"),
            s("gen_ai.agent.name", "travel-planner"),
            s("gen_ai.conversation.id", "conv-42"),
            s("gen_ai.output.messages", "Book the 9:40 train."),
        ],
    );
    let chat = span(
        2,
        Some(1),
        "chat gpt-4o",
        vec![
            s("gen_ai.operation.name", "chat"),
            s("gen_ai.provider.name", "openai"),
            s("gen_ai.request.model", "gpt-4o"),
            i("gen_ai.usage.input_tokens", 1200),
            i("gen_ai.usage.output_tokens", 300),
            i("gen_ai.usage.cache_read.input_tokens", 200),
            i("gen_ai.usage.reasoning.output_tokens", 50),
            s(
                "gen_ai.input.messages",
                "[{\"role\":\"user\",\"content\":\"Paris to Lyon\"}]",
            ),
            s("custom.flag", "kept"),
        ],
    );
    let tool = span(
        3,
        Some(1),
        "execute_tool search_trains",
        vec![
            s("gen_ai.operation.name", "execute_tool"),
            s("gen_ai.tool.name", "search_trains"),
            s("gen_ai.tool.call.arguments", "{\"from\":\"Paris\"}"),
        ],
    );
    let mapped = map_request(
        &export(
            vec![s("service.name", "planner-svc")],
            vec![chat, tool, root],
        ),
        now(),
    );
    assert_eq!(mapped.rejections, vec![]);
    let [trace] = mapped.traces.as_slice() else {
        panic!("one trace: {:?}", mapped.traces)
    };
    assert_eq!(trace.trace_id, "ab".repeat(16));
    assert_eq!(trace.agent_name, "travel-planner");
    assert_eq!(trace.task, "invoke_agent travel-planner");
    assert_eq!(trace.run_id, None);
    assert_eq!(trace.metadata["session_id"], "conv-42");
    assert_eq!(trace.metadata["source"], "opentelemetry");
    assert_eq!(trace.metadata["resource"]["service.name"], "planner-svc");
    assert_eq!(
        trace.root,
        Some(RootEnd::Ok {
            output: Some("Book the 9:40 train.".into())
        })
    );

    let [chat, tool, root] = trace.spans.as_slice() else {
        panic!("three spans")
    };
    assert_eq!(chat.span_id, id(2));
    assert_eq!(chat.parent_span_id, Some(id(1)));
    assert_eq!(chat.kind, Some(SpanKind::Llm));
    assert_eq!(chat.model.as_deref(), Some("gpt-4o"));
    assert_eq!(
        (
            chat.input_tokens,
            chat.output_tokens,
            chat.cache_read_tokens,
            chat.reasoning_tokens
        ),
        (Some(1200), Some(300), Some(200), Some(50))
    );
    assert_eq!(chat.cost_usd, None, "priced at ingest, not here");
    assert_eq!(chat.status, Some(SpanStatus::Ok));
    assert_eq!(
        chat.ended_at.unwrap() - chat.started_at.unwrap(),
        chrono::Duration::milliseconds(498)
    );
    assert!(chat.input.as_deref().unwrap().contains("Paris to Lyon"));
    let attributes = chat.attributes.as_ref().unwrap();
    assert_eq!(attributes["custom.flag"], "kept");
    assert_eq!(attributes["gen_ai.request.model"], "gpt-4o");
    assert_eq!(attributes["otel.span_kind"], "internal");
    assert!(
        !attributes.contains_key("gen_ai.input.messages"),
        "content moves to the preview"
    );
    assert_eq!(tool.kind, Some(SpanKind::Tool));
    assert_eq!(tool.input.as_deref(), Some("{\"from\":\"Paris\"}"));
    assert_eq!(root.kind, Some(SpanKind::Agent));
    assert_eq!(root.parent_span_id, None);
}

#[test]
fn older_genai_names_and_openinference_map_too() {
    let legacy = span(
        2,
        Some(1),
        "openai.chat",
        vec![
            s("gen_ai.system", "openai"),
            s("gen_ai.request.model", "gpt-4o-mini"),
            i("gen_ai.usage.prompt_tokens", 10),
            i("gen_ai.usage.completion_tokens", 5),
            s("gen_ai.prompt", "hi"),
            s("gen_ai.completion", "hello"),
        ],
    );
    let inference = span(
        3,
        Some(1),
        "ChatOpenAI",
        vec![
            s("openinference.span.kind", "LLM"),
            s("llm.model_name", "claude-sonnet-4"),
            i("llm.token_count.prompt", 70),
            i("llm.token_count.completion", 30),
            i("llm.token_count.prompt_details.cache_read", 20),
            s("input.value", "question"),
            s("output.value", "answer"),
        ],
    );
    let retriever = span(
        4,
        Some(1),
        "retrieve",
        vec![s("openinference.span.kind", "RETRIEVER")],
    );
    let chain = span(
        5,
        Some(1),
        "RunnableSequence",
        vec![s("openinference.span.kind", "CHAIN")],
    );
    let plain = span(6, Some(1), "parse", vec![]);
    let mapped = map_request(
        &export(vec![], vec![legacy, inference, retriever, chain, plain]),
        now(),
    );
    let spans = &mapped.traces[0].spans;
    assert_eq!(spans[0].kind, Some(SpanKind::Llm));
    assert_eq!(
        (spans[0].input_tokens, spans[0].output_tokens),
        (Some(10), Some(5))
    );
    assert_eq!(
        (spans[0].input.as_deref(), spans[0].output.as_deref()),
        (Some("hi"), Some("hello"))
    );
    assert_eq!(spans[1].kind, Some(SpanKind::Llm));
    assert_eq!(spans[1].model.as_deref(), Some("claude-sonnet-4"));
    assert_eq!(
        (
            spans[1].input_tokens,
            spans[1].output_tokens,
            spans[1].cache_read_tokens
        ),
        (Some(70), Some(30), Some(20))
    );
    assert_eq!(spans[1].output.as_deref(), Some("answer"));
    assert_eq!(spans[2].kind, Some(SpanKind::Retrieval));
    assert_eq!(spans[3].kind, Some(SpanKind::Step));
    assert_eq!(spans[4].kind, Some(SpanKind::Custom));
    // no root in this export: the service names the agent (none: the fallback), the trace the task
    let trace = &mapped.traces[0];
    assert_eq!(trace.root, None);
    assert_eq!(trace.agent_name, FALLBACK_AGENT);
    assert_eq!(trace.task, format!("trace {}", "ab".repeat(16)));
}

#[test]
fn bad_spans_are_rejected_one_by_one_with_a_reason() {
    let good = span(9, None, "fine", vec![]);
    let no_id = OtelSpan {
        span_id: vec![],
        ..span(2, None, "no id", vec![])
    };
    let zero_id = OtelSpan {
        span_id: vec![0; 8],
        ..span(2, None, "zero id", vec![])
    };
    let no_trace = OtelSpan {
        trace_id: vec![0; 16],
        ..span(3, None, "no trace", vec![])
    };
    let zero_start = OtelSpan {
        start_time_unix_nano: 0,
        ..span(4, None, "zero start", vec![])
    };
    let backwards = OtelSpan {
        end_time_unix_nano: START,
        ..span(5, None, "backwards", vec![])
    };
    let future = OtelSpan {
        end_time_unix_nano: START + 3 * 86_400_000_000_000,
        ..span(6, None, "future", vec![])
    };
    let negative = span(
        7,
        None,
        "negative",
        vec![i("gen_ai.usage.input_tokens", -3)],
    );
    let run_id = span(
        8,
        None,
        "bad run id",
        vec![s(RUN_ID_ATTRIBUTE, "not-a-uuid")],
    );
    let mapped = map_request(
        &export(
            vec![],
            vec![
                no_id, zero_id, no_trace, zero_start, backwards, future, negative, run_id, good,
            ],
        ),
        now(),
    );
    assert_eq!(mapped.span_count(), 1);
    let reasons: Vec<&str> = mapped
        .rejections
        .iter()
        .map(|r| r.reason.as_str())
        .collect();
    assert_eq!(reasons.len(), 8, "{reasons:?}");
    assert!(reasons[0].contains("valid span id"));
    assert!(reasons[1].contains("valid span id"));
    assert!(reasons[2].contains("trace id"));
    assert!(reasons[3].contains("start time"));
    assert!(reasons[4].contains("ends before it starts"));
    assert!(reasons[5].contains("end time"));
    assert!(reasons[6].contains("gen_ai.usage.input_tokens"));
    assert!(reasons[7].contains(RUN_ID_ATTRIBUTE));
}

#[test]
fn a_failed_span_keeps_its_error_and_a_failed_root_fails_the_run() {
    let failing = OtelSpan {
        status: Some(Status {
            message: String::new(),
            code: StatusCode::Error as i32,
        }),
        events: vec![Event {
            time_unix_nano: START + 10,
            name: "exception".into(),
            attributes: vec![
                s("exception.type", "ValueError"),
                s("exception.message", "boom"),
            ],
            dropped_attributes_count: 0,
        }],
        ..span(1, None, "agent", vec![])
    };
    let mapped = map_request(&export(vec![], vec![failing]), now());
    let trace = &mapped.traces[0];
    assert_eq!(trace.spans[0].status, Some(SpanStatus::Error));
    assert_eq!(trace.spans[0].error.as_deref(), Some("ValueError: boom"));
    assert_eq!(trace.root, Some(RootEnd::Error("ValueError: boom".into())));
    let events = &trace.spans[0].attributes.as_ref().unwrap()["otel.events"];
    assert_eq!(events[0]["name"], "exception");
}

#[test]
fn runwire_run_id_attaches_a_trace_and_two_different_ones_reject_it() {
    let run = Uuid::new_v4();
    let mapped = map_request(
        &export(
            vec![s(RUN_ID_ATTRIBUTE, &run.to_string())],
            vec![span(1, None, "a", vec![])],
        ),
        now(),
    );
    assert_eq!(mapped.traces[0].run_id, Some(run));

    let other = Uuid::new_v4();
    let mapped = map_request(
        &export(
            vec![],
            vec![
                span(1, None, "a", vec![s(RUN_ID_ATTRIBUTE, &run.to_string())]),
                span(
                    2,
                    Some(1),
                    "b",
                    vec![s(RUN_ID_ATTRIBUTE, &other.to_string())],
                ),
            ],
        ),
        now(),
    );
    assert!(mapped.traces.is_empty());
    assert_eq!(mapped.rejections[0].spans, 2);
    assert!(mapped.rejections[0].reason.contains("two different runs"));
}

#[test]
fn spans_of_several_traces_group_by_trace_in_the_order_they_came() {
    let other = OtelSpan {
        trace_id: vec![0xcd; 16],
        ..span(5, None, "second trace", vec![])
    };
    let mapped = map_request(
        &export(
            vec![s("service.name", "svc")],
            vec![
                span(2, Some(1), "child", vec![]),
                other,
                span(3, Some(1), "sibling", vec![]),
            ],
        ),
        now(),
    );
    assert_eq!(mapped.traces.len(), 2);
    assert_eq!(mapped.traces[0].spans.len(), 2);
    assert_eq!(mapped.traces[0].agent_name, "svc");
    assert_eq!(mapped.traces[1].task, "second trace");
    assert_eq!(mapped.traces[1].spans[0].kind, Some(SpanKind::Agent));
}
