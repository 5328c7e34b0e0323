//! What a built-in agent does, as a list of timed updates: plan, call tools, write, verify (the first
//! check sometimes fails and the agent retries), then complete with a JSON result, or fail. Pure and
//! seeded by the run id, so a run's script is reproducible and testable without a clock.

use crate::model::{RunStatus, RunUpdate, SpanKind, SpanReport, SpanStatus};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

/// One thing the agent reports, after working for `delay` (at speed 1): an update of the run and
/// the spans it ended and began with it (the call it just finished, the one it starts next).
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptStep {
    pub delay: Duration,
    pub update: RunUpdate,
    pub spans: Vec<SpanReport>,
}

/// How a script may vary.
#[derive(Clone, Copy, Debug)]
pub struct ScriptOdds {
    /// Chance that the run ends in failure.
    pub failure: f64,
    /// Chance that the first verification fails and the agent retries.
    pub first_check_fails: f64,
}

impl Default for ScriptOdds {
    fn default() -> Self {
        ScriptOdds {
            failure: 0.15,
            first_check_fails: 0.7,
        }
    }
}

/// The words one agent uses for its steps.
struct Vocabulary {
    plan: &'static str,
    tools: &'static [&'static str],
    write: &'static str,
    check: &'static str,
    check_failure: &'static str,
    fix: &'static str,
    tool_error: &'static str,
    /// The model its LLM calls use.
    model: &'static str,
}

fn vocabulary(agent: &str) -> &'static Vocabulary {
    match agent {
        "coder" => &Vocabulary {
            plan: "Planning the change",
            tools: &[
                "Reading the code: grep_repo(\"runs\")",
                "Editing src/server/runs.rs",
                "Running cargo test",
            ],
            write: "Writing the patch description",
            check: "Running the test suite",
            check_failure:
                "2 tests failed: pagination::last_page_is_short, pagination::cursor_roundtrip",
            fix: "Fixing the failing tests",
            tool_error:
                "cargo test: the build failed with 3 errors after the edit; cannot continue",
            model: "claude-sonnet-4-20250514",
        },
        "reviewer" => &Vocabulary {
            plan: "Reading the diff",
            tools: &[
                "Checking queries: sql_lint(\"src/\")",
                "Comparing with the style guide",
                "Checking indexes: explain(\"list_runs\")",
            ],
            write: "Writing review comments",
            check: "Cross-checking each finding",
            check_failure: "1 finding could not be reproduced against the current branch",
            fix: "Dropping the unconfirmed finding",
            tool_error: "git fetch: the pull request was force-pushed during review",
            model: "gpt-4.1-2025-04-14",
        },
        _ => &Vocabulary {
            plan: "Planning the research",
            tools: &[
                "Searching: web_search(\"write-ahead logging\")",
                "Reading 4 sources",
                "Extracting claims",
            ],
            write: "Writing the brief",
            check: "Checking every claim has a source",
            check_failure: "2 of 7 claims have no source",
            fix: "Finding sources for the unsupported claims",
            tool_error: "web_search: upstream returned HTTP 503 three times; giving up",
            model: "gpt-4o-mini",
        },
    }
}

/// The script of one run of `agent` on `task`; the same run id always gives the same script.
pub fn script_for(agent: &str, task: &str, run_id: Uuid, odds: ScriptOdds) -> Vec<ScriptStep> {
    let mut rng = StdRng::seed_from_u64(run_id.as_u64_pair().0 ^ run_id.as_u64_pair().1);
    let words = vocabulary(agent);
    let fails = rng.gen_bool(odds.failure.clamp(0.0, 1.0));
    // a failing run breaks either at a tool call or at a second failed verification
    let fails_at_tool = fails && rng.gen_bool(0.5);
    let retries = fails && !fails_at_tool || rng.gen_bool(odds.first_check_fails.clamp(0.0, 1.0));
    let mut script = Script {
        rng,
        steps: Vec::new(),
        model: words.model,
        agent: agent.to_owned(),
        open: None,
        spans: 0,
    };

    script.status(RunStatus::InProgress, words.plan);
    script.progress(5.0, words.plan);
    let tool_count = words.tools.len();
    for (i, tool) in words.tools.iter().enumerate() {
        let percent = 10.0 + 55.0 * (i + 1) as f32 / tool_count as f32;
        if fails_at_tool && i + 1 == tool_count {
            script.push(RunUpdate::Fail {
                error: words.tool_error.to_owned(),
            });
            return script.steps;
        }
        script.progress(percent, tool);
    }
    script.progress(80.0, words.write);

    script.status(RunStatus::AwaitingVerification, words.check);
    script.status(RunStatus::Verifying, words.check);
    if retries {
        script.verification(
            false,
            json!({ "check": words.check, "detail": words.check_failure }),
        );
        if fails {
            script.push(RunUpdate::Fail {
                error: format!("verification failed: {}", words.check_failure),
            });
            return script.steps;
        }
        script.status(RunStatus::Retrying, words.fix);
        script.status(RunStatus::InProgress, words.fix);
        script.progress(40.0, words.fix);
        script.progress(85.0, words.write);
        script.status(RunStatus::AwaitingVerification, words.check);
        script.status(RunStatus::Verifying, words.check);
    }
    script.verification(
        true,
        json!({ "check": words.check, "detail": "all checks passed" }),
    );
    let result = result_for(agent, task, &mut script.rng);
    script.push(RunUpdate::Complete {
        result: Some(result),
        evidence: None,
    });
    script.steps
}

struct Script {
    rng: StdRng,
    steps: Vec<ScriptStep>,
    /// The model of the agent's LLM calls, and the agent's name for its root span.
    model: &'static str,
    agent: String,
    /// The call the agent is in: its span id and whether it is an LLM call.
    open: Option<(String, bool)>,
    spans: usize,
}

/// The id of the run's root span: the agent itself.
const AGENT_SPAN: &str = "agent";

impl Script {
    fn push(&mut self, update: RunUpdate) {
        // a few hundred ms to a few seconds per step, like a real model and its tools
        let delay = Duration::from_millis(self.rng.gen_range(300..=2_500));
        let spans = self.spans_for(&update);
        self.steps.push(ScriptStep {
            delay,
            update,
            spans,
        });
    }

    /// The spans a step reports: the call in progress ends (with its tokens, if an LLM call), and
    /// the step's own call begins: a tool call for a tool step, an LLM call for thinking and
    /// writing. The first step starts the agent's root span; the run's end ends it.
    fn spans_for(&mut self, update: &RunUpdate) -> Vec<SpanReport> {
        let mut spans = Vec::new();
        if self.steps.is_empty() {
            spans.push(SpanReport {
                span_id: AGENT_SPAN.to_owned(),
                kind: Some(SpanKind::Agent),
                name: Some(self.agent.clone()),
                ..Default::default()
            });
        }
        if let Some((span_id, llm)) = self.open.take() {
            let mut end = SpanReport {
                span_id,
                status: Some(SpanStatus::Ok),
                ..Default::default()
            };
            if llm {
                let input = self.rng.gen_range(800..6_000);
                end.input_tokens = Some(input);
                end.cache_read_tokens = Some(self.rng.gen_range(0..input / 2));
                end.output_tokens = Some(self.rng.gen_range(100..1_200));
                end.output = Some("(the model's answer)".to_owned());
            } else {
                end.output = Some("ok".to_owned());
            }
            spans.push(end);
        }
        let step = match update {
            RunUpdate::Progress { step, .. } | RunUpdate::Status { step, .. } => step.clone(),
            RunUpdate::Verification { .. } => None,
            _ => {
                let failed = matches!(update, RunUpdate::Fail { .. });
                spans.push(SpanReport {
                    span_id: AGENT_SPAN.to_owned(),
                    status: Some(if failed {
                        SpanStatus::Error
                    } else {
                        SpanStatus::Ok
                    }),
                    error: match update {
                        RunUpdate::Fail { error } => Some(error.clone()),
                        _ => None,
                    },
                    ..Default::default()
                });
                return spans;
            }
        };
        if let Some(step) = step {
            self.spans += 1;
            let span_id = format!("s{}", self.spans);
            // "Searching: web_search(\"...\")" is a tool call; planning and writing are LLM calls
            let tool = step
                .split_once(": ")
                .map(|(_, call)| call)
                .filter(|c| c.contains('('));
            let llm = tool.is_none();
            spans.push(SpanReport {
                span_id: span_id.clone(),
                parent_span_id: Some(AGENT_SPAN.to_owned()),
                kind: Some(if llm { SpanKind::Llm } else { SpanKind::Tool }),
                name: Some(match tool {
                    Some(call) => call.split('(').next().unwrap_or(call).to_owned(),
                    None => "chat".to_owned(),
                }),
                model: llm.then(|| self.model.to_owned()),
                input: Some(step.clone()),
                ..Default::default()
            });
            self.open = Some((span_id, llm));
        }
        spans
    }

    fn status(&mut self, status: RunStatus, step: &str) {
        self.push(RunUpdate::Status {
            status,
            step: Some(step.to_owned()),
        });
    }

    fn progress(&mut self, percent: f32, step: &str) {
        self.push(RunUpdate::Progress {
            percent,
            step: Some(step.to_owned()),
        });
    }

    fn verification(&mut self, passed: bool, evidence: Value) {
        self.push(RunUpdate::Verification { passed, evidence });
    }
}

fn result_for(agent: &str, task: &str, rng: &mut StdRng) -> Value {
    let excerpt: String = task.chars().take(80).collect();
    match agent {
        "coder" => json!({
            "task": excerpt,
            "files_changed": rng.gen_range(1..6),
            "lines_added": rng.gen_range(10..200),
            "lines_removed": rng.gen_range(0..60),
            "tests": { "passed": rng.gen_range(40..120), "failed": 0 },
            "patch": "patch-0001.diff",
        }),
        "reviewer" => json!({
            "task": excerpt,
            "verdict": "changes requested",
            "findings": [
                { "severity": "high", "file": "src/server/runs.rs", "line": rng.gen_range(10..300),
                  "note": "query builds SQL from user input without a bind parameter" },
                { "severity": "low", "file": "migrations/0002_runs.sql", "line": rng.gen_range(1..80),
                  "note": "an index on (user_id, created_at) would serve this sort" },
            ],
        }),
        _ => json!({
            "task": excerpt,
            "summary": "PostgreSQL writes full-page images after each checkpoint; SQLite's WAL mode \
                        appends frames and checkpoints them back into the database file.",
            "sources": [
                "https://www.postgresql.org/docs/current/wal-intro.html",
                "https://www.sqlite.org/wal.html",
            ],
            "word_count": rng.gen_range(400..1_200),
        }),
    }
}

/// The update that ends a run whose worker is gone, from whatever state it was left in.
pub fn abandoned(status: RunStatus, why: &str) -> RunUpdate {
    if status.can_transition_to(RunStatus::TimedOut) {
        RunUpdate::Status {
            status: RunStatus::TimedOut,
            step: Some(why.to_owned()),
        }
    } else if status.can_transition_to(RunStatus::Failed) {
        RunUpdate::Fail {
            error: why.to_owned(),
        }
    } else {
        RunUpdate::Cancel {
            reason: Some(why.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AgentRun, BUILTIN_AGENTS};
    use chrono::Utc;

    fn queued_run(agent: &str) -> AgentRun {
        serde_json::from_value(json!({
            "id": Uuid::nil(), "task_id": Uuid::nil(), "user_id": Uuid::nil(),
            "agent_name": agent, "task": "t", "status": "queued", "progress_percent": 0.0,
            "current_step": null, "attempt": 1, "result": null, "error": null,
            "verification_evidence": [], "metadata": {}, "tokens_in": null, "tokens_out": null,
            "cost_usd": null, "created_at": Utc::now(), "started_at": null,
            "completed_at": null, "updated_at": Utc::now()
        }))
        .unwrap()
    }

    #[test]
    fn every_script_traces_its_calls_and_ends_every_span_it_starts() {
        use crate::model::Span;
        use std::collections::HashMap;
        for agent in BUILTIN_AGENTS.iter().map(|a| a.name) {
            for n in 0..40u128 {
                let odds = ScriptOdds {
                    failure: 0.5,
                    first_check_fails: 0.5,
                };
                let steps = script_for(agent, "t", Uuid::from_u128(n), odds);
                let mut spans: HashMap<String, Span> = HashMap::new();
                for report in steps.iter().flat_map(|s| &s.spans) {
                    let (span, _) = report
                        .fold(Uuid::nil(), spans.remove(&report.span_id), Utc::now())
                        .unwrap_or_else(|err| panic!("{agent} {n}: {err}: {report:?}"));
                    spans.insert(span.span_id.clone(), span);
                }
                assert!(spans.values().all(|s| !s.is_running()), "{agent} {n}");
                let failed = matches!(steps.last().unwrap().update, RunUpdate::Fail { .. });
                assert_eq!(
                    spans["agent"].status,
                    if failed {
                        SpanStatus::Error
                    } else {
                        SpanStatus::Ok
                    }
                );
                let llm: Vec<_> = spans.values().filter(|s| s.kind == SpanKind::Llm).collect();
                assert!(!llm.is_empty());
                assert!(llm
                    .iter()
                    .all(|s| s.model.is_some() && s.input_tokens.is_some()));
                assert!(spans
                    .values()
                    .filter(|s| s.span_id != "agent")
                    .all(|s| s.parent_span_id.as_deref() == Some("agent")));
            }
        }
    }

    /// Plays a script through the model's state machine, as the publisher would.
    fn play(agent: &str, steps: &[ScriptStep]) -> AgentRun {
        let mut run = queued_run(agent);
        for (i, step) in steps.iter().enumerate() {
            run = run
                .apply(&step.update, Utc::now())
                .unwrap_or_else(|err| panic!("step {i} of {agent}: {err}: {:?}", step.update))
                .run;
        }
        run
    }

    #[test]
    fn every_script_is_legal_and_ends_the_run() {
        let mut outcomes = std::collections::HashMap::new();
        for agent in BUILTIN_AGENTS {
            for n in 0..200u128 {
                let steps = script_for(
                    agent.name,
                    "task",
                    Uuid::from_u128(n),
                    ScriptOdds::default(),
                );
                let run = play(agent.name, &steps);
                assert!(run.status.is_terminal(), "{}: {:?}", agent.name, run.status);
                assert!(steps.iter().all(|s| s.delay >= Duration::from_millis(300)
                    && s.delay <= Duration::from_millis(2_500)));
                *outcomes.entry(run.status).or_insert(0) += 1;
                if run.status == RunStatus::Completed {
                    assert!(run.result.is_some());
                    assert!(run.verification_evidence.last().unwrap().passed);
                }
            }
        }
        // both outcomes happen, failure the rarer
        assert!(outcomes[&RunStatus::Completed] > outcomes[&RunStatus::Failed]);
        assert!(outcomes[&RunStatus::Failed] > 0);
    }

    #[test]
    fn a_sure_success_walks_through_a_failed_check_and_a_retry() {
        let odds = ScriptOdds {
            failure: 0.0,
            first_check_fails: 1.0,
        };
        let steps = script_for("researcher", "t", Uuid::from_u128(7), odds);
        let run = play("researcher", &steps);
        assert_eq!(run.status, RunStatus::Completed);
        assert_eq!(run.attempt, 2);
        let checks: Vec<bool> = run.verification_evidence.iter().map(|v| v.passed).collect();
        assert_eq!(checks, vec![false, true]);
        assert!(steps.len() >= 10);
    }

    #[test]
    fn a_sure_failure_fails_with_an_error() {
        let odds = ScriptOdds {
            failure: 1.0,
            first_check_fails: 0.0,
        };
        for n in 0..20u128 {
            let run = play("coder", &script_for("coder", "t", Uuid::from_u128(n), odds));
            assert_eq!(run.status, RunStatus::Failed);
            assert!(run.error.is_some_and(|e| !e.is_empty()));
        }
    }

    #[test]
    fn the_same_run_gets_the_same_script() {
        let id = Uuid::from_u128(42);
        let odds = ScriptOdds::default();
        assert_eq!(
            script_for("coder", "t", id, odds),
            script_for("coder", "t", id, odds)
        );
    }

    #[test]
    fn an_abandoned_run_is_timed_out_or_failed_from_any_active_state() {
        for status in RunStatus::ALL.into_iter().filter(|s| s.is_active()) {
            let mut run = queued_run("coder");
            run.status = status;
            let ended = run
                .apply(&abandoned(status, "worker lost"), Utc::now())
                .unwrap();
            assert!(ended.run.status.is_terminal(), "{status}");
        }
    }
}
