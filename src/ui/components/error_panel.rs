use leptos::prelude::*;

/// A failure shown where the content would have been: what could not be shown, and why. As the
/// fallback of an `<ErrorBoundary>` it lists the boundary's errors; elsewhere it says `message`.
#[component]
pub fn ErrorPanel(
    /// What could not be done.
    #[prop(into, default = "Could not load this view".into())]
    title: String,
    /// Why, in words.
    #[prop(optional, into)]
    message: Option<String>,
    /// The errors of an `<ErrorBoundary>`.
    #[prop(optional)]
    errors: Option<ArcRwSignal<Errors>>,
) -> impl IntoView {
    view! {
        <div class="error-panel" role="alert">
            <strong>{title}</strong>
            {message.map(|message| view! { <p>{message}</p> })}
            {errors.map(|errors| view! {
                <ul>
                    {move || {
                        errors
                            .get()
                            .into_iter()
                            .map(|(_, error)| view! { <li>{error.to_string()}</li> })
                            .collect_view()
                    }}
                </ul>
            })}
        </div>
    }
}
