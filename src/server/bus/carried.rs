//! What the hub needs to hand out the events a NOTIFY carries without reading the table: the note
//! itself, and the latest copy of each run it has handed out, which those events fold into.

use crate::model::{AgentRun, RunEvent};
use crate::server::events::{LoggedEvent, StoredRun};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// An `agent_run_events` NOTIFY payload (see `migrations/20261127000027_notify_carries_small_events.sql`):
/// the newest id its statement wrote, and the statement's events when they were small enough.
#[derive(Deserialize)]
pub(super) struct Note {
    pub id: i64,
    #[serde(default)]
    pub events: Option<Vec<LoggedEvent>>,
}

impl Note {
    /// None for a payload this hub cannot read (from a newer or older schema): the table has it.
    pub fn read(payload: &str) -> Option<Note> {
        serde_json::from_str(payload).ok()
    }
}

/// Runs held at most, and roughly the bytes they may take: past either, the hub starts afresh and
/// reads each run again the next time it has an event.
const RUNS_MAX: usize = 4096;
const RUN_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Each run as of the newest of its events the hub has handed out: the run the next event of it
/// folds into. A run is here only while every one of its events since the copy has been folded into
/// it, which holds because the hub hands out every event in id order and keeps each run it hands
/// out; while no one listens it reads ids alone, and forgets them all.
#[derive(Default)]
pub(super) struct HubRuns {
    runs: HashMap<Uuid, Arc<StoredRun>>,
    bytes: usize,
}

impl HubRuns {
    pub fn clear(&mut self) {
        self.runs.clear();
        self.bytes = 0;
    }

    /// Keeps `run`, unless a copy as new is held.
    pub fn keep(&mut self, run: &Arc<StoredRun>) {
        if let Some(held) = self.runs.get(&run.run.id) {
            if held.as_of >= run.as_of {
                return;
            }
            self.bytes -= held.approx_bytes();
        }
        if self.runs.len() >= RUNS_MAX || self.bytes + run.approx_bytes() > RUN_BYTES_MAX {
            self.clear();
        }
        self.bytes += run.approx_bytes();
        self.runs.insert(run.run.id, Arc::clone(run));
    }

    /// Whether every event of `events` can be folded here: a run held, and a kind whose payload
    /// changes nothing of the run.
    pub fn can_fold(&self, events: &[LoggedEvent]) -> bool {
        events
            .iter()
            .all(|e| !e.kind.payload_changes_run() && self.runs.contains_key(&e.run_id))
    }

    /// The run of each of `events` (in id order, each run held: see [`HubRuns::can_fold`]) as of the
    /// newest of them: the events of one run share one copy, as they do when read from the table.
    pub fn fold(&mut self, events: &[LoggedEvent]) -> Vec<Arc<StoredRun>> {
        let mut folding: HashMap<Uuid, (AgentRun, i64)> = HashMap::new();
        for event in events {
            let (run, as_of) = folding.entry(event.run_id).or_insert_with(|| {
                let held = &self.runs[&event.run_id];
                (held.run.clone(), held.as_of)
            });
            if event.id > *as_of {
                // Its payload changes nothing of the run (see `can_fold`): not read.
                run.fold(&RunEvent {
                    id: event.id,
                    run_id: event.run_id,
                    user_id: event.user_id,
                    kind: event.kind,
                    status: event.status,
                    progress: event.progress,
                    step: event.step.clone(),
                    payload: serde_json::Value::Null,
                    created_at: event.created_at,
                });
                *as_of = event.id;
            }
        }
        let folded: HashMap<Uuid, Arc<StoredRun>> = folding
            .into_iter()
            .map(|(id, (run, as_of))| (id, Arc::new(StoredRun::new(run, as_of))))
            .collect();
        for run in folded.values() {
            self.keep(run);
        }
        events
            .iter()
            .map(|e| Arc::clone(&folded[&e.run_id]))
            .collect()
    }
}
