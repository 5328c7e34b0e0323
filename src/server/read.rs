//! The read service: every read of runs and their events, as the publisher is every write. The
//! server functions and the REST API are thin adapters over it; each read is one short transaction
//! scoped to the caller, so row-level security sees every statement.

use crate::error::AppError;
use crate::model::{
    AgentRun, DashboardSummary, EventPage, RunCursor, RunFilter, RunPage, RunSort, RunStats,
    RunTimeline, RunTrend, Span, SpanPage, StatsWindow, EVENT_PAGE_MAX, RUN_PAGE_MAX,
    SPAN_PAGE_MAX, TIMELINE_MAX_EVENTS,
};
use crate::server::bus::EventBus;
use crate::server::db::{begin_scoped, Principal, ReadReplica};
use crate::server::{events, runs, spans};
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

/// Runs read per transaction by an export.
pub const EXPORT_PAGE: u32 = 500;

#[derive(Clone)]
pub struct RunReader {
    pool: PgPool,
    bus: Arc<EventBus>,
    /// Where lists, totals and exports read when a standby is configured.
    replica: Option<Arc<ReadReplica>>,
}

impl RunReader {
    pub fn new(pool: PgPool, bus: Arc<EventBus>) -> RunReader {
        RunReader {
            pool,
            bus,
            replica: None,
        }
    }

    /// A reader whose lists, totals and exports go to `replica` (see [`ReadReplica`] for when).
    pub fn with_replica(pool: PgPool, bus: Arc<EventBus>, replica: Arc<ReadReplica>) -> RunReader {
        RunReader {
            replica: Some(replica),
            ..RunReader::new(pool, bus)
        }
    }

    /// The pool of a dashboard read (list, totals, export) that begins now.
    async fn dashboard_pool(&self) -> Result<PgPool, AppError> {
        dashboard_pool(&self.pool, self.replica.as_deref()).await
    }

    /// A page of the caller's runs matching `filter` in `sort` order; `cursor` is a previous page's
    /// `next_cursor`. The page says up to which event it is complete, so a live view resumes there.
    pub async fn list(
        &self,
        who: Principal,
        filter: &RunFilter,
        sort: RunSort,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<RunPage, AppError> {
        filter.validate()?;
        check_page_limit(limit)?;
        let after = parse_cursor(cursor, sort)?;
        // The cursor is read before the runs, so the page holds at least everything up to it.
        let last_event_id = self.bus.last_event_id();
        let mut tx = begin_scoped(&self.dashboard_pool().await?, who).await?;
        let page = runs::page(&mut tx, filter, sort, after, limit).await?;
        tx.commit().await?;
        Ok(RunPage {
            last_event_id,
            ..page
        })
    }

    /// One of the caller's runs; another user's is "not found", exactly like a missing one.
    pub async fn get(&self, who: Principal, id: Uuid) -> Result<AgentRun, AppError> {
        let mut tx = begin_scoped(&self.pool, who).await?;
        let run = runs::get(&mut tx, id).await?.ok_or(AppError::NotFound)?;
        tx.commit().await?;
        Ok(run)
    }

    /// One of the caller's runs with its newest events, complete up to the live cursor.
    pub async fn timeline(&self, who: Principal, id: Uuid) -> Result<RunTimeline, AppError> {
        // Read the cursor first: everything up to it is settled, so the events read next include it all.
        let last_event_id = self.bus.last_event_id();
        let mut tx = begin_scoped(&self.pool, who).await?;
        let run = runs::get(&mut tx, id).await?.ok_or(AppError::NotFound)?;
        let (events, earlier_events) =
            events::newest_for_run(&mut tx, id, TIMELINE_MAX_EVENTS).await?;
        let spans = spans::page(&mut tx, id, None, SPAN_PAGE_MAX).await?;
        // a short page is every span; past it, the run's kept count says how many there are
        let spans_total = if (spans.len() as i64) < SPAN_PAGE_MAX {
            spans.len() as u64
        } else {
            runs::span_count(&mut tx, id).await? as u64
        };
        tx.commit().await?;
        Ok(RunTimeline {
            run,
            events,
            earlier_events,
            spans,
            spans_total,
            last_event_id,
        })
    }

    /// A run's events after event `after`, oldest first, at most `limit`.
    pub async fn events_after(
        &self,
        who: Principal,
        run_id: Uuid,
        after: i64,
        limit: i64,
    ) -> Result<EventPage, AppError> {
        if after < 0 || !(1..=EVENT_PAGE_MAX).contains(&limit) {
            return Err(AppError::validation(
                "after",
                format!("after must be >= 0 and limit 1 to {EVENT_PAGE_MAX}"),
            ));
        }
        let mut tx = begin_scoped(&self.pool, who).await?;
        runs::get(&mut tx, run_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let list = events::for_run(&mut tx, run_id, after, limit).await?;
        tx.commit().await?;
        let next_after = (list.len() as i64 == limit)
            .then(|| list.last().map(|e| e.id))
            .flatten();
        Ok(EventPage {
            events: list,
            next_after,
        })
    }

    /// A page of a run's spans by start time, after `after` (a previous page's `next_after`).
    pub async fn spans(
        &self,
        who: Principal,
        run_id: Uuid,
        after: Option<&str>,
        limit: i64,
    ) -> Result<SpanPage, AppError> {
        if !(1..=SPAN_PAGE_MAX).contains(&limit) {
            return Err(AppError::validation(
                "limit",
                format!("limit must be 1 to {SPAN_PAGE_MAX}"),
            ));
        }
        let after = after.map(parse_span_cursor).transpose()?;
        let mut tx = begin_scoped(&self.pool, who).await?;
        runs::get(&mut tx, run_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let list = spans::page(&mut tx, run_id, after, limit).await?;
        tx.commit().await?;
        let next_after = (list.len() as i64 == limit)
            .then(|| list.last().map(span_cursor))
            .flatten();
        Ok(SpanPage {
            spans: list,
            next_after,
        })
    }

    /// The caller's run totals over `window`.
    pub async fn stats(&self, who: Principal, window: StatsWindow) -> Result<RunStats, AppError> {
        let mut tx = begin_scoped(&self.dashboard_pool().await?, who).await?;
        let stats = runs::stats(&mut tx, window.since(chrono::Utc::now())).await?;
        tx.commit().await?;
        Ok(stats)
    }

    /// The dashboard's totals, trend and agent list over `window`, in one transaction.
    pub async fn summary(
        &self,
        who: Principal,
        window: StatsWindow,
    ) -> Result<DashboardSummary, AppError> {
        let now = chrono::Utc::now();
        let since = window.since(now);
        let bucket = window.trend_bucket();
        let mut tx = begin_scoped(&self.dashboard_pool().await?, who).await?;
        let stats = runs::stats(&mut tx, since).await?;
        let rows = runs::trend(&mut tx, since, bucket).await?;
        let agents = runs::agent_names(&mut tx).await?;
        let usage_by_agent = runs::usage_by_agent(&mut tx, since).await?;
        let usage_by_model = spans::usage_by_model(&mut tx, since).await?;
        tx.commit().await?;
        Ok(DashboardSummary {
            window,
            stats,
            trend: RunTrend::fill(bucket, since, now, rows),
            agents,
            usage_by_agent,
            usage_by_model,
        })
    }

    /// Every run matching `filter` in `sort` order, a page at a time, each page read in its own short
    /// transaction: an export never holds a connection while its client reads.
    pub fn export(
        &self,
        who: Principal,
        filter: RunFilter,
        sort: RunSort,
    ) -> impl futures::Stream<Item = Result<Vec<AgentRun>, AppError>> + Send + 'static {
        let (pool, replica) = (self.pool.clone(), self.replica.clone());
        futures::stream::unfold(Some(None::<RunCursor>), move |after| {
            let (pool, replica, filter) = (pool.clone(), replica.clone(), filter.clone());
            async move {
                let after = after?;
                let page = async {
                    let pool = dashboard_pool(&pool, replica.as_deref()).await?;
                    let mut tx = begin_scoped(&pool, who).await?;
                    let page = runs::page(&mut tx, &filter, sort, after, EXPORT_PAGE).await?;
                    tx.commit().await?;
                    Ok::<_, AppError>(page)
                }
                .await;
                match page {
                    Ok(page) => {
                        let next = match page.next_cursor.as_deref().map(RunCursor::decode) {
                            Some(Ok(cursor)) => Some(Some(cursor)),
                            _ => None,
                        };
                        (!page.runs.is_empty() || next.is_some()).then_some((Ok(page.runs), next))
                    }
                    Err(err) => Some((Err(err), None)),
                }
            }
        })
    }
}

/// `primary`, or the standby once it has caught up (when one is configured).
async fn dashboard_pool(
    primary: &PgPool,
    replica: Option<&ReadReplica>,
) -> Result<PgPool, AppError> {
    match replica {
        Some(replica) => Ok(replica.pool_for_read().await?),
        None => Ok(primary.clone()),
    }
}

/// A `next_cursor` handed back by a client for a list in `sort` order; garbage, or a cursor of
/// another order, is a 400 saying how to get a good one.
pub fn parse_cursor(cursor: Option<&str>, sort: RunSort) -> Result<Option<RunCursor>, AppError> {
    let Some(text) = cursor else {
        return Ok(None);
    };
    let cursor = RunCursor::decode(text).map_err(|err| AppError::BadRequest(err.to_string()))?;
    if cursor.sort != sort {
        return Err(AppError::BadRequest(format!(
            "this cursor continues a list sorted by {}, not {}; start again without a cursor",
            cursor.sort.as_str(),
            sort.as_str()
        )));
    }
    Ok(Some(cursor))
}

/// Where a page of spans ends: the last span's start (microseconds) and id.
fn span_cursor(span: &Span) -> String {
    format!("{}.{}", span.started_at.timestamp_micros(), span.span_id)
}

fn parse_span_cursor(cursor: &str) -> Result<(chrono::DateTime<chrono::Utc>, String), AppError> {
    let malformed = || AppError::BadRequest("`after` is not a cursor this API gave".to_owned());
    let (micros, span_id) = cursor.split_once('.').ok_or_else(malformed)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(chrono::DateTime::from_timestamp_micros)
        .ok_or_else(malformed)?;
    if span_id.is_empty() || span_id.len() > crate::model::SPAN_ID_MAX_CHARS {
        return Err(malformed());
    }
    Ok((at, span_id.to_owned()))
}

pub fn check_page_limit(limit: u32) -> Result<(), AppError> {
    if (1..=RUN_PAGE_MAX).contains(&limit) {
        Ok(())
    } else {
        Err(AppError::validation(
            "limit",
            format!("must be between 1 and {RUN_PAGE_MAX}"),
        ))
    }
}
