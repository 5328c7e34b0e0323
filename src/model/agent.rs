//! The built-in agents a user can start from the /agents page, and what a start request must satisfy.
//! Shared so the form can show the same catalogue and limits the server enforces.

use uuid::Uuid;

/// Longest task text the /agents form accepts (external agents may send longer tasks over REST).
pub const TRIGGER_TASK_MAX_CHARS: usize = 4_000;

/// One built-in agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentProfile {
    /// The `agent_name` its runs carry.
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// Ready-made tasks the form offers as one-click examples.
    pub examples: &'static [&'static str],
}

pub const BUILTIN_AGENTS: &[AgentProfile] = &[
    AgentProfile {
        name: "researcher",
        title: "Researcher",
        description: "Searches sources, reads them and writes a cited brief.",
        examples: &[
            "Compare the write-ahead logging designs of PostgreSQL and SQLite and summarise the trade-offs.",
            "Find three recent papers on speculative decoding and list their reported speed-ups.",
        ],
    },
    AgentProfile {
        name: "coder",
        title: "Coder",
        description: "Plans a change, edits files, runs the tests and opens a patch.",
        examples: &[
            "Add pagination to the /api/v1/runs endpoint and cover it with tests.",
            "Fix the off-by-one error in the CSV exporter's header row.",
        ],
    },
    AgentProfile {
        name: "reviewer",
        title: "Reviewer",
        description: "Reads a diff, checks it against the style guide and reports findings.",
        examples: &["Review the latest pull request for SQL injection and missing indexes."],
    },
];

impl AgentProfile {
    pub fn find(name: &str) -> Option<&'static AgentProfile> {
        BUILTIN_AGENTS.iter().find(|agent| agent.name == name)
    }
}

/// Why a start request was refused, naming the form field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    #[error("describe the task (1 to {TRIGGER_TASK_MAX_CHARS} characters)")]
    EmptyTask,
    #[error("the task is {0} characters; the limit is {TRIGGER_TASK_MAX_CHARS}")]
    TaskTooLong(usize),
    #[error("unknown agent `{0}`; choose one of the listed agents")]
    UnknownAgent(String),
    #[error("the task id must be a UUID such as 9f1c2d3e-0000-4000-8000-000000000000")]
    BadTaskId,
}

impl TriggerError {
    pub fn field(&self) -> &'static str {
        match self {
            TriggerError::EmptyTask | TriggerError::TaskTooLong(_) => "task",
            TriggerError::UnknownAgent(_) => "agent",
            TriggerError::BadTaskId => "task_id",
        }
    }
}

/// A checked request to start a built-in agent.
#[derive(Clone, Debug, PartialEq)]
pub struct TriggerRequest {
    pub agent: &'static AgentProfile,
    pub task: String,
    pub task_id: Option<Uuid>,
}

impl TriggerRequest {
    /// Checks the form's three fields; the task is trimmed, an empty task id means "new task".
    pub fn parse(agent: &str, task: &str, task_id: &str) -> Result<TriggerRequest, TriggerError> {
        let task = task.trim();
        if task.is_empty() {
            return Err(TriggerError::EmptyTask);
        }
        let length = task.chars().count();
        if length > TRIGGER_TASK_MAX_CHARS {
            return Err(TriggerError::TaskTooLong(length));
        }
        let agent = AgentProfile::find(agent)
            .ok_or_else(|| TriggerError::UnknownAgent(agent.to_owned()))?;
        let task_id = match task_id.trim() {
            "" => None,
            id => Some(Uuid::parse_str(id).map_err(|_| TriggerError::BadTaskId)?),
        };
        Ok(TriggerRequest {
            agent,
            task: task.to_owned(),
            task_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_request_is_trimmed_and_resolved() {
        let request = TriggerRequest::parse("coder", "  fix it \n", "").unwrap();
        assert_eq!(request.agent.name, "coder");
        assert_eq!(request.task, "fix it");
        assert_eq!(request.task_id, None);
        let id = "9f1c2d3e-0000-4000-8000-000000000000";
        let request = TriggerRequest::parse("reviewer", "x", id).unwrap();
        assert_eq!(request.task_id, Some(Uuid::parse_str(id).unwrap()));
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (("coder", "   ", ""), "task"),
            (("coder", &"é".repeat(4_001) as &str, ""), "task"),
            (("hacker", "do it", ""), "agent"),
            (("", "do it", ""), "agent"),
            (("coder", "do it", "not-a-uuid"), "task_id"),
        ];
        for ((agent, task, id), field) in cases {
            let err = TriggerRequest::parse(agent, task, id).unwrap_err();
            assert_eq!(err.field(), field, "{err}");
        }
        // the limit counts characters, not bytes
        assert!(TriggerRequest::parse("coder", &"é".repeat(4_000), "").is_ok());
    }

    #[test]
    fn every_agent_offers_an_example_that_is_a_valid_task() {
        for agent in BUILTIN_AGENTS {
            assert!(!agent.examples.is_empty(), "{}", agent.name);
            for example in agent.examples {
                TriggerRequest::parse(agent.name, example, "").unwrap();
            }
        }
    }
}
