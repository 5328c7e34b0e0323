use crate::model::{AgentRun, RunSort};
use crate::ui::clock::{elapsed, Clock};
use crate::ui::components::{ProgressBar, StatusBadge};
use crate::ui::format::timestamp;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use uuid::Uuid;

/// Runs as table rows. Rows are keyed by run and version, so a live update rebuilds only the row it
/// concerns and new runs slide in without touching the others. A click on a row opens it (the
/// link `row_href` gives); the Started and Duration headers sort (links `sort_href` gives).
#[component]
pub fn RunsTable(
    #[prop(into)] runs: Signal<Vec<AgentRun>>,
    #[prop(into)] sort: Signal<RunSort>,
    row_href: Callback<Uuid, String>,
    sort_href: Callback<RunSort, String>,
) -> impl IntoView {
    let header = move |label: &'static str, orders: &'static [RunSort]| {
        let next = move || {
            let current = sort.get();
            let at = orders.iter().position(|o| *o == current);
            // first click picks the column's first order, the next one flips it
            at.map_or(orders[0], |i| orders[(i + 1) % orders.len()])
        };
        let state = move || match sort.get() {
            RunSort::Newest if orders.contains(&RunSort::Newest) => "descending",
            RunSort::Oldest if orders.contains(&RunSort::Oldest) => "ascending",
            RunSort::Longest if orders.contains(&RunSort::Longest) => "descending",
            _ => "none",
        };
        view! {
            <th scope="col" aria-sort=state class="sortable">
                <a href=move || sort_href.run(next())>
                    {label}
                    <span class="sort-mark" aria-hidden="true">
                        {move || match state() { "descending" => " ↓", "ascending" => " ↑", _ => "" }}
                    </span>
                </a>
            </th>
        }
    };
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
                        {header("Started", &[RunSort::Newest, RunSort::Oldest])}
                        {header("Duration", &[RunSort::Longest])}
                    </tr>
                </thead>
                <tbody>
                    <For each=move || runs.get() key=|run| (run.id, run.updated_at) let:run>
                        <RunRow href=row_href.run(run.id) run/>
                    </For>
                </tbody>
            </table>
        </Show>
    }
}

#[component]
fn RunRow(run: AgentRun, href: String) -> impl IntoView {
    let started = run.started_at.unwrap_or(run.created_at);
    let now = Clock::now();
    let duration = {
        let run = run.clone();
        move || elapsed(&run, now.get())
    };
    let navigate = use_navigate();
    let target = href.clone();
    view! {
        <tr
            data-run-id=run.id.to_string()
            class="run-row"
            on:click=move |_| navigate(&target, Default::default())
        >
            // data-label: on a narrow screen each row is a card, and each cell shows its label
            <td data-label="Status"><StatusBadge status=run.status/></td>
            <td data-label="Agent" class="agent-name">{run.agent_name.clone()}</td>
            <td data-label="Task" class="run-task" title=run.task.clone()>
                <a href=href on:click=|event| event.stop_propagation()>{run.task_excerpt(80)}</a>
            </td>
            <td data-label="Progress" class="col-progress"><ProgressBar value=run.progress_percent/></td>
            <td data-label="Step" class="run-step">{run.current_step.clone().unwrap_or_default()}</td>
            <td data-label="Started"><time datetime=started.to_rfc3339()>{timestamp(started)}</time></td>
            <td data-label="Duration" class="num">{duration}</td>
        </tr>
    }
}
