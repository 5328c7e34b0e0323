use crate::model::{RunTrend, TrendBucket, TrendPoint};
use crate::ui::format::{self, cost};
use leptos::prelude::*;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 36.0;
const RIGHT: f64 = 36.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 22.0;

/// Runs per hour or day, stacked by outcome, with the success rate as a line (right axis) and, when
/// runs reported LLM calls, their cost as a dashed line (scaled to its peak, named in the legend).
/// Plain SVG drawn by this component; each bar has a tooltip with its numbers.
#[component]
pub fn TrendChart(#[prop(into)] trend: Signal<RunTrend>) -> impl IntoView {
    view! {
        <figure class="trend-chart">
            <figcaption>
                "Runs per " {move || match trend.get().bucket { TrendBucket::Hour => "hour", TrendBucket::Day => "day" }}
                <span class="legend">
                    <span class="key completed">"completed"</span>
                    <span class="key failed">"failed"</span>
                    <span class="key stopped">"cancelled / timed out"</span>
                    <span class="key active">"active"</span>
                    <span class="key rate">"success rate"</span>
                    {move || peak_cost(&trend.get()).map(|peak| view! {
                        <span class="key cost" data-testid="trend-cost">{format!("cost (peak {})", cost(Some(peak)))}</span>
                    })}
                </span>
            </figcaption>
            {move || chart(&trend.get())}
        </figure>
    }
}

/// The costliest bucket's cost, when any bucket has one above zero.
fn peak_cost(trend: &RunTrend) -> Option<f64> {
    trend
        .points
        .iter()
        .filter_map(|p| p.cost_usd)
        .fold(None, |peak: Option<f64>, c| {
            Some(peak.map_or(c, |p| p.max(c)))
        })
        .filter(|peak| *peak > 0.0)
}

fn chart(trend: &RunTrend) -> impl IntoView {
    let points = &trend.points;
    let max = points
        .iter()
        .map(TrendPoint::total)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / points.len().max(1) as f64;
    let bar_w = (slot * 0.7).max(1.0);
    let y = |value: f64| TOP + plot_h - value / max * plot_h;
    let label = |p: &TrendPoint| match trend.bucket {
        TrendBucket::Hour => format::hour(p.start),
        TrendBucket::Day => format::month_day(p.start),
    };
    let bars = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let x = LEFT + i as f64 * slot + (slot - bar_w) / 2.0;
            let mut base = 0.0;
            let segments = [
                ("completed", p.completed),
                ("failed", p.failed),
                ("stopped", p.stopped),
                ("active", p.active),
            ]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(class, n)| {
                let top = y(base + n as f64);
                let height = y(base) - top;
                base += n as f64;
                view! { <rect class=class x=format!("{x:.1}") y=format!("{top:.1}") width=format!("{bar_w:.1}") height=format!("{height:.1}")/> }
            })
            .collect_view();
            let rate = p
                .success_rate()
                .map(|r| format!("{:.0}% success", r * 100.0))
                .unwrap_or_else(|| "nothing finished".into());
            let tip = format!(
                "{}: {} runs — {} completed, {} failed, {} cancelled/timed out, {} active; {rate}; cost {}",
                label(p), p.total(), p.completed, p.failed, p.stopped, p.active, cost(p.cost_usd)
            );
            view! { <g class="bar"><title>{tip}</title>{segments}</g> }
        })
        .collect_view();
    let rate_line: Vec<String> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let rate = p.success_rate()?;
            let x = LEFT + i as f64 * slot + slot / 2.0;
            Some(format!("{x:.1},{:.1}", TOP + plot_h - rate * plot_h))
        })
        .collect();
    let cost_line: Vec<String> = peak_cost(trend)
        .map(|peak| {
            points
                .iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    let share = p.cost_usd? / peak;
                    let x = LEFT + i as f64 * slot + slot / 2.0;
                    Some(format!("{x:.1},{:.1}", TOP + plot_h - share * plot_h))
                })
                .collect()
        })
        .unwrap_or_default();
    // a label on about every sixth bucket keeps the axis readable
    let every = (points.len() / 6).max(1);
    let ticks = points
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, p)| {
            let x = LEFT + i as f64 * slot + slot / 2.0;
            view! { <text class="tick" x=format!("{x:.1}") y=format!("{:.1}", HEIGHT - 6.0) text-anchor="middle">{label(p)}</text> }
        })
        .collect_view();
    let total: i64 = points.iter().map(TrendPoint::total).sum();
    view! {
        <svg
            viewBox=format!("0 0 {WIDTH} {HEIGHT}")
            role="img"
            aria-label=format!("{total} runs over {} buckets", points.len())
            preserveAspectRatio="none"
        >
            <line class="axis" x1=LEFT y1=TOP + plot_h x2=WIDTH - RIGHT y2=TOP + plot_h/>
            <text class="tick" x=LEFT - 6.0 y=TOP + 8.0 text-anchor="end">{max as i64}</text>
            <text class="tick" x=LEFT - 6.0 y=TOP + plot_h text-anchor="end">"0"</text>
            <text class="tick rate" x=WIDTH - RIGHT + 6.0 y=TOP + 8.0>"100%"</text>
            <text class="tick rate" x=WIDTH - RIGHT + 6.0 y=TOP + plot_h>"0%"</text>
            {bars}
            <polyline class="rate-line" points=rate_line.join(" ")/>
            <polyline class="cost-line" points=cost_line.join(" ")/>
            {ticks}
        </svg>
    }
}
