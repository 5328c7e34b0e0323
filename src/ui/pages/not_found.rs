use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found · runwire"/>
        <section class="not-found">
            <h1>"404 · Page not found"</h1>
            <p>"Nothing lives at this address. Try the " <a href="/dashboard">"dashboard"</a> "."</p>
        </section>
    }
}
