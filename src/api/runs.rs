use crate::error::AppError;
use crate::model::{
    AgentRun, DashboardSummary, RunFilter, RunPage, RunSort, RunStats, StatsWindow,
};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// A page of the caller's newest runs matching `filter`; `cursor` is a previous page's `next_cursor`.
#[server(endpoint = "list_runs", input = Json)]
pub async fn list_runs(
    filter: RunFilter,
    #[server(default)] cursor: Option<String>,
    limit: u32,
    #[server(default)] sort: RunSort,
) -> Result<RunPage, AppError> {
    use crate::server::runs;
    filter.validate()?;
    check_page_limit(limit)?;
    let after = parse_cursor(cursor.as_deref(), sort)?;
    // The cursor is read before the runs, so the page holds at least everything up to it.
    let last_event_id = super::ssr::state().bus.last_event_id();
    let mut tx = super::ssr::scoped_tx().await?;
    let page = runs::page(&mut tx, &filter, sort, after, limit).await?;
    tx.commit().await?;
    Ok(RunPage {
        last_event_id,
        ..page
    })
}

/// A `next_cursor` handed back by a client for a list in `sort` order; garbage, or a cursor of
/// another order, is a 400 saying how to get a good one.
#[cfg(feature = "ssr")]
pub fn parse_cursor(
    cursor: Option<&str>,
    sort: RunSort,
) -> Result<Option<crate::model::RunCursor>, AppError> {
    let Some(text) = cursor else {
        return Ok(None);
    };
    let cursor = crate::model::RunCursor::decode(text)
        .map_err(|err| AppError::BadRequest(err.to_string()))?;
    if cursor.sort != sort {
        return Err(AppError::BadRequest(format!(
            "this cursor continues a list sorted by {}, not {}; start again without a cursor",
            cursor.sort.as_str(),
            sort.as_str()
        )));
    }
    Ok(Some(cursor))
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

/// The dashboard's totals, trend and agent list over `window`, in one round trip.
#[server(endpoint = "dashboard_summary", input = Json)]
pub async fn get_dashboard_summary(window: StatsWindow) -> Result<DashboardSummary, AppError> {
    use crate::model::RunTrend;
    use crate::server::runs;
    let now = chrono::Utc::now();
    let since = window.since(now);
    let bucket = window.trend_bucket();
    let mut tx = super::ssr::scoped_tx().await?;
    let stats = runs::stats(&mut tx, since).await?;
    let rows = runs::trend(&mut tx, since, bucket).await?;
    let agents = runs::agent_names(&mut tx).await?;
    tx.commit().await?;
    Ok(DashboardSummary {
        window,
        stats,
        trend: RunTrend::fill(bucket, since, now, rows),
        agents,
    })
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
