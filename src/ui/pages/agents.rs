use crate::api::runs::list_runs;
use crate::model::RunFilter;
use crate::ui::components::{ErrorPanel, RunCard};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn AgentsPage() -> impl IntoView {
    let runs = Resource::new(|| (), |_| list_runs(RunFilter::default(), None, 12));
    view! {
        <Title text="Agents · runwire"/>
        <section class="agents">
            <h1>"Agents"</h1>
            <h2>"Recent runs"</h2>
            <Transition fallback=|| view! { <p class="loading">"Loading runs…"</p> }>
                <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors/> }>
                    {move || Suspend::new(async move {
                        runs.await.map(|page| {
                            let runs = page.runs;
                            if runs.is_empty() {
                                view! { <p class="empty">"No runs yet."</p> }.into_any()
                            } else {
                                view! {
                                    <div class="run-grid">
                                        {runs.into_iter().map(|run| view! { <RunCard run/> }).collect_view()}
                                    </div>
                                }
                                .into_any()
                            }
                        })
                    })}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}
