use crate::api::system::get_system_overview;
use crate::model::{HealthSample, JobRun};
use crate::ui::components::{DailyReports, ErrorPanel};
use crate::ui::format::timestamp;
use crate::ui::resource::page_resource;
use leptos::prelude::*;
use leptos_meta::Title;

/// /system (admins): scheduled job history, health samples with a latency sparkline, daily reports.
#[component]
pub fn SystemPage() -> impl IntoView {
    let overview = page_resource(|| (), |_| get_system_overview());
    view! {
        <Title text="System · runwire"/>
        <section class="system">
            <h1>"System"</h1>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match overview.await {
                        Err(crate::error::AppError::NotFound) => view! {
                            <ErrorPanel
                                title="This page is for administrators"
                                message="Ask an admin, or create one with `runwire user create --admin`."
                            />
                        }.into_any(),
                        Err(err) => view! {
                            <ErrorPanel title="Could not load the system view" message=err.to_string()/>
                        }.into_any(),
                        Ok(overview) => view! {
                            <h2>"Schedules (UTC)"</h2>
                            <ul class="schedules">
                                {overview.schedules.into_iter().map(|(job, schedule)| view! {
                                    <li><code>{job}</code>" — "<code>{schedule}</code></li>
                                }).collect_view()}
                            </ul>
                            <h2>"Health"</h2>
                            <HealthPanel samples=overview.health/>
                            <h2>"Job history"</h2>
                            <JobHistory runs=overview.job_runs/>
                            <h2>"Daily reports (all users)"</h2>
                            <DailyReports reports=overview.reports/>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn HealthPanel(samples: Vec<HealthSample>) -> impl IntoView {
    let Some(latest) = samples.first().cloned() else {
        return view! { <p class="empty">"No health samples yet: the health-check job takes one every 5 minutes."</p> }.into_any();
    };
    // oldest first, left to right
    let series: Vec<&HealthSample> = samples.iter().rev().collect();
    let line = |value: fn(&HealthSample) -> Option<f64>| {
        let max = series
            .iter()
            .filter_map(|s| value(s))
            .fold(1.0_f64, f64::max);
        let step = 300.0 / (series.len().max(2) - 1) as f64;
        series
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                value(s).map(|v| format!("{:.1},{:.1}", i as f64 * step, 48.0 - v / max * 44.0))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let db_line = line(|s| Some(s.db_latency_ms));
    let bus_line = line(|s| s.bus_lag_ms);
    let problems = latest.details["problems"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    view! {
        <div class="health-panel">
            <p class=if latest.healthy { "health ok" } else { "health bad" } data-testid="health-state">
                {if latest.healthy { "Healthy" } else { "Unhealthy" }}
                <span class="muted">{format!(" at {}", timestamp(latest.taken_at))}</span>
            </p>
            <p class="muted">
                {format!(
                    "database {:.1} ms · live bus {} · agent jobs waiting {} / running {}",
                    latest.db_latency_ms,
                    latest.bus_lag_ms.map(|l| format!("{l:.1} ms")).unwrap_or_else(|| "no probe".into()),
                    latest.jobs_waiting,
                    latest.jobs_running
                )}
            </p>
            {(!problems.is_empty()).then(|| view! {
                <ul class="form-error">{problems.into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}</ul>
            })}
            <svg class="sparkline" viewBox="0 0 300 50" role="img" aria-label="Latency over the recent samples">
                <polyline class="db" points=db_line/>
                <polyline class="bus" points=bus_line/>
            </svg>
            <p class="legend"><span class="key db">"database latency"</span><span class="key bus">"live bus lag"</span></p>
        </div>
    }
    .into_any()
}

#[component]
fn JobHistory(runs: Vec<JobRun>) -> impl IntoView {
    if runs.is_empty() {
        return view! { <p class="empty">"No job has run yet."</p> }.into_any();
    }
    view! {
        <table class="runs-table jobs-table">
            <thead>
                <tr>
                    <th scope="col">"Job"</th>
                    <th scope="col">"Outcome"</th>
                    <th scope="col">"Started"</th>
                    <th scope="col" class="num">"Took"</th>
                    <th scope="col">"Trigger"</th>
                    <th scope="col">"Instance"</th>
                    <th scope="col">"Details"</th>
                </tr>
            </thead>
            <tbody>
                {runs.into_iter().map(|run| {
                    let took = run
                        .finished_at
                        .map(|f| format!("{} ms", (f - run.started_at).num_milliseconds()))
                        .unwrap_or_else(|| "running".into());
                    let class = format!("job-{}", run.outcome);
                    view! {
                        <tr class=class>
                            <td><code>{run.job}</code></td>
                            <td>{run.outcome}</td>
                            <td>{timestamp(run.started_at)}</td>
                            <td class="num">{took}</td>
                            <td>{run.trigger}</td>
                            <td class="muted">{run.instance}</td>
                            <td><code class="details">{run.details.to_string()}</code></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
