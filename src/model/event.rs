use super::RunStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// What happened to a run; one row of the append-only `agent_run_events` log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type, utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", sqlx(type_name = "text", rename_all = "snake_case"))]
pub enum RunEventKind {
    Started,
    Progress,
    Status,
    Verification,
    Completed,
    Failed,
    Cancelled,
    TimedOut,
    /// A span began; the payload is the span.
    SpanStarted,
    /// A running span changed (tokens so far, attributes); the payload is the span.
    SpanUpdated,
    /// A span ended, or arrived already ended; the payload is the span.
    SpanEnded,
}

impl RunEventKind {
    /// The event that records a move to `status`: the ending's own kind for the four endings,
    /// `status` for any other.
    pub const fn for_status(status: RunStatus) -> RunEventKind {
        match status {
            RunStatus::Completed => RunEventKind::Completed,
            RunStatus::Failed => RunEventKind::Failed,
            RunStatus::Cancelled => RunEventKind::Cancelled,
            RunStatus::TimedOut => RunEventKind::TimedOut,
            _ => RunEventKind::Status,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            RunEventKind::Started => "started",
            RunEventKind::Progress => "progress",
            RunEventKind::Status => "status",
            RunEventKind::Verification => "verification",
            RunEventKind::Completed => "completed",
            RunEventKind::Failed => "failed",
            RunEventKind::Cancelled => "cancelled",
            RunEventKind::TimedOut => "timed_out",
            RunEventKind::SpanStarted => "span_started",
            RunEventKind::SpanUpdated => "span_updated",
            RunEventKind::SpanEnded => "span_ended",
        }
    }

    /// The event that records a span's change.
    pub const fn for_span(change: super::SpanChange) -> RunEventKind {
        match change {
            super::SpanChange::Started => RunEventKind::SpanStarted,
            super::SpanChange::Updated => RunEventKind::SpanUpdated,
            super::SpanChange::Ended => RunEventKind::SpanEnded,
        }
    }

    /// Whether the event's payload is a span.
    pub const fn is_span(self) -> bool {
        matches!(
            self,
            RunEventKind::SpanStarted | RunEventKind::SpanUpdated | RunEventKind::SpanEnded
        )
    }
}

impl fmt::Display for RunEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a run's history. `id` is global and increasing: the cursor live subscribers resume from.
// `P` is the payload's type: a `serde_json::Value` wherever the payload is read. The server's hub
// and live replay only pass it on, so they keep the JSON the log holds as it is
// (`RunEvent<Box<RawValue>>`, which encodes to the same JSON) instead of decoding it only to
// encode it again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow, utoipa::ToSchema))]
pub struct RunEvent<P = serde_json::Value> {
    pub id: i64,
    pub run_id: Uuid,
    pub user_id: Uuid,
    pub kind: RunEventKind,
    /// The run's status right after this event.
    pub status: RunStatus,
    pub progress: Option<f32>,
    pub step: Option<String>,
    #[cfg_attr(feature = "ssr", sqlx(json), schema(value_type = serde_json::Value))]
    pub payload: P,
    #[serde(serialize_with = "crate::model::json_time::serialize")]
    pub created_at: DateTime<Utc>,
}

/// Most events of one page of `GET /api/v1/runs/{id}/events`.
pub const EVENT_PAGE_MAX: i64 = 1000;

/// A page of one run's events, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EventPage {
    pub events: Vec<RunEvent>,
    /// Pass as `after` for the next page; None: this was the last.
    pub next_after: Option<i64>,
}

/// Events kept in a monitor's timeline; older ones are summarised as a count.
pub const TIMELINE_MAX_EVENTS: usize = 500;

/// A run with its newest events, and the live cursor they are complete up to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunTimeline {
    pub run: super::AgentRun,
    /// Oldest first; at most [`TIMELINE_MAX_EVENTS`] of the newest.
    pub events: Vec<RunEvent>,
    /// Events the timeline leaves out (the oldest ones).
    pub earlier_events: u64,
    /// The run's spans by start time (at most [`super::SPAN_PAGE_MAX`]), kept current by the
    /// `span_*` events.
    #[serde(default)]
    pub spans: Vec<super::Span>,
    /// How many spans the run has: more than `spans` holds past the cap.
    #[serde(default)]
    pub spans_total: u64,
    /// Live updates resume after this event id.
    pub last_event_id: i64,
}

impl RunTimeline {
    /// Folds in one live event of this run (and the run as it stood after it). Events already held
    /// (a replay after a reconnect) and other runs' events change nothing.
    pub fn apply(&mut self, event: RunEvent, run: super::AgentRun) {
        if event.run_id != self.run.id || run.id != self.run.id {
            return;
        }
        if self.events.last().is_some_and(|last| last.id >= event.id) {
            return;
        }
        if run.updated_at >= self.run.updated_at {
            self.run = run;
        }
        self.last_event_id = self.last_event_id.max(event.id);
        if event.kind.is_span() {
            if let Some(span) = super::span_of_event(&event.payload) {
                self.upsert_span(span);
            }
        }
        self.events.push(event);
        if self.events.len() > TIMELINE_MAX_EVENTS {
            let dropped = self.events.len() - TIMELINE_MAX_EVENTS;
            self.events.drain(..dropped);
            self.earlier_events += dropped as u64;
        }
    }
}

impl RunTimeline {
    /// Puts `span` in its place by start time, replacing the older state of the same span.
    pub fn upsert_span(&mut self, span: super::Span) {
        if let Some(held) = self.spans.iter_mut().find(|s| s.span_id == span.span_id) {
            *held = span;
            // a later report may move its start
            self.spans
                .sort_by(|a, b| (a.started_at, &a.span_id).cmp(&(b.started_at, &b.span_id)));
        } else if self.spans.len() < super::SPAN_PAGE_MAX as usize {
            self.spans_total += 1;
            let at = self.spans.partition_point(|s| {
                (s.started_at, &s.span_id) <= (span.started_at, &span.span_id)
            });
            self.spans.insert(at, span);
        } else {
            self.spans_total += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures::{self, event};
    use crate::model::AgentRun;

    fn run(id: u128, progress: f32, updated_sec: u32) -> AgentRun {
        let mut run = fixtures::run(id);
        run.progress_percent = progress;
        run.updated_at += chrono::Duration::seconds(updated_sec.into());
        run
    }

    #[test]
    fn a_timeline_takes_new_events_of_its_run_once_and_keeps_the_newest() {
        let mut timeline = RunTimeline {
            run: run(1, 0.0, 0),
            events: vec![event(5, 1)],
            earlier_events: 0,
            spans: Vec::new(),
            spans_total: 0,
            last_event_id: 5,
        };
        timeline.apply(event(7, 1), run(1, 40.0, 2));
        timeline.apply(event(7, 1), run(1, 40.0, 2)); // replayed
        timeline.apply(event(6, 1), run(1, 20.0, 1)); // older than what is held
        timeline.apply(event(8, 2), run(2, 90.0, 3)); // another run
        assert_eq!(
            timeline.events.iter().map(|e| e.id).collect::<Vec<_>>(),
            [5, 7]
        );
        assert_eq!(timeline.run.progress_percent, 40.0);
        assert_eq!(timeline.last_event_id, 7);
        for id in 9..(9 + TIMELINE_MAX_EVENTS as i64) {
            timeline.apply(event(id, 1), run(1, 50.0, 4));
        }
        assert_eq!(timeline.events.len(), TIMELINE_MAX_EVENTS);
        assert_eq!(timeline.earlier_events, 2);
        assert_eq!(timeline.events[0].id, 9);
    }
}
