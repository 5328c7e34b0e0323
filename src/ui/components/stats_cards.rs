use crate::model::RunStats;
use crate::ui::format::{cost, mean_duration, rate, tokens};
use leptos::prelude::*;

/// The dashboard's totals for its window: total, active now, completed, failed, success rate and
/// average duration of finished runs, tokens and cost of their LLM calls.
#[component]
pub fn StatsCards(#[prop(into)] stats: Signal<RunStats>) -> impl IntoView {
    let card = move |label: &'static str, key: &'static str, value: fn(&RunStats) -> String| {
        view! {
            <div class="stat-card" data-stat=key>
                <span class="stat-label">{label}</span>
                <span class="stat-value">{move || stats.with(value)}</span>
            </div>
        }
    };
    view! {
        <div class="stats-cards" aria-label="Run totals">
            {card("Total runs", "total", |s| s.total.to_string())}
            {card("Active now", "active", |s| s.active.to_string())}
            {card("Completed", "completed", |s| s.completed.to_string())}
            {card("Failed", "failed", |s| s.failed.to_string())}
            {card("Success rate", "success_rate", |s| rate(s.success_rate()))}
            {card("Avg duration", "avg_duration", |s| mean_duration(s.avg_duration_seconds))}
            {card("Tokens", "tokens", |s| tokens(Some(s.tokens_in + s.tokens_out)))}
            {card("Cost", "cost", |s| cost(s.cost_usd))}
        </div>
    }
}
