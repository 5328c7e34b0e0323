//! Replay: the run as it was at any of its events (status, progress, step and the spans open then),
//! on a scrubber. Arrow keys step through events; `?at=<event id>` links to a moment.

use crate::model::{span_of_event, RunEvent, Span};
use crate::ui::components::{ProgressBar, StatusBadge};
use crate::ui::format::time_of_day;
use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_navigate, use_query_map};
use leptos_router::NavigateOptions;
use std::collections::BTreeMap;

/// How the run stood right after one of its events.
#[derive(Clone, Debug, PartialEq)]
pub struct Moment {
    pub event: RunEvent,
    /// Spans running at that moment, by start time.
    pub open_spans: Vec<Span>,
}

/// The run after `events[index]`: an event row holds the run's status, progress and step right
/// after it; the spans open then come from folding the span events up to it.
pub fn moment_at(events: &[RunEvent], index: usize) -> Option<Moment> {
    let event = events.get(index)?.clone();
    let mut spans: BTreeMap<String, Span> = BTreeMap::new();
    for earlier in &events[..=index] {
        if earlier.kind.is_span() {
            if let Some(span) = span_of_event(&earlier.payload) {
                spans.insert(span.span_id.clone(), span);
            }
        }
    }
    let mut open_spans: Vec<Span> = spans.into_values().filter(Span::is_running).collect();
    open_spans.sort_by(|a, b| (a.started_at, &a.span_id).cmp(&(b.started_at, &b.span_id)));
    Some(Moment { event, open_spans })
}

/// The index of the newest event at or before event id `at`.
pub fn index_of(events: &[RunEvent], at: i64) -> Option<usize> {
    events.iter().rposition(|e| e.id <= at)
}

#[component]
pub fn RunReplay(
    #[prop(into)] events: Signal<Vec<RunEvent>>,
    earlier: Signal<u64>,
) -> impl IntoView {
    let query = use_query_map();
    let path = use_location().pathname;
    let navigate = use_navigate();
    // None: follow the newest event (the run as it is now)
    let chosen = RwSignal::new(None::<usize>);
    Effect::new(move |_| {
        let at = query.with(|q| q.get("at").and_then(|at| at.parse::<i64>().ok()));
        if let Some(at) = at {
            let index = events.with(|events| index_of(events, at));
            if index.is_some() && chosen.get_untracked() != index {
                chosen.set(index);
            }
        }
    });
    let count = move || events.with(Vec::len);
    let index = Memo::new(move |_| {
        let last = count().saturating_sub(1);
        chosen.get().map_or(last, |i| i.min(last))
    });
    let moment = Memo::new(move |_| events.with(|events| moment_at(events, index.get())));
    let go = move |to: usize| {
        let Some(id) = events.with(|events| events.get(to).map(|e| e.id)) else {
            return;
        };
        chosen.set(Some(to));
        navigate(
            &format!("{}?at={id}", path.get_untracked()),
            NavigateOptions {
                replace: true,
                scroll: false,
                ..Default::default()
            },
        );
    };
    let step = {
        let go = go.clone();
        move |forward: bool| {
            let i = index.get_untracked();
            let last = count().saturating_sub(1);
            go(if forward {
                (i + 1).min(last)
            } else {
                i.saturating_sub(1)
            });
        }
    };
    let (step_key, step_back, step_on) = (step.clone(), step.clone(), step);
    view! {
            <section
                class="replay"
                aria-label="Replay"
                hidden=move || events.with(Vec::is_empty)
                on:keydown=move |ev| {
                    // the slider steps by itself; the buttons and the rest of the panel follow suit
                    let on_slider = event_target::<leptos::web_sys::HtmlElement>(&ev).tag_name() == "INPUT";
                    match ev.key().as_str() {
                        "ArrowLeft" if !on_slider => { ev.prevent_default(); step_key(false) }
                        "ArrowRight" if !on_slider => { ev.prevent_default(); step_key(true) }
                        _ => {}
                    }
                }
            >
                <h3>"Replay"</h3>
                <div class="replay-controls">
                    <button type="button" class="button small" aria-label="Previous event"
                        disabled=move || index.get() == 0 on:click=move |_| step_back(false)>"◀"</button>
                    <input
                        type="range"
                        class="replay-slider"
                        aria-label="Event"
                        min="0"
                        max=move || count().saturating_sub(1).to_string()
                        prop:value=move || index.get().to_string()
                        aria-valuetext=move || format!("event {} of {}", index.get() + 1, count())
                        on:input=move |ev| {
                            if let Ok(to) = event_target_value(&ev).parse::<usize>() {
                                go(to);
                            }
                        }
                    />
                    <button type="button" class="button small" aria-label="Next event"
                        disabled=move || { index.get() + 1 >= count() } on:click=move |_| step_on(true)>"▶"</button>
                </div>
                {move || moment.get().map(|moment| {
                    let status = moment.event.status;
                    let progress = moment.event.progress.unwrap_or(0.0);
                    view! {
                        <p class="replay-moment" data-testid="replay-moment" data-event-id=moment.event.id>
                            {format!("Event {} of {} · {} · {}", index.get_untracked() + 1, count(), time_of_day(moment.event.created_at), moment.event.kind)}
                        </p>
                        <div class="replay-state" data-status=status.as_str()>
                            <StatusBadge status=Signal::derive(move || status)/>
                            <ProgressBar value=progress label="Progress at this moment"/>
                            <span class="replay-step">{moment.event.step.clone().unwrap_or_else(|| "—".to_owned())}</span>
                        </div>
                        <p class="replay-open" data-testid="replay-open-spans">
                            {if moment.open_spans.is_empty() {
                                "No span open".to_owned()
                            } else {
                                format!("Open: {}", moment.open_spans.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "))
                            }}
                        </p>
                    }
                })}
                <Show when=move || { earlier.get() > 0 }>
                    <p class="muted">{move || format!("The {} earliest events are not in the replay.", earlier.get())}</p>
                </Show>
            </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RunEventKind, RunStatus};
    use chrono::Utc;
    use serde_json::json;
    use uuid::Uuid;

    fn event(id: i64, kind: RunEventKind, payload: serde_json::Value) -> RunEvent {
        RunEvent {
            id,
            run_id: Uuid::nil(),
            user_id: Uuid::nil(),
            kind,
            status: RunStatus::InProgress,
            progress: Some(id as f32),
            step: None,
            payload,
            created_at: Utc::now(),
        }
    }

    fn span(id: &str, status: &str) -> serde_json::Value {
        json!({"span": {"span_id": id, "run_id": Uuid::nil(), "parent_span_id": null, "kind": "llm",
            "name": id, "status": status, "started_at": "2026-01-01T00:00:00Z",
            "ended_at": if status == "running" { None } else { Some("2026-01-01T00:00:01Z") },
            "model": null, "input_tokens": null, "output_tokens": null, "cache_read_tokens": null,
            "reasoning_tokens": null, "cost_usd": null, "attributes": {}, "input_preview": null,
            "output_preview": null, "error": null}})
    }

    #[test]
    fn a_moment_holds_the_spans_open_then_and_at_finds_the_newest_event_before_it() {
        let events = vec![
            event(10, RunEventKind::Started, json!({})),
            event(12, RunEventKind::SpanStarted, span("a", "running")),
            event(15, RunEventKind::SpanStarted, span("b", "running")),
            event(20, RunEventKind::SpanEnded, span("a", "ok")),
            event(30, RunEventKind::Completed, json!({})),
        ];
        let open = |i| {
            moment_at(&events, i)
                .unwrap()
                .open_spans
                .into_iter()
                .map(|s| s.span_id)
                .collect::<Vec<_>>()
        };
        assert!(open(0).is_empty());
        assert_eq!(open(2), ["a", "b"]);
        assert_eq!(open(3), ["b"]);
        assert_eq!(moment_at(&events, 3).unwrap().event.progress, Some(20.0));
        assert_eq!(moment_at(&events, 5), None);
        assert_eq!(index_of(&events, 15), Some(2));
        assert_eq!(index_of(&events, 16), Some(2));
        assert_eq!(index_of(&events, 9), None);
    }
}
