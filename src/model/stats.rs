use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Totals of a user's runs over a window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct RunStats {
    pub total: i64,
    pub active: i64,
    pub completed: i64,
    pub failed: i64,
    pub cancelled: i64,
    pub timed_out: i64,
    /// Mean wall time of finished runs, in seconds; None when none finished.
    pub avg_duration_seconds: Option<f64>,
}

impl RunStats {
    pub fn finished(&self) -> i64 {
        self.completed + self.failed + self.cancelled + self.timed_out
    }

    /// completed / finished, in 0..=1; None before anything finished.
    pub fn success_rate(&self) -> Option<f64> {
        let finished = self.finished();
        (finished > 0).then(|| self.completed as f64 / finished as f64)
    }
}

/// The time windows the dashboard offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatsWindow {
    #[default]
    Day,
    Week,
    Month,
    All,
}

impl StatsWindow {
    pub const ALL: [StatsWindow; 4] = [
        StatsWindow::Day,
        StatsWindow::Week,
        StatsWindow::Month,
        StatsWindow::All,
    ];

    /// The start of the window ending at `now`; None for all time.
    pub fn since(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            StatsWindow::Day => Some(now - Duration::hours(24)),
            StatsWindow::Week => Some(now - Duration::days(7)),
            StatsWindow::Month => Some(now - Duration::days(30)),
            StatsWindow::All => None,
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            StatsWindow::Day => "24 h",
            StatsWindow::Week => "7 d",
            StatsWindow::Month => "30 d",
            StatsWindow::All => "All",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_rate_counts_only_finished_runs() {
        let stats = RunStats {
            total: 10,
            active: 2,
            completed: 6,
            failed: 1,
            cancelled: 1,
            timed_out: 0,
            avg_duration_seconds: Some(3.0),
        };
        assert_eq!(stats.finished(), 8);
        assert_eq!(stats.success_rate(), Some(0.75));
        assert_eq!(RunStats::default().success_rate(), None);
    }

    #[test]
    fn windows_end_now() {
        let now = Utc::now();
        assert_eq!(StatsWindow::Day.since(now), Some(now - Duration::hours(24)));
        assert_eq!(StatsWindow::All.since(now), None);
    }
}
