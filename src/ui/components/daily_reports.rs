use crate::model::{format_duration, DailyReport};
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
                    let rate = report.success_rate().map(|r| format!("{:.1}%", r * 100.0)).unwrap_or_else(|| "—".into());
                    let duration = report
                        .avg_duration_seconds
                        .map(|s| format_duration(chrono::Duration::milliseconds((s * 1000.0) as i64)))
                        .unwrap_or_else(|| "—".into());
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
