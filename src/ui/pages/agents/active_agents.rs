use crate::ui::clock::{elapsed, Clock};
use crate::ui::components::{ProgressBar, StatusBadge};
use crate::ui::live::use_active_agent_runs;
use leptos::prelude::*;

/// The caller's unfinished runs, live: a run appears when it starts and leaves when it ends.
#[component]
pub fn ActiveAgents() -> impl IntoView {
    let active = use_active_agent_runs();
    let runs = Signal::derive(move || active.runs.get().and_then(Result::ok).unwrap_or_default());
    let now = Clock::now();
    view! {
        <section class="active-agents" aria-label="Active agents">
            <Transition fallback=|| view! { <h2>"Active agents"</h2><p class="loading">"Loading…"</p> }>
                <h2>"Active agents " <span class="count" data-testid="active-count">{move || runs.with(Vec::len)}</span></h2>
                <Show
                    when=move || runs.with(|r| !r.is_empty())
                    fallback=move || {
                        let failed = active.runs.with(|r| matches!(r, Some(Err(_))));
                        if failed {
                            view! { <p class="form-error" role="alert">"Could not load the active runs."</p> }.into_any()
                        } else {
                            view! { <p class="empty">"No agent is running."</p> }.into_any()
                        }
                    }
                >
                    <ul class="active-list">
                        <For each=move || runs.get() key=|run| (run.id, run.updated_at) let:run>
                            {
                                let href = super::watch_url(run.id);
                                let elapsed_run = run.clone();
                                view! {
                                    <li data-run-id=run.id.to_string()>
                                        <a href=href>
                                            <span class="agent-name">{run.agent_name.clone()}</span>
                                            <StatusBadge status=run.status/>
                                            <span class="run-elapsed">{move || elapsed(&elapsed_run, now.get())}</span>
                                        </a>
                                        <ProgressBar value=run.progress_percent/>
                                    </li>
                                }
                            }
                        </For>
                    </ul>
                </Show>
            </Transition>
        </section>
    }
}
