use crate::model::{format_duration, AgentRun};
use crate::ui::components::{ProgressBar, StatusBadge};
use crate::ui::format::timestamp;
use leptos::prelude::*;

/// Runs as table rows, newest first. Rows are keyed by run and version, so a live update rebuilds
/// only the row it concerns and new runs slide in on top without touching the others.
#[component]
pub fn RunsTable(#[prop(into)] runs: Signal<Vec<AgentRun>>) -> impl IntoView {
    view! {
        <Show
            when=move || runs.with(|runs| !runs.is_empty())
            fallback=|| view! { <p class="empty">"No runs match this view yet."</p> }
        >
            <table class="runs-table">
                <thead>
                    <tr>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Agent"</th>
                        <th scope="col">"Task"</th>
                        <th scope="col">"Progress"</th>
                        <th scope="col">"Current step"</th>
                        <th scope="col">"Started"</th>
                        <th scope="col" class="num">"Duration"</th>
                    </tr>
                </thead>
                <tbody>
                    <For each=move || runs.get() key=|run| (run.id, run.updated_at) let:run>
                        <RunRow run/>
                    </For>
                </tbody>
            </table>
        </Show>
    }
}

#[component]
fn RunRow(run: AgentRun) -> impl IntoView {
    // Only finished runs have a fixed duration; a running one would differ between the server
    // render and hydration.
    let duration = run
        .completed_at
        .map(|done| format_duration(run.duration(done)))
        .unwrap_or_else(|| "running".to_owned());
    let started = run.started_at.unwrap_or(run.created_at);
    view! {
        <tr data-run-id=run.id.to_string()>
            <td><StatusBadge status=run.status/></td>
            <td class="agent-name">{run.agent_name.clone()}</td>
            <td class="run-task" title=run.task.clone()>{run.task_excerpt(80)}</td>
            <td class="col-progress"><ProgressBar value=run.progress_percent/></td>
            <td class="run-step">{run.current_step.clone().unwrap_or_default()}</td>
            <td><time datetime=started.to_rfc3339()>{timestamp(started)}</time></td>
            <td class="num">{duration}</td>
        </tr>
    }
}
