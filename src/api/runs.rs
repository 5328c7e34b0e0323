//! Reading runs: thin adapters over the read service (`server::read`).

use crate::error::AppError;
use crate::model::{
    AgentRun, DashboardSummary, RunFilter, RunPage, RunSort, RunStats, StatsWindow,
};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// A page of the caller's runs matching `filter`; `cursor` is a previous page's `next_cursor`.
#[server(endpoint = "list_runs", input = Json)]
pub async fn list_runs(
    filter: RunFilter,
    #[server(default)] cursor: Option<String>,
    limit: u32,
    #[server(default)] sort: RunSort,
) -> Result<RunPage, AppError> {
    let who = super::ssr::reader()?;
    super::ssr::state()
        .reader
        .list(who, &filter, sort, cursor.as_deref(), limit)
        .await
}

/// The caller's run totals over `window`.
#[server(endpoint = "run_stats", input = Json)]
pub async fn get_run_stats(window: StatsWindow) -> Result<RunStats, AppError> {
    let who = super::ssr::reader()?;
    super::ssr::state().reader.stats(who, window).await
}

/// The dashboard's totals, trend and agent list over `window`, in one round trip.
#[server(endpoint = "dashboard_summary", input = Json)]
pub async fn get_dashboard_summary(window: StatsWindow) -> Result<DashboardSummary, AppError> {
    let who = super::ssr::reader()?;
    super::ssr::state().reader.summary(who, window).await
}

/// One of the caller's runs; another user's run is "not found", exactly like a missing one.
#[server(endpoint = "get_run", input = Json)]
pub async fn get_run(id: uuid::Uuid) -> Result<AgentRun, AppError> {
    let who = super::ssr::reader()?;
    super::ssr::state().reader.get(who, id).await
}
