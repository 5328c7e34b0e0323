use crate::model::{span_of_event, RunEvent, RunEventKind, SpanStatus};
use crate::ui::components::StatusBadge;
use crate::ui::format::{percent, time_of_day};
use leptos::prelude::*;

/// Entries the timeline shows at first (the newest), and adds per "show earlier": each entry is
/// live, so each costs its share of hydration; a run page holding 500 entries took 0.4 s longer to
/// become interactive than the dashboard. Half the waterfall's rows: on a run with spans, most
/// events are the spans' own, which the waterfall shows. With 100, a click to a 5,000-span run's
/// page took 160-180 ms to paint in headless Chromium; with 50, 130 ms.
pub const TIMELINE_ROWS_STEP: usize = 50;

/// A run's history, oldest first; new events are appended in place as they arrive.
#[component]
pub fn EventTimeline(
    #[prop(into)] events: Signal<Vec<RunEvent>>,
    #[prop(into)] earlier: Signal<u64>,
) -> impl IntoView {
    let shown = RwSignal::new(TIMELINE_ROWS_STEP);
    let held_back = move || events.with(Vec::len).saturating_sub(shown.get());
    let newest = move || {
        let skip = held_back();
        events.with(|events| events[skip..].to_vec())
    };
    let not_shown = move || earlier.get() + held_back() as u64;
    view! {
        <section class="timeline" aria-label="Event timeline">
            <h3>"Timeline"</h3>
            <Show when=move || { not_shown() > 0 }>
                <p class="muted">
                    {move || format!("{} earlier events not shown", not_shown())}
                    {move || (held_back() > 0).then(|| view! {
                        " "
                        <button type="button" class="button small" data-testid="earlier-events"
                            on:click=move |_| shown.update(|n| *n += TIMELINE_ROWS_STEP)>
                            {format!("Show {} earlier", held_back().min(TIMELINE_ROWS_STEP))}
                        </button>
                    })}
                </p>
            </Show>
            <ol class="timeline-list" aria-live="polite">
                <For each=newest key=|event| event.id let:event>
                    <TimelineEntry event/>
                </For>
            </ol>
        </section>
    }
}

#[component]
fn TimelineEntry(event: RunEvent) -> impl IntoView {
    let detail = describe(&event);
    view! {
        <li class=format!("timeline-entry kind-{}", event.kind) data-kind=event.kind.as_str()>
            <time datetime=event.created_at.to_rfc3339()>{time_of_day(event.created_at)}</time>
            <StatusBadge status=event.status/>
            <span class="timeline-text">{detail}</span>
        </li>
    }
}

/// One line saying what the event changed.
fn describe(event: &RunEvent) -> String {
    let step = event.step.clone().unwrap_or_default();
    match event.kind {
        RunEventKind::Started => format!("Started: {step}"),
        RunEventKind::Progress => match event.progress {
            Some(progress) => format!("{} · {step}", percent(progress)),
            None => step,
        },
        RunEventKind::Verification => {
            let passed = event.payload["passed"].as_bool().unwrap_or(false);
            let detail = event.payload["evidence"]["detail"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| event.payload["evidence"].to_string());
            let verdict = if passed { "passed" } else { "failed" };
            format!("Verification {verdict}: {detail}")
        }
        RunEventKind::Completed => "Completed".to_owned(),
        RunEventKind::Failed => {
            format!("Failed: {}", event.payload["error"].as_str().unwrap_or(""))
        }
        RunEventKind::Cancelled => match event.payload["reason"].as_str() {
            Some(reason) => format!("Cancelled: {reason}"),
            None => "Cancelled".to_owned(),
        },
        RunEventKind::TimedOut => format!("Timed out: {step}"),
        RunEventKind::Status => step,
        RunEventKind::SpanStarted | RunEventKind::SpanUpdated | RunEventKind::SpanEnded => {
            let Some(span) = span_of_event(&event.payload) else {
                return "span".to_owned();
            };
            let what = match event.kind {
                RunEventKind::SpanStarted => "started",
                RunEventKind::SpanUpdated => "updated",
                _ if span.status == SpanStatus::Error => "failed",
                _ => "ended",
            };
            format!("{} {} {what}", span.kind.as_str(), span.name)
        }
    }
}
