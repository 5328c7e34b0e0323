//! What OTLP says of a span beyond its attributes: ids, times, status, events and links, read
//! into runwire's terms and kept under `otel.*`.

use super::attributes::{self, text};
use chrono::{DateTime, TimeZone, Utc};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::trace::v1::{span, Span as OtelSpan};
use serde_json::{json, Map, Value};

/// Span events and links kept on a span (under `otel.events`, `otel.links`); the rest are counted.
const EVENTS_KEPT: usize = 32;

/// Timestamps before this (2000-01-01) are a zero or a unit mistake, not a span.
const EARLIEST_NANOS: u64 = 946_684_800_000_000_000;

/// An id as lowercase hex, when it has its length and is not all zero.
pub fn id_hex(bytes: &[u8], len: usize) -> Option<String> {
    (bytes.len() == len && bytes.iter().any(|b| *b != 0)).then(|| hex(bytes))
}

/// A span time, when it is one: not zero, not before 2000, not more than a day ahead of now.
pub fn timestamp(nanos: u64, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if nanos < EARLIEST_NANOS {
        return None;
    }
    let at = Utc.timestamp_nanos(i64::try_from(nanos).ok()?);
    (at <= now + chrono::Duration::days(1)).then_some(at)
}

/// A failed span's error: its status message, else its exception event, else a plain word.
pub fn error_text(otel: &OtelSpan) -> String {
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
pub fn annotate(
    attributes: &mut Map<String, Value>,
    otel: &OtelSpan,
    scope: Option<&InstrumentationScope>,
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
