//! Live views of runs: a page of runs loaded like any resource (rendered on the server), then kept
//! current over the live WebSocket. The socket resumes from the last event id after any drop, with
//! exponential backoff and jitter, pauses while the tab is hidden, and reports its state.

mod hooks;
#[cfg(feature = "hydrate")]
mod socket;
mod table;

pub use hooks::{
    use_active_agent_runs, use_agent_run, use_agent_run_timeline, use_agent_runs, LiveTimeline,
};
pub use table::{merge_into_table, use_run_table, LiveRuns};

use crate::error::AppError;
use crate::model::{AgentRun, ConnectionState, RunEvent, RunFilter};
use crate::ui::resource::PageResource;
use leptos::prelude::*;

/// The connection state of the live view on the current page, for the header indicator.
#[derive(Clone, Copy)]
pub struct LiveIndicator(pub RwSignal<Option<ConnectionState>>);

impl LiveIndicator {
    pub fn provide() {
        provide_context(LiveIndicator(RwSignal::new(None)));
    }
}

/// Keeps a loaded page current: in the browser, a live socket per loaded page feeds `on_event`; on
/// the server nothing happens. Returns the connection state, also shown in the header.
pub(crate) fn follow<T>(
    page: PageResource<Result<T, AppError>>,
    filter: Signal<RunFilter>,
    cursor: fn(&T) -> i64,
    on_page: impl Fn(&T) + Clone + 'static,
    on_event: impl Fn(RunEvent, AgentRun) + Clone + 'static,
) -> Signal<ConnectionState>
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    let state = RwSignal::new(ConnectionState::Connecting);
    if let Some(LiveIndicator(shown)) = use_context::<LiveIndicator>() {
        Effect::new(move |_| shown.set(Some(state.get())));
        on_cleanup(move || shown.set(None));
    }
    #[cfg(feature = "hydrate")]
    socket::keep_live(page, filter, cursor, on_page, on_event, state);
    #[cfg(not(feature = "hydrate"))]
    let _ = (page, filter, cursor, on_page, on_event);
    state.into()
}
