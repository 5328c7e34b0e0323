//! Shared pure types, compiled for the server and the browser. No I/O here.

mod agent;
mod dashboard;
mod event;
mod filter;
mod jobs;
mod live;
mod run;
mod stats;
mod status;
mod update;
mod user;

pub use agent::{
    AgentProfile, TriggerError, TriggerRequest, BUILTIN_AGENTS, TRIGGER_TASK_MAX_CHARS,
};
pub use dashboard::{DashboardQuery, ACTIVE_CHOICE};
pub use event::{RunEvent, RunEventKind, RunTimeline, TIMELINE_MAX_EVENTS};
pub use filter::{
    MalformedCursor, RunCursor, RunFilter, RunFilterError, RunPage, RunSort, RUN_PAGE_MAX,
    SEARCH_MAX_CHARS,
};
pub use jobs::{DailyReport, HealthSample, JobName, JobRun, SystemOverview};
pub use live::{ConnectionState, LiveMessage, LiveRequest};
pub use run::{format_duration, AgentRun, VerificationAttempt};
pub use stats::{DashboardSummary, RunStats, RunTrend, StatsWindow, TrendBucket, TrendPoint};
pub use status::{ParseRunStatusError, RunStatus};
pub use update::{
    AppliedUpdate, NewRun, RunUpdate, RunUpdateError, AGENT_NAME_MAX_CHARS, ERROR_MAX_CHARS,
    EVIDENCE_MAX_BYTES, REASON_MAX_CHARS, RESULT_MAX_BYTES, STEP_MAX_CHARS, TASK_MAX_CHARS,
};
pub use user::{
    check_new_password, normalize_email, ApiToken, CurrentUser, SessionInfo, UserRole,
    EMAIL_MAX_CHARS, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS,
};
