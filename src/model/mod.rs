//! Shared pure types, compiled for the server and the browser. No I/O here.

mod agent;
mod event;
mod filter;
#[cfg(test)]
pub(crate) mod fixtures;
mod fold;
mod jobs;
pub mod json_time;
mod limits;
mod live;
mod live_decode;
mod price;
mod query;
mod run;
mod span;
mod stats;
mod status;
mod task;
mod update;
mod user;

pub use agent::{
    AgentProfile, TriggerError, TriggerRequest, BUILTIN_AGENTS, TRIGGER_TASK_MAX_CHARS,
};
pub use event::{
    EventPage, RunEvent, RunEventKind, RunTimeline, EVENT_PAGE_MAX, TIMELINE_MAX_EVENTS,
};
pub use filter::{
    MalformedCursor, RunCursor, RunFilter, RunFilterError, RunPage, RunSort, RUN_PAGE_MAX,
    SEARCH_MAX_CHARS,
};
pub use jobs::{DailyReport, HealthSample, JobName, JobRun, SystemOverview};
pub use limits::{
    unstorable, AGENT_NAME_MAX_CHARS, ERROR_MAX_CHARS, EVIDENCE_MAX_BYTES, JSON_NUMBER_MAX,
    REASON_MAX_CHARS, RESULT_MAX_BYTES, RUN_MAX_BYTES, STEP_MAX_CHARS, TASK_MAX_CHARS,
    VERIFICATION_MAX_ATTEMPTS,
};
pub use live::{
    ConnectionState, LiveFrame, LiveMessage, LiveRequest, LiveRunCache, LIVE_FRAME_TAG,
    LIVE_HEARTBEAT, LIVE_IDLE_TIMEOUT, LIVE_RUNS_REMEMBERED, LIVE_SOCKETS_PER_USER,
};
pub use price::{ModelPrice, PriceTable, TokenUse};
pub use query::{QueryProblem, RunQuery, ACTIVE_CHOICE, RUN_QUERY_PARAMETERS};
pub use run::{format_duration, AgentRun, VerificationAttempt};
pub use span::{
    preview, span_of_event, whole, Span, SpanChange, SpanEventTotals, SpanKind, SpanPage,
    SpanReport, SpanStatus, SPANS_PER_RUN_MAX, SPAN_ATTRIBUTES_MAX_BYTES, SPAN_BATCH_MAX,
    SPAN_ID_MAX_CHARS, SPAN_PAGE_MAX, SPAN_PREVIEW_MAX_CHARS,
};
pub use stats::{
    DashboardSummary, RunStats, RunTrend, StatsWindow, TrendBucket, TrendPoint, UsageRow,
    USAGE_ROWS_MAX,
};
pub use status::{ParseRunStatusError, RunStatus};
pub use task::{TaskId, TASK_REF_MAX_CHARS};
pub use update::{AppliedUpdate, NewRun, RunUpdate, RunUpdateError};
pub use user::{
    check_external_id, check_new_password, is_reserved_email, normalize_email, parse_lifetime,
    ApiToken, CurrentUser, SessionInfo, TokenScope, UserRole, EMAIL_MAX_CHARS,
    EXTERNAL_ID_MAX_CHARS, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS, RESERVED_EMAIL_DOMAINS,
    TOKEN_MAX_DAYS,
};
