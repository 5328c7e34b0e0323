//! What the scheduled jobs left behind: the admin System page, and each user's daily reports.

use crate::error::AppError;
use crate::model::{DailyReport, SystemOverview};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// Job history, health samples, everyone's recent reports and the schedules. Admins only: anyone
/// else gets "not found", as for anything they may not see.
#[server(endpoint = "system_overview", input = Json)]
pub async fn get_system_overview() -> Result<SystemOverview, AppError> {
    use crate::model::{JobName, UserRole};
    use crate::server::jobs::store;
    let identity = super::ssr::require_identity()?;
    if identity.principal().role != UserRole::Admin {
        return Err(AppError::NotFound);
    }
    let mut tx = super::ssr::scoped_tx().await?;
    let job_runs = store::recent_runs(&mut tx, 50).await?;
    let health = store::recent_health(&mut tx, 288).await?;
    let reports = store::recent_reports(&mut tx, 30).await?;
    tx.commit().await?;
    let config = super::ssr::state().jobs.config().clone();
    let schedules = JobName::ALL
        .into_iter()
        .map(|job| (job.as_str().to_owned(), config.schedule(job).to_string()))
        .collect();
    Ok(SystemOverview {
        job_runs,
        health,
        reports,
        schedules,
    })
}

/// The caller's daily reports, newest first (two weeks).
#[server(endpoint = "daily_reports", input = Json)]
pub async fn list_daily_reports() -> Result<Vec<DailyReport>, AppError> {
    use crate::server::jobs::store;
    let mut tx = super::ssr::scoped_tx().await?;
    let reports = store::recent_reports(&mut tx, 14).await?;
    tx.commit().await?;
    Ok(reports)
}
