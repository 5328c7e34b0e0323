//! The live hooks the pages use: a list of runs, one run, one run with its timeline, the active runs.

use super::{follow, use_run_table, LiveRuns};
use crate::api::agents::get_run_timeline;
use crate::error::AppError;
use crate::model::{ConnectionState, RunFilter, RunSort, RunTimeline};
use crate::ui::resource::page_resource;
use leptos::prelude::*;
use uuid::Uuid;

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
    let page = page_resource(move || id.get(), get_run_timeline);
    let filter = Signal::derive(move || RunFilter {
        run_id: Some(id.get()),
        ..Default::default()
    });
    let live: RwSignal<Option<RunTimeline>> = RwSignal::new(None);
    // The live copy once there is one, else the page as loaded: cloned once per read, not the page
    // and then the live copy.
    let timeline = Signal::derive(move || {
        page.with(|loaded| {
            loaded.as_ref().map(|loaded| match loaded {
                Ok(page) => Ok(live.with(|live| live.as_ref().unwrap_or(page).clone())),
                Err(error) => Err(error.clone()),
            })
        })
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
