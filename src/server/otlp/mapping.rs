//! How an OTLP export becomes runwire's own reports: each trace a run, each span a [`SpanReport`].
//! The GenAI semantic conventions (`gen_ai.*`, with their older names) and OpenInference (`llm.*`,
//! `openinference.span.kind`) name the kind, model, tokens and content of a call; every attribute
//! is kept on the span. Pure: nothing here reads the database or the clock.

use super::attributes::{self, amount, content, count, text};
use super::conventions::{
    kind_of, AGENT_NAME, CACHE_READ_TOKENS, COST, INPUT, INPUT_TOKENS, MODEL, OUTPUT,
    OUTPUT_TOKENS, REASONING_TOKENS, SESSION,
};
use super::otel_fields::{annotate, error_text, id_hex, timestamp};
use crate::model::{SpanReport, SpanStatus, SPAN_ATTRIBUTES_MAX_BYTES};
use chrono::{DateTime, Utc};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, Span as OtelSpan};
use serde_json::{Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

/// The attribute (on a span or its resource) that attaches a trace to an existing run.
pub const RUN_ID_ATTRIBUTE: &str = "runwire.run_id";
/// What names a run's agent when no span does.
pub const FALLBACK_AGENT: &str = "opentelemetry";
const AGENT_NAME_MAX_CHARS: usize = 100;
const SPAN_NAME_MAX_CHARS: usize = 200;

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

fn take_content(attributes: &mut Map<String, Value>, keys: &[&str]) -> Option<String> {
    let found = content(attributes, keys)?;
    if let Some(key) = keys.iter().find(|key| attributes.contains_key(**key)) {
        attributes.remove(*key);
    }
    Some(found)
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
