//! Live views of runs: a page of runs loaded like any resource (rendered on the server), then kept
//! current over the live WebSocket. The socket resumes from the last event id after any drop, with
//! exponential backoff and jitter, pauses while the tab is hidden, and reports its state.

use crate::api::agents::get_run_timeline;
use crate::api::runs::list_runs;
use crate::error::AppError;
use crate::model::{AgentRun, ConnectionState, RunEvent, RunFilter, RunSort, RunTimeline};
use leptos::prelude::*;
use uuid::Uuid;

/// The connection state of the live view on the current page, for the header indicator.
#[derive(Clone, Copy)]
pub struct LiveIndicator(pub RwSignal<Option<ConnectionState>>);

impl LiveIndicator {
    pub fn provide() {
        provide_context(LiveIndicator(RwSignal::new(None)));
    }
}

/// The newest runs matching `filter`, live: a first page of `limit`, then every new match on top.
pub fn use_agent_runs(filter: Signal<RunFilter>, limit: u32) -> LiveRuns {
    use_run_table(filter, Signal::derive(|| RunSort::Newest), limit)
}

/// One run, live: the list form of [`use_agent_run_timeline`], for views that need no history.
pub fn use_agent_run(id: Signal<Uuid>) -> LiveRuns {
    let filter = Signal::derive(move || RunFilter {
        run_id: Some(id.get()),
        ..Default::default()
    });
    use_agent_runs(filter, 1)
}

/// One run and its event timeline, live.
#[derive(Clone, Copy)]
pub struct LiveTimeline {
    /// None while loading; then the run and its events, oldest first.
    pub timeline: Signal<Option<Result<RunTimeline, AppError>>>,
    pub state: Signal<ConnectionState>,
}

pub fn use_agent_run_timeline(id: Signal<Uuid>) -> LiveTimeline {
    let page = Resource::new(move || id.get(), get_run_timeline);
    let filter = Signal::derive(move || RunFilter {
        run_id: Some(id.get()),
        ..Default::default()
    });
    let live: RwSignal<Option<RunTimeline>> = RwSignal::new(None);
    let timeline = Signal::derive(move || {
        page.get()
            .map(|loaded| loaded.map(|page| live.get().unwrap_or(page)))
    });
    let state = follow(
        page,
        filter,
        |page| page.last_event_id,
        move |page| live.set(Some(page.clone())),
        move |event, run| {
            live.update(|timeline| {
                if let Some(timeline) = timeline {
                    timeline.apply(event, run);
                }
            })
        },
    );
    LiveTimeline { timeline, state }
}

/// The caller's unfinished runs, live.
pub fn use_active_agent_runs() -> LiveRuns {
    let filter = Signal::derive(|| RunFilter {
        active_only: true,
        ..Default::default()
    });
    use_agent_runs(filter, crate::model::RUN_PAGE_MAX)
}

/// A paged, sorted list of runs, live: rows update in place; new matching runs slide in at the top
/// (newest first) or where they belong within the loaded rows; older pages load by keyset cursor.
#[derive(Clone, Copy)]
pub struct LiveRuns {
    /// None while the first page loads; then the loaded runs, kept live.
    pub runs: Signal<Option<Result<Vec<AgentRun>, AppError>>>,
    pub state: Signal<ConnectionState>,
    /// Whether more rows exist past the loaded ones.
    pub has_more: Signal<bool>,
    pub loading_more: Signal<bool>,
    /// Why the last "load more" failed.
    pub more_error: Signal<Option<String>>,
    /// Bumped on every live change, for views that refresh on activity (the stats).
    pub changes: Signal<u64>,
    live: RwSignal<Option<Vec<AgentRun>>>,
    cursor: RwSignal<Option<String>>,
    loading: RwSignal<bool>,
    error: RwSignal<Option<String>>,
    query: Signal<(RunFilter, RunSort)>,
    page_size: u32,
}

impl LiveRuns {
    /// Folds in a run the caller already has (say, one it just started), ahead of its live event.
    pub fn merge(&self, run: AgentRun) {
        let (filter, sort) = self.query.get_untracked();
        let complete = self.cursor.with_untracked(Option::is_none);
        self.live.update(|rows| {
            if let Some(rows) = rows {
                merge_into_table(rows, run, &filter, sort, complete);
            }
        });
    }

    /// Loads the next page after the last loaded row.
    pub fn load_more(&self) {
        let Some(cursor) = self.cursor.get_untracked() else {
            return;
        };
        if self.loading.get_untracked() {
            return;
        }
        self.loading.set(true);
        let (filter, sort) = self.query.get_untracked();
        let (live, next, loading, error, size) = (
            self.live,
            self.cursor,
            self.loading,
            self.error,
            self.page_size,
        );
        leptos::task::spawn_local(async move {
            match list_runs(filter, Some(cursor), size, sort).await {
                Ok(page) => {
                    live.update(|rows| {
                        let rows = rows.get_or_insert_with(Vec::new);
                        for run in page.runs {
                            if !rows.iter().any(|r| r.id == run.id) {
                                rows.push(run);
                            }
                        }
                    });
                    next.set(page.next_cursor);
                    error.set(None);
                }
                Err(err) => error.set(Some(err.to_string())),
            }
            loading.set(false);
        });
    }
}

pub fn use_run_table(filter: Signal<RunFilter>, sort: Signal<RunSort>, page_size: u32) -> LiveRuns {
    let query = Signal::derive(move || (filter.get(), sort.get()));
    let page = Resource::new(
        move || query.get(),
        move |(filter, sort)| list_runs(filter, None, page_size, sort),
    );
    let live: RwSignal<Option<Vec<AgentRun>>> = RwSignal::new(None);
    let cursor = RwSignal::new(None::<String>);
    let changes = RwSignal::new(0u64);
    let runs = Signal::derive(move || {
        page.get()
            .map(|loaded| loaded.map(|page| live.get().unwrap_or(page.runs)))
    });
    let state = follow(
        page,
        filter,
        |page| page.last_event_id,
        move |page| {
            live.set(Some(page.runs.clone()));
            cursor.set(page.next_cursor.clone());
        },
        move |_, run| {
            let (filter, sort) = query.get_untracked();
            let complete = cursor.with_untracked(Option::is_none);
            live.update(|rows| {
                merge_into_table(
                    rows.get_or_insert_with(Vec::new),
                    run,
                    &filter,
                    sort,
                    complete,
                )
            });
            changes.update(|n| *n += 1);
        },
    );
    let loading = RwSignal::new(false);
    let error = RwSignal::new(None);
    LiveRuns {
        runs,
        state,
        has_more: Signal::derive(move || {
            page.get().and_then(Result::ok).is_some() && cursor.with(Option::is_some)
        }),
        loading_more: loading.into(),
        more_error: error.into(),
        changes: changes.into(),
        live,
        cursor,
        loading,
        error,
        query,
        page_size,
    }
}

/// Folds a run as it now stands into a sorted table. A row already shown changes in place (even if
/// its new duration would sort it elsewhere: the row being read does not jump); a new run is
/// placed only where it falls within the loaded rows, or at the end of a complete list.
pub fn merge_into_table(
    rows: &mut Vec<AgentRun>,
    run: AgentRun,
    filter: &RunFilter,
    sort: RunSort,
    complete: bool,
) {
    let existing = rows.iter().position(|r| r.id == run.id);
    match (existing, filter.matches(&run)) {
        (Some(i), true) => rows[i] = run,
        (Some(i), false) => {
            rows.remove(i);
        }
        (None, true) => {
            let key = (run.created_at, run.id);
            let at = match sort {
                RunSort::Newest => rows.iter().position(|r| (r.created_at, r.id) < key),
                RunSort::Oldest => rows.iter().position(|r| (r.created_at, r.id) > key),
                // a new run is still running: it sorts after every finished one
                RunSort::Longest => None,
            };
            match at {
                Some(at) => rows.insert(at, run),
                None if complete => rows.push(run),
                None => {}
            }
        }
        (None, false) => {}
    }
}

/// Keeps a loaded page current: in the browser, a live socket per loaded page feeds `on_event`; on
/// the server nothing happens. Returns the connection state, also shown in the header.
fn follow<T>(
    page: Resource<Result<T, AppError>>,
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

#[cfg(feature = "hydrate")]
mod socket {
    use crate::api::live::live_runs;
    use crate::error::AppError;
    use crate::model::{
        AgentRun, ConnectionState, LiveMessage, LiveRequest, LiveRunCache, RunEvent, RunFilter,
        LIVE_HEARTBEAT, LIVE_IDLE_TIMEOUT,
    };
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
        page: Resource<Result<T, AppError>>,
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
                                    leptos::logging::warn!("live view refused: {message}");
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
}

#[cfg(test)]
mod tests {
    use super::merge_into_table;
    use crate::model::{AgentRun, RunFilter, RunSort, RunStatus};

    fn run(n: u8, status: RunStatus) -> AgentRun {
        let mut run: AgentRun = serde_json::from_value(serde_json::json!({
            "id": format!("00000000-0000-0000-0000-0000000000{n:02}"),
            "task_id": "00000000-0000-0000-0000-000000000000",
            "user_id": "00000000-0000-0000-0000-000000000000",
            "agent_name": "a", "task": "t", "status": "in_progress", "progress_percent": 0.0,
            "current_step": null, "attempt": 1, "result": null, "error": null,
            "verification_evidence": [], "metadata": {}, "tokens_in": null, "tokens_out": null,
            "cost_usd": null, "created_at": format!("2026-01-01T00:00:{n:02}Z"), "started_at": null,
            "completed_at": null, "updated_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        run.status = status;
        run
    }

    #[test]
    fn runs_are_updated_in_place_added_on_top_and_dropped_when_they_leave_the_view() {
        let active = RunFilter {
            active_only: true,
            ..Default::default()
        };
        let newest = RunSort::Newest;
        let mut runs = vec![run(2, RunStatus::InProgress), run(1, RunStatus::InProgress)];
        merge_into_table(&mut runs, run(3, RunStatus::Queued), &active, newest, true);
        assert_eq!(
            runs.iter()
                .map(|r| r.created_at.timestamp() % 60)
                .collect::<Vec<_>>(),
            vec![3, 2, 1]
        );
        let mut moved = run(2, RunStatus::InProgress);
        moved.progress_percent = 50.0;
        merge_into_table(&mut runs, moved, &active, newest, true);
        assert_eq!(runs[1].progress_percent, 50.0);
        // finished: it leaves the active view
        merge_into_table(
            &mut runs,
            run(1, RunStatus::Completed),
            &active,
            newest,
            true,
        );
        assert_eq!(runs.len(), 2);
        // never active at all: never shown
        merge_into_table(&mut runs, run(4, RunStatus::Failed), &active, newest, true);
        assert_eq!(runs.len(), 2);
    }

    #[test]
    fn a_table_updates_rows_in_place_and_places_new_runs_by_its_order() {
        let all = RunFilter::default();
        let ids = |rows: &[AgentRun]| {
            rows.iter()
                .map(|r| r.created_at.timestamp() % 60)
                .collect::<Vec<_>>()
        };
        // newest first, more pages exist: a new run goes on top, an older unseen one is left out
        let mut rows = vec![run(5, RunStatus::InProgress), run(3, RunStatus::InProgress)];
        merge_into_table(
            &mut rows,
            run(9, RunStatus::Queued),
            &all,
            RunSort::Newest,
            false,
        );
        merge_into_table(
            &mut rows,
            run(1, RunStatus::Queued),
            &all,
            RunSort::Newest,
            false,
        );
        assert_eq!(ids(&rows), [9, 5, 3]);
        merge_into_table(
            &mut rows,
            run(4, RunStatus::Queued),
            &all,
            RunSort::Newest,
            false,
        );
        assert_eq!(ids(&rows), [9, 5, 4, 3]);
        // longest first: a finished run keeps its place (the row being read does not jump)
        let mut done = run(5, RunStatus::Completed);
        done.progress_percent = 100.0;
        merge_into_table(&mut rows, done, &all, RunSort::Longest, false);
        assert_eq!(ids(&rows), [9, 5, 4, 3]);
        assert_eq!(rows[1].status, RunStatus::Completed);
        // a new (running) run sorts last: shown only once the whole list is loaded
        merge_into_table(
            &mut rows,
            run(7, RunStatus::Queued),
            &all,
            RunSort::Longest,
            false,
        );
        assert_eq!(rows.len(), 4);
        merge_into_table(
            &mut rows,
            run(7, RunStatus::Queued),
            &all,
            RunSort::Longest,
            true,
        );
        assert_eq!(ids(&rows), [9, 5, 4, 3, 7]);
        // oldest first
        let mut rows = vec![run(1, RunStatus::InProgress), run(3, RunStatus::InProgress)];
        merge_into_table(
            &mut rows,
            run(2, RunStatus::Queued),
            &all,
            RunSort::Oldest,
            false,
        );
        merge_into_table(
            &mut rows,
            run(8, RunStatus::Queued),
            &all,
            RunSort::Oldest,
            false,
        );
        assert_eq!(ids(&rows), [1, 2, 3]);
    }
}
