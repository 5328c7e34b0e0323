//! A run's spans as a waterfall: the tree (children under their parent, by start time) with a time
//! bar each, live. A running span's bar and duration grow with the page's clock. Clicking a span
//! opens its details: model, tokens, cost, latency, attributes, input and output, error.

use crate::model::Span;
use crate::ui::clock::Clock;
use crate::ui::format::{cost, latency, pretty_json, time_of_day, tokens};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use std::collections::HashMap;

/// Rows the waterfall shows at first, and adds per "show more": a run with thousands of spans
/// stays quick to open (each row is live, so each costs its share of hydration: the run page of a
/// 5,000-span run became interactive 0.3 s sooner with 50 rows than with 200).
pub const WATERFALL_ROWS_STEP: usize = 100;

/// One line of the waterfall: a span and how deep it sits in the tree.
#[derive(Clone, Debug, PartialEq)]
pub struct WaterfallRow {
    pub span: Span,
    pub depth: usize,
    /// It names a parent that has not arrived: shown at the top level, marked.
    pub orphan: bool,
}

/// The spans in tree order: each span's children follow it, by start time. A span whose parent
/// has not arrived (exporters send children first) stands at the top level until it does.
pub fn tree_order(spans: &[Span]) -> Vec<WaterfallRow> {
    let known: std::collections::HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut children: HashMap<Option<&str>, Vec<&Span>> = HashMap::new();
    for span in spans {
        let parent = span
            .parent_span_id
            .as_deref()
            .filter(|parent| known.contains(parent));
        children.entry(parent).or_default().push(span);
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| (a.started_at, &a.span_id).cmp(&(b.started_at, &b.span_id)));
    }
    let mut rows = Vec::with_capacity(spans.len());
    // depth-first, iteratively: a hostile parent chain must not overflow the stack
    let mut stack: Vec<(&Span, usize)> = children
        .get(&None)
        .map(|roots| roots.iter().rev().map(|s| (*s, 0)).collect())
        .unwrap_or_default();
    let mut placed = std::collections::HashSet::new();
    while let Some((span, depth)) = stack.pop() {
        if !placed.insert(span.span_id.as_str()) {
            continue;
        }
        rows.push(WaterfallRow {
            span: span.clone(),
            depth,
            orphan: span.parent_span_id.is_some() && depth == 0,
        });
        if let Some(kids) = children.get(&Some(span.span_id.as_str())) {
            stack.extend(kids.iter().rev().map(|kid| (*kid, depth + 1)));
        }
    }
    // a cycle of parents (a -> b -> a) has no root: show its spans at the top level
    for span in spans {
        if !placed.contains(span.span_id.as_str()) {
            rows.push(WaterfallRow {
                span: span.clone(),
                depth: 0,
                orphan: false,
            });
        }
    }
    rows
}

/// The time the bars share: first start, last end (or now), and now.
type Window = Option<(DateTime<Utc>, DateTime<Utc>, DateTime<Utc>)>;

/// Where a span's bar sits on a 0..1000 scale from `start` to `end`.
fn bar(span: &Span, start: DateTime<Utc>, end: DateTime<Utc>, now: DateTime<Utc>) -> (f64, f64) {
    let total = (end - start).num_milliseconds().max(1) as f64;
    let from = (span.started_at - start).num_milliseconds().max(0) as f64;
    let length = span.duration_ms(now) as f64;
    let x = (from / total * 1000.0).clamp(0.0, 1000.0);
    let width = (length / total * 1000.0).clamp(2.0, 1000.0 - x.min(998.0));
    (x, width)
}

#[component]
pub fn SpanWaterfall(
    #[prop(into)] spans: Signal<Vec<Span>>,
    /// How many spans the run has; past the cap the waterfall shows the first ones only.
    #[prop(into)]
    total: Signal<u64>,
) -> impl IntoView {
    let clock = Clock::now();
    let selected = RwSignal::new(None::<String>);
    let limit = RwSignal::new(WATERFALL_ROWS_STEP);
    let ordered = Memo::new(move |_| spans.with(|spans| tree_order(spans)));
    let rows = Memo::new(move |_| {
        let limit = limit.get();
        ordered.with(|rows| rows.iter().take(limit).cloned().collect::<Vec<_>>())
    });
    let hidden = move || ordered.with(Vec::len).saturating_sub(limit.get());
    // The window the bars share: first start to last end (or now, while a span runs).
    // Only while a span runs does the clock move the bars: a finished trace's rows stay still.
    let window = Memo::new(move |_| {
        spans.with(|spans| {
            let start = spans.iter().map(|s| s.started_at).min()?;
            let now = if spans.iter().any(Span::is_running) {
                clock.get().unwrap_or_else(Utc::now)
            } else {
                spans
                    .iter()
                    .filter_map(|s| s.ended_at)
                    .max()
                    .unwrap_or(start)
            };
            let end = spans
                .iter()
                .map(|s| s.ended_at.unwrap_or(now))
                .max()
                .unwrap_or(start);
            Some((start, end.max(start), now))
        })
    });
    let details = Memo::new(move |_| {
        let id = selected.get()?;
        spans.with(|spans| spans.iter().find(|s| s.span_id == id).cloned())
    });
    view! {
        <section class="waterfall" aria-label="Spans">
            <h3>"Spans"</h3>
            <Show
                when=move || rows.with(|rows| !rows.is_empty())
                fallback=|| view! { <p class="muted">"No spans yet: an agent reports them to /api/v1/runs/{id}/spans or over OpenTelemetry."</p> }
            >
                <ol class="span-list">
                    <For each=move || rows.get() key=|row| (row.span.span_id.clone(), row.span.status, row.span.ended_at, row.depth, row.orphan, row.span.name.clone(), row.span.model.clone()) let:row>
                        <SpanLine row window selected/>
                    </For>
                </ol>
            </Show>
            {move || (hidden() > 0).then(|| view! {
                <button type="button" class="button small" data-testid="more-spans"
                    on:click=move |_| limit.update(|l| *l += WATERFALL_ROWS_STEP)>
                    {format!("Show {} more spans ({} not shown)", hidden().min(WATERFALL_ROWS_STEP), hidden())}
                </button>
            })}
            {move || {
                let (shown, total) = (spans.with(Vec::len) as u64, total.get());
                (total > shown).then(|| view! {
                    <p class="muted" data-testid="spans-capped">
                        {format!("Showing the first {shown} of {total} spans; GET /api/v1/runs/{{id}}/spans pages through them all.")}
                    </p>
                })
            }}
            {move || details.get().map(|span| view! { <SpanDetails span on_close=move || selected.set(None)/> })}
        </section>
    }
}

#[component]
fn SpanLine(
    row: WaterfallRow,
    window: Memo<Window>,
    selected: RwSignal<Option<String>>,
) -> impl IntoView {
    let WaterfallRow {
        span,
        depth,
        orphan,
    } = row;
    let id = span.span_id.clone();
    let is_selected = {
        let id = id.clone();
        move || selected.with(|s| s.as_deref() == Some(id.as_str()))
    };
    let geometry = {
        let span = span.clone();
        Memo::new(move |_| {
            window
                .get()
                .map(|(start, end, now)| bar(&span, start, end, now))
                .unwrap_or((0.0, 2.0))
        })
    };
    let duration = {
        let span = span.clone();
        move || {
            let now = window.get().map(|(_, _, now)| now).unwrap_or_else(Utc::now);
            latency(span.duration_ms(now))
        }
    };
    let status = span.status;
    let label = match (&span.model, span.kind.as_str()) {
        (Some(model), "llm") => format!("{} · {model}", span.name),
        _ => span.name.clone(),
    };
    let depth_class = format!("span-line depth-{}", depth.min(8));
    view! {
        <li
            class=depth_class
            data-span-id=id.clone()
            data-kind=span.kind.as_str()
            data-status=status.as_str()
        >
            <button
                type="button"
                class="span-row"
                class:selected=is_selected.clone()
                aria-expanded=move || if is_selected() { "true" } else { "false" }
                on:click={
                    let id = id.clone();
                    move |_| selected.update(|s| *s = if s.as_deref() == Some(id.as_str()) { None } else { Some(id.clone()) })
                }
            >
                <span class=format!("span-kind kind-{}", span.kind.as_str())>{span.kind.as_str()}</span>
                <span class="span-name">
                    {orphan.then(|| view! { <span class="span-orphan" title="Its parent span has not arrived yet">"↑ "</span> })}
                    {label}
                </span>
                <span class="span-duration" data-testid="span-duration">{duration}</span>
                <svg class=format!("span-bar status-{}", status.as_str()) viewBox="0 0 1000 10" preserveAspectRatio="none" aria-hidden="true">
                    <rect height="10" x=move || format!("{:.1}", geometry.get().0) width=move || format!("{:.1}", geometry.get().1)></rect>
                </svg>
            </button>
        </li>
    }
}

#[component]
fn SpanDetails(span: Span, on_close: impl Fn() + 'static) -> impl IntoView {
    let status = span.status.as_str();
    let ended = span
        .ended_at
        .map(time_of_day)
        .unwrap_or_else(|| "—".to_owned());
    let attributes = span
        .attributes
        .as_object()
        .is_some_and(|a| !a.is_empty())
        .then(|| pretty_json(&span.attributes));
    view! {
        <div class="span-details" data-testid="span-details" role="region" aria-label=format!("Span {}", span.name)>
            <div class="span-details-head">
                <h4>{span.name.clone()}</h4>
                <button type="button" class="button small" on:click=move |_| on_close()>"Close"</button>
            </div>
            <dl class="span-facts">
                <div><dt>"Kind"</dt><dd>{span.kind.as_str()}</dd></div>
                <div><dt>"Status"</dt><dd data-testid="span-status">{status}</dd></div>
                <div><dt>"Model"</dt><dd data-testid="span-model">{span.model.clone().unwrap_or_else(|| "—".to_owned())}</dd></div>
                <div><dt>"Started"</dt><dd>{time_of_day(span.started_at)}</dd></div>
                <div><dt>"Ended"</dt><dd>{ended}</dd></div>
                <div><dt>"Latency"</dt><dd>{span.ended_at.map(|_| latency(span.duration_ms(Utc::now()))).unwrap_or_else(|| "running".to_owned())}</dd></div>
                <div><dt>"Input tokens"</dt><dd data-testid="span-input-tokens">{tokens(span.input_tokens)}</dd></div>
                <div><dt>"Output tokens"</dt><dd>{tokens(span.output_tokens)}</dd></div>
                <div><dt>"Cached input"</dt><dd>{tokens(span.cache_read_tokens)}</dd></div>
                <div><dt>"Reasoning"</dt><dd>{tokens(span.reasoning_tokens)}</dd></div>
                <div><dt>"Cost"</dt><dd data-testid="span-cost">{cost(span.cost_usd)}</dd></div>
            </dl>
            {span.error.clone().map(|error| view! { <p class="span-error" role="status">{error}</p> })}
            {span.input_preview.clone().map(|text| view! { <h5>"Input"</h5><pre class="span-text">{text}</pre> })}
            {span.output_preview.clone().map(|text| view! { <h5>"Output"</h5><pre class="span-text">{text}</pre> })}
            {attributes.map(|json| view! { <h5>"Attributes"</h5><pre class="span-text">{json}</pre> })}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn span(id: &str, parent: Option<&str>, start_ms: i64) -> Span {
        let started_at = DateTime::from_timestamp_millis(start_ms).unwrap();
        Span {
            parent_span_id: parent.map(str::to_owned),
            ..Span::new(id.into(), Uuid::nil(), id.into(), started_at)
        }
    }

    #[test]
    fn children_follow_their_parent_by_start_and_orphans_and_cycles_still_show() {
        let spans = vec![
            span("b", Some("root"), 30),
            span("a", Some("root"), 20),
            span("a1", Some("a"), 25),
            span("root", None, 0),
            span("orphan", Some("not-yet"), 10),
            span("x", Some("y"), 40),
            span("y", Some("x"), 50),
        ];
        let order = tree_order(&spans);
        let orphans: Vec<&str> = order
            .iter()
            .filter(|r| r.orphan)
            .map(|r| r.span.span_id.as_str())
            .collect();
        assert_eq!(orphans, ["orphan"]);
        let rows: Vec<(String, usize)> = order
            .into_iter()
            .map(|r| (r.span.span_id, r.depth))
            .collect();
        let expect = |id: &str, depth: usize| (id.to_owned(), depth);
        assert_eq!(
            rows,
            [
                expect("root", 0),
                expect("a", 1),
                expect("a1", 2),
                expect("b", 1),
                expect("orphan", 0),
                expect("x", 0),
                expect("y", 0),
            ]
        );
    }
}
