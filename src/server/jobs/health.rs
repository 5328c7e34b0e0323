//! `health-check`: PostgreSQL round-trip latency, the live bus's lag (a probe run is published
//! through the publisher and timed until the hub hands its event out), the built-in agents' queue,
//! recorded as a `health_samples` row.

use super::{JobResult, Scheduler};
use crate::error::AppError;
use crate::model::{HealthSample, NewRun, RunStatus, UserRole};
use crate::server::db::{begin_scoped, Principal};
use serde_json::json;
use std::time::{Duration, Instant};

/// The account that owns probe runs; it cannot sign in (its password is random and never kept).
pub const PROBE_EMAIL: &str = "health-probe@runwire.internal";
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// A sample is unhealthy when the probe takes longer than this.
const BUS_LAG_LIMIT_MS: f64 = 2_000.0;

pub(super) async fn run(scheduler: &Scheduler) -> JobResult {
    let started = Instant::now();
    let db = crate::server::db::ping(&scheduler.pool).await;
    let db_latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let probe = probe_bus(scheduler).await;
    let (jobs_waiting, jobs_running) = scheduler.agents.queue_counts().await.unwrap_or((-1, -1));
    let bus_lag_ms = probe.as_ref().ok().copied().flatten();
    let mut problems = Vec::new();
    if let Err(err) = &db {
        problems.push(format!("database: {err}"));
    }
    if !scheduler.bus.is_connected() {
        problems.push("the live bus is not connected".to_owned());
    }
    match &probe {
        Err(err) => problems.push(format!("probe: {err}")),
        Ok(None) => problems.push(format!(
            "the probe event did not arrive within {PROBE_TIMEOUT:?}"
        )),
        Ok(Some(lag)) if *lag > BUS_LAG_LIMIT_MS => problems.push(format!(
            "the bus lags {lag:.0} ms (limit {BUS_LAG_LIMIT_MS} ms)"
        )),
        Ok(Some(_)) => {}
    }
    let sample = HealthSample {
        taken_at: scheduler.now(),
        healthy: problems.is_empty(),
        db_latency_ms,
        bus_lag_ms,
        jobs_waiting,
        jobs_running,
        details: json!({ "problems": problems, "instance": scheduler.instance }),
    };
    let mut tx = begin_scoped(&scheduler.pool, Principal::SYSTEM).await?;
    super::store::insert_health(&mut tx, &sample).await?;
    tx.commit().await?;
    Ok(json!({
        "healthy": sample.healthy,
        "db_latency_ms": db_latency_ms,
        "bus_lag_ms": bus_lag_ms,
        "jobs_waiting": jobs_waiting,
        "jobs_running": jobs_running,
        "problems": sample.details["problems"],
    }))
}

/// Publishes a probe run and times its event through NOTIFY, LISTEN and the hub. None: it never
/// arrived in time.
async fn probe_bus(scheduler: &Scheduler) -> Result<Option<f64>, AppError> {
    let owner = probe_user(scheduler).await?;
    // subscribed before publishing, so the event cannot slip past
    let (mut events, _) = scheduler.bus.subscribe();
    let started = Instant::now();
    let run = scheduler
        .publisher
        .create(
            owner,
            &NewRun {
                agent_name: "runwire-health-probe".into(),
                task: "health probe".into(),
                task_id: None,
                user_id: None,
                status: RunStatus::InProgress,
                step: None,
                metadata: None,
            },
        )
        .await?;
    let arrived = tokio::time::timeout(PROBE_TIMEOUT, async {
        loop {
            match events.recv().await {
                Ok(item) if item.event.run_id == run.id => return true,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return false,
                _ => {}
            }
        }
    })
    .await
    .unwrap_or(false);
    let lag = started.elapsed().as_secs_f64() * 1000.0;
    // the probe ends at once; the cleanup job removes it with other old runs
    let done = crate::model::RunUpdate::Complete {
        result: None,
        evidence: None,
    };
    scheduler.publisher.apply(owner, run.id, done).await?;
    Ok(arrived.then_some(lag))
}

async fn probe_user(scheduler: &Scheduler) -> Result<Principal, AppError> {
    let id = scheduler
        .probe_user
        .get_or_try_init(|| async {
            let secret = uuid::Uuid::new_v4().to_string();
            let hash = crate::server::password::hash_now(&secret).map_err(AppError::internal)?;
            let user =
                crate::server::users::ensure(&scheduler.pool, PROBE_EMAIL, &hash, UserRole::User)
                    .await?;
            Ok::<_, AppError>(user.id)
        })
        .await?;
    Ok(Principal {
        user_id: *id,
        role: UserRole::User,
    })
}
