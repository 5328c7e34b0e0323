use crate::model::AgentRun;
use crate::ui::clock::{elapsed, Clock};
use crate::ui::components::{ProgressBar, StatusBadge};
use crate::ui::format::{cost, timestamp, token_totals};
use leptos::prelude::*;

/// A compact run summary: agent, task excerpt, status, progress, step and elapsed time. The whole
/// card links to `href` (the run's own page unless told otherwise).
#[component]
pub fn RunCard(
    run: AgentRun,
    #[prop(optional, into)] href: Option<String>,
    #[prop(optional)] selected: bool,
) -> impl IntoView {
    let href = href.unwrap_or_else(|| format!("/runs/{}", run.id));
    let excerpt = run.task_excerpt(140);
    let now = Clock::now();
    let elapsed_text = {
        let run = run.clone();
        move || elapsed(&run, now.get())
    };
    view! {
        <a
            class="run-card"
            class:selected=selected
            href=href
            data-run-id=run.id.to_string()
            aria-current=selected.then_some("true")
        >
            <header class="run-card-head">
                <span class="agent-name">{run.agent_name.clone()}</span>
                <StatusBadge status=run.status/>
            </header>
            <p class="run-task" title=run.task.clone()>{excerpt}</p>
            <ProgressBar value=run.progress_percent/>
            {(run.tokens_in.is_some() || run.cost_usd.is_some()).then(|| view! {
                <p class="run-usage" data-testid="run-usage">
                    {token_totals(run.tokens_in, run.tokens_out)}" · "{cost(run.cost_usd)}
                </p>
            })}
            <footer class="run-card-foot">
                <span class="run-step">{run.current_step.clone().unwrap_or_default()}</span>
                <span class="run-elapsed" title=format!("created {}", timestamp(run.created_at))>
                    {elapsed_text}
                </span>
            </footer>
        </a>
    }
}
