//! Demo data for `make run`: one demo user with runs in many states, so a fresh install has something
//! to look at. Idempotent: a user who already has runs gets none added.

use crate::model::{CurrentUser, RunStatus, UserRole};
use crate::server::db::{begin_scoped, Principal};
pub mod bulk;
mod store;

use crate::server::{password, users};
use chrono::{Duration, Utc};
use serde_json::json;
use sqlx::PgPool;
pub use store::{insert_seed, SeedRun};

pub const DEMO_EMAIL: &str = "demo@runwire.local";
/// A local demo account only: `make run` prints it, and RUNWIRE_DEMO=0 creates no such user.
pub const DEMO_PASSWORD: &str = "runwire-demo";

pub async fn seed_demo(pool: &PgPool) -> anyhow::Result<CurrentUser> {
    let hash = password::hash_now(DEMO_PASSWORD).map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
    let user = users::ensure(pool, DEMO_EMAIL, &hash, UserRole::User).await?;
    let principal = Principal {
        user_id: user.id,
        role: user.role,
    };
    let mut tx = begin_scoped(pool, principal).await?;
    if store::count_runs(&mut tx).await? == 0 {
        for run in demo_runs() {
            insert_seed(&mut tx, &run).await?;
        }
    }
    tx.commit().await?;
    Ok(user)
}

fn demo_runs() -> Vec<SeedRun<'static>> {
    let now = Utc::now();
    let ago = |minutes: i64| now - Duration::minutes(minutes);
    let run = |agent_name, task, status, progress_percent, current_step, created: i64| SeedRun {
        agent_name,
        task,
        status,
        progress_percent,
        current_step,
        result: None,
        error: None,
        created_at: ago(created),
        started_at: (status != RunStatus::Pending && status != RunStatus::Queued)
            .then(|| ago(created) + Duration::seconds(2)),
        completed_at: None,
    };
    let finished = |mut seed: SeedRun<'static>, after_seconds: i64| {
        seed.completed_at = Some(seed.created_at + Duration::seconds(after_seconds));
        seed
    };
    let mut completed = finished(
        run("researcher", "Survey recent papers on retrieval-augmented generation and summarise the five most cited",
            RunStatus::Completed, 100.0, Some("Wrote summary"), 190),
        74,
    );
    completed.result = Some(
        json!({"papers": 5, "summary": "RAG quality is dominated by retrieval recall; rerankers help most."}),
    );
    let mut report = finished(
        run(
            "data-analyst",
            "Build the weekly churn report from the warehouse tables",
            RunStatus::Completed,
            100.0,
            Some("Published report"),
            600,
        ),
        212,
    );
    report.result = Some(json!({"churn_rate": 0.031, "rows": 48210}));
    let mut failed = finished(
        run(
            "coder",
            "Fix the flaky test in the payments module",
            RunStatus::Failed,
            60.0,
            Some("Running test suite"),
            95,
        ),
        301,
    );
    failed.error = Some("test suite timed out after 3 attempts (payments::refund_partial)");
    vec![
        completed,
        report,
        failed,
        finished(
            run(
                "coder",
                "Upgrade tokio across the workspace and fix the deprecations",
                RunStatus::Cancelled,
                35.0,
                Some("Updating Cargo.lock"),
                48,
            ),
            40,
        ),
        finished(
            run(
                "reviewer",
                "Audit third-party dependency licences",
                RunStatus::TimedOut,
                70.0,
                Some("Scanning crates"),
                400,
            ),
            1800,
        ),
        run(
            "coder",
            "Add keyset pagination to the /users endpoint and write tests",
            RunStatus::InProgress,
            45.0,
            Some("Running unit tests"),
            6,
        ),
        run(
            "reviewer",
            "Review PR #482: move sessions to Postgres",
            RunStatus::AwaitingVerification,
            90.0,
            Some("Waiting for CI"),
            12,
        ),
        run(
            "planner",
            "Plan the Q3 database migration in safe steps",
            RunStatus::Retrying,
            20.0,
            Some("Retrying after a failed check"),
            20,
        ),
        run(
            "researcher",
            "Compare vector databases for 10M embeddings",
            RunStatus::Queued,
            0.0,
            None,
            2,
        ),
        run(
            "support-bot",
            "Summarise last week's customer feedback tickets",
            RunStatus::Pending,
            0.0,
            None,
            1,
        ),
    ]
}
