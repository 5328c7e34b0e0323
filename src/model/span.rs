//! Spans: what an agent did inside a run (an LLM call, a tool call, a retrieval, a step), with its
//! model, tokens, cost and timing. A span is reported by its start and its end, or in one piece
//! when it has already ended; the report folds into the stored span by [`SpanReport::fold`].

use super::limits::check_text;
use super::{unstorable, RunUpdateError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Longest span id (an OpenTelemetry span id is 16 hex digits).
pub const SPAN_ID_MAX_CHARS: usize = 64;
pub const SPAN_NAME_MAX_CHARS: usize = 200;
pub const SPAN_MODEL_MAX_CHARS: usize = 200;
/// Input, output and error of a span are kept as previews of at most this many characters.
pub const SPAN_PREVIEW_MAX_CHARS: usize = 4096;
/// Largest serialized attributes of one span.
pub const SPAN_ATTRIBUTES_MAX_BYTES: usize = 64 * 1024;
/// Most spans one run holds.
pub const SPANS_PER_RUN_MAX: i64 = 10_000;
/// Most span reports in one request.
pub const SPAN_BATCH_MAX: usize = 1_000;
/// Largest token count of one span.
pub const SPAN_TOKENS_MAX: i64 = 1_000_000_000_000;
/// Most spans a page of `GET /api/v1/runs/{id}/spans` (and a run's timeline) holds.
pub const SPAN_PAGE_MAX: i64 = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type, utoipa::ToSchema))]
#[cfg_attr(
    feature = "ssr",
    sqlx(type_name = "span_kind", rename_all = "snake_case")
)]
pub enum SpanKind {
    Agent,
    Llm,
    Tool,
    Retrieval,
    Step,
    Custom,
}

impl SpanKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            SpanKind::Agent => "agent",
            SpanKind::Llm => "llm",
            SpanKind::Tool => "tool",
            SpanKind::Retrieval => "retrieval",
            SpanKind::Step => "step",
            SpanKind::Custom => "custom",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type, utoipa::ToSchema))]
#[cfg_attr(
    feature = "ssr",
    sqlx(type_name = "span_status", rename_all = "snake_case")
)]
pub enum SpanStatus {
    Running,
    Ok,
    Error,
}

impl SpanStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            SpanStatus::Running => "running",
            SpanStatus::Ok => "ok",
            SpanStatus::Error => "error",
        }
    }
}

/// A span as stored, and as the payload of its `span_*` events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Span {
    pub span_id: String,
    pub run_id: Uuid,
    pub parent_span_id: Option<String>,
    pub kind: SpanKind,
    pub name: String,
    pub status: SpanStatus,
    #[serde(serialize_with = "crate::model::json_time::serialize")]
    pub started_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::model::json_time::serialize_option")]
    pub ended_at: Option<DateTime<Utc>>,
    pub model: Option<String>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    /// None: unknown (the agent sent none and the model has no price), never a made-up 0.
    pub cost_usd: Option<f64>,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub attributes: Value,
    pub input_preview: Option<String>,
    pub output_preview: Option<String>,
    pub error: Option<String>,
}

impl Span {
    /// A running `custom` span with nothing but its id, run, name and start.
    pub fn new(span_id: String, run_id: Uuid, name: String, started_at: DateTime<Utc>) -> Span {
        Span {
            span_id,
            run_id,
            parent_span_id: None,
            kind: SpanKind::Custom,
            name,
            status: SpanStatus::Running,
            started_at,
            ended_at: None,
            model: None,
            input_tokens: None,
            output_tokens: None,
            cache_read_tokens: None,
            reasoning_tokens: None,
            cost_usd: None,
            attributes: Value::Object(Map::new()),
            input_preview: None,
            output_preview: None,
            error: None,
        }
    }

    /// Milliseconds from start to end, or to `now` while running.
    pub fn duration_ms(&self, now: DateTime<Utc>) -> i64 {
        (self.ended_at.unwrap_or(now) - self.started_at)
            .num_milliseconds()
            .max(0)
    }

    pub fn is_running(&self) -> bool {
        self.status == SpanStatus::Running
    }
}

/// What an agent reports about a span: its start, a change while it runs, or its end. Only
/// `span_id` is always needed; a new span also needs `name`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SpanReport {
    #[cfg_attr(
        feature = "ssr",
        schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._:-]+$")
    )]
    pub span_id: String,
    #[serde(default)]
    #[cfg_attr(
        feature = "ssr",
        schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._:-]+$")
    )]
    pub parent_span_id: Option<String>,
    /// Default `custom`.
    #[serde(default)]
    pub kind: Option<SpanKind>,
    #[serde(default)]
    #[cfg_attr(
        feature = "ssr",
        schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
        )
    )]
    pub name: Option<String>,
    /// `ok` or `error` ends the span (at `ended_at`, or now); default `running`, or `ok` when
    /// `ended_at` is given.
    #[serde(default)]
    pub status: Option<SpanStatus>,
    /// Default: now.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default)]
    #[cfg_attr(
        feature = "ssr",
        schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
        )
    )]
    pub model: Option<String>,
    #[serde(default, deserialize_with = "whole_number")]
    #[cfg_attr(feature = "ssr", schema(minimum = 0, maximum = 1_000_000_000_000_i64))]
    pub input_tokens: Option<i64>,
    #[serde(default, deserialize_with = "whole_number")]
    #[cfg_attr(feature = "ssr", schema(minimum = 0, maximum = 1_000_000_000_000_i64))]
    pub output_tokens: Option<i64>,
    #[serde(default, deserialize_with = "whole_number")]
    #[cfg_attr(feature = "ssr", schema(minimum = 0, maximum = 1_000_000_000_000_i64))]
    pub cache_read_tokens: Option<i64>,
    #[serde(default, deserialize_with = "whole_number")]
    #[cfg_attr(feature = "ssr", schema(minimum = 0, maximum = 1_000_000_000_000_i64))]
    pub reasoning_tokens: Option<i64>,
    /// The call's cost, when the agent knows it; otherwise computed from the price table.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(minimum = 0, maximum = 1_000_000_000.0))]
    pub cost_usd: Option<f64>,
    /// Merged into the span's attributes (a key sent again replaces the old value).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub attributes: Option<Map<String, Value>>,
    /// Kept as a preview: the first 4,096 characters.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(pattern = r"^[^\x00]*$"))]
    pub input: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(pattern = r"^[^\x00]*$"))]
    pub output: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(pattern = r"^[^\x00]*$"))]
    pub error: Option<String>,
}

/// A token count: a JSON integer, or a number with no fraction (`1200.0`, as some encoders write
/// integers), since JSON Schema calls both integers.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    whole(&number)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom("expected a whole number"))
}

/// A JSON number as a whole number (a token count): an integer, or a float with no fraction (`1200.0`).
pub fn whole(number: &serde_json::Number) -> Option<i64> {
    number.as_i64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
            .map(|f| f as i64)
    })
}

/// What a report did to its span, which names the event that records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanChange {
    Started,
    Updated,
    Ended,
}

impl SpanReport {
    /// Checks the report alone (before any stored span is read).
    pub fn validate(&self) -> Result<(), RunUpdateError> {
        check_span_id("span_id", &self.span_id)?;
        if let Some(parent) = &self.parent_span_id {
            check_span_id("parent_span_id", parent)?;
            if *parent == self.span_id {
                return Err(RunUpdateError::Invalid("a span cannot be its own parent"));
            }
        }
        if let Some(name) = &self.name {
            check_text("name", name, SPAN_NAME_MAX_CHARS)?;
        }
        if let Some(model) = &self.model {
            check_text("model", model, SPAN_MODEL_MAX_CHARS)?;
        }
        for (field, tokens) in [
            ("input_tokens", self.input_tokens),
            ("output_tokens", self.output_tokens),
            ("cache_read_tokens", self.cache_read_tokens),
            ("reasoning_tokens", self.reasoning_tokens),
        ] {
            if tokens.is_some_and(|n| !(0..=SPAN_TOKENS_MAX).contains(&n)) {
                return Err(RunUpdateError::OutOfRange {
                    field,
                    message: "must be a whole number from 0 to 10^12",
                });
            }
        }
        if self
            .cost_usd
            .is_some_and(|c| !c.is_finite() || !(0.0..=1e9).contains(&c))
        {
            return Err(RunUpdateError::OutOfRange {
                field: "cost_usd",
                message: "must be a number from 0 to 10^9",
            });
        }
        if let (Some(start), Some(end)) = (self.started_at, self.ended_at) {
            if end < start {
                return Err(RunUpdateError::OutOfRange {
                    field: "ended_at",
                    message: "cannot be before started_at",
                });
            }
        }
        if self.status == Some(SpanStatus::Running) && self.ended_at.is_some() {
            return Err(RunUpdateError::Invalid("a running span has no ended_at"));
        }
        for (field, text) in [
            ("input", &self.input),
            ("output", &self.output),
            ("error", &self.error),
        ] {
            if text.as_ref().is_some_and(|t| t.contains('\0')) {
                return Err(RunUpdateError::Unstorable {
                    field,
                    what: "a NUL character",
                });
            }
        }
        if let Some(attributes) = &self.attributes {
            let value = Value::Object(attributes.clone());
            if let Some(what) = unstorable(&value) {
                return Err(RunUpdateError::Unstorable {
                    field: "attributes",
                    what,
                });
            }
            let size = serde_json::to_vec(&value).map_or(usize::MAX, |v| v.len());
            if size > SPAN_ATTRIBUTES_MAX_BYTES {
                return Err(RunUpdateError::TooLarge {
                    field: "attributes",
                    size,
                    max: SPAN_ATTRIBUTES_MAX_BYTES,
                });
            }
        }
        Ok(())
    }

    /// Folds this report into the span as stored (None: a new span) at `now`. An ended span is
    /// final: any report about it is refused. The cost is left as sent; the caller prices it.
    pub fn fold(
        &self,
        run_id: Uuid,
        stored: Option<Span>,
        now: DateTime<Utc>,
    ) -> Result<(Span, SpanChange), RunUpdateError> {
        self.validate()?;
        let existed = stored.is_some();
        let mut span = match stored {
            Some(span) if !span.is_running() => {
                return Err(RunUpdateError::SpanEnded(span.span_id));
            }
            Some(span) => span,
            None => {
                let Some(name) = self.name.clone() else {
                    return Err(RunUpdateError::TextLength {
                        field: "name",
                        max: SPAN_NAME_MAX_CHARS,
                    });
                };
                let started_at = self
                    .started_at
                    .unwrap_or_else(|| self.ended_at.map_or(now, |end| end.min(now)));
                Span::new(self.span_id.clone(), run_id, name, started_at)
            }
        };
        macro_rules! take {
            ($($field:ident),*) => {$(
                if let Some(value) = &self.$field {
                    span.$field = Some(value.clone());
                }
            )*};
        }
        take!(
            parent_span_id,
            model,
            input_tokens,
            output_tokens,
            cache_read_tokens,
            reasoning_tokens,
            cost_usd
        );
        if let Some(kind) = self.kind {
            span.kind = kind;
        }
        if let Some(name) = &self.name {
            span.name = name.clone();
        }
        if let Some(started_at) = self.started_at {
            span.started_at = started_at;
        }
        if let Some(input) = &self.input {
            span.input_preview = Some(preview(input));
        }
        if let Some(output) = &self.output {
            span.output_preview = Some(preview(output));
        }
        if let Some(error) = &self.error {
            span.error = Some(preview(error));
        }
        if let Some(attributes) = &self.attributes {
            let held = span
                .attributes
                .as_object_mut()
                .expect("attributes are an object");
            for (key, value) in attributes {
                held.insert(key.clone(), value.clone());
            }
            let size = serde_json::to_vec(&span.attributes).map_or(usize::MAX, |v| v.len());
            if size > SPAN_ATTRIBUTES_MAX_BYTES {
                return Err(RunUpdateError::TooLarge {
                    field: "attributes",
                    size,
                    max: SPAN_ATTRIBUTES_MAX_BYTES,
                });
            }
        }
        let status = match (self.status, self.ended_at) {
            (Some(status), _) => status,
            (None, Some(_)) if self.error.is_some() => SpanStatus::Error,
            (None, Some(_)) => SpanStatus::Ok,
            (None, None) => SpanStatus::Running,
        };
        let change = if status == SpanStatus::Running {
            if existed {
                SpanChange::Updated
            } else {
                SpanChange::Started
            }
        } else {
            span.status = status;
            span.ended_at = Some(self.ended_at.unwrap_or(now).max(span.started_at));
            SpanChange::Ended
        };
        Ok((span, change))
    }
}

fn check_span_id(field: &'static str, id: &str) -> Result<(), RunUpdateError> {
    let ok = !id.is_empty()
        && id.chars().count() <= SPAN_ID_MAX_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    if ok {
        Ok(())
    } else {
        Err(RunUpdateError::OutOfRange {
            field,
            message: "must be 1 to 64 letters, digits, '.', '_', ':' or '-'",
        })
    }
}

/// The first [`SPAN_PREVIEW_MAX_CHARS`] characters of `text`, with "…" when cut.
pub fn preview(text: &str) -> String {
    match text.char_indices().nth(SPAN_PREVIEW_MAX_CHARS - 1) {
        Some((cut, _)) if text.len() > cut + 1 => format!("{}…", &text[..cut]),
        _ => text.to_owned(),
    }
}

/// The run's totals a `span_*` event carries beside its span: its payload is `{"span": <the
/// span>, "run_tokens_in": .., "run_tokens_out": .., "run_cost_usd": ..}`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SpanEventTotals {
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub cost_usd: Option<f64>,
}

impl SpanEventTotals {
    pub fn of(run: &super::AgentRun) -> SpanEventTotals {
        SpanEventTotals {
            tokens_in: run.tokens_in,
            tokens_out: run.tokens_out,
            cost_usd: run.cost_usd,
        }
    }

    /// The payload of a `span_*` event about `span`, with these totals.
    pub fn payload<'a>(&self, span: &'a Span) -> SpanEventPayload<'a> {
        SpanEventPayload {
            span,
            run_tokens_in: self.tokens_in,
            run_tokens_out: self.tokens_out,
            run_cost_usd: self.cost_usd,
        }
    }

    pub fn read_from(payload: &Value) -> SpanEventTotals {
        SpanEventTotals {
            tokens_in: payload.get("run_tokens_in").and_then(Value::as_i64),
            tokens_out: payload.get("run_tokens_out").and_then(Value::as_i64),
            cost_usd: payload.get("run_cost_usd").and_then(Value::as_f64),
        }
    }
}

/// A `span_*` event's payload as it is written: serialised straight to JSON, with no
/// `serde_json::Value` in between (that detour was a fifth of the server's CPU in the span
/// benchmark's profile).
#[derive(Serialize)]
pub struct SpanEventPayload<'a> {
    pub span: &'a Span,
    pub run_tokens_in: Option<i64>,
    pub run_tokens_out: Option<i64>,
    pub run_cost_usd: Option<f64>,
}

/// The span a `span_*` event's payload holds.
///
/// Read back from bytes rather than with `serde_json::from_value`: the browser decodes spans from
/// bytes already (server functions, the live socket), and a second decoder for `Value` input was
/// 18 KB of the WASM (twiggy). The payload is one span, so the round trip costs little.
pub fn span_of_event(payload: &Value) -> Option<Span> {
    let span = serde_json::to_vec(payload.get("span")?).ok()?;
    serde_json::from_slice(&span).ok()
}

/// A page of a run's spans, by start time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SpanPage {
    pub spans: Vec<Span>,
    /// Pass as `after` for the next page; None: this was the last.
    pub next_after: Option<String>,
}
