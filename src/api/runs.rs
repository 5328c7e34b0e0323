use crate::error::AppError;
use crate::model::{AgentRun, RunFilter, RunPage, RunStats, StatsWindow};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// A page of the caller's newest runs matching `filter`; `cursor` is a previous page's `next_cursor`.
#[server(endpoint = "list_runs", input = Json)]
pub async fn list_runs(
    filter: RunFilter,
    #[server(default)] cursor: Option<String>,
    limit: u32,
) -> Result<RunPage, AppError> {
    use crate::server::runs;
    filter.validate()?;
    check_page_limit(limit)?;
    let after = parse_cursor(cursor.as_deref())?;
    // The cursor is read before the runs, so the page holds at least everything up to it.
    let last_event_id = super::ssr::state().bus.last_event_id();
    let mut tx = super::ssr::scoped_tx().await?;
    let page = runs::page(&mut tx, &filter, after, limit).await?;
    tx.commit().await?;
    Ok(RunPage {
        last_event_id,
        ..page
    })
}

/// A `next_cursor` handed back by a client; garbage is a 400 saying how to get a good one.
#[cfg(feature = "ssr")]
pub fn parse_cursor(cursor: Option<&str>) -> Result<Option<crate::model::RunCursor>, AppError> {
    cursor
        .map(crate::model::RunCursor::decode)
        .transpose()
        .map_err(|err| AppError::BadRequest(err.to_string()))
}

pub fn check_page_limit(limit: u32) -> Result<(), AppError> {
    use crate::model::RUN_PAGE_MAX;
    if (1..=RUN_PAGE_MAX).contains(&limit) {
        Ok(())
    } else {
        Err(AppError::validation(
            "limit",
            format!("must be between 1 and {RUN_PAGE_MAX}"),
        ))
    }
}

/// The caller's run totals over `window`.
#[server(endpoint = "run_stats", input = Json)]
pub async fn get_run_stats(window: StatsWindow) -> Result<RunStats, AppError> {
    use crate::server::runs;
    let mut tx = super::ssr::scoped_tx().await?;
    let stats = runs::stats(&mut tx, window.since(chrono::Utc::now())).await?;
    tx.commit().await?;
    Ok(stats)
}

/// One of the caller's runs; another user's run is "not found", exactly like a missing one.
#[server(endpoint = "get_run", input = Json)]
pub async fn get_run(id: uuid::Uuid) -> Result<AgentRun, AppError> {
    use crate::server::runs;
    let mut tx = super::ssr::scoped_tx().await?;
    let run = runs::get(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(run)
}
