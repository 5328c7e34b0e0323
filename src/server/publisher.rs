//! The AgentEventPublisher: the one write path for runs, used by the REST API, the built-in agents and
//! anything else that reports work. Each call is one transaction that updates the run row and appends
//! its event(s); the insert trigger NOTIFYs listeners when it commits.

use crate::error::AppError;
use crate::model::{
    AgentRun, NewRun, PriceTable, RunEventKind, RunStatus, RunUpdate, Span, SpanEventTotals,
    SpanKind, SpanReport, TokenUse, UserRole, SPANS_PER_RUN_MAX, SPAN_BATCH_MAX,
};
use crate::server::db::{begin_scoped, Principal, ScopedTx};
use crate::server::events::{self, NewEvent};
use crate::server::{runs, spans, telemetry};
use serde_json::json;
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use uuid::Uuid;
use written::WrittenRuns;

mod written;

#[derive(Clone)]
pub struct AgentEventPublisher {
    pool: PgPool,
    /// Prices a span's cost when the agent sends none.
    prices: Arc<PriceTable>,
    /// The runs this publisher wrote last: progress on them is written in one round trip.
    written: Arc<WrittenRuns>,
    /// Batches written in one round trip.
    one_trip: Arc<AtomicU64>,
}

impl AgentEventPublisher {
    /// A publisher pricing spans with the shipped price table.
    pub fn new(pool: PgPool) -> Self {
        Self::with_prices(pool, Arc::new(PriceTable::shipped()))
    }

    pub fn with_prices(pool: PgPool, prices: Arc<PriceTable>) -> Self {
        AgentEventPublisher {
            pool,
            prices,
            written: Arc::default(),
            one_trip: Arc::default(),
        }
    }

    /// How many batches this publisher (and its clones) wrote in one round trip.
    pub fn one_trip_batches(&self) -> u64 {
        self.one_trip.load(Ordering::Relaxed)
    }

    /// Applies one update and records the spans that go with it, in one transaction (a built-in
    /// agent's step: the run moves on, the call it finished ends and the next one begins).
    pub async fn apply_with_spans(
        &self,
        who: Principal,
        run_id: Uuid,
        update: RunUpdate,
        spans: &[SpanReport],
    ) -> Result<AgentRun, AppError> {
        let mut tx = begin_scoped(&self.pool, who).await?;
        let mut run = apply_in(&mut tx, run_id, std::slice::from_ref(&update)).await?;
        if !spans.is_empty() {
            run = self.record_spans_in(&mut tx, run_id, spans).await?.0;
        }
        tx.commit().await?;
        Ok(run)
    }

    /// Records span reports of one run, all or nothing; returns the run (with its new totals) and
    /// the spans as they now stand.
    pub async fn record_spans(
        &self,
        who: Principal,
        run_id: Uuid,
        reports: &[SpanReport],
    ) -> Result<(AgentRun, Vec<Span>), AppError> {
        let mut tx = begin_scoped(&self.pool, who).await?;
        let recorded = self.record_spans_in(&mut tx, run_id, reports).await?;
        tx.commit().await?;
        Ok(recorded)
    }

    /// [`AgentEventPublisher::record_spans`] inside a caller's transaction. Each report folds into
    /// its span (a child may come before its parent; a span may arrive already ended; an ended span
    /// is final) and is recorded as a `span_*` event holding the span as it then stood, so live
    /// views and replays see every step. The run's token and cost totals change in the same
    /// transaction. A finished run still takes spans: exporters send them after the fact.
    pub async fn record_spans_in(
        &self,
        tx: &mut ScopedTx,
        run_id: Uuid,
        reports: &[SpanReport],
    ) -> Result<(AgentRun, Vec<Span>), AppError> {
        self.record(tx, run_id, reports, EndedSpans::Refuse).await
    }

    /// [`AgentEventPublisher::record_spans_in`] for spans an exporter sends once they have ended
    /// (OpenTelemetry): a span that has already ended is a retry of a delivered batch, skipped
    /// rather than refused, so the retry stores nothing twice.
    pub async fn record_exported_spans_in(
        &self,
        tx: &mut ScopedTx,
        run_id: Uuid,
        reports: &[SpanReport],
    ) -> Result<(AgentRun, Vec<Span>), AppError> {
        self.record(tx, run_id, reports, EndedSpans::Skip).await
    }

    async fn record(
        &self,
        tx: &mut ScopedTx,
        run_id: Uuid,
        reports: &[SpanReport],
        ended: EndedSpans,
    ) -> Result<(AgentRun, Vec<Span>), AppError> {
        if reports.is_empty() || reports.len() > SPAN_BATCH_MAX {
            return Err(AppError::validation(
                "spans",
                format!("send 1 to {SPAN_BATCH_MAX} spans"),
            ));
        }
        let (mut run, now) = runs::lock(tx, run_id).await?.ok_or(AppError::NotFound)?;
        let mut ids: Vec<String> = reports.iter().map(|r| r.span_id.clone()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut held: HashMap<String, Span> = spans::lock(tx, &run, &ids)
            .await?
            .into_iter()
            .map(|span| (span.span_id.clone(), span))
            .collect();
        // The run's totals change by what the batch changes: the spans it touches are taken out
        // as they were and put in as they end up (no pass over the run's other spans).
        let mut usage = UsageChange::default();
        let mut touched: HashSet<String> = HashSet::with_capacity(ids.len());
        let mut order = Vec::with_capacity(ids.len());
        let mut recorded = Vec::with_capacity(reports.len());
        for report in reports {
            let stored = match held.remove(&report.span_id) {
                Some(span) if !span.is_running() && ended == EndedSpans::Skip => {
                    held.insert(span.span_id.clone(), span);
                    continue;
                }
                stored => stored,
            };
            if touched.insert(report.span_id.clone()) {
                match &stored {
                    Some(span) => usage.remove(span),
                    None => order.push(report.span_id.clone()),
                }
            }
            let (mut span, change) = report.fold(run_id, stored, now)?;
            if report.cost_usd.is_none() {
                span.cost_usd = self.priced(&span).or(span.cost_usd);
            }
            recorded.push((RunEventKind::for_span(change), span.clone()));
            held.insert(span.span_id.clone(), span);
        }
        if touched.is_empty() {
            return Ok((run, Vec::new()));
        }
        // new spans in the order they came, then the known ones
        let new: HashSet<&String> = order.iter().collect();
        let spans: Vec<Span> = order
            .iter()
            .chain(
                ids.iter()
                    .filter(|id| !new.contains(id) && touched.contains(*id)),
            )
            .filter_map(|id| held.remove(id))
            .collect();
        spans::save(tx, &run, &spans, order.len() == spans.len()).await?;
        for span in &spans {
            usage.add(span);
        }
        usage.apply_to(&mut run);
        run.updated_at = now;
        // Each event holds the span as that report left it, and the run's totals after the batch
        // (they commit together), so a client folding events into its copy of the run keeps them
        // exact.
        let totals = SpanEventTotals::of(&run);
        let recorded = recorded
            .iter()
            .map(|(kind, span)| NewEvent::of(&run, *kind, &totals.payload(span)))
            .collect();
        events::append(tx, recorded).await?;
        // The totals go last: their trigger updates the user's hourly rollup row, which every
        // writer of the same agent shares and holds until commit. Written before the events, it
        // serialised concurrent batches behind one another's event inserts (45 ms per UPDATE
        // with 8 writers, most of it waiting).
        let count = runs::save_span_totals(tx, &run, order.len() as i32).await?;
        // Counted with the write: past the cap, the caller's transaction rolls back and nothing of
        // the batch is stored.
        if i64::from(count) > SPANS_PER_RUN_MAX {
            return Err(crate::model::RunUpdateError::TooManySpans(SPANS_PER_RUN_MAX).into());
        }
        Ok((run, spans))
    }

    /// What the span's call cost by the price table: None without a model, tokens or a price.
    fn priced(&self, span: &Span) -> Option<f64> {
        let model = span.model.as_deref()?;
        if span.input_tokens.is_none() && span.output_tokens.is_none() {
            return None;
        }
        self.prices.cost(
            model,
            TokenUse {
                input: span.input_tokens.unwrap_or(0),
                output: span.output_tokens.unwrap_or(0),
                cache_read: span.cache_read_tokens.unwrap_or(0),
            },
        )
    }

    /// Creates a run as described by `new`.
    pub async fn create(&self, who: Principal, new: &NewRun) -> Result<AgentRun, AppError> {
        let mut tx = begin_scoped(&self.pool, who).await?;
        let run = create_in(&mut tx, new).await?;
        tx.commit().await?;
        Ok(run)
    }

    /// Applies one update to a run.
    pub async fn apply(
        &self,
        who: Principal,
        run_id: Uuid,
        update: RunUpdate,
    ) -> Result<AgentRun, AppError> {
        self.apply_batch(who, run_id, std::slice::from_ref(&update))
            .await
    }

    /// Applies `updates` in order, all or nothing.
    ///
    /// Progress on a run in progress that this publisher wrote last takes one round trip: the
    /// updates apply to its copy of the run and the database writes the result only if the row has
    /// not changed since (see `runs::save_state_and_append`). Anything else, or a copy out of date,
    /// takes a transaction that locks and reads the row first.
    pub async fn apply_batch(
        &self,
        who: Principal,
        run_id: Uuid,
        updates: &[RunUpdate],
    ) -> Result<AgentRun, AppError> {
        if let Some(run) = self.apply_in_one_trip(who, run_id, updates).await? {
            return Ok(run);
        }
        let mut tx = begin_scoped(&self.pool, who).await?;
        let (run, version) = apply_locked(&mut tx, run_id, updates).await?;
        tx.commit().await?;
        self.written.keep(&run, version);
        Ok(run)
    }

    /// The one-round-trip path of [`AgentEventPublisher::apply_batch`]: None when it does not apply
    /// or the run's row has changed since this publisher wrote it.
    async fn apply_in_one_trip(
        &self,
        who: Principal,
        run_id: Uuid,
        updates: &[RunUpdate],
    ) -> Result<Option<AgentRun>, AppError> {
        let Some((mut run, version)) = self.written.get(run_id) else {
            return Ok(None);
        };
        // Nothing is computed on a run the caller may not see: its answer (a refusal included)
        // comes from the locked path, under row-level security.
        if who.role != UserRole::Admin && run.user_id != who.user_id {
            return Ok(None);
        }
        let stamped = run.updated_at;
        let mut recorded = Vec::with_capacity(updates.len());
        for update in updates {
            if !run.changes_progress_only(update) {
                return Ok(None);
            }
            match run.apply_in_place(update, stamped) {
                Ok((kind, payload)) => recorded.push(NewEvent::of(&run, kind, &payload)),
                // A refusal is the locked path's to give, from the row as stored.
                Err(_) => return Ok(None),
            }
        }
        if recorded.is_empty() {
            return Ok(None);
        }
        let Some(saved) =
            runs::save_state_and_append(&self.pool, who, &run, version, &recorded).await?
        else {
            self.written.forget(run_id);
            return Ok(None);
        };
        run.updated_at = saved.at;
        self.written.keep(&run, saved.version);
        self.one_trip.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(telemetry::EVENTS_INGESTED, "kind" => RunEventKind::Progress.as_str())
            .increment(recorded.len() as u64);
        Ok(Some(run))
    }
}

/// [`AgentEventPublisher::create`] inside a caller's transaction.
pub async fn create_in(tx: &mut ScopedTx, new: &NewRun) -> Result<AgentRun, AppError> {
    new.validate()?;
    let run = runs::insert(tx, new).await?;
    let kind = if run.status == RunStatus::InProgress {
        RunEventKind::Started
    } else {
        RunEventKind::Status
    };
    // The run itself travels as a snapshot; its first event need not repeat the task.
    events::append(tx, vec![NewEvent::of(&run, kind, &json!({}))]).await?;
    Ok(run)
}

/// [`AgentEventPublisher::apply_batch`] inside a caller's transaction. Another user's run is
/// "not found" (row-level security hides it).
///
/// The run is changed in place, one update after another, and written when its status changes
/// (so the database's transition guard sees every move) and once at the end: a batch of a thousand
/// progress reports costs one run row in memory and one UPDATE, whatever the run's size.
pub async fn apply_in(
    tx: &mut ScopedTx,
    run_id: Uuid,
    updates: &[RunUpdate],
) -> Result<AgentRun, AppError> {
    Ok(apply_locked(tx, run_id, updates).await?.0)
}

/// [`apply_in`], with the version of the run's row it wrote.
async fn apply_locked(
    tx: &mut ScopedTx,
    run_id: Uuid,
    updates: &[RunUpdate],
) -> Result<(AgentRun, runs::RowVersion), AppError> {
    if updates.is_empty() {
        return Err(AppError::validation("updates", "send at least one update"));
    }
    let (mut run, now) = runs::lock(tx, run_id).await?.ok_or(AppError::NotFound)?;
    let mut saved_status = run.status;
    let mut recorded = Vec::with_capacity(updates.len());
    for (n, update) in updates.iter().enumerate() {
        let (kind, payload) = run.apply_in_place(update, now)?;
        if run.status != saved_status && n + 1 < updates.len() {
            runs::save_state(tx, &run).await?;
            saved_status = run.status;
        }
        recorded.push(NewEvent::of(&run, kind, &payload));
    }
    let version = runs::save(tx, &run).await?;
    events::append(tx, recorded).await?;
    Ok((run, version))
}

/// What recording does with a report for a span that has already ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EndedSpans {
    /// A 409: an ended span is final.
    Refuse,
    /// Nothing: it is a retry of what was delivered.
    Skip,
}

/// How a batch of spans changes its run's totals, which count LLM calls only (an agent span that
/// repeats its children's sum is not counted twice).
#[derive(Default)]
struct UsageChange {
    tokens_in: i64,
    tokens_out: i64,
    cost_usd: f64,
    /// Whether any call of the batch reports tokens in, out, or a cost.
    has_in: bool,
    has_out: bool,
    has_cost: bool,
}

impl UsageChange {
    fn add(&mut self, span: &Span) {
        if span.kind == SpanKind::Llm {
            self.tokens_in += span.input_tokens.unwrap_or(0);
            self.tokens_out += span.output_tokens.unwrap_or(0);
            self.cost_usd += span.cost_usd.unwrap_or(0.0);
            self.has_in |= span.input_tokens.is_some();
            self.has_out |= span.output_tokens.is_some();
            self.has_cost |= span.cost_usd.is_some();
        }
    }

    fn remove(&mut self, span: &Span) {
        if span.kind == SpanKind::Llm {
            self.tokens_in -= span.input_tokens.unwrap_or(0);
            self.tokens_out -= span.output_tokens.unwrap_or(0);
            self.cost_usd -= span.cost_usd.unwrap_or(0.0);
        }
    }

    /// A total stays None (unknown) until some call reports it.
    fn apply_to(&self, run: &mut AgentRun) {
        let sum = |held: Option<i64>, change: i64, reported: bool| {
            (held.is_some() || reported).then(|| (held.unwrap_or(0) + change).max(0))
        };
        run.tokens_in = sum(run.tokens_in, self.tokens_in, self.has_in);
        run.tokens_out = sum(run.tokens_out, self.tokens_out, self.has_out);
        run.cost_usd = (run.cost_usd.is_some() || self.has_cost)
            .then(|| (run.cost_usd.unwrap_or(0.0) + self.cost_usd).max(0.0));
    }
}
