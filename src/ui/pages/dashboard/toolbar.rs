use crate::model::{RunQuery, RunStatus, SEARCH_MAX_CHARS};
use leptos::prelude::*;

/// How long typing must pause before the search applies.
const SEARCH_DEBOUNCE_MS: u32 = 300;

/// Search, status and agent filters, and export links of the current view.
#[component]
pub fn Toolbar(
    view_query: Signal<RunQuery>,
    agents: Signal<Vec<String>>,
    go: Callback<RunQuery>,
) -> impl IntoView {
    let search = RwSignal::new(view_query.get_untracked().search.unwrap_or_default());
    // Follow the URL when it changes from elsewhere (back button, a shared link).
    Effect::new(move |_| {
        let from_url = view_query.get().search.unwrap_or_default();
        if search.get_untracked().trim() != from_url.trim() {
            search.set(from_url);
        }
    });
    let too_long = Signal::derive(move || search.with(|s| s.chars().count() > SEARCH_MAX_CHARS));
    let apply_search = move |text: String| {
        let text = text.trim().to_owned();
        let current = view_query.get_untracked();
        if current.search.as_deref().unwrap_or("") != text {
            go.run(RunQuery {
                search: (!text.is_empty()).then_some(text),
                run: None,
                ..current
            });
        }
    };
    // Each keystroke starts a new generation; a pause applies only the latest one.
    let typing = RwSignal::new(0u64);
    let on_input = move |event| {
        let text = event_target_value(&event);
        search.set(text.clone());
        typing.update(|n| *n += 1);
        if text.chars().count() > SEARCH_MAX_CHARS {
            return;
        }
        let mine = typing.get_untracked();
        leptos::task::spawn_local(async move {
            gloo_timers::future::TimeoutFuture::new(SEARCH_DEBOUNCE_MS).await;
            if typing.get_untracked() == mine {
                apply_search(text);
            }
        });
    };
    let toggle_status = move |status: Option<RunStatus>| {
        let mut query = view_query.get_untracked();
        match status {
            None => query.active = !query.active,
            Some(status) => {
                if let Some(i) = query.statuses.iter().position(|s| *s == status) {
                    query.statuses.remove(i);
                } else {
                    query.statuses.push(status);
                }
            }
        }
        query.run = None;
        go.run(query);
    };
    let status_summary = move || {
        let query = view_query.get();
        let count = query.statuses.len() + usize::from(query.active);
        match count {
            0 => "All statuses".to_owned(),
            1 if query.active => "Active".to_owned(),
            1 => query.statuses[0].label().to_owned(),
            n => format!("{n} statuses"),
        }
    };
    let export = move |format: &'static str| {
        move || {
            let query = view_query.get().without_run().to_query();
            let rest = query
                .strip_prefix('?')
                .map(|q| format!("&{q}"))
                .unwrap_or_default();
            format!("/api/v1/runs/export?format={format}{rest}")
        }
    };
    view! {
        <div class="filters" role="search">
            <label class="field search-field">
                <span class="visually-hidden">"Search runs"</span>
                <input
                    type="search"
                    name="q"
                    placeholder="Search agent, task, step or run id…"
                    prop:value=move || search.get()
                    on:input=on_input
                    on:keydown=move |event| {
                        if event.key() == "Enter" && !too_long.get_untracked() {
                            typing.update(|n| *n += 1);
                            apply_search(search.get_untracked());
                        }
                    }
                    aria-invalid=move || too_long.get().then_some("true")
                />
            </label>
            <details class="multi-select">
                <summary data-testid="status-filter">{status_summary}</summary>
                <div class="multi-select-menu">
                    <label>
                        <input type="checkbox" prop:checked=move || view_query.get().active on:change=move |_| toggle_status(None)/>
                        "Active (not finished)"
                    </label>
                    {RunStatus::ALL
                        .into_iter()
                        .map(|status| view! {
                            <label>
                                <input
                                    type="checkbox"
                                    value=status.as_str()
                                    prop:checked=move || view_query.get().statuses.contains(&status)
                                    on:change=move |_| toggle_status(Some(status))
                                />
                                {status.label()}
                            </label>
                        })
                        .collect_view()}
                </div>
            </details>
            <label class="field">
                <span>"Agent"</span>
                <select
                    name="agent"
                    prop:value=move || view_query.get().agent.unwrap_or_default()
                    on:change=move |event| {
                        let agent = event_target_value(&event);
                        go.run(RunQuery {
                            agent: (!agent.is_empty()).then_some(agent),
                            run: None,
                            ..view_query.get_untracked()
                        });
                    }
                >
                    <option value="">"All agents"</option>
                    {move || {
                        let mut names = agents.get();
                        if let Some(current) = view_query.get().agent {
                            if !names.contains(&current) {
                                names.push(current);
                            }
                        }
                        names.into_iter().map(|name| view! { <option value=name.clone()>{name.clone()}</option> }).collect_view()
                    }}
                </select>
            </label>
            <span class="export">
                "Export: "
                <a href=export("csv") download>"CSV"</a>
                " · "
                <a href=export("json") download>"JSON"</a>
            </span>
        </div>
        {move || too_long.get().then(|| view! {
            <p class="form-error" role="alert">
                {format!("The search is limited to {SEARCH_MAX_CHARS} characters; shorten it to search.")}
            </p>
        })}
    }
}
