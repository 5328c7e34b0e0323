//! The live protocol between a browser (or any WebSocket client) and the server.

use super::{AgentRun, RunEvent, RunFilter};
use serde::{Deserialize, Serialize};

/// Client -> server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LiveRequest {
    /// The first message: what to watch, and the last event id already seen (0: none).
    Subscribe {
        filter: RunFilter,
        after_event_id: i64,
    },
    /// Keeps the connection alive; the server drops clients silent for too long.
    Ping,
}

/// Server -> client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveMessage {
    /// One event and its run as stored at delivery. Ids arrive strictly increasing, never twice.
    Event {
        event: Box<RunEvent>,
        run: Box<AgentRun>,
    },
    /// Replay is done: everything up to `last_event_id` has been sent; live events follow.
    Ready { last_event_id: i64 },
    /// Sent when nothing else is, so both sides can tell the connection is alive.
    Heartbeat { last_event_id: i64 },
    /// The client fell too far behind: reload the snapshot, then subscribe again from its cursor.
    Resync { reason: String },
    /// The subscription was refused or broke; the server closes the stream after this.
    Error { message: String },
}

/// How fresh a live view is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    #[default]
    Connecting,
    Live,
    Reconnecting,
    Offline,
}

impl ConnectionState {
    pub const fn label(self) -> &'static str {
        match self {
            ConnectionState::Connecting => "Connecting",
            ConnectionState::Live => "Live",
            ConnectionState::Reconnecting => "Reconnecting",
            ConnectionState::Offline => "Offline",
        }
    }
}

impl RunFilter {
    /// The parts of the filter that never change for a run (agent, task, id, search text). Live
    /// subscriptions are narrowed by these on the server; status filters are applied by the viewer,
    /// so it also sees the event that takes a run out of its view.
    pub fn matches_identity(&self, run: &AgentRun) -> bool {
        self.agent_name
            .as_ref()
            .is_none_or(|a| *a == run.agent_name)
            && self.task_id.is_none_or(|t| t == run.task_id)
            && self.run_id.is_none_or(|r| r == run.id)
            && self
                .search_text()
                .is_none_or(|text| matches_search(run, text))
    }

    /// Whether `run`, as it is now, belongs in the view.
    pub fn matches(&self, run: &AgentRun) -> bool {
        self.matches_identity(run)
            && (self.statuses.is_empty() || self.statuses.contains(&run.status))
            && (!self.active_only || run.status.is_active())
    }
}

/// The search rule of the SQL query, in Rust: a case-insensitive substring of "agent task step"
/// (the `search_text` column), or a prefix of the run id.
fn matches_search(run: &AgentRun, text: &str) -> bool {
    let needle = text.to_lowercase();
    let haystack = format!(
        "{} {} {}",
        run.agent_name,
        run.task,
        run.current_step.as_deref().unwrap_or("")
    );
    haystack.to_lowercase().contains(&needle) || run.id.to_string().starts_with(&needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_strictly() {
        let ok: LiveRequest = serde_json::from_str(
            r#"{"type":"subscribe","filter":{"active_only":true},"after_event_id":7}"#,
        )
        .unwrap();
        assert!(matches!(
            ok,
            LiveRequest::Subscribe {
                after_event_id: 7,
                ..
            }
        ));
        for bad in [
            r#"{"type":"subscribe","filter":{"colour":"red"},"after_event_id":0}"#,
            r#"{"type":"subscribe","filter":{},"after_event_id":0,"user_id":"x"}"#,
            r#"{"type":"subscribe","filter":{}}"#,
            r#"{"type":"shout"}"#,
            r#"not json"#,
        ] {
            assert!(serde_json::from_str::<LiveRequest>(bad).is_err(), "{bad}");
        }
    }
}
