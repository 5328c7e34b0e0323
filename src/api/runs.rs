use crate::error::AppError;
use crate::model::{AgentRun, RunFilter, RunStats, StatsWindow};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// The caller's newest runs matching `filter`.
#[server(endpoint = "list_runs", input = Json)]
pub async fn list_runs(filter: RunFilter, limit: u32) -> Result<Vec<AgentRun>, AppError> {
    use crate::model::RUN_PAGE_MAX;
    use crate::server::runs;
    filter.validate()?;
    if !(1..=RUN_PAGE_MAX).contains(&limit) {
        return Err(AppError::validation(
            "limit",
            format!("must be between 1 and {RUN_PAGE_MAX}"),
        ));
    }
    let mut tx = super::ssr::scoped_tx().await?;
    let list = runs::list(&mut tx, &filter, limit).await?;
    tx.commit().await?;
    Ok(list)
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
