//! What an agent can report about a run, and the pure rule that turns a run plus a report into the
//! next run and the event that records it. The publisher persists exactly what this returns.

use super::limits::{
    check_size, check_step, check_text, json_len, AGENT_NAME_MAX_CHARS, ERROR_MAX_CHARS,
    EVIDENCE_MAX_BYTES, REASON_MAX_CHARS, RESULT_MAX_BYTES, RUN_MAX_BYTES, STEP_MAX_CHARS,
    TASK_MAX_CHARS, VERIFICATION_MAX_ATTEMPTS,
};
use super::{AgentRun, RunEventKind, RunStatus, TaskId, VerificationAttempt};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One report about an existing run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum RunUpdate {
    Progress {
        #[cfg_attr(feature = "ssr", schema(minimum = 0, maximum = 100))]
        percent: f32,
        #[serde(default)]
        #[cfg_attr(
            feature = "ssr",
            schema(
                min_length = 1,
                max_length = 500,
                pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
            )
        )]
        step: Option<String>,
    },
    Status {
        status: RunStatus,
        #[serde(default)]
        #[cfg_attr(
            feature = "ssr",
            schema(
                min_length = 1,
                max_length = 500,
                pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
            )
        )]
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
        #[cfg_attr(
            feature = "ssr",
            schema(
                min_length = 1,
                max_length = 10000,
                pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
            )
        )]
        error: String,
    },
    Cancel {
        #[serde(default)]
        #[cfg_attr(
            feature = "ssr",
            schema(
                min_length = 1,
                max_length = 2000,
                pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
            )
        )]
        reason: Option<String>,
    },
}

/// A run to create.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewRun {
    #[cfg_attr(
        feature = "ssr",
        schema(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
        )
    )]
    pub agent_name: String,
    #[cfg_attr(
        feature = "ssr",
        schema(
            min_length = 1,
            max_length = 65536,
            pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
        )
    )]
    pub task: String,
    /// A UUID, or any other text of up to 200 characters ("task_123"), which maps to the same UUID
    /// every time and is kept on the run as `metadata.task_ref`.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"))]
    pub task_id: Option<TaskId>,
    /// Whose run it is: unset, the token's own user. A service token (scope `runs:write:any`) may
    /// name any user, by runwire id or by the external id an admin gave them.
    #[serde(default)]
    #[cfg_attr(
        feature = "ssr",
        schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub user_id: Option<String>,
    /// `in_progress` (default: the agent is already working), `queued` or `pending`.
    #[serde(default = "NewRun::default_status")]
    #[cfg_attr(feature = "ssr", schema(value_type = StartingStatus))]
    pub status: RunStatus,
    #[serde(default)]
    #[cfg_attr(
        feature = "ssr",
        schema(
            min_length = 1,
            max_length = 500,
            pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
        )
    )]
    pub step: Option<String>,
    /// A JSON object of up to 64 KiB.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<std::collections::HashMap<String, serde_json::Value>>))]
    pub metadata: Option<Value>,
}

/// The statuses a run may start in (for the OpenAPI document).
#[cfg(feature = "ssr")]
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum StartingStatus {
    Pending,
    Queued,
    InProgress,
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
    #[error("a run keeps at most {VERIFICATION_MAX_ATTEMPTS} verification attempts")]
    TooManyVerifications,
    #[error("{field} holds {what}, which cannot be stored")]
    Unstorable {
        field: &'static str,
        what: &'static str,
    },
    #[error("{0}")]
    Invalid(&'static str),
    #[error("{field} {message}")]
    OutOfRange {
        field: &'static str,
        message: &'static str,
    },
    #[error("span {0} has already ended; an ended span is final")]
    SpanEnded(String),
    #[error("a run holds at most {0} spans")]
    TooManySpans(i64),
}

impl RunUpdateError {
    /// The request field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            RunUpdateError::Finished(_) | RunUpdateError::IllegalTransition { .. } => "status",
            RunUpdateError::ProgressOutOfRange(_) | RunUpdateError::ProgressBackwards { .. } => {
                "percent"
            }
            RunUpdateError::TextLength { field, .. }
            | RunUpdateError::TooLarge { field, .. }
            | RunUpdateError::Unstorable { field, .. } => field,
            RunUpdateError::TooManyVerifications => "evidence",
            RunUpdateError::Invalid(_) => "status",
            RunUpdateError::OutOfRange { field, .. } => field,
            RunUpdateError::SpanEnded(_) | RunUpdateError::TooManySpans(_) => "spans",
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
        if let Some(user_id) = &self.user_id {
            super::check_external_id(user_id).map_err(|_| RunUpdateError::TextLength {
                field: "user_id",
                max: super::EXTERNAL_ID_MAX_CHARS,
            })?;
        }
        Ok(())
    }

    /// The run's metadata as stored: the caller's, plus the task id's text when it was not a UUID.
    pub fn stored_metadata(&self) -> Option<Value> {
        let Some(task_ref) = self.task_id.as_ref().and_then(|t| t.text.as_ref()) else {
            return self.metadata.clone();
        };
        let mut metadata = self.metadata.clone().unwrap_or_else(|| json!({}));
        if let Some(object) = metadata.as_object_mut() {
            object.insert("task_ref".to_owned(), Value::from(task_ref.as_str()));
        }
        Some(metadata)
    }
}

/// The run after an update, and the event that records it.
#[derive(Clone, Debug, PartialEq)]
pub struct AppliedUpdate {
    pub run: AgentRun,
    pub kind: RunEventKind,
    pub payload: Value,
}

impl AgentRun {
    /// Applies `update` at `now` to a copy of the run, or says why it may not happen.
    pub fn apply(
        &self,
        update: &RunUpdate,
        now: DateTime<Utc>,
    ) -> Result<AppliedUpdate, RunUpdateError> {
        let mut run = self.clone();
        let (kind, payload) = run.apply_in_place(update, now)?;
        Ok(AppliedUpdate { run, kind, payload })
    }

    /// Applies `update` at `now` to this run and returns the event that records it. Every check comes
    /// before any change, so a refused update leaves the run as it was. A batch of updates changes one
    /// run in place instead of copying it per update: its size never multiplies with the batch.
    pub fn apply_in_place(
        &mut self,
        update: &RunUpdate,
        now: DateTime<Utc>,
    ) -> Result<(RunEventKind, Value), RunUpdateError> {
        if self.status.is_terminal() {
            return Err(RunUpdateError::Finished(self.status));
        }
        let (kind, payload) = match update {
            RunUpdate::Progress { percent, step } => {
                let percent = *percent;
                if !(0.0..=100.0).contains(&percent) || !percent.is_finite() {
                    return Err(RunUpdateError::ProgressOutOfRange(percent));
                }
                if percent < self.progress_percent {
                    return Err(RunUpdateError::ProgressBackwards {
                        from: self.progress_percent,
                        to: percent,
                    });
                }
                check_step(step)?;
                // Progress on a run that had not started yet means it has.
                if matches!(self.status, RunStatus::Pending | RunStatus::Queued) {
                    self.move_to(RunStatus::InProgress, now)?;
                }
                self.progress_percent = percent;
                self.set_step(step);
                (RunEventKind::Progress, json!({}))
            }
            RunUpdate::Status { status, step } => {
                check_step(step)?;
                self.move_to(*status, now)?;
                self.set_step(step);
                (RunEventKind::for_status(*status), json!({}))
            }
            RunUpdate::Verification { passed, evidence } => {
                check_size("evidence", evidence, EVIDENCE_MAX_BYTES)?;
                self.check_room_for_verification()?;
                self.check_growth(json_len(evidence))?;
                self.record_verification(*passed, evidence.clone(), now);
                (
                    RunEventKind::Verification,
                    json!({ "passed": passed, "evidence": evidence, "attempt": self.attempt }),
                )
            }
            RunUpdate::Complete { result, evidence } => {
                let result_size = match result {
                    Some(result) => check_size("result", result, RESULT_MAX_BYTES)?,
                    None => 0,
                };
                let evidence_size = match evidence {
                    Some(evidence) => {
                        self.check_room_for_verification()?;
                        check_size("evidence", evidence, EVIDENCE_MAX_BYTES)?
                    }
                    None => 0,
                };
                self.check_growth(result_size + evidence_size)?;
                self.move_to(RunStatus::Completed, now)?;
                if let Some(evidence) = evidence {
                    self.record_verification(true, evidence.clone(), now);
                }
                self.progress_percent = 100.0;
                self.result = result.clone();
                let mut payload = json!({ "result": result });
                if let Some(evidence) = evidence {
                    payload["evidence"] = evidence.clone();
                }
                (RunEventKind::Completed, payload)
            }
            RunUpdate::Fail { error } => {
                check_text("error", error, ERROR_MAX_CHARS)?;
                self.check_growth(error.len())?;
                self.move_to(RunStatus::Failed, now)?;
                self.error = Some(error.clone());
                (RunEventKind::Failed, json!({ "error": error }))
            }
            RunUpdate::Cancel { reason } => {
                if let Some(reason) = reason {
                    check_text("reason", reason, REASON_MAX_CHARS)?;
                    self.check_growth(reason.len())?;
                }
                self.move_to(RunStatus::Cancelled, now)?;
                self.error = reason.clone();
                (RunEventKind::Cancelled, json!({ "reason": reason }))
            }
        };
        self.updated_at = now;
        Ok((kind, payload))
    }

    /// Whether `update` changes no more of this run than its progress, its step and its
    /// `updated_at`: progress on a run already in progress. Such an update reads no clock but the
    /// one that stamps `updated_at`, so the database's clock can stamp it as it stores the run (the
    /// publisher's one-round-trip path).
    pub fn changes_progress_only(&self, update: &RunUpdate) -> bool {
        self.status == RunStatus::InProgress && matches!(update, RunUpdate::Progress { .. })
    }

    /// Roughly the bytes the run's unbounded fields take when stored: the figure
    /// [`RUN_MAX_BYTES`] limits.
    pub fn stored_bytes(&self) -> usize {
        self.task.len()
            + json_len(&self.metadata)
            + self.result.as_ref().map_or(0, json_len)
            + self
                .verification_evidence
                .iter()
                .map(|v| json_len(&v.evidence))
                .sum::<usize>()
            + self.error.as_ref().map_or(0, String::len)
            + self.current_step.as_ref().map_or(0, String::len)
    }

    fn check_room_for_verification(&self) -> Result<(), RunUpdateError> {
        if self.verification_evidence.len() >= VERIFICATION_MAX_ATTEMPTS {
            return Err(RunUpdateError::TooManyVerifications);
        }
        Ok(())
    }

    /// Refuses an update that would add `added` bytes past [`RUN_MAX_BYTES`].
    fn check_growth(&self, added: usize) -> Result<(), RunUpdateError> {
        let size = self.stored_bytes() + added;
        if size > RUN_MAX_BYTES {
            return Err(RunUpdateError::TooLarge {
                field: "run",
                size,
                max: RUN_MAX_BYTES,
            });
        }
        Ok(())
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

    fn set_step(&mut self, step: &Option<String>) {
        if let Some(step) = step {
            self.current_step = Some(step.clone());
        }
    }

    pub(super) fn record_verification(
        &mut self,
        passed: bool,
        evidence: Value,
        now: DateTime<Utc>,
    ) {
        self.verification_evidence.push(VerificationAttempt {
            attempt: self.attempt,
            passed,
            evidence,
            at: now,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures;
    use chrono::TimeZone;

    fn run(status: RunStatus, progress: f32) -> AgentRun {
        AgentRun {
            status,
            progress_percent: progress,
            ..fixtures::run(0)
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

    /// Applies updates one by one (as the publisher does) and records the events they make.
    fn replay(start: &AgentRun, updates: &[RunUpdate]) -> (AgentRun, Vec<crate::model::RunEvent>) {
        let mut run = start.clone();
        let mut events = Vec::new();
        for (n, update) in updates.iter().enumerate() {
            let at = now() + chrono::Duration::seconds(n as i64);
            let Ok((kind, payload)) = run.apply_in_place(update, at) else {
                continue;
            };
            events.push(crate::model::RunEvent {
                id: n as i64 + 1,
                run_id: run.id,
                user_id: run.user_id,
                kind,
                status: run.status,
                progress: Some(run.progress_percent),
                step: run.current_step.clone(),
                payload,
                created_at: at,
            });
        }
        (run, events)
    }

    #[test]
    fn an_update_that_changes_progress_only_changes_nothing_else_at_any_time() {
        let later = now() + chrono::Duration::minutes(5);
        let updates = [
            progress(60.0),
            RunUpdate::Progress {
                percent: 70.0,
                step: Some("next".into()),
            },
            RunUpdate::Status {
                status: RunStatus::InProgress,
                step: None,
            },
            RunUpdate::Fail { error: "x".into() },
        ];
        let mut taken = 0;
        for status in RunStatus::ALL {
            for update in &updates {
                let start = run(status, 50.0);
                if !start.changes_progress_only(update) {
                    continue;
                }
                taken += 1;
                let (at_now, at_later) = (start.apply(update, now()), start.apply(update, later));
                let (mut at_now, at_later) = (at_now.unwrap().run, at_later.unwrap().run);
                assert_eq!(at_later.updated_at, later);
                at_now.updated_at = later;
                assert_eq!(
                    at_now, at_later,
                    "{update:?} on a run {status:?} read the clock"
                );
                let mut expected = start.clone();
                expected.progress_percent = at_later.progress_percent;
                expected.current_step = at_later.current_step.clone();
                expected.updated_at = later;
                assert_eq!(
                    at_later, expected,
                    "{update:?} changed more than progress and step"
                );
            }
        }
        assert_eq!(taken, 2, "progress on the running run, and nothing else");
    }

    #[test]
    fn folding_the_events_of_any_update_sequence_rebuilds_the_run_exactly() {
        let statuses = RunStatus::ALL;
        // A fixed pseudo-random walk: the same sequences every run, thousands of moves.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..300 {
            let mut updates = Vec::new();
            for _ in 0..30 {
                let step = (next(2) == 0).then(|| format!("step {}", next(100)));
                updates.push(match next(6) {
                    0 => RunUpdate::Progress {
                        percent: next(101) as f32,
                        step,
                    },
                    1 => RunUpdate::Status {
                        status: statuses[next(11) as usize],
                        step,
                    },
                    2 => RunUpdate::Verification {
                        passed: next(2) == 0,
                        evidence: json!({ "checked": next(9) }),
                    },
                    3 => RunUpdate::Complete {
                        result: (next(2) == 0).then(|| json!({ "n": next(9) })),
                        evidence: (next(2) == 0).then(|| json!("ok")),
                    },
                    4 => RunUpdate::Fail {
                        error: format!("error {}", next(9)),
                    },
                    _ => RunUpdate::Cancel {
                        reason: (next(2) == 0).then(|| "stop".to_owned()),
                    },
                });
            }
            let start = run(statuses[next(3) as usize], 0.0);
            let (applied, events) = replay(&start, &updates);
            let mut folded = start.clone();
            for event in &events {
                let mut without_payload = folded.clone();
                folded.fold(event);
                if !event.kind.payload_changes_run() {
                    without_payload.fold(&crate::model::RunEvent {
                        payload: json!({ "result": 1, "error": "e", "passed": true }),
                        ..event.clone()
                    });
                    assert_eq!(without_payload, folded, "{:?} read its payload", event.kind);
                }
            }
            if events.is_empty() {
                continue;
            }
            assert_eq!(folded, applied, "after {updates:?}");
        }
    }

    #[test]
    fn a_run_keeps_a_bounded_number_of_checks_and_bytes() {
        let mut running = run(RunStatus::InProgress, 0.0);
        let check = RunUpdate::Verification {
            passed: false,
            evidence: json!("x"),
        };
        for _ in 0..VERIFICATION_MAX_ATTEMPTS {
            running.apply_in_place(&check, now()).unwrap();
        }
        assert_eq!(
            running.apply_in_place(&check, now()),
            Err(RunUpdateError::TooManyVerifications)
        );
        let done = RunUpdate::Complete {
            result: None,
            evidence: Some(json!("final")),
        };
        assert_eq!(
            running.apply_in_place(&done, now()),
            Err(RunUpdateError::TooManyVerifications)
        );
        assert_eq!(
            running.status,
            RunStatus::InProgress,
            "a refused update changes nothing"
        );

        let mut big = run(RunStatus::InProgress, 0.0);
        big.task = "t".repeat(TASK_MAX_CHARS);
        big.metadata = json!({ "m": "m".repeat(EVIDENCE_MAX_BYTES - 20) });
        let evidence = json!("e".repeat(EVIDENCE_MAX_BYTES - 10));
        let fits = (RUN_MAX_BYTES - big.stored_bytes()) / json_len(&evidence);
        assert!(
            fits < VERIFICATION_MAX_ATTEMPTS,
            "the size cap is what stops this run"
        );
        let mut accepted = 0;
        let refused = loop {
            match big.apply_in_place(
                &RunUpdate::Verification {
                    passed: true,
                    evidence: evidence.clone(),
                },
                now(),
            ) {
                Ok(_) => accepted += 1,
                Err(err) => break err,
            }
        };
        assert!(matches!(
            refused,
            RunUpdateError::TooLarge {
                field: "run",
                max: RUN_MAX_BYTES,
                ..
            }
        ));
        assert!(big.stored_bytes() <= RUN_MAX_BYTES);
        assert_eq!(accepted, fits, "{} bytes held", big.stored_bytes());
    }

    #[test]
    fn new_runs_start_only_in_starting_states() {
        let mut new = NewRun {
            agent_name: "coder".into(),
            task: "do it".into(),
            task_id: None,
            user_id: None,
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
