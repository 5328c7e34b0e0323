use crate::model::{format_duration, AgentRun};
use crate::ui::components::{ProgressBar, StatusBadge};
use crate::ui::format::timestamp;
use leptos::prelude::*;

/// Runs as table rows, newest first.
#[component]
pub fn RunsTable(runs: Vec<AgentRun>) -> impl IntoView {
    if runs.is_empty() {
        return view! { <p class="empty">"No runs match this view yet."</p> }.into_any();
    }
    let rows = runs
        .into_iter()
        .map(|run| {
            // Only finished runs have a fixed duration; a running one would differ between the
            // server render and hydration.
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
        })
        .collect_view();
    view! {
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
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}
