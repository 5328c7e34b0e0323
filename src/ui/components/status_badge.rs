use crate::model::RunStatus;
use leptos::prelude::*;

/// A run status in its one colour (the `.status-*` classes in style/main.css).
#[component]
pub fn StatusBadge(#[prop(into)] status: Signal<RunStatus>) -> impl IntoView {
    view! {
        <span
            class=move || format!("badge {}", status.get().badge_class())
            data-status=move || status.get().as_str()
        >
            {move || status.get().label()}
        </span>
    }
}
