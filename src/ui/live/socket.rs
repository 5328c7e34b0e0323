//! The browser's live WebSocket client: one loop per loaded page, resuming from the last event id
//! with exponential backoff and jitter, pausing while the tab is hidden.

use crate::api::live::live_runs;
use crate::error::AppError;
use crate::model::{
    AgentRun, ConnectionState, LiveMessage, LiveRequest, LiveRunCache, RunEvent, RunFilter,
    LIVE_HEARTBEAT, LIVE_IDLE_TIMEOUT,
};
use crate::ui::resource::PageResource;
use futures::channel::mpsc;
use futures::future::{select, Either};
use futures::StreamExt;
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const TICK_MS: u32 = 1_000;
const PING_EVERY_TICKS: u32 = LIVE_HEARTBEAT.as_secs() as u32;
/// No message (not even a heartbeat) for this long: the connection is dead.
const SILENCE_LIMIT_TICKS: u32 = LIVE_IDLE_TIMEOUT.as_secs() as u32;
const BACKOFF_START_MS: u32 = 500;
const BACKOFF_MAX_MS: u32 = 30_000;

/// Starts a socket loop for every page that loads; a newer page (or leaving the view) ends the
/// previous loop.
pub fn keep_live<T>(
    page: PageResource<Result<T, AppError>>,
    filter: Signal<RunFilter>,
    cursor: fn(&T) -> i64,
    on_page: impl Fn(&T) + Clone + 'static,
    on_event: impl Fn(RunEvent, AgentRun) + Clone + 'static,
    state: RwSignal<ConnectionState>,
) where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    let generation = Arc::new(AtomicU64::new(0));
    let current = Arc::clone(&generation);
    Effect::new(move |_| {
        let Some(Ok(loaded)) = page.get() else {
            return;
        };
        on_page(&loaded);
        let mine = current.fetch_add(1, Ordering::SeqCst) + 1;
        let view = View {
            filter: filter.get_untracked(),
            on_event: Rc::new(on_event.clone()),
            state,
            resync: Rc::new(move || page.refetch()),
            generation: Arc::clone(&current),
            mine,
        };
        spawn_local(view.run(cursor(&loaded)));
    });
    on_cleanup(move || {
        generation.fetch_add(1, Ordering::SeqCst);
    });
}

struct View {
    filter: RunFilter,
    on_event: Rc<dyn Fn(RunEvent, AgentRun)>,
    state: RwSignal<ConnectionState>,
    /// Reloads the snapshot (after a resync); the new page starts a new loop.
    resync: Rc<dyn Fn()>,
    generation: Arc<AtomicU64>,
    mine: u64,
}

enum Ended {
    /// Dropped, refused or silent: reconnect from the cursor after a pause.
    Dropped,
    /// The tab was hidden: reconnect as soon as it is visible again.
    Hidden,
    /// This view is gone or replaced: stop.
    Stop,
}

impl View {
    fn stopped(&self) -> bool {
        self.generation.load(Ordering::SeqCst) != self.mine
    }

    async fn run(self, mut last: i64) {
        let mut backoff = BACKOFF_START_MS;
        loop {
            if self.stopped() {
                return;
            }
            if tab_hidden() {
                while tab_hidden() && !self.stopped() {
                    TimeoutFuture::new(500).await;
                }
                continue;
            }
            match self.connect(&mut last, &mut backoff).await {
                Ended::Stop => return,
                Ended::Hidden => continue,
                Ended::Dropped => {}
            }
            if self.stopped() {
                return;
            }
            self.state.set(if online() {
                ConnectionState::Reconnecting
            } else {
                ConnectionState::Offline
            });
            let jitter = (js_sys::Math::random() * f64::from(backoff) / 2.0) as u32;
            TimeoutFuture::new(backoff / 2 + jitter).await;
            backoff = (backoff * 2).min(BACKOFF_MAX_MS);
        }
    }

    async fn connect(&self, last: &mut i64, backoff: &mut u32) -> Ended {
        let (mut requests, outgoing) = mpsc::channel::<Result<LiveRequest, AppError>>(4);
        let subscribe = LiveRequest::Subscribe {
            filter: self.filter.clone(),
            after_event_id: *last,
        };
        if requests.try_send(Ok(subscribe)).is_err() {
            return Ended::Dropped;
        }
        let Ok(mut messages) = live_runs(outgoing.into()).await else {
            return Ended::Dropped;
        };
        let mut quiet_ticks = 0;
        let mut ticks = 0;
        // The runs of this connection: snapshots, with the events after them folded in.
        let mut runs = LiveRunCache::default();
        loop {
            let next = messages.next();
            let tick = TimeoutFuture::new(TICK_MS);
            match select(next, tick).await {
                Either::Left((Some(Ok(frame)), _)) => {
                    quiet_ticks = 0;
                    let batch = match frame.messages() {
                        Ok(batch) => batch,
                        Err(err) => {
                            leptos::logging::warn!("live view: {err}");
                            return Ended::Dropped;
                        }
                    };
                    for message in batch {
                        match message {
                            LiveMessage::Run { run, as_of } => runs.snapshot(*run, as_of),
                            LiveMessage::Event { event } => {
                                let Some(run) = runs.event(&event) else {
                                    leptos::logging::warn!(
                                        "live view: an event of a run never described"
                                    );
                                    return Ended::Dropped;
                                };
                                *last = event.id;
                                (self.on_event)(*event, run);
                                self.state.set(ConnectionState::Live);
                            }
                            LiveMessage::Ready { .. } => {
                                *backoff = BACKOFF_START_MS;
                                self.state.set(ConnectionState::Live);
                            }
                            LiveMessage::Heartbeat { .. } => {}
                            LiveMessage::Resync { .. } => {
                                (self.resync)();
                                return Ended::Stop;
                            }
                            LiveMessage::Error { message } => {
                                // Expected, not a fault: signing out (here or in another tab) ends
                                // the session's sockets. Logged for a developer, not as a warning.
                                leptos::logging::log!("live view refused: {message}");
                                return Ended::Dropped;
                            }
                        }
                    }
                }
                Either::Left((_, _)) => return Ended::Dropped,
                Either::Right(_) => {
                    quiet_ticks += 1;
                    ticks += 1;
                    if quiet_ticks >= SILENCE_LIMIT_TICKS {
                        return Ended::Dropped;
                    }
                    if ticks % PING_EVERY_TICKS == 0
                        && requests.try_send(Ok(LiveRequest::Ping)).is_err()
                    {
                        return Ended::Dropped;
                    }
                }
            }
            if self.stopped() {
                return Ended::Stop;
            }
            if tab_hidden() {
                return Ended::Hidden;
            }
        }
    }
}

fn tab_hidden() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| d.hidden())
}

fn online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}
