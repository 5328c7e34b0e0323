use crate::ui::format::percent;
use leptos::prelude::*;

/// An accessible progress bar; the fill animates between values (CSS transition), so a live value
/// moves it in place. The fill is an SVG rectangle sized by attribute, not an inline style: the
/// Content-Security-Policy allows no inline styles.
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
            <svg class="progress-track" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">
                <rect class="progress-fill" height="10" width=move || format!("{:.1}", value.get())></rect>
            </svg>
            <span class="progress-text">{move || percent(value.get())}</span>
        </div>
    }
}
