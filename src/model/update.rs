//! What an agent can report about a run, and the pure rule that turns a run plus a report into the
//! next run and the event that records it. The publisher persists exactly what this returns.

use super::{AgentRun, RunEventKind, RunStatus, VerificationAttempt};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

pub const STEP_MAX_CHARS: usize = 500;
pub const ERROR_MAX_CHARS: usize = 10_000;
pub const REASON_MAX_CHARS: usize = 2_000;
pub const AGENT_NAME_MAX_CHARS: usize = 100;
pub const TASK_MAX_CHARS: usize = 65_536;
/// Largest serialized `result` of a completed run.
pub const RESULT_MAX_BYTES: usize = 256 * 1024;
/// Largest serialized verification evidence or run metadata.
pub const EVIDENCE_MAX_BYTES: usize = 64 * 1024;

/// One report about an existing run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RunUpdate {
    Progress {
        percent: f32,
        #[serde(default)]
        step: Option<String>,
    },
    Status {
        status: RunStatus,
        #[serde(default)]
        step: Option<String>,
    },
    Verification {
        passed: bool,
        #[serde(default)]
        evidence: Value,
    },
    Complete {
        #[serde(default)]
        result: Option<Value>,
        #[serde(default)]
        evidence: Option<Value>,
    },
    Fail {
        error: String,
    },
    Cancel {
        #[serde(default)]
        reason: Option<String>,
    },
}

/// A run to create.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    pub agent_name: String,
    pub task: String,
    #[serde(default)]
    pub task_id: Option<Uuid>,
    /// `in_progress` (default: the agent is already working), `queued` or `pending`.
    #[serde(default = "NewRun::default_status")]
    pub status: RunStatus,
    #[serde(default)]
    pub step: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunUpdateError {
    #[error("run is already {0}; a finished run accepts no more updates")]
    Finished(RunStatus),
    #[error("illegal status transition {from} -> {to}")]
    IllegalTransition { from: RunStatus, to: RunStatus },
    #[error("progress must be a number from 0 to 100 (got {0})")]
    ProgressOutOfRange(f32),
    #[error("progress cannot move backwards within an attempt ({from} -> {to})")]
    ProgressBackwards { from: f32, to: f32 },
    #[error("{field} must be 1 to {max} characters")]
    TextLength { field: &'static str, max: usize },
    #[error("{field} is {size} bytes; the limit is {max}")]
    TooLarge {
        field: &'static str,
        size: usize,
        max: usize,
    },
    #[error("{0}")]
    Invalid(&'static str),
}

impl RunUpdateError {
    /// The request field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            RunUpdateError::Finished(_) | RunUpdateError::IllegalTransition { .. } => "status",
            RunUpdateError::ProgressOutOfRange(_) | RunUpdateError::ProgressBackwards { .. } => {
                "percent"
            }
            RunUpdateError::TextLength { field, .. } | RunUpdateError::TooLarge { field, .. } => {
                field
            }
            RunUpdateError::Invalid(_) => "status",
        }
    }
}

impl NewRun {
    fn default_status() -> RunStatus {
        RunStatus::InProgress
    }

    pub fn validate(&self) -> Result<(), RunUpdateError> {
        check_text("agent_name", &self.agent_name, AGENT_NAME_MAX_CHARS)?;
        check_text("task", &self.task, TASK_MAX_CHARS)?;
        if let Some(step) = &self.step {
            check_text("step", step, STEP_MAX_CHARS)?;
        }
        if !matches!(
            self.status,
            RunStatus::Pending | RunStatus::Queued | RunStatus::InProgress
        ) {
            return Err(RunUpdateError::Invalid(
                "a new run starts as pending, queued or in_progress",
            ));
        }
        if let Some(metadata) = &self.metadata {
            if !metadata.is_object() {
                return Err(RunUpdateError::Invalid("metadata must be a JSON object"));
            }
            check_size("metadata", metadata, EVIDENCE_MAX_BYTES)?;
        }
        Ok(())
    }
}

fn check_text(field: &'static str, text: &str, max: usize) -> Result<(), RunUpdateError> {
    let len = text.chars().count();
    if len == 0 || len > max || text.trim().is_empty() {
        return Err(RunUpdateError::TextLength { field, max });
    }
    Ok(())
}

fn check_size(field: &'static str, value: &Value, max: usize) -> Result<(), RunUpdateError> {
    let size = serde_json::to_vec(value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > max {
        return Err(RunUpdateError::TooLarge { field, size, max });
    }
    Ok(())
}

/// The run after an update, and the event that records it.
#[derive(Clone, Debug, PartialEq)]
pub struct AppliedUpdate {
    pub run: AgentRun,
    pub kind: RunEventKind,
    pub payload: Value,
}

impl AgentRun {
    /// Applies `update` at `now`, or says why it may not happen. Never touches anything else.
    pub fn apply(
        &self,
        update: &RunUpdate,
        now: DateTime<Utc>,
    ) -> Result<AppliedUpdate, RunUpdateError> {
        if self.status.is_terminal() {
            return Err(RunUpdateError::Finished(self.status));
        }
        let mut run = self.clone();
        run.updated_at = now;
        let (kind, payload) = match update {
            RunUpdate::Progress { percent, step } => {
                let percent = *percent;
                if !(0.0..=100.0).contains(&percent) || !percent.is_finite() {
                    return Err(RunUpdateError::ProgressOutOfRange(percent));
                }
                if percent < run.progress_percent {
                    return Err(RunUpdateError::ProgressBackwards {
                        from: run.progress_percent,
                        to: percent,
                    });
                }
                // Progress on a run that had not started yet means it has.
                if matches!(run.status, RunStatus::Pending | RunStatus::Queued) {
                    run.move_to(RunStatus::InProgress, now)?;
                }
                run.progress_percent = percent;
                run.set_step(step)?;
                (RunEventKind::Progress, json!({}))
            }
            RunUpdate::Status { status, step } => {
                run.move_to(*status, now)?;
                run.set_step(step)?;
                (status_event_kind(*status), json!({}))
            }
            RunUpdate::Verification { passed, evidence } => {
                check_size("evidence", evidence, EVIDENCE_MAX_BYTES)?;
                run.record_verification(*passed, evidence.clone(), now);
                (
                    RunEventKind::Verification,
                    json!({ "passed": passed, "evidence": evidence, "attempt": run.attempt }),
                )
            }
            RunUpdate::Complete { result, evidence } => {
                if let Some(result) = result {
                    check_size("result", result, RESULT_MAX_BYTES)?;
                }
                run.move_to(RunStatus::Completed, now)?;
                if let Some(evidence) = evidence {
                    check_size("evidence", evidence, EVIDENCE_MAX_BYTES)?;
                    run.record_verification(true, evidence.clone(), now);
                }
                run.progress_percent = 100.0;
                run.result = result.clone();
                (RunEventKind::Completed, json!({ "result": result }))
            }
            RunUpdate::Fail { error } => {
                check_text("error", error, ERROR_MAX_CHARS)?;
                run.move_to(RunStatus::Failed, now)?;
                run.error = Some(error.clone());
                (RunEventKind::Failed, json!({ "error": error }))
            }
            RunUpdate::Cancel { reason } => {
                if let Some(reason) = reason {
                    check_text("reason", reason, REASON_MAX_CHARS)?;
                }
                run.move_to(RunStatus::Cancelled, now)?;
                run.error = reason.clone();
                (RunEventKind::Cancelled, json!({ "reason": reason }))
            }
        };
        Ok(AppliedUpdate { run, kind, payload })
    }

    fn move_to(&mut self, next: RunStatus, now: DateTime<Utc>) -> Result<(), RunUpdateError> {
        if !self.status.can_transition_to(next) {
            return Err(RunUpdateError::IllegalTransition {
                from: self.status,
                to: next,
            });
        }
        if next == RunStatus::InProgress && self.started_at.is_none() {
            self.started_at = Some(now);
        }
        if next == RunStatus::Retrying {
            // A new attempt: its progress starts over.
            self.attempt += 1;
            self.progress_percent = 0.0;
        }
        if next.is_terminal() {
            self.completed_at = Some(now);
        }
        self.status = next;
        Ok(())
    }

    fn set_step(&mut self, step: &Option<String>) -> Result<(), RunUpdateError> {
        if let Some(step) = step {
            check_text("step", step, STEP_MAX_CHARS)?;
            self.current_step = Some(step.clone());
        }
        Ok(())
    }

    fn record_verification(&mut self, passed: bool, evidence: Value, now: DateTime<Utc>) {
        self.verification_evidence.push(VerificationAttempt {
            attempt: self.attempt,
            passed,
            evidence,
            at: now,
        });
    }
}

fn status_event_kind(status: RunStatus) -> RunEventKind {
    match status {
        RunStatus::Completed => RunEventKind::Completed,
        RunStatus::Failed => RunEventKind::Failed,
        RunStatus::Cancelled => RunEventKind::Cancelled,
        RunStatus::TimedOut => RunEventKind::TimedOut,
        _ => RunEventKind::Status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn run(status: RunStatus, progress: f32) -> AgentRun {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        AgentRun {
            id: Uuid::nil(),
            task_id: Uuid::nil(),
            user_id: Uuid::nil(),
            agent_name: "a".into(),
            task: "t".into(),
            status,
            progress_percent: progress,
            current_step: None,
            attempt: 1,
            result: None,
            error: None,
            verification_evidence: vec![],
            metadata: json!({}),
            tokens_in: None,
            tokens_out: None,
            cost_usd: None,
            created_at: at,
            started_at: None,
            completed_at: None,
            updated_at: at,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 1, 0).unwrap()
    }

    fn progress(percent: f32) -> RunUpdate {
        RunUpdate::Progress {
            percent,
            step: Some("step".into()),
        }
    }

    #[test]
    fn progress_moves_forward_only_and_starts_a_queued_run() {
        let queued = run(RunStatus::Queued, 0.0);
        let applied = queued.apply(&progress(10.0), now()).unwrap();
        assert_eq!(applied.run.status, RunStatus::InProgress);
        assert_eq!(applied.run.started_at, Some(now()));
        assert_eq!(applied.run.current_step.as_deref(), Some("step"));
        assert_eq!(applied.kind, RunEventKind::Progress);

        let at_50 = run(RunStatus::InProgress, 50.0);
        assert_eq!(
            at_50.apply(&progress(40.0), now()),
            Err(RunUpdateError::ProgressBackwards {
                from: 50.0,
                to: 40.0
            })
        );
        assert!(at_50.apply(&progress(50.0), now()).is_ok());
        for bad in [-0.1, 100.1, f32::NAN, f32::INFINITY] {
            assert!(matches!(
                at_50.apply(&progress(bad), now()),
                Err(RunUpdateError::ProgressOutOfRange(_))
            ));
        }
    }

    #[test]
    fn retrying_starts_a_new_attempt_whose_progress_may_restart() {
        let verifying = run(RunStatus::Verifying, 90.0);
        let retrying = verifying
            .apply(
                &RunUpdate::Status {
                    status: RunStatus::Retrying,
                    step: None,
                },
                now(),
            )
            .unwrap()
            .run;
        assert_eq!((retrying.attempt, retrying.progress_percent), (2, 0.0));
        let again = retrying
            .apply(
                &RunUpdate::Status {
                    status: RunStatus::InProgress,
                    step: None,
                },
                now(),
            )
            .unwrap()
            .run;
        assert!(again.apply(&progress(5.0), now()).is_ok());
    }

    #[test]
    fn illegal_transitions_and_finished_runs_are_refused() {
        let pending = run(RunStatus::Pending, 0.0);
        assert_eq!(
            pending.apply(&RunUpdate::Fail { error: "x".into() }, now()),
            Err(RunUpdateError::IllegalTransition {
                from: RunStatus::Pending,
                to: RunStatus::Failed
            })
        );
        let done = run(RunStatus::Completed, 100.0);
        for update in [progress(100.0), RunUpdate::Cancel { reason: None }] {
            assert_eq!(
                done.apply(&update, now()),
                Err(RunUpdateError::Finished(RunStatus::Completed))
            );
        }
    }

    #[test]
    fn completion_sets_result_progress_time_and_evidence() {
        let verifying = run(RunStatus::Verifying, 80.0);
        let applied = verifying
            .apply(
                &RunUpdate::Complete {
                    result: Some(json!({"ok": 1})),
                    evidence: Some(json!("tests pass")),
                },
                now(),
            )
            .unwrap();
        assert_eq!(applied.run.status, RunStatus::Completed);
        assert_eq!(applied.run.progress_percent, 100.0);
        assert_eq!(applied.run.completed_at, Some(now()));
        assert_eq!(applied.run.result, Some(json!({"ok": 1})));
        assert_eq!(applied.run.verification_evidence.len(), 1);
        assert!(applied.run.verification_evidence[0].passed);
        assert_eq!(applied.kind, RunEventKind::Completed);
    }

    #[test]
    fn sizes_and_lengths_are_bounded() {
        let running = run(RunStatus::InProgress, 0.0);
        let huge = json!("x".repeat(RESULT_MAX_BYTES));
        assert!(matches!(
            running.apply(
                &RunUpdate::Complete {
                    result: Some(huge),
                    evidence: None
                },
                now()
            ),
            Err(RunUpdateError::TooLarge {
                field: "result",
                ..
            })
        ));
        assert_eq!(
            running.apply(&RunUpdate::Fail { error: " ".into() }, now()),
            Err(RunUpdateError::TextLength {
                field: "error",
                max: ERROR_MAX_CHARS
            })
        );
        let long_step = RunUpdate::Progress {
            percent: 1.0,
            step: Some("s".repeat(STEP_MAX_CHARS + 1)),
        };
        assert!(matches!(
            running.apply(&long_step, now()),
            Err(RunUpdateError::TextLength { field: "step", .. })
        ));
    }

    #[test]
    fn updates_parse_from_tagged_json_and_refuse_unknown_fields() {
        let update: RunUpdate =
            serde_json::from_str(r#"{"type":"progress","percent":12.5,"step":"plan"}"#).unwrap();
        assert_eq!(
            update,
            RunUpdate::Progress {
                percent: 12.5,
                step: Some("plan".into())
            }
        );
        assert!(serde_json::from_str::<RunUpdate>(
            r#"{"type":"progress","percent":1,"user_id":"x"}"#
        )
        .is_err());
        assert!(serde_json::from_str::<RunUpdate>(r#"{"type":"explode"}"#).is_err());
    }

    #[test]
    fn new_runs_start_only_in_starting_states() {
        let mut new = NewRun {
            agent_name: "coder".into(),
            task: "do it".into(),
            task_id: None,
            status: RunStatus::InProgress,
            step: None,
            metadata: Some(json!({"model": "x"})),
        };
        assert_eq!(new.validate(), Ok(()));
        new.status = RunStatus::Completed;
        assert!(new.validate().is_err());
        new.status = RunStatus::Queued;
        new.metadata = Some(json!([1]));
        assert!(new.validate().is_err());
        new.metadata = None;
        new.agent_name = "a".repeat(101);
        assert_eq!(
            new.validate(),
            Err(RunUpdateError::TextLength {
                field: "agent_name",
                max: 100
            })
        );
    }
}
