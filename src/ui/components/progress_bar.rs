use crate::ui::format::percent;
use leptos::prelude::*;

/// An accessible progress bar; the fill animates between values (CSS transition).
#[component]
pub fn ProgressBar(value: f32, #[prop(optional)] label: Option<String>) -> impl IntoView {
    let value = value.clamp(0.0, 100.0);
    let text = percent(value);
    view! {
        <div
            class="progress"
            role="progressbar"
            aria-valuemin="0"
            aria-valuemax="100"
            aria-valuenow=format!("{value:.0}")
            aria-label=label.unwrap_or_else(|| "Progress".to_owned())
        >
            <div class="progress-fill" style=format!("width: {value:.1}%")></div>
            <span class="progress-text">{text}</span>
        </div>
    }
}
