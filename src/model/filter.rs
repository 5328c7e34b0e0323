use super::RunStatus;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The longest search string accepted; longer input is a user error, not something to truncate silently.
pub const SEARCH_MAX_CHARS: usize = 200;
/// The largest page a caller may ask for.
pub const RUN_PAGE_MAX: u32 = 200;

/// Which runs a list, a stats query or a live subscription is about. Empty fields match everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunFilter {
    /// Any of these statuses (empty: all).
    pub statuses: Vec<RunStatus>,
    /// Only runs that have not finished.
    pub active_only: bool,
    pub agent_name: Option<String>,
    /// A UUID, or the text runs were started with ("task_123"), which names the same UUID.
    #[serde(deserialize_with = "super::task::task_uuid")]
    pub task_id: Option<Uuid>,
    pub run_id: Option<Uuid>,
    /// Case-insensitive substring of agent name, task or current step, or a run id prefix.
    pub search: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunFilterError {
    #[error("search is {0} characters long; the limit is {SEARCH_MAX_CHARS}")]
    SearchTooLong(usize),
    #[error("agent name must be 1 to 100 characters")]
    AgentNameLength,
    #[error("{0} holds a NUL character")]
    NulCharacter(&'static str),
}

impl RunFilter {
    pub fn validate(&self) -> Result<(), RunFilterError> {
        if let Some(search) = &self.search {
            let len = search.chars().count();
            if len > SEARCH_MAX_CHARS {
                return Err(RunFilterError::SearchTooLong(len));
            }
        }
        if let Some(agent) = &self.agent_name {
            if !(1..=super::AGENT_NAME_MAX_CHARS).contains(&agent.chars().count()) {
                return Err(RunFilterError::AgentNameLength);
            }
            if agent.contains('\0') {
                return Err(RunFilterError::NulCharacter("agent"));
            }
        }
        if self.search.as_deref().is_some_and(|s| s.contains('\0')) {
            return Err(RunFilterError::NulCharacter("q"));
        }
        Ok(())
    }

    /// The search text, trimmed, or None when there is nothing to search for.
    pub fn search_text(&self) -> Option<&str> {
        self.search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// The orders a run list can be read in. Each has its own index and keyset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum RunSort {
    /// Most recently started (created) first.
    #[default]
    Newest,
    Oldest,
    /// Longest finished runs first; running runs last.
    Longest,
}

impl RunSort {
    pub const ALL: [RunSort; 3] = [RunSort::Newest, RunSort::Oldest, RunSort::Longest];

    pub const fn as_str(self) -> &'static str {
        match self {
            RunSort::Newest => "newest",
            RunSort::Oldest => "oldest",
            RunSort::Longest => "longest",
        }
    }

    pub fn parse(text: &str) -> Option<RunSort> {
        Self::ALL.into_iter().find(|sort| sort.as_str() == text)
    }

    /// The tag a cursor of this order starts with (none for newest, the original cursor form).
    const fn cursor_tag(self) -> &'static str {
        match self {
            RunSort::Newest => "",
            RunSort::Oldest => "o",
            RunSort::Longest => "l",
        }
    }
}

/// Where the next page starts: strictly after (`key`, `id`) in the list's order, where `key` is the
/// creation time in microseconds, or the duration in ms for [`RunSort::Longest`]. Opaque to clients;
/// keyset pagination never skips or repeats rows while new runs arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCursor {
    pub sort: RunSort,
    pub key: i64,
    pub id: Uuid,
}

/// The end of 9999 in microseconds: the latest time a cursor may name.
const CURSOR_LATEST_MICROS: i64 = 253_402_300_799_999_999;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed cursor: pass back the next_cursor of a previous page unchanged")]
pub struct MalformedCursor;

impl RunCursor {
    /// The cursor after `run` in a list sorted by `sort`; `duration_ms` is the stored duration
    /// (-1 while running).
    pub fn after(run: &super::AgentRun, sort: RunSort, duration_ms: i64) -> Self {
        let key = match sort {
            RunSort::Newest | RunSort::Oldest => run.created_at.timestamp_micros(),
            RunSort::Longest => duration_ms,
        };
        RunCursor {
            sort,
            key,
            id: run.id,
        }
    }

    /// The creation time a newest/oldest cursor points at.
    pub fn created_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self.sort {
            RunSort::Newest | RunSort::Oldest => chrono::DateTime::from_timestamp_micros(self.key),
            RunSort::Longest => None,
        }
    }

    pub fn encode(&self) -> String {
        format!(
            "{}{}_{}",
            self.sort.cursor_tag(),
            self.key,
            self.id.simple()
        )
    }

    pub fn decode(text: &str) -> Result<Self, MalformedCursor> {
        let (sort, rest) = match text.as_bytes().first() {
            Some(b'o') => (RunSort::Oldest, &text[1..]),
            Some(b'l') => (RunSort::Longest, &text[1..]),
            _ => (RunSort::Newest, text),
        };
        let (key, id) = rest.split_once('_').ok_or(MalformedCursor)?;
        // at most 18 digits (the documented pattern), negative only for a duration
        let digits = key
            .strip_prefix('-')
            .filter(|_| sort == RunSort::Longest)
            .unwrap_or(key);
        if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MalformedCursor);
        }
        let key: i64 = key.parse().map_err(|_| MalformedCursor)?;
        // past any run: a creation time up to 9999 (where PostgreSQL's range ends), a duration of
        // at least -1 (running)
        let key = match sort {
            RunSort::Newest | RunSort::Oldest => key.min(CURSOR_LATEST_MICROS),
            RunSort::Longest => key.max(-1),
        };
        Ok(RunCursor {
            sort,
            key,
            id: Uuid::try_parse(id).map_err(|_| MalformedCursor)?,
        })
    }
}

/// One page of runs, newest first, and where the next one starts (None: this was the last).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RunPage {
    pub runs: Vec<super::AgentRun>,
    pub next_cursor: Option<String>,
    /// The live cursor when the page was read: subscribe after it to miss nothing since.
    #[serde(default)]
    pub last_event_id: i64,
}

#[cfg(test)]
mod tests {
    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        for (sort, key) in [
            (RunSort::Newest, 1_764_000_000_123_456),
            (RunSort::Oldest, 1_764_000_000_123_456),
            (RunSort::Longest, 61_250),
            (RunSort::Longest, -1),
        ] {
            let cursor = RunCursor {
                sort,
                key,
                id: Uuid::new_v4(),
            };
            assert_eq!(RunCursor::decode(&cursor.encode()), Ok(cursor));
        }
        for bad in [
            "",
            "abc",
            "12_notauuid",
            "x_00000000000000000000000000000000",
            "_",
            "9223372036854775807_00000000000000000000000000000000",
            "o_00000000000000000000000000000000",
            "l12",
            // a time before 1970, more than 18 digits
            "-0857217345205860213_5c2f686b72d05f107d57d37a48cb6ea3",
            "o-5_5c2f686b72d05f107d57d37a48cb6ea3",
            "l1234567890123456789_5c2f686b72d05f107d57d37a48cb6ea3",
        ] {
            assert_eq!(RunCursor::decode(bad), Err(MalformedCursor), "{bad}");
        }
        // past any run: a time after 9999 (which PostgreSQL cannot hold), a duration below -1
        let late =
            RunCursor::decode("o999999999999999999_5c2f686b72d05f107d57d37a48cb6ea3").unwrap();
        assert_eq!(late.key, CURSOR_LATEST_MICROS);
        assert!(late.created_at().is_some());
        let short = RunCursor::decode("l-7_5c2f686b72d05f107d57d37a48cb6ea3").unwrap();
        assert_eq!(short.key, -1);
    }

    use super::*;

    #[test]
    fn long_search_is_rejected_with_its_length() {
        let filter = RunFilter {
            search: Some("x".repeat(SEARCH_MAX_CHARS + 1)),
            ..Default::default()
        };
        assert_eq!(filter.validate(), Err(RunFilterError::SearchTooLong(201)));
        let ok = RunFilter {
            search: Some("é".repeat(SEARCH_MAX_CHARS)),
            ..Default::default()
        };
        assert_eq!(ok.validate(), Ok(()));
    }

    #[test]
    fn blank_search_means_no_search() {
        let filter = RunFilter {
            search: Some("   ".into()),
            ..Default::default()
        };
        assert_eq!(filter.search_text(), None);
        let filter = RunFilter {
            search: Some("  plan ".into()),
            ..Default::default()
        };
        assert_eq!(filter.search_text(), Some("plan"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<RunFilter>(r#"{"user_id": "x"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `user_id`"));
        let parsed: RunFilter = serde_json::from_str(r#"{"statuses": ["failed"]}"#).unwrap();
        assert_eq!(parsed.statuses, vec![RunStatus::Failed]);
    }
}
