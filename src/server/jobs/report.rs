//! `daily-report`: for every user, yesterday's (UTC) totals, success rate, average duration and top
//! failing agents, stored as a `daily_reports` row (rewritten if the job runs again).

use super::{JobResult, Scheduler};
use crate::server::db::{begin_scoped, Principal};
use serde_json::json;

pub(super) async fn run(scheduler: &Scheduler) -> JobResult {
    let day = scheduler.now().date_naive() - chrono::Days::new(1);
    let mut tx = begin_scoped(&scheduler.pool, Principal::SYSTEM).await?;
    let users = super::store::write_daily_reports(&mut tx, day).await?;
    tx.commit().await?;
    Ok(json!({ "day": day, "users": users }))
}
