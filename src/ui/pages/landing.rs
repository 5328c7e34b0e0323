use leptos::prelude::*;

#[component]
pub fn LandingPage() -> impl IntoView {
    view! {
        <section class="hero">
            <h1>"Watch your AI agents work, live."</h1>
            <p class="lead">
                "Agents in any language report their runs to runwire over HTTP. Postgres keeps every event; "
                "your browser sees each change within milliseconds over a WebSocket, and nothing is lost "
                "when a connection drops."
            </p>
            <div class="hero-actions">
                <a class="button primary" href="/dashboard">"Open the dashboard"</a>
                <a class="button" href="/agents">"Start an agent run"</a>
            </div>
        </section>
        <ol class="how-it-works" aria-label="How it works">
            <li><strong>"Agent"</strong>" publishes start, progress, status and result events."</li>
            <li><strong>"runwire"</strong>" stores them in Postgres and fans them out."</li>
            <li><strong>"Your browser"</strong>" updates the dashboard in place, no polling."</li>
        </ol>
    }
}
