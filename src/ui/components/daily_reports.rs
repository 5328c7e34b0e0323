use crate::model::DailyReport;
use crate::ui::format::{mean_duration, rate};
use leptos::prelude::*;

/// Daily reports as a table: day, totals, success rate, average duration, top failing agents.
#[component]
pub fn DailyReports(reports: Vec<DailyReport>) -> impl IntoView {
    if reports.is_empty() {
        return view! {
            <p class="empty">"No daily reports yet: the daily-report job writes one each morning for the day before."</p>
        }
        .into_any();
    }
    view! {
        <table class="runs-table reports-table">
            <thead>
                <tr>
                    <th scope="col">"Day"</th>
                    <th scope="col" class="num">"Runs"</th>
                    <th scope="col" class="num">"Completed"</th>
                    <th scope="col" class="num">"Failed"</th>
                    <th scope="col" class="num">"Success rate"</th>
                    <th scope="col" class="num">"Avg duration"</th>
                    <th scope="col">"Top failing agents"</th>
                </tr>
            </thead>
            <tbody>
                {reports.into_iter().map(|report| {
                    let rate = rate(report.success_rate());
                    let duration = mean_duration(report.avg_duration_seconds);
                    let failing = report
                        .top_failing
                        .as_array()
                        .map(|agents| {
                            agents
                                .iter()
                                .map(|a| format!("{} ({})", a["agent"].as_str().unwrap_or("?"), a["failed"]))
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .filter(|text| !text.is_empty())
                        .unwrap_or_else(|| "—".into());
                    view! {
                        <tr data-day=report.day.to_string()>
                            <td>{report.day.to_string()}</td>
                            <td class="num">{report.total}</td>
                            <td class="num">{report.completed}</td>
                            <td class="num">{report.failed}</td>
                            <td class="num">{rate}</td>
                            <td class="num">{duration}</td>
                            <td>{failing}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
