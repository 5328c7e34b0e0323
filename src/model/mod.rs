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
pub use user::{
    check_new_password, normalize_email, ApiToken, CurrentUser, SessionInfo, UserRole,
    EMAIL_MAX_CHARS, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS,
};
