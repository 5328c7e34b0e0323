use crate::ui::format::percent;
use leptos::prelude::*;

/// An accessible progress bar; the fill animates between values (CSS transition), so a live value
/// moves it in place.
#[component]
pub fn ProgressBar(
    #[prop(into)] value: Signal<f32>,
    #[prop(optional, into)] label: Option<String>,
) -> impl IntoView {
    let value = Signal::derive(move || value.get().clamp(0.0, 100.0));
    view! {
        <div
            class="progress"
            role="progressbar"
            aria-valuemin="0"
            aria-valuemax="100"
            aria-valuenow=move || format!("{:.0}", value.get())
            aria-label=label.unwrap_or_else(|| "Progress".to_owned())
        >
            <div class="progress-fill" style=move || format!("width: {:.1}%", value.get())></div>
            <span class="progress-text">{move || percent(value.get())}</span>
        </div>
    }
}
