use crate::ui::clock::Clock;
use crate::ui::components::ConnectionIndicator;
use crate::ui::live::LiveIndicator;
use crate::ui::pages::{
    AgentsPage, DashboardPage, LandingPage, NotFound, RunPage, SignInPage, SignUpPage, SystemPage,
    TokensPage,
};
use crate::ui::session::Session;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    Session::provide();
    LiveIndicator::provide();
    Clock::provide();
    view! {
        <Stylesheet id="leptos" href="/pkg/runwire.css"/>
        <Title text="runwire"/>
        <Router>
            <Header/>
            <main class="page">
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/") view=LandingPage/>
                    <Route path=path!("/signin") view=SignInPage/>
                    <Route path=path!("/signup") view=SignUpPage/>
                    <Route path=path!("/agents") view=AgentsPage/>
                    <Route path=path!("/runs/:id") view=RunPage/>
                    <Route path=path!("/dashboard") view=DashboardPage/>
                    <Route path=path!("/dashboard/agent-runs") view=DashboardPage/>
                    <Route path=path!("/settings/tokens") view=TokensPage/>
                    <Route path=path!("/system") view=SystemPage/>
                </Routes>
            </main>
        </Router>
    }
}

/// The top bar. On a narrow screen the navigation and the account links fold behind a menu button
/// (the stylesheet decides the width); following a link folds them again.
#[component]
fn Header() -> impl IntoView {
    let session = Session::expect();
    let menu_open = RwSignal::new(false);
    let location = leptos_router::hooks::use_location();
    Effect::new(move |_| {
        location.pathname.track();
        menu_open.set(false);
    });
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true"></span>
                "runwire"
            </a>
            <ConnectionIndicator/>
            <button
                type="button"
                class="menu-toggle button small"
                aria-controls="site-menu"
                aria-expanded=move || menu_open.get().to_string()
                on:click=move |_| menu_open.update(|open| *open = !*open)
            >
                "Menu"
            </button>
            <div id="site-menu" class="menu" class:open=move || menu_open.get()>
                <nav class="nav" aria-label="Main">
                    <A href="/agents">"Agents"</A>
                    <A href="/dashboard">"Dashboard"</A>
                </nav>
                <div class="account">
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            let info = session.info.await.unwrap_or_default();
                            match info.user {
                                Some(user) => view! {
                                    {(user.role == crate::model::UserRole::Admin).then(|| view! {
                                        <A href="/system" attr:class="account-link">"System"</A>
                                    })}
                                    <A href="/settings/tokens" attr:class="account-link">"API tokens"</A>
                                    <span class="account-email" data-testid="account-email">{user.email}</span>
                                    <ActionForm action=session.sign_out attr:class="inline-form">
                                        <button type="submit" class="button small">"Sign out"</button>
                                    </ActionForm>
                                }
                                .into_any(),
                                None => view! { <a class="button small primary" href="/signin">"Sign in"</a> }.into_any(),
                            }
                        })}
                    </Transition>
                </div>
            </div>
        </header>
    }
}
