//! A paged, sorted table of runs kept live: rows change in place, new runs slide in where they
//! belong, older pages load by keyset cursor.

use super::follow;
use crate::api::runs::list_runs;
use crate::error::AppError;
use crate::model::{AgentRun, ConnectionState, RunFilter, RunSort};
use crate::ui::resource::page_resource;
use leptos::prelude::*;

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
    let page = page_resource(
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

#[cfg(test)]
mod tests {
    use super::merge_into_table;
    use crate::model::fixtures;
    use crate::model::{AgentRun, RunFilter, RunSort, RunStatus};

    /// Run `n`, created `n` seconds after the fixtures' epoch.
    fn run(n: u8, status: RunStatus) -> AgentRun {
        AgentRun {
            status,
            created_at: fixtures::epoch() + chrono::Duration::seconds(n.into()),
            ..fixtures::run(n.into())
        }
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
