use crate::model::ConnectionState;
use crate::ui::live::LiveIndicator;
use leptos::prelude::*;

/// Live / reconnecting / offline, for the live view on the current page (hidden when there is none).
#[component]
pub fn ConnectionIndicator() -> impl IntoView {
    let LiveIndicator(state) = expect_context::<LiveIndicator>();
    move || {
        state.get().map(|state| {
            let class = match state {
                ConnectionState::Live => "conn conn-live",
                ConnectionState::Connecting | ConnectionState::Reconnecting => {
                    "conn conn-reconnecting"
                }
                ConnectionState::Offline => "conn conn-offline",
            };
            view! {
                <span class=class role="status" aria-live="polite" data-testid="connection-state">
                    <span class="conn-dot" aria-hidden="true"></span>
                    {state.label()}
                </span>
            }
        })
    }
}
