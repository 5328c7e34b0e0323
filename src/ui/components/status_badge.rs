use crate::model::RunStatus;
use leptos::prelude::*;

/// A run status in its one colour (the `.status-*` classes in style/main.css).
#[component]
pub fn StatusBadge(status: RunStatus) -> impl IntoView {
    view! {
        <span class=format!("badge {}", status.badge_class()) data-status=status.as_str()>
            {status.label()}
        </span>
    }
}
