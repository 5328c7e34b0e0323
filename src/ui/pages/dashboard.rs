use crate::error::AppError;
use crate::model::{RunFilter, RunStatus};
use crate::ui::components::RunsTable;
use crate::ui::live::use_agent_runs;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};

const PAGE_SIZE: u32 = 50;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let query = use_query_map();
    // The filter lives in the URL, so a view can be shared and survives a reload.
    let status_param = Memo::new(move |_| query.with(|q| q.get("status")).unwrap_or_default());
    let parsed = Memo::new(move |_| filter_from_status_param(&status_param.get()));
    let filter = Signal::derive(move || parsed.get().unwrap_or_default());
    let live = use_agent_runs(filter, PAGE_SIZE);
    let rows = Signal::derive(move || live.runs.get().and_then(Result::ok).unwrap_or_default());
    let error = Signal::derive(move || {
        parsed
            .get()
            .err()
            .or_else(|| live.runs.get().and_then(Result::err))
    });
    let navigate = use_navigate();
    let on_status_change = move |ev| {
        let status = event_target_value(&ev);
        let url = if status.is_empty() {
            "/dashboard".to_owned()
        } else {
            format!("/dashboard?status={status}")
        };
        navigate(&url, Default::default());
    };
    view! {
        <Title text="Dashboard · runwire"/>
        <section class="dashboard">
            <div class="toolbar">
                <h1>"Runs"</h1>
                <label class="field">
                    <span>"Status"</span>
                    <select name="status" on:change=on_status_change prop:value=move || status_param.get()>
                        <option value="">"All statuses"</option>
                        {RunStatus::ALL
                            .into_iter()
                            .map(|status| view! { <option value=status.as_str()>{status.label()}</option> })
                            .collect_view()}
                    </select>
                </label>
            </div>
            <Transition fallback=|| view! { <p class="loading">"Loading runs…"</p> }>
                {move || error.get().map(|err| view! { <InlineError message=err.to_string()/> })}
                <Show when=move || error.with(Option::is_none) && live.runs.with(Option::is_some)>
                    <RunsTable runs=rows/>
                </Show>
            </Transition>
        </section>
    }
}

#[component]
fn InlineError(message: String) -> impl IntoView {
    view! {
        <div class="error-panel" role="alert">
            <strong>"Could not load this view"</strong>
            <p>{message}</p>
        </div>
    }
}

fn filter_from_status_param(status: &str) -> Result<RunFilter, AppError> {
    let statuses = if status.is_empty() {
        vec![]
    } else {
        vec![status
            .parse::<RunStatus>()
            .map_err(|err| AppError::validation("status", err.to_string()))?]
    };
    Ok(RunFilter {
        statuses,
        ..Default::default()
    })
}
