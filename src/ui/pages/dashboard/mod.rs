//! /dashboard (also /dashboard/agent-runs): totals and trend over a window, a searchable, filterable,
//! sortable live table of runs with keyset paging, CSV/JSON export of the view, and a run modal.
//! The whole view lives in the URL.

mod toolbar;

use crate::api::runs::get_dashboard_summary;
use crate::api::system::list_daily_reports;
use crate::model::{RunQuery, RunSort, StatsWindow};
use crate::ui::components::{
    DailyReports, ErrorPanel, FormError, RunModal, RunsTable, StatsCards, TrendChart,
    UsageBreakdown,
};
use crate::ui::live::use_run_table;
use crate::ui::resource::page_resource;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_location, use_navigate, use_query_map};
use leptos_router::NavigateOptions;
use toolbar::Toolbar;
use uuid::Uuid;

const PAGE_SIZE: u32 = 50;
/// After live activity the totals are read again, at most this often.
const STATS_REFRESH_MS: u32 = 1_000;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let query_map = use_query_map();
    let parsed = Memo::new(move |_| query_map.with(|q| RunQuery::parse(|key| q.get(key))));
    let view_query = Memo::new(move |_| parsed.get().0);
    let problems = Memo::new(move |_| parsed.get().1);
    let filter = Memo::new(move |_| view_query.get().filter());
    let sort = Memo::new(move |_| view_query.get().sort);
    let window = Memo::new(move |_| view_query.get().window);
    let open_run = Memo::new(move |_| view_query.get().run);

    let location = use_location();
    let path = Memo::new(move |_| location.pathname.get());
    let navigate = use_navigate();
    let go = Callback::new(move |query: RunQuery| {
        let url = format!("{}{}", path.get_untracked(), query.to_query());
        navigate(
            &url,
            NavigateOptions {
                scroll: false,
                ..Default::default()
            },
        );
    });

    let table = use_run_table(filter.into(), sort.into(), PAGE_SIZE);
    let refresh = RwSignal::new(0u64);
    let summary = page_resource(
        move || (window.get(), refresh.get()),
        |(window, _)| get_dashboard_summary(window),
    );
    refresh_after_activity(table.changes, refresh);
    let reports = page_resource(|| (), |_| list_daily_reports());

    let rows = Signal::derive(move || table.runs.get().and_then(Result::ok).unwrap_or_default());
    let table_error = Signal::derive(move || table.runs.get().and_then(Result::err));
    let stats = Signal::derive(move || {
        summary
            .get()
            .and_then(Result::ok)
            .map(|s| s.stats)
            .unwrap_or_default()
    });
    let trend = Signal::derive(move || summary.get().and_then(Result::ok).map(|s| s.trend));
    let agents = Signal::derive(move || {
        summary
            .get()
            .and_then(Result::ok)
            .map(|s| s.agents)
            .unwrap_or_default()
    });
    let row_href = Callback::new(move |id: Uuid| {
        let query = RunQuery {
            run: Some(id),
            ..view_query.get_untracked()
        };
        format!("{}{}", path.get_untracked(), query.to_query())
    });
    let sort_href = Callback::new(move |sort: RunSort| {
        let query = RunQuery {
            sort,
            run: None,
            ..view_query.get_untracked()
        };
        format!("{}{}", path.get_untracked(), query.to_query())
    });
    let close_modal = Callback::new(move |()| {
        go.run(view_query.get_untracked().without_run());
    });

    view! {
        <Title text="Dashboard · runwire"/>
        <section class="dashboard">
            <div class="toolbar">
                <h1>"Runs"</h1>
                <WindowPicker window=window.into() go view_query=view_query.into()/>
            </div>
            {move || {
                let problems = problems.get();
                (!problems.is_empty()).then(|| view! {
                    <div class="notice" role="alert" data-testid="link-problems">
                        <strong>"Part of this link was not understood; the rest of the view is shown."</strong>
                        <ul>{problems.into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}</ul>
                    </div>
                })
            }}
            <Transition fallback=|| view! { <p class="loading">"Loading totals…"</p> }>
                {move || summary.get().and_then(Result::err).map(|err| view! {
                    <ErrorPanel title="Could not load the totals" message=err.to_string()/>
                })}
                <StatsCards stats/>
                {move || trend.get().map(|trend| view! { <TrendChart trend/> })}
                <UsageBreakdown
                    by_agent=Signal::derive(move || summary.get().and_then(Result::ok).map(|s| s.usage_by_agent).unwrap_or_default())
                    by_model=Signal::derive(move || summary.get().and_then(Result::ok).map(|s| s.usage_by_model).unwrap_or_default())
                />
                // inside the Transition: its agent list comes with the totals
                <Toolbar view_query=view_query.into() agents go/>
            </Transition>
            <Transition fallback=|| view! { <p class="loading">"Loading runs…"</p> }>
                {move || table_error.get().map(|err| view! {
                    <ErrorPanel title="Could not load runs" message=err.to_string()/>
                })}
                <Show when=move || table_error.with(Option::is_none) && table.runs.with(Option::is_some)>
                    <RunsTable runs=rows sort row_href sort_href/>
                    <div class="table-foot">
                        <span class="muted" data-testid="row-count">{move || format!("{} runs shown", rows.with(Vec::len))}</span>
                        <Show when=move || table.has_more.get()>
                            <button
                                type="button"
                                class="button"
                                disabled=move || table.loading_more.get()
                                on:click=move |_| table.load_more()
                            >
                                {move || if table.loading_more.get() { "Loading…" } else { "Load more" }}
                            </button>
                        </Show>
                        <FormError error=table.more_error/>
                    </div>
                </Show>
            </Transition>
            <section class="daily-reports">
                <h2>"Daily reports"</h2>
                <Transition fallback=|| view! { <p class="loading">"Loading reports…"</p> }>
                    {move || Suspend::new(async move {
                        match reports.await {
                            Ok(reports) => view! { <DailyReports reports/> }.into_any(),
                            Err(err) => view! { <p class="form-error" role="alert">{format!("Could not load the reports: {err}")}</p> }.into_any(),
                        }
                    })}
                </Transition>
            </section>
            {move || open_run.get().map(|run_id| view! { <RunModal run_id on_close=close_modal/> })}
        </section>
    }
}

/// Reads the totals again after live activity: once per `STATS_REFRESH_MS` at most, never by polling.
fn refresh_after_activity(changes: Signal<u64>, refresh: RwSignal<u64>) {
    #[cfg(feature = "hydrate")]
    {
        let pending = StoredValue::new_local(None::<gloo_timers::callback::Timeout>);
        Effect::new(move |previous: Option<u64>| {
            let now = changes.get();
            if previous.is_some_and(|p| p != now) && pending.with_value(Option::is_none) {
                let timer = gloo_timers::callback::Timeout::new(STATS_REFRESH_MS, move || {
                    pending.set_value(None);
                    refresh.update(|n| *n += 1);
                });
                pending.set_value(Some(timer));
            }
            now
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (changes, refresh, STATS_REFRESH_MS);
}

#[component]
fn WindowPicker(
    window: Signal<StatsWindow>,
    view_query: Signal<RunQuery>,
    go: Callback<RunQuery>,
) -> impl IntoView {
    view! {
        <div class="segmented" role="group" aria-label="Time window">
            {StatsWindow::ALL
                .into_iter()
                .map(|choice| view! {
                    <button
                        type="button"
                        class:active=move || window.get() == choice
                        aria-pressed=move || (window.get() == choice).to_string()
                        on:click=move |_| go.run(RunQuery { window: choice, ..view_query.get_untracked() })
                    >
                        {choice.label()}
                    </button>
                })
                .collect_view()}
        </div>
    }
}
