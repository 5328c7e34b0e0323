//! Shared pure types, compiled for the server and the browser. No I/O here.

mod event;
mod filter;
mod run;
mod stats;
mod status;
mod user;

pub use event::{RunEvent, RunEventKind};
pub use filter::{RunFilter, RunFilterError, RUN_PAGE_MAX, SEARCH_MAX_CHARS};
pub use run::{format_duration, AgentRun, VerificationAttempt};
pub use stats::{RunStats, StatsWindow};
pub use status::{ParseRunStatusError, RunStatus};
pub use user::{CurrentUser, UserRole};
