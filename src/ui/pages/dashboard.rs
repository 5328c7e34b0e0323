use crate::api::runs::list_runs;
use crate::error::AppError;
use crate::model::{RunFilter, RunStatus};
use crate::ui::components::{ErrorPanel, RunsTable};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};

const PAGE_SIZE: u32 = 50;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let query = use_query_map();
    // The filter lives in the URL, so a view can be shared and survives a reload.
    let status_param = Memo::new(move |_| query.with(|q| q.get("status")).unwrap_or_default());
    let runs = Resource::new(
        move || status_param.get(),
        |status| async move {
            let filter = filter_from_status_param(&status)?;
            list_runs(filter, None, PAGE_SIZE).await
        },
    );
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
                <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors/> }>
                    {move || Suspend::new(async move { runs.await.map(|page| view! { <RunsTable runs=page.runs/> }) })}
                </ErrorBoundary>
            </Transition>
        </section>
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
