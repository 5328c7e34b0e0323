//! The live protocol between a browser (or any WebSocket client) and the server.

use super::{AgentRun, RunEvent, RunFilter};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How often each side speaks when there is nothing else to say.
pub const LIVE_HEARTBEAT: Duration = Duration::from_secs(15);
/// A side that heard nothing for this long considers the connection dead.
pub const LIVE_IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// Live sockets one user may hold open at once (per server process), by default.
pub const LIVE_SOCKETS_PER_USER: usize = 20;

/// Client -> server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LiveRequest {
    /// The first message of a client that cannot set headers on its socket (a browser on another
    /// site): its API token, never in the URL. Then it subscribes.
    Authenticate { token: String },
    /// The first message: what to watch, and the last event id already seen (0: none).
    Subscribe {
        filter: RunFilter,
        after_event_id: i64,
    },
    /// Keeps the connection alive; the server drops clients silent for too long.
    Ping,
}

/// Server -> client. Messages travel in frames ([`LiveFrame`]): a JSON array of one or more, each
/// an object whose first key is `type`. (Read by `live_decode`, without serde's buffering.)
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveMessage {
    /// A run as stored once every event of it up to `as_of` had happened. It comes before the first
    /// event of that run on a connection; the events after it are folded into it
    /// ([`AgentRun::fold`]), so a run travels once per connection, not once per event.
    Run { run: Box<AgentRun>, as_of: i64 },
    /// One event. Ids arrive strictly increasing, never twice.
    Event { event: Box<RunEvent> },
    /// Replay is done: everything up to `last_event_id` has been sent; live events follow.
    Ready { last_event_id: i64 },
    /// Sent when nothing else is, so both sides can tell the connection is alive.
    Heartbeat { last_event_id: i64 },
    /// The client fell too far behind: reload the snapshot, then subscribe again from its cursor.
    Resync { reason: String },
    /// The subscription was refused or broke; the server closes the stream after this.
    Error { message: String },
}

/// The bytes of one frame from the server: a JSON array of [`LiveMessage`]s. The server encodes
/// each event once and sends the same bytes to every subscriber; on the server a frame also carries
/// the transport's leading tag byte (0: a value, not an error), which is never `[`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveFrame(pub bytes::Bytes);

/// Tag byte of a successful item in the server-function WebSocket framing.
pub const LIVE_FRAME_TAG: u8 = 0;

impl LiveFrame {
    /// The JSON array, without a transport tag.
    pub fn json(&self) -> &[u8] {
        match self.0.first() {
            Some(b'[') | None => &self.0,
            Some(_) => &self.0[1..],
        }
    }

    /// The messages this frame holds, in order.
    pub fn messages(&self) -> Result<Vec<LiveMessage>, String> {
        serde_json::from_slice(self.json()).map_err(|err| format!("malformed live frame: {err}"))
    }

    /// A tagged frame of one message already encoded as JSON.
    pub fn of_encoded(message_json: &[u8]) -> LiveFrame {
        let mut bytes = Vec::with_capacity(message_json.len() + 3);
        bytes.push(LIVE_FRAME_TAG);
        bytes.push(b'[');
        bytes.extend_from_slice(message_json);
        bytes.push(b']');
        LiveFrame(bytes.into())
    }

    /// A tagged frame of one message.
    pub fn of(message: &LiveMessage) -> LiveFrame {
        LiveFrame::encode(message)
    }

    /// A tagged frame of a run snapshot, encoded from a borrowed run (no copy of it is made).
    pub fn of_run(run: &AgentRun, as_of: i64) -> LiveFrame {
        let snapshot: Outgoing<'_, RunEvent> = Outgoing::Run { run, as_of };
        LiveFrame::encode(&snapshot)
    }

    /// A tagged frame of one event, encoded from a borrowed event: a [`RunEvent`], or any type that
    /// encodes to the same JSON (the server's events keep their payload as the log's raw JSON).
    pub fn of_event(event: &impl Serialize) -> LiveFrame {
        LiveFrame::encode(&Outgoing::Event { event })
    }

    fn encode(message: &impl Serialize) -> LiveFrame {
        // Serializing plain data into memory cannot fail.
        let json = serde_json::to_vec(message).unwrap_or_default();
        LiveFrame::of_encoded(&json)
    }

    /// One tagged frame holding the messages of several, in order: a subscriber that is behind
    /// gets them in one WebSocket message.
    pub fn join(frames: &[LiveFrame]) -> LiveFrame {
        if let [only] = frames {
            return only.clone();
        }
        // every frame's JSON is `[...]`: its messages are what lies between the brackets
        let inner = |frame: &LiveFrame| {
            let json = frame.json();
            json.get(1..json.len().saturating_sub(1))
                .unwrap_or_default()
                .to_vec()
        };
        let mut bytes = vec![LIVE_FRAME_TAG, b'['];
        for (n, frame) in frames.iter().enumerate() {
            if n > 0 {
                bytes.push(b',');
            }
            bytes.extend(inner(frame));
        }
        bytes.push(b']');
        LiveFrame(bytes.into())
    }
}

/// The two messages the server encodes from data it shares: the same JSON as [`LiveMessage`]'s.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Outgoing<'a, E> {
    Run { run: &'a AgentRun, as_of: i64 },
    Event { event: &'a E },
}

/// What a client keeps of the runs on one connection: the latest snapshot of each, with the events
/// after it folded in. Bounded: the server sends a snapshot again before a run it has not mentioned
/// within the last [`LIVE_RUNS_REMEMBERED`] snapshots, so the client may forget older ones.
#[derive(Clone, Debug, Default)]
pub struct LiveRunCache {
    runs: std::collections::HashMap<uuid::Uuid, (AgentRun, i64)>,
    order: std::collections::VecDeque<uuid::Uuid>,
}

/// How many run snapshots one connection's server side remembers having sent (see [`LiveRunCache`]).
pub const LIVE_RUNS_REMEMBERED: usize = 4096;

impl LiveRunCache {
    /// Takes a run snapshot.
    pub fn snapshot(&mut self, run: AgentRun, as_of: i64) {
        if !self.runs.contains_key(&run.id) {
            self.order.push_back(run.id);
            // Twice what the server remembers: whatever the server still counts as sent is here.
            while self.order.len() > 2 * LIVE_RUNS_REMEMBERED {
                if let Some(old) = self.order.pop_front() {
                    self.runs.remove(&old);
                }
            }
        }
        self.runs.insert(run.id, (run, as_of));
    }

    /// Folds `event` into its run and returns the run as it stood after the event; None for a run
    /// that never had a snapshot (a protocol error: reconnect).
    pub fn event(&mut self, event: &RunEvent) -> Option<AgentRun> {
        let (run, as_of) = self.runs.get_mut(&event.run_id)?;
        if event.id > *as_of {
            run.fold(event);
            *as_of = event.id;
        }
        Some(run.clone())
    }
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
