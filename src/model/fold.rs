//! A run rebuilt from its events: the client side of "send the run once, then its events".

use super::{AgentRun, RunEvent, RunEventKind, RunStatus, VerificationAttempt};
use serde_json::Value;

impl AgentRun {
    /// Replays one stored event of this run onto it: the run as it stood after the event. What
    /// [`AgentRun::apply_in_place`] changed, the event's columns and payload carry, so a client that
    /// holds a run snapshot stays exact by folding the events that follow it.
    pub fn fold(&mut self, event: &RunEvent) {
        let at = event.created_at;
        if event.status != self.status {
            if event.status == RunStatus::Retrying {
                self.attempt += 1;
            }
            if event.status == RunStatus::InProgress && self.started_at.is_none() {
                self.started_at = Some(at);
            }
            if event.status.is_terminal() {
                self.completed_at = Some(at);
            }
            self.status = event.status;
        }
        if let Some(progress) = event.progress {
            self.progress_percent = progress;
        }
        self.current_step = event.step.clone();
        let field = |name: &str| event.payload.get(name);
        match event.kind {
            RunEventKind::Verification => {
                if let Some(passed) = field("passed").and_then(Value::as_bool) {
                    let attempt = field("attempt")
                        .and_then(Value::as_i64)
                        .and_then(|a| i32::try_from(a).ok())
                        .unwrap_or(self.attempt);
                    let evidence = field("evidence").cloned().unwrap_or(Value::Null);
                    self.verification_evidence.push(VerificationAttempt {
                        attempt,
                        passed,
                        evidence,
                        at,
                    });
                }
            }
            RunEventKind::Completed => {
                if let Some(result) = field("result") {
                    self.result = (!result.is_null()).then(|| result.clone());
                }
                if let Some(evidence) = field("evidence") {
                    self.record_verification(true, evidence.clone(), at);
                }
            }
            RunEventKind::Failed => {
                if let Some(error) = field("error").and_then(Value::as_str) {
                    self.error = Some(error.to_owned());
                }
            }
            RunEventKind::Cancelled => {
                if let Some(reason) = field("reason") {
                    self.error = reason.as_str().map(str::to_owned);
                }
            }
            RunEventKind::SpanStarted | RunEventKind::SpanUpdated | RunEventKind::SpanEnded => {
                let totals = super::SpanEventTotals::read_from(&event.payload);
                self.tokens_in = totals.tokens_in;
                self.tokens_out = totals.tokens_out;
                self.cost_usd = totals.cost_usd;
            }
            _ => {}
        }
        self.updated_at = at;
    }
}

impl RunEventKind {
    /// Whether an event of this kind carries, in its payload, run fields that [`AgentRun::fold`]
    /// reads (a result, an error, a check, token totals). An event of any other kind folds the same
    /// whatever its payload: the server folds those without reading their payloads.
    pub const fn payload_changes_run(self) -> bool {
        !matches!(
            self,
            RunEventKind::Started
                | RunEventKind::Progress
                | RunEventKind::Status
                | RunEventKind::TimedOut
        )
    }
}
