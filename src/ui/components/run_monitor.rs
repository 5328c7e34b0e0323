use crate::api::agents::CancelRun;
use crate::error::AppError;
use crate::model::{AgentRun, RunStatus, RunTimeline, VerificationAttempt};
use crate::ui::clock::{elapsed, Clock};
use crate::ui::components::{
    ErrorPanel, EventTimeline, FormError, ProgressBar, RunReplay, SpanWaterfall, StatusBadge,
};
use crate::ui::format::{cost, pretty_json, time_of_day, timestamp, token_totals};
use crate::ui::live::use_agent_run_timeline;
use crate::ui::session::action_error;
use leptos::prelude::*;
use uuid::Uuid;

#[derive(Clone, PartialEq)]
enum Loaded {
    Loading,
    Failed(String),
    Ready(Uuid),
}

/// Everything about one run, live: status, progress, current step, timestamps, verification
/// attempts, error, result and the event timeline, with a Cancel button while it is active.
#[component]
pub fn RunMonitor(
    #[prop(into)] run_id: Signal<Uuid>,
    /// Show the replay scrubber (the run page does; the modal and /agents do not).
    #[prop(optional)]
    replay: bool,
) -> impl IntoView {
    let live = use_agent_run_timeline(run_id);
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading run…"</p> }>
            // The attribute reads the run here so that this Transition waits for it (the memo
            // alone would not tell it). A child that renders nothing did the same until views were
            // type-erased: an erased empty child hydrates out of step inside a streamed Transition.
            <div class="monitor-frame" data-loaded=move || live.timeline.with(|t| t.is_some())>
                <MonitorLoaded timeline=live.timeline replay/>
            </div>
        </Transition>
    }
}

/// The monitor once its run has loaded, or why it could not. A component of its own so that its
/// memo lives inside the Transition: a resource read outside one misses the server's data.
#[component]
fn MonitorLoaded(
    timeline: Signal<Option<Result<RunTimeline, AppError>>>,
    replay: bool,
) -> impl IntoView {
    // One copy of the timeline as loaded, which everything below borrows. A derived signal cloned
    // all of it (up to 1,000 spans and 500 events) on every read: a browser profile of the run page
    // of a 5,000-span run had BTreeMap clones and drops, malloc and free at the top, 0.2 s of it.
    let timeline = Memo::new(move |_| timeline.get());
    // Rebuilt only when the run changes or its load fails; live updates flow through signals.
    let loaded = Memo::new(move |_| {
        timeline.with(|t| match t {
            None => Loaded::Loading,
            Some(Err(err)) => Loaded::Failed(err.to_string()),
            Some(Ok(timeline)) => Loaded::Ready(timeline.run.id),
        })
    });
    move || match loaded.get() {
        Loaded::Loading => view! { <p class="loading">"Loading run…"</p> }.into_any(),
        Loaded::Failed(message) => view! {
            <ErrorPanel title="Could not load this run" message/>
        }
        .into_any(),
        Loaded::Ready(_) => match timeline.with_untracked(|t| ok(t).map(|t| t.run.clone())) {
            Some(initial) => view! { <MonitorBody initial timeline replay/> }.into_any(),
            None => view! { <p class="loading">"Loading run…"</p> }.into_any(),
        },
    }
}

/// The timeline, if it has loaded and not failed.
fn ok(timeline: &Option<Result<RunTimeline, AppError>>) -> Option<&RunTimeline> {
    timeline.as_ref()?.as_ref().ok()
}

#[component]
fn MonitorBody(
    initial: AgentRun,
    timeline: Memo<Option<Result<RunTimeline, AppError>>>,
    replay: bool,
) -> impl IntoView {
    // The newest run the timeline has held: a reload that fails keeps showing the last one.
    let run = Memo::new(move |previous: Option<&AgentRun>| {
        timeline
            .with(|t| ok(t).map(|t| t.run.clone()))
            .or_else(|| previous.cloned())
            .unwrap_or_else(|| initial.clone())
    });
    let events =
        Memo::new(move |_| timeline.with(|t| ok(t).map(|t| t.events.clone()).unwrap_or_default()));
    let earlier = Signal::derive(move || timeline.with(|t| ok(t).map_or(0, |t| t.earlier_events)));
    let spans =
        Memo::new(move |_| timeline.with(|t| ok(t).map(|t| t.spans.clone()).unwrap_or_default()));
    let spans_total = Signal::derive(move || timeline.with(|t| ok(t).map_or(0, |t| t.spans_total)));
    let status = Signal::derive(move || run.get().status);
    let now = Clock::now();
    let field = move |read: fn(&AgentRun) -> Option<String>| {
        move || run.with(read).unwrap_or_else(|| "—".to_owned())
    };
    view! {
        <article class="run-monitor" data-run-id=move || run.get().id.to_string() data-status=move || status.get().as_str()>
            <header class="monitor-head">
                <div>
                    <p class="eyebrow">{move || run.get().agent_name}</p>
                    <h2 class="monitor-task">{move || run.get().task_excerpt(200)}</h2>
                </div>
                <StatusBadge status/>
            </header>
            <ProgressBar value=Signal::derive(move || run.get().progress_percent) label="Run progress"/>
            <p class="monitor-step">
                <span class="muted">"Current step: "</span>
                <span data-testid="current-step">{move || run.get().current_step.unwrap_or_else(|| "—".into())}</span>
                <span class="muted attempt">{move || (run.get().attempt > 1).then(|| format!(" · attempt {}", run.get().attempt))}</span>
            </p>
            <dl class="monitor-times">
                <div><dt>"Created"</dt><dd>{move || timestamp(run.get().created_at)}</dd></div>
                <div><dt>"Started"</dt><dd>{field(|r| r.started_at.map(timestamp))}</dd></div>
                <div><dt>"Completed"</dt><dd>{field(|r| r.completed_at.map(timestamp))}</dd></div>
                <div><dt>"Duration"</dt><dd data-testid="duration">{move || elapsed(&run.get(), now.get())}</dd></div>
                <div><dt>"Tokens"</dt><dd data-testid="run-tokens">{move || run.with(|r| token_totals(r.tokens_in, r.tokens_out))}</dd></div>
                <div><dt>"Cost"</dt><dd data-testid="run-cost">{move || run.with(|r| cost(r.cost_usd))}</dd></div>
            </dl>
            <Show when=move || status.get().is_active()>
                <CancelButton run_id=Signal::derive(move || run.get().id)/>
            </Show>
            <ErrorNote run/>
            <Verifications attempts=Signal::derive(move || run.get().verification_evidence)/>
            <ResultPreview result=Signal::derive(move || run.get().result)/>
            <p class="monitor-links"><a href=move || format!("/runs/{}", run.get().id)>"Open the run page"</a></p>
            {replay.then(|| view! {
                <RunReplay events earlier/>
            }.into_any())}
            <SpanWaterfall spans total=spans_total/>
            <EventTimeline events earlier/>
        </article>
    }
}

#[component]
fn CancelButton(run_id: Signal<Uuid>) -> impl IntoView {
    let cancel = ServerAction::<CancelRun>::new();
    let error = action_error(cancel);
    view! {
        <div class="monitor-actions">
            <button
                type="button"
                class="button danger"
                disabled=move || cancel.pending().get()
                on:click=move |_| {
                    cancel.dispatch(CancelRun { id: run_id.get_untracked() });
                }
            >
                {move || if cancel.pending().get() { "Cancelling…" } else { "Cancel run" }}
            </button>
            <FormError error/>
        </div>
    }
}

/// Why the run ended badly, when it did.
#[component]
fn ErrorNote(run: Memo<AgentRun>) -> impl IntoView {
    let message = move || {
        let run = run.get();
        let title = match run.status {
            RunStatus::Failed => "The run failed",
            RunStatus::Cancelled => "The run was cancelled",
            RunStatus::TimedOut => "The run timed out",
            _ => return None,
        };
        let detail = run.error.or(run.current_step).unwrap_or_default();
        Some(view! {
            <div class="error-panel run-error" role="status">
                <strong>{title}</strong>
                <p>{detail}</p>
            </div>
        })
    };
    view! { {message} }
}

#[component]
fn Verifications(attempts: Signal<Vec<VerificationAttempt>>) -> impl IntoView {
    view! {
        <Show when=move || attempts.with(|a| !a.is_empty())>
            <section class="verifications" aria-label="Verification attempts">
                <h3>"Verification"</h3>
                <ul>
                    <For each=move || attempts.get() key=|a| (a.attempt, a.at) let:attempt>
                        <li class="verification" class:passed=attempt.passed class:failed=!attempt.passed>
                            <span class="verdict">{if attempt.passed { "✓ passed" } else { "✗ failed" }}</span>
                            <span class="muted">{format!(" attempt {} at {}", attempt.attempt, time_of_day(attempt.at))}</span>
                            <pre class="evidence">{pretty_json(&attempt.evidence)}</pre>
                        </li>
                    </For>
                </ul>
            </section>
        </Show>
    }
}

#[component]
fn ResultPreview(result: Signal<Option<serde_json::Value>>) -> impl IntoView {
    view! {
        {move || result.get().map(|value| view! {
            <details class="result-preview" open>
                <summary>"Result"</summary>
                <pre>{pretty_json(&value)}</pre>
            </details>
        })}
    }
}
