//! How an OTLP export becomes runwire's own reports: each trace a run, each span a [`SpanReport`].
//! The GenAI semantic conventions (`gen_ai.*`, with their older names) and OpenInference (`llm.*`,
//! `openinference.span.kind`) name the kind, model, tokens and content of a call; every attribute
//! is kept on the span. Pure: nothing here reads the database or the clock.

use super::attributes::{self, amount, content, count, text};
use crate::model::{SpanKind, SpanReport, SpanStatus, SPAN_ATTRIBUTES_MAX_BYTES};
use chrono::{DateTime, TimeZone, Utc};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{span, status::StatusCode, Span as OtelSpan};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

/// The attribute (on a span or its resource) that attaches a trace to an existing run.
pub const RUN_ID_ATTRIBUTE: &str = "runwire.run_id";
/// What names a run's agent when no span does.
pub const FALLBACK_AGENT: &str = "opentelemetry";
/// Span events and links kept on a span (under `otel.events`, `otel.links`); the rest are counted.
const EVENTS_KEPT: usize = 32;
const AGENT_NAME_MAX_CHARS: usize = 100;
const SPAN_NAME_MAX_CHARS: usize = 200;
/// Timestamps before this (2000-01-01) are a zero or a unit mistake, not a span.
const EARLIEST_NANOS: u64 = 946_684_800_000_000_000;

const AGENT_NAME: &[&str] = &["gen_ai.agent.name", "agent.name"];
const MODEL: &[&str] = &[
    "gen_ai.request.model",
    "gen_ai.response.model",
    "llm.model_name",
    "llm.request.model",
];
const INPUT_TOKENS: &[&str] = &[
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",
];
const OUTPUT_TOKENS: &[&str] = &[
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
];
const CACHE_READ_TOKENS: &[&str] = &[
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.input_tokens.cached",
    "llm.token_count.prompt_details.cache_read",
];
const REASONING_TOKENS: &[&str] = &[
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.output_tokens.reasoning",
    "llm.token_count.completion_details.reasoning",
];
const COST: &[&str] = &["gen_ai.usage.cost", "llm.cost.total"];
/// Content moves from the attributes into the span's previews.
const INPUT: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.prompt",
    "gen_ai.tool.call.arguments",
    "input.value",
    "traceloop.entity.input",
];
const OUTPUT: &[&str] = &[
    "gen_ai.output.messages",
    "gen_ai.completion",
    "gen_ai.tool.call.result",
    "output.value",
    "traceloop.entity.output",
];
const SESSION: &[&str] = &["gen_ai.conversation.id", "session.id"];

/// The spans of one trace in an export, ready to record in its run.
#[derive(Debug, PartialEq)]
pub struct TraceBatch {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// The run named by `runwire.run_id`, if any; otherwise the trace's own run.
    pub run_id: Option<Uuid>,
    /// What a new run for this trace is called, and holds.
    pub agent_name: String,
    pub task: String,
    pub metadata: Map<String, Value>,
    pub spans: Vec<SpanReport>,
    /// The trace's root span, when this export has it: its end ends the run.
    pub root: Option<RootEnd>,
}

/// How a trace's root span ended.
#[derive(Debug, PartialEq)]
pub enum RootEnd {
    Ok { output: Option<String> },
    Error(String),
}

/// Spans of an export that were not taken, and why.
#[derive(Debug, PartialEq)]
pub struct Rejection {
    pub spans: usize,
    pub reason: String,
}

#[derive(Debug, Default, PartialEq)]
pub struct Mapped {
    pub traces: Vec<TraceBatch>,
    pub rejections: Vec<Rejection>,
}

impl Mapped {
    pub fn span_count(&self) -> usize {
        self.traces.iter().map(|t| t.spans.len()).sum()
    }
}

/// What one span tells about its trace's run, beside its report.
struct Facts {
    trace_id: String,
    run_id: Option<Uuid>,
    is_root: bool,
    agent_name: Option<String>,
    invokes_agent: bool,
    session_id: Option<String>,
    name: String,
    outcome: RootEnd,
}

/// Maps an export; spans that cannot be stored are rejected one by one, with the reason.
pub fn map_request(request: &ExportTraceServiceRequest, now: DateTime<Utc>) -> Mapped {
    let mut mapped = Mapped::default();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut naming: Vec<Naming> = Vec::new();
    let mut conflicting: Vec<bool> = Vec::new();
    for resource_spans in &request.resource_spans {
        let resource = resource_spans
            .resource
            .as_ref()
            .map(|r| attributes::to_json(&r.attributes))
            .unwrap_or_default();
        let service = text(&resource, &["service.name"]).map(str::to_owned);
        for scope_spans in &resource_spans.scope_spans {
            let scope = scope_spans.scope.as_ref();
            for otel in &scope_spans.spans {
                let (report, facts) = match map_span(otel, &resource, scope, now) {
                    Ok(mapped_span) => mapped_span,
                    Err(reason) => {
                        mapped.rejections.push(Rejection { spans: 1, reason });
                        continue;
                    }
                };
                let at = *index.entry(facts.trace_id.clone()).or_insert_with(|| {
                    mapped.traces.push(TraceBatch {
                        trace_id: facts.trace_id.clone(),
                        run_id: facts.run_id,
                        agent_name: String::new(),
                        task: String::new(),
                        metadata: run_metadata(&facts.trace_id, &resource),
                        spans: Vec::new(),
                        root: None,
                    });
                    naming.push(Naming {
                        service: service.clone(),
                        ..Naming::default()
                    });
                    conflicting.push(false);
                    mapped.traces.len() - 1
                });
                let trace = &mut mapped.traces[at];
                if facts.run_id.is_some() && trace.run_id.is_some() && facts.run_id != trace.run_id
                {
                    conflicting[at] = true;
                }
                trace.run_id = trace.run_id.or(facts.run_id);
                if let Some(session) = &facts.session_id {
                    trace
                        .metadata
                        .entry("session_id")
                        .or_insert_with(|| Value::from(session.as_str()));
                }
                naming[at].learn(&facts);
                if facts.is_root {
                    trace.root = Some(facts.outcome);
                }
                trace.spans.push(report);
            }
        }
    }
    let mut traces = Vec::with_capacity(mapped.traces.len());
    for ((mut trace, naming), conflict) in mapped.traces.into_iter().zip(naming).zip(conflicting) {
        if conflict {
            mapped.rejections.push(Rejection {
                spans: trace.spans.len(),
                reason: format!(
                    "trace {} names two different runs in `{RUN_ID_ATTRIBUTE}`",
                    trace.trace_id
                ),
            });
            continue;
        }
        (trace.agent_name, trace.task) = naming.finish(&trace.trace_id);
        traces.push(trace);
    }
    mapped.traces = traces;
    mapped
}

/// What names a trace's run: the root span (or an `invoke_agent` span) first, the service last.
#[derive(Default)]
struct Naming {
    root_agent: Option<String>,
    invoked_agent: Option<String>,
    any_agent: Option<String>,
    service: Option<String>,
    root_task: Option<String>,
    agent_task: Option<String>,
}

impl Naming {
    fn learn(&mut self, facts: &Facts) {
        if facts.is_root {
            self.root_agent = facts.agent_name.clone().or(self.root_agent.take());
            self.root_task = Some(facts.name.clone());
        }
        if facts.invokes_agent {
            self.invoked_agent = self.invoked_agent.take().or(facts.agent_name.clone());
            self.agent_task.get_or_insert_with(|| facts.name.clone());
        }
        if self.any_agent.is_none() {
            self.any_agent = facts.agent_name.clone();
        }
    }

    fn finish(self, trace_id: &str) -> (String, String) {
        let agent = self
            .root_agent
            .or(self.invoked_agent)
            .or(self.any_agent)
            .or(self.service)
            .unwrap_or_else(|| FALLBACK_AGENT.to_owned());
        let task = self
            .root_task
            .or(self.agent_task)
            .unwrap_or_else(|| format!("trace {trace_id}"));
        (cut(&agent, AGENT_NAME_MAX_CHARS), task)
    }
}

/// What a run made for a trace keeps of where it came from.
fn run_metadata(trace_id: &str, resource: &Map<String, Value>) -> Map<String, Value> {
    let mut metadata = Map::new();
    metadata.insert("source".into(), Value::from("opentelemetry"));
    metadata.insert("trace_id".into(), Value::from(trace_id));
    // the resource describes the sender (service, SDK, host); kept while it is a modest size
    if !resource.is_empty() && serde_json::to_vec(resource).map_or(0, |v| v.len()) <= 16 * 1024 {
        metadata.insert("resource".into(), Value::Object(resource.clone()));
    }
    metadata
}

fn map_span(
    otel: &OtelSpan,
    resource: &Map<String, Value>,
    scope: Option<&opentelemetry_proto::tonic::common::v1::InstrumentationScope>,
    now: DateTime<Utc>,
) -> Result<(SpanReport, Facts), String> {
    let span_id = id_hex(&otel.span_id, 8)
        .ok_or_else(|| "a span without a valid span id (8 bytes, not all zero)".to_owned())?;
    let trace_id = id_hex(&otel.trace_id, 16)
        .ok_or_else(|| format!("span {span_id} has no valid trace id (16 bytes, not all zero)"))?;
    let parent_span_id = match otel.parent_span_id.as_slice() {
        [] => None,
        bytes => Some(id_hex(bytes, 8).ok_or_else(|| {
            format!("span {span_id} has an invalid parent span id (8 bytes, not all zero)")
        })?),
    };
    let started_at = timestamp(otel.start_time_unix_nano, now)
        .ok_or_else(|| format!("span {span_id} has no plausible start time"))?;
    let ended_at = timestamp(otel.end_time_unix_nano, now)
        .ok_or_else(|| format!("span {span_id} has no plausible end time"))?;
    if ended_at < started_at {
        return Err(format!("span {span_id} ends before it starts"));
    }

    let mut attributes = attributes::to_json(&otel.attributes);
    let run_id =
        match text(&attributes, &[RUN_ID_ATTRIBUTE]).or(text(resource, &[RUN_ID_ATTRIBUTE])) {
            None => None,
            Some(id) => Some(id.parse::<Uuid>().map_err(|_| {
                format!("span {span_id}: `{RUN_ID_ATTRIBUTE}` must be a run's UUID")
            })?),
        };
    let is_root = parent_span_id.is_none();
    let operation = text(&attributes, &["gen_ai.operation.name"]).map(str::to_owned);
    let kind = kind_of(&attributes, operation.as_deref(), is_root);
    let field = |r: Result<Option<i64>, String>| r.map_err(|e| format!("span {span_id}: {e}"));
    let input_tokens = field(count(&attributes, INPUT_TOKENS))?;
    let output_tokens = field(count(&attributes, OUTPUT_TOKENS))?;
    let cache_read_tokens = field(count(&attributes, CACHE_READ_TOKENS))?;
    let reasoning_tokens = field(count(&attributes, REASONING_TOKENS))?;
    let cost_usd = amount(&attributes, COST).map_err(|e| format!("span {span_id}: {e}"))?;
    let model = text(&attributes, MODEL).map(|m| cut(m, SPAN_NAME_MAX_CHARS));
    let agent_name = text(&attributes, AGENT_NAME).map(str::to_owned);
    let session_id = text(&attributes, SESSION).map(|s| cut(s, 200));
    let input = take_content(&mut attributes, INPUT);
    let output = take_content(&mut attributes, OUTPUT);

    let failed = otel
        .status
        .as_ref()
        .is_some_and(|s| s.code == StatusCode::Error as i32);
    let error = failed.then(|| error_text(otel));
    annotate(&mut attributes, otel, scope, failed);
    let size = serde_json::to_vec(&attributes).map_or(usize::MAX, |v| v.len());
    if size > SPAN_ATTRIBUTES_MAX_BYTES {
        return Err(format!(
            "span {span_id}: its attributes are {size} bytes; the limit is {SPAN_ATTRIBUTES_MAX_BYTES}"
        ));
    }

    let name = match otel.name.trim() {
        "" => operation
            .clone()
            .unwrap_or_else(|| kind.as_str().to_owned()),
        name => name.replace('\0', "\u{FFFD}"),
    };
    let name = cut(&name, SPAN_NAME_MAX_CHARS);
    let outcome = match &error {
        Some(error) => RootEnd::Error(error.clone()),
        None => RootEnd::Ok {
            output: output.clone(),
        },
    };
    let report = SpanReport {
        span_id: span_id.clone(),
        parent_span_id,
        kind: Some(kind),
        name: Some(name.clone()),
        status: Some(if failed {
            SpanStatus::Error
        } else {
            SpanStatus::Ok
        }),
        started_at: Some(started_at),
        ended_at: Some(ended_at),
        model,
        input_tokens,
        output_tokens,
        cache_read_tokens,
        reasoning_tokens,
        cost_usd,
        attributes: Some(attributes),
        input,
        output,
        error,
    };
    report
        .validate()
        .map_err(|err| format!("span {span_id}: {err}"))?;
    let facts = Facts {
        trace_id,
        run_id,
        is_root,
        agent_name,
        invokes_agent: matches!(operation.as_deref(), Some("invoke_agent" | "create_agent")),
        session_id,
        name,
        outcome,
    };
    Ok((report, facts))
}

/// The span's kind by its operation (GenAI conventions), its OpenInference or OpenLLMetry kind, or
/// the attributes an LLM or tool call carries; a root span is the agent.
fn kind_of(attributes: &Map<String, Value>, operation: Option<&str>, is_root: bool) -> SpanKind {
    let by_operation = match operation {
        Some("chat" | "text_completion" | "generate_content" | "embeddings" | "completion") => {
            Some(SpanKind::Llm)
        }
        Some("execute_tool") => Some(SpanKind::Tool),
        Some("invoke_agent" | "create_agent") => Some(SpanKind::Agent),
        _ => None,
    };
    let by_openinference =
        text(attributes, &["openinference.span.kind"]).and_then(|kind| {
            match kind.to_ascii_uppercase().as_str() {
                "LLM" | "EMBEDDING" => Some(SpanKind::Llm),
                "TOOL" => Some(SpanKind::Tool),
                "AGENT" => Some(SpanKind::Agent),
                "RETRIEVER" | "RERANKER" => Some(SpanKind::Retrieval),
                "CHAIN" => Some(SpanKind::Step),
                _ => None,
            }
        });
    let by_traceloop = text(attributes, &["traceloop.span.kind"]).and_then(|kind| match kind {
        "workflow" | "agent" => Some(SpanKind::Agent),
        "task" => Some(SpanKind::Step),
        "tool" => Some(SpanKind::Tool),
        _ => None,
    });
    let by_attributes = if text(attributes, &["llm.request.type"]).is_some()
        || (text(attributes, &["gen_ai.system", "gen_ai.provider.name"]).is_some()
            && text(attributes, MODEL).is_some())
    {
        Some(SpanKind::Llm)
    } else if text(attributes, &["gen_ai.tool.name", "tool.name"]).is_some() {
        Some(SpanKind::Tool)
    } else {
        None
    };
    by_operation
        .or(by_openinference)
        .or(by_traceloop)
        .or(by_attributes)
        .unwrap_or(if is_root {
            SpanKind::Agent
        } else {
            SpanKind::Custom
        })
}

/// An id as lowercase hex, when it has its length and is not all zero.
fn id_hex(bytes: &[u8], len: usize) -> Option<String> {
    (bytes.len() == len && bytes.iter().any(|b| *b != 0)).then(|| hex(bytes))
}

/// A span time, when it is one: not zero, not before 2000, not more than a day ahead of now.
fn timestamp(nanos: u64, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if nanos < EARLIEST_NANOS {
        return None;
    }
    let at = Utc.timestamp_nanos(i64::try_from(nanos).ok()?);
    (at <= now + chrono::Duration::days(1)).then_some(at)
}

fn take_content(attributes: &mut Map<String, Value>, keys: &[&str]) -> Option<String> {
    let found = content(attributes, keys)?;
    if let Some(key) = keys.iter().find(|key| attributes.contains_key(**key)) {
        attributes.remove(*key);
    }
    Some(found)
}

/// A failed span's error: its status message, else its exception event, else a plain word.
fn error_text(otel: &OtelSpan) -> String {
    if let Some(message) = otel
        .status
        .as_ref()
        .map(|s| s.message.trim())
        .filter(|m| !m.is_empty())
    {
        return message.replace('\0', "\u{FFFD}");
    }
    otel.events
        .iter()
        .filter(|event| event.name == "exception")
        .find_map(|event| {
            let attributes = attributes::to_json(&event.attributes);
            let kind = text(&attributes, &["exception.type"]);
            let message = text(&attributes, &["exception.message"]);
            match (kind, message) {
                (Some(kind), Some(message)) => Some(format!("{kind}: {message}")),
                (kind, message) => kind.or(message).map(str::to_owned),
            }
        })
        .unwrap_or_else(|| "error".to_owned())
}

/// What OTLP says of a span beside its attributes, kept under `otel.*`.
fn annotate(
    attributes: &mut Map<String, Value>,
    otel: &OtelSpan,
    scope: Option<&opentelemetry_proto::tonic::common::v1::InstrumentationScope>,
    failed: bool,
) {
    let kind = span::SpanKind::try_from(otel.kind).unwrap_or(span::SpanKind::Unspecified);
    if kind != span::SpanKind::Unspecified {
        let name = kind
            .as_str_name()
            .trim_start_matches("SPAN_KIND_")
            .to_ascii_lowercase();
        attributes.insert("otel.span_kind".into(), Value::from(name));
    }
    if let Some(scope) = scope.filter(|s| !s.name.is_empty()) {
        attributes.insert("otel.scope.name".into(), Value::from(scope.name.as_str()));
        if !scope.version.is_empty() {
            attributes.insert(
                "otel.scope.version".into(),
                Value::from(scope.version.as_str()),
            );
        }
    }
    if !failed {
        if let Some(message) = otel
            .status
            .as_ref()
            .map(|s| s.message.trim())
            .filter(|m| !m.is_empty())
        {
            attributes.insert("otel.status_message".into(), Value::from(message));
        }
    }
    if !otel.events.is_empty() {
        let events: Vec<Value> = otel
            .events
            .iter()
            .take(EVENTS_KEPT)
            .map(|event| {
                json!({
                    "name": event.name,
                    "time": Utc.timestamp_nanos(i64::try_from(event.time_unix_nano).unwrap_or(0)),
                    "attributes": attributes::to_json(&event.attributes),
                })
            })
            .collect();
        attributes.insert("otel.events".into(), Value::from(events));
    }
    if !otel.links.is_empty() {
        let links: Vec<Value> = otel
            .links
            .iter()
            .take(EVENTS_KEPT)
            .map(|link| {
                json!({
                    "trace_id": hex(&link.trace_id),
                    "span_id": hex(&link.span_id),
                    "attributes": attributes::to_json(&link.attributes),
                })
            })
            .collect();
        attributes.insert("otel.links".into(), Value::from(links));
    }
    let dropped = [
        (
            "otel.dropped_attributes_count",
            otel.dropped_attributes_count as usize,
        ),
        (
            "otel.dropped_events_count",
            otel.dropped_events_count as usize + otel.events.len().saturating_sub(EVENTS_KEPT),
        ),
        (
            "otel.dropped_links_count",
            otel.dropped_links_count as usize + otel.links.len().saturating_sub(EVENTS_KEPT),
        ),
    ];
    for (key, count) in dropped {
        if count > 0 {
            attributes.insert(key.into(), Value::from(count));
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// At most `max` characters of `text`.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;
