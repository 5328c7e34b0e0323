//! /agents: start a built-in agent, watch it in the monitor, see what is running and what ran.

mod active_agents;
mod task_form;

use crate::model::{AgentRun, RunFilter};
use crate::ui::components::{ErrorPanel, RunCard, RunMonitor};
use crate::ui::live::use_agent_runs;
use active_agents::ActiveAgents;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};
use task_form::TaskForm;
use uuid::Uuid;

const RECENT_RUNS: u32 = 12;

/// Where the page shows `run` in its monitor.
fn watch_url(run: Uuid) -> String {
    format!("/agents?run={run}")
}

#[component]
pub fn AgentsPage() -> impl IntoView {
    let query = use_query_map();
    // The watched run lives in the URL: a card links to it and a reload keeps it.
    let watched = Memo::new(move |_| query.with(|q| q.get("run")));
    let recent = use_agent_runs(Signal::derive(RunFilter::default), RECENT_RUNS);
    let navigate = use_navigate();
    let on_started = Callback::new(move |run: AgentRun| {
        let id = run.id;
        recent.merge(run);
        navigate(&watch_url(id), Default::default());
    });
    view! {
        <Title text="Agents · runwire"/>
        <section class="agents-page">
            <div class="agents-main">
                <TaskForm on_started/>
                <WatchedRun watched/>
            </div>
            <aside class="agents-side">
                <ActiveAgents/>
                <HowItWorks/>
            </aside>
        </section>
        <section class="recent-runs">
            <h2>"Recent runs"</h2>
            <Transition fallback=|| view! { <p class="loading">"Loading runs…"</p> }>
                {move || recent.runs.get().map(|runs| match runs {
                    Err(err) => view! {
                        <ErrorPanel title="Could not load runs" message=err.to_string()/>
                    }.into_any(),
                    Ok(runs) if runs.is_empty() => view! {
                        <p class="empty">"No runs yet. Pick an example above and press Start."</p>
                    }.into_any(),
                    Ok(runs) => {
                        let selected = watched.get();
                        view! {
                            <div class="run-grid" data-testid="recent-runs">
                                {runs.into_iter().map(|run| {
                                    let is_selected = selected.as_deref() == Some(run.id.to_string().as_str());
                                    view! { <RunCard href=watch_url(run.id) selected=is_selected run/> }
                                }).collect_view()}
                            </div>
                        }.into_any()
                    }
                })}
            </Transition>
        </section>
    }
}

/// The monitor of the run named in the URL, or a hint when there is none.
#[component]
fn WatchedRun(watched: Memo<Option<String>>) -> impl IntoView {
    view! {
        <section class="watched" aria-label="Run monitor">
            {move || match watched.get().map(|id| Uuid::parse_str(&id)) {
                None => view! {
                    <div class="monitor-placeholder">
                        <p>"Start a task, or pick a run below, to watch it here live."</p>
                    </div>
                }.into_any(),
                Some(Err(_)) => view! {
                    <ErrorPanel
                        title="That is not a run id"
                        message="The link's run= value must be a UUID. Pick a run from the list below."
                    />
                }.into_any(),
                Some(Ok(id)) => view! { <RunMonitor run_id=id/> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn HowItWorks() -> impl IntoView {
    view! {
        <section class="agents-how">
            <h2>"How it works"</h2>
            <ol>
                <li><strong>"Agent"</strong>" — any program, in any language, reports start, progress, status, verification and its result to runwire's REST API (or it is one of the built-in agents here)."</li>
                <li><strong>"runwire"</strong>" — stores each event in PostgreSQL in the same transaction as the run, and the database notifies every runwire server."</li>
                <li><strong>"Your browser"</strong>" — receives the event over a WebSocket within milliseconds; nothing polls. Only you see your runs."</li>
            </ol>
            <p class="muted">"Connect your own agent with an API token: see "<a href="/settings/tokens">"API tokens"</a>"."</p>
        </section>
    }
}
