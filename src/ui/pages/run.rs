use crate::ui::components::{ErrorPanel, RunMonitor};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use uuid::Uuid;

/// /runs/{id}: one run's full monitor, live; the link to share.
#[component]
pub fn RunPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").map(|id| Uuid::parse_str(&id))));
    view! {
        <Title text="Run · runwire"/>
        <section class="run-page">
            <p class="breadcrumbs"><a href="/agents">"Agents"</a>" / run"</p>
            {move || match id.get() {
                Some(Ok(id)) => view! { <RunMonitor run_id=id replay=true/> }.into_any(),
                _ => view! {
                    <ErrorPanel
                        title="That is not a run id"
                        message="Run links look like /runs/9f1c2d3e-0000-4000-8000-000000000000."
                    />
                }.into_any(),
            }}
        </section>
    }
}
