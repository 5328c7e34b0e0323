//! Records the traces of an OTLP export, each in its own transaction: a trace becomes a run (or
//! joins the run it became before, or the run `runwire.run_id` names), its spans are recorded
//! through the publisher like any others, and its root span's end ends the run.

use super::mapping::{Mapped, Rejection, RootEnd, TraceBatch, RUN_ID_ATTRIBUTE};
use crate::error::AppError;
use crate::model::{AgentRun, NewRun, RunStatus, RunUpdate, SPAN_BATCH_MAX};
use crate::server::db::ScopedTx;
use crate::server::publisher;
use crate::server::rest::Caller;
use crate::server::state::AppState;
use crate::server::traces;
use serde_json::{json, Value};

/// What became of an export's spans.
#[derive(Debug, Default)]
pub struct Outcome {
    pub accepted: usize,
    pub rejections: Vec<Rejection>,
}

/// Records each trace of `mapped`. A trace refused for what it says (another user's run, too many
/// spans) is rejected whole and the others go on; a failure on the server's side ends the request
/// (5xx), and the exporter's retry stores nothing twice (ended spans are final and skipped).
pub async fn ingest(
    state: &AppState,
    caller: &Caller,
    mapped: Mapped,
) -> Result<Outcome, AppError> {
    let mut outcome = Outcome {
        accepted: 0,
        rejections: mapped.rejections,
    };
    for trace in &mapped.traces {
        match ingest_trace(state, caller, trace).await {
            Ok(()) => outcome.accepted += trace.spans.len(),
            Err(err) if err.status_code() < 500 => outcome.rejections.push(Rejection {
                spans: trace.spans.len(),
                reason: match (err, trace.run_id) {
                    (AppError::NotFound, Some(run_id)) => format!(
                        "trace {}: `{RUN_ID_ATTRIBUTE}` {run_id} names no run of yours",
                        trace.trace_id
                    ),
                    (err, _) => format!("trace {}: {err}", trace.trace_id),
                },
            }),
            Err(err) => return Err(err),
        }
    }
    Ok(outcome)
}

async fn ingest_trace(
    state: &AppState,
    caller: &Caller,
    trace: &TraceBatch,
) -> Result<(), AppError> {
    let mut tx = caller.begin(state).await?;
    traces::lock(&mut tx, &trace.trace_id).await?;
    let run_id = match trace.run_id {
        Some(run_id) => run_id,
        None => match traces::run_of(&mut tx, &trace.trace_id).await? {
            Some(run_id) => run_id,
            None => new_run(&mut tx, trace).await?.id,
        },
    };
    let mut run = None;
    for chunk in trace.spans.chunks(SPAN_BATCH_MAX) {
        let (after, _) = state
            .publisher
            .record_exported_spans_in(&mut tx, run_id, chunk)
            .await?;
        run = Some(after);
    }
    let mut run = run.ok_or_else(|| AppError::BadRequest("a trace without spans".to_owned()))?;
    traces::link(&mut tx, &trace.trace_id, run_id).await?;
    // the run follows its root span: working from the first span, finished when the root ends
    if matches!(run.status, RunStatus::Pending | RunStatus::Queued) {
        let start = RunUpdate::Status {
            status: RunStatus::InProgress,
            step: None,
        };
        run = publisher::apply_in(&mut tx, run_id, &[start]).await?;
    }
    if let Some(end) = &trace.root {
        finish(&mut tx, &run, end).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The run a trace becomes, in progress.
async fn new_run(tx: &mut ScopedTx, trace: &TraceBatch) -> Result<AgentRun, AppError> {
    let new = NewRun {
        agent_name: trace.agent_name.clone(),
        task: trace.task.clone(),
        task_id: None,
        user_id: None,
        status: RunStatus::InProgress,
        step: None,
        metadata: Some(Value::Object(trace.metadata.clone())),
    };
    publisher::create_in(tx, &new).await
}

/// Ends the run as its root span ended, if it is still working (a retry finds it finished).
async fn finish(tx: &mut ScopedTx, run: &AgentRun, end: &RootEnd) -> Result<(), AppError> {
    let update = match end {
        RootEnd::Ok { output } => {
            if !run.status.can_transition_to(RunStatus::Completed) {
                return Ok(());
            }
            RunUpdate::Complete {
                result: output.as_ref().map(|output| json!({ "output": output })),
                evidence: None,
            }
        }
        RootEnd::Error(error) => {
            if !run.status.can_transition_to(RunStatus::Failed) {
                return Ok(());
            }
            RunUpdate::Fail {
                error: error.clone(),
            }
        }
    };
    publisher::apply_in(tx, run.id, &[update]).await?;
    Ok(())
}
