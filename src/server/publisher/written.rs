//! The runs a publisher wrote last, each with the version of its row: where the one-round-trip
//! path starts from (see [`super::AgentEventPublisher::apply_batch`]). A copy that is out of date
//! costs nothing but a round trip: the database writes only if the row is still at the version
//! kept here, and otherwise the publisher reads and locks the row as it always did.

use crate::model::{AgentRun, RunStatus};
use crate::server::runs::RowVersion;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Runs kept at most: the runs being worked on right now, by this process's callers.
const WRITTEN_RUNS_MAX: usize = 1024;
/// A copy older than this is not used. A row version is a transaction id, which PostgreSQL reuses
/// only after some four billion transactions: a copy this young can never match a later row by
/// chance, and a run that has been quiet this long gains nothing from skipping one read.
const WRITTEN_RUN_TTL: Duration = Duration::from_secs(60);

#[derive(Default)]
pub(super) struct WrittenRuns {
    runs: Mutex<HashMap<Uuid, Written>>,
}

struct Written {
    run: AgentRun,
    version: RowVersion,
    at: Instant,
}

impl WrittenRuns {
    /// Keeps a run this process has just committed, if a later update could take the one-trip
    /// path (see [`AgentRun::changes_progress_only`]): only a run in progress.
    pub fn keep(&self, run: &AgentRun, version: RowVersion) {
        let mut runs = self.runs.lock().expect("written runs: poisoned");
        if run.status != RunStatus::InProgress {
            runs.remove(&run.id);
            return;
        }
        if runs.len() >= WRITTEN_RUNS_MAX && !runs.contains_key(&run.id) {
            let now = Instant::now();
            runs.retain(|_, written| now.duration_since(written.at) < WRITTEN_RUN_TTL);
            if runs.len() >= WRITTEN_RUNS_MAX {
                runs.clear();
            }
        }
        runs.insert(
            run.id,
            Written {
                run: run.clone(),
                version,
                at: Instant::now(),
            },
        );
    }

    /// The run as this process last wrote it, and the row's version then.
    pub fn get(&self, id: Uuid) -> Option<(AgentRun, RowVersion)> {
        let runs = self.runs.lock().expect("written runs: poisoned");
        let written = runs.get(&id)?;
        (written.at.elapsed() < WRITTEN_RUN_TTL).then(|| (written.run.clone(), written.version))
    }

    pub fn forget(&self, id: Uuid) {
        self.runs
            .lock()
            .expect("written runs: poisoned")
            .remove(&id);
    }
}
