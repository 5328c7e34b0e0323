use crate::model::AgentRun;
use crate::ui::components::{ProgressBar, StatusBadge};
use crate::ui::format::timestamp;
use leptos::prelude::*;

/// A compact run summary: agent, task excerpt, status, progress, when it started.
#[component]
pub fn RunCard(run: AgentRun) -> impl IntoView {
    let excerpt = run.task_excerpt(140);
    view! {
        <article class="run-card" data-run-id=run.id.to_string()>
            <header class="run-card-head">
                <span class="agent-name">{run.agent_name.clone()}</span>
                <StatusBadge status=run.status/>
            </header>
            <p class="run-task" title=run.task.clone()>{excerpt}</p>
            <ProgressBar value=run.progress_percent/>
            <footer class="run-card-foot">
                <span class="run-step">{run.current_step.clone().unwrap_or_default()}</span>
                <time datetime=run.created_at.to_rfc3339()>{timestamp(run.created_at)}</time>
            </footer>
        </article>
    }
}
