use crate::model::UsageRow;
use crate::ui::format::{cost, tokens};
use leptos::prelude::*;

/// Tokens and cost of the window by agent and by model, costliest first.
#[component]
pub fn UsageBreakdown(
    #[prop(into)] by_agent: Signal<Vec<UsageRow>>,
    #[prop(into)] by_model: Signal<Vec<UsageRow>>,
) -> impl IntoView {
    view! {
        <Show when=move || by_agent.with(|rows| !rows.is_empty()) || by_model.with(|rows| !rows.is_empty())>
            <section class="usage" aria-label="Tokens and cost">
                <UsageTable title="By agent" counted="Runs" key="agent" rows=by_agent/>
                <UsageTable title="By model" counted="Calls" key="model" rows=by_model/>
            </section>
        </Show>
    }
}

#[component]
fn UsageTable(
    title: &'static str,
    counted: &'static str,
    key: &'static str,
    rows: Signal<Vec<UsageRow>>,
) -> impl IntoView {
    view! {
        <div class="usage-card">
            <table class="usage-table" data-usage=key>
                <caption>{title}</caption>
                <thead>
                    <tr>
                        <th scope="col">{if key == "agent" { "Agent" } else { "Model" }}</th>
                        <th scope="col" class="num">{counted}</th>
                        <th scope="col" class="num">"Tokens in"</th>
                        <th scope="col" class="num">"Tokens out"</th>
                        <th scope="col" class="num">"Cost"</th>
                    </tr>
                </thead>
                <tbody>
                    <For each=move || rows.get() key=|row| row.name.clone() let:row>
                        <tr data-name=row.name.clone()>
                            <th scope="row">{row.name.clone()}</th>
                            <td class="num">{row.count}</td>
                            <td class="num">{tokens(Some(row.tokens_in))}</td>
                            <td class="num">{tokens(Some(row.tokens_out))}</td>
                            <td class="num" data-testid="usage-cost">{cost(row.cost_usd)}</td>
                        </tr>
                    </For>
                </tbody>
            </table>
        </div>
    }
}
