use crate::ui::components::RunMonitor;
use leptos::ev;
use leptos::html;
use leptos::prelude::*;
use uuid::Uuid;

/// A dialog with one run's live monitor. Escape, the close button or a click on the backdrop close
/// it (through `on_close`, which owns the URL that keeps it open).
#[component]
pub fn RunModal(run_id: Uuid, on_close: Callback<()>) -> impl IntoView {
    let close_button = NodeRef::<html::Button>::new();
    let escape = window_event_listener(ev::keydown, move |event| {
        if event.key() == "Escape" {
            on_close.run(());
        }
    });
    on_cleanup(move || escape.remove());
    // Keyboard users land in the dialog, on its close button.
    Effect::new(move |_| {
        if let Some(button) = close_button.get() {
            let _ = button.focus();
        }
    });
    view! {
        <div class="modal-backdrop" on:click=move |_| on_close.run(())>
            <div
                class="modal"
                role="dialog"
                aria-modal="true"
                aria-label="Run details"
                on:click=|event| event.stop_propagation()
            >
                <div class="modal-bar">
                    <strong>"Run details"</strong>
                    <button
                        type="button"
                        class="button small"
                        node_ref=close_button
                        aria-label="Close"
                        on:click=move |_| on_close.run(())
                    >
                        "Close ✕"
                    </button>
                </div>
                <RunMonitor run_id/>
            </div>
        </div>
    }
}
