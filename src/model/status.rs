use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where an agent run is in its life. The legal moves between states are [`RunStatus::can_transition_to`];
/// the database enforces the same table (migrations, `run_status_transition_allowed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type, utoipa::ToSchema))]
#[cfg_attr(
    feature = "ssr",
    sqlx(type_name = "run_status", rename_all = "snake_case")
)]
pub enum RunStatus {
    Pending,
    Queued,
    InProgress,
    Paused,
    AwaitingVerification,
    Verifying,
    Retrying,
    Completed,
    Failed,
    Cancelled,
    TimedOut,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown run status `{0}` (expected one of: pending, queued, in_progress, paused, awaiting_verification, verifying, retrying, completed, failed, cancelled, timed_out)")]
pub struct ParseRunStatusError(pub String);

impl RunStatus {
    pub const ALL: [RunStatus; 11] = [
        RunStatus::Pending,
        RunStatus::Queued,
        RunStatus::InProgress,
        RunStatus::Paused,
        RunStatus::AwaitingVerification,
        RunStatus::Verifying,
        RunStatus::Retrying,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::TimedOut,
    ];

    /// The wire and database name (`in_progress`).
    pub const fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Queued => "queued",
            RunStatus::InProgress => "in_progress",
            RunStatus::Paused => "paused",
            RunStatus::AwaitingVerification => "awaiting_verification",
            RunStatus::Verifying => "verifying",
            RunStatus::Retrying => "retrying",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::TimedOut => "timed_out",
        }
    }

    /// The human name shown in badges and filters.
    pub const fn label(self) -> &'static str {
        match self {
            RunStatus::Pending => "Pending",
            RunStatus::Queued => "Queued",
            RunStatus::InProgress => "In progress",
            RunStatus::Paused => "Paused",
            RunStatus::AwaitingVerification => "Awaiting verification",
            RunStatus::Verifying => "Verifying",
            RunStatus::Retrying => "Retrying",
            RunStatus::Completed => "Completed",
            RunStatus::Failed => "Failed",
            RunStatus::Cancelled => "Cancelled",
            RunStatus::TimedOut => "Timed out",
        }
    }

    /// The one CSS class that colours this status everywhere (style/main.css, `.status-*`).
    pub const fn badge_class(self) -> &'static str {
        match self {
            RunStatus::Pending => "status-pending",
            RunStatus::Queued => "status-queued",
            RunStatus::InProgress => "status-in_progress",
            RunStatus::Paused => "status-paused",
            RunStatus::AwaitingVerification => "status-awaiting_verification",
            RunStatus::Verifying => "status-verifying",
            RunStatus::Retrying => "status-retrying",
            RunStatus::Completed => "status-completed",
            RunStatus::Failed => "status-failed",
            RunStatus::Cancelled => "status-cancelled",
            RunStatus::TimedOut => "status-timed_out",
        }
    }

    /// A finished run: nothing may change it any more.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled | RunStatus::TimedOut
        )
    }

    pub const fn is_active(self) -> bool {
        !self.is_terminal()
    }

    /// The legal transition table of the design. Staying in the same state is not a transition.
    pub const fn can_transition_to(self, next: RunStatus) -> bool {
        use RunStatus::*;
        matches!(
            (self, next),
            (Pending, Queued | InProgress | Cancelled)
                | (Queued, InProgress | Cancelled | TimedOut)
                | (
                    InProgress,
                    Paused
                        | AwaitingVerification
                        | Retrying
                        | Completed
                        | Failed
                        | Cancelled
                        | TimedOut
                )
                | (Paused, InProgress | Cancelled | TimedOut)
                | (
                    AwaitingVerification,
                    Verifying | Completed | Failed | Cancelled | TimedOut
                )
                | (Verifying, Completed | Retrying | Failed | TimedOut)
                | (Retrying, InProgress | Failed | Cancelled)
        )
    }

    /// Every state this one may move to, in declaration order.
    pub fn next_states(self) -> impl Iterator<Item = RunStatus> {
        Self::ALL
            .into_iter()
            .filter(move |next| self.can_transition_to(*next))
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = ParseRunStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| ParseRunStatusError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::RunStatus::{self, *};

    /// The design's table written out as data, independent of the `matches!` above.
    const LEGAL: &[(RunStatus, &[RunStatus])] = &[
        (Pending, &[Queued, InProgress, Cancelled]),
        (Queued, &[InProgress, Cancelled, TimedOut]),
        (
            InProgress,
            &[
                Paused,
                AwaitingVerification,
                Retrying,
                Completed,
                Failed,
                Cancelled,
                TimedOut,
            ],
        ),
        (Paused, &[InProgress, Cancelled, TimedOut]),
        (
            AwaitingVerification,
            &[Verifying, Completed, Failed, Cancelled, TimedOut],
        ),
        (Verifying, &[Completed, Retrying, Failed, TimedOut]),
        (Retrying, &[InProgress, Failed, Cancelled]),
        (Completed, &[]),
        (Failed, &[]),
        (Cancelled, &[]),
        (TimedOut, &[]),
    ];

    #[test]
    fn every_pair_of_the_transition_table() {
        assert_eq!(LEGAL.len(), 11);
        let mut legal_count = 0;
        for (from, allowed) in LEGAL {
            for to in RunStatus::ALL {
                let expected = allowed.contains(&to);
                legal_count += usize::from(expected);
                assert_eq!(
                    from.can_transition_to(to),
                    expected,
                    "{from} -> {to} should be {}",
                    if expected { "legal" } else { "illegal" }
                );
            }
        }
        assert_eq!(legal_count, 28);
    }

    #[test]
    fn terminal_states_are_exactly_those_without_exits() {
        for status in RunStatus::ALL {
            assert_eq!(status.is_terminal(), status.next_states().next().is_none());
            assert_eq!(status.is_active(), !status.is_terminal());
        }
        let terminal: Vec<_> = RunStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(terminal, vec![Completed, Failed, Cancelled, TimedOut]);
    }

    #[test]
    fn names_round_trip_through_text_and_json() {
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse::<RunStatus>(), Ok(status));
            assert_eq!(status.to_string(), status.as_str());
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(serde_json::from_str::<RunStatus>(&json).unwrap(), status);
            assert!(status.badge_class().ends_with(status.as_str()));
        }
        assert_eq!("in_progress".parse(), Ok(InProgress));
        let err = "running".parse::<RunStatus>().unwrap_err();
        assert!(err.to_string().contains("unknown run status `running`"));
        assert!("InProgress".parse::<RunStatus>().is_err());
        assert!("".parse::<RunStatus>().is_err());
    }

    #[test]
    fn labels_and_badge_classes_are_distinct() {
        let mut labels: Vec<_> = RunStatus::ALL.iter().map(|s| s.label()).collect();
        let mut classes: Vec<_> = RunStatus::ALL.iter().map(|s| s.badge_class()).collect();
        labels.sort();
        labels.dedup();
        classes.sort();
        classes.dedup();
        assert_eq!(labels.len(), 11);
        assert_eq!(classes.len(), 11);
    }
}
