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
    /// Tokens of the window's runs' LLM calls.
    #[serde(default)]
    pub tokens_in: i64,
    #[serde(default)]
    pub tokens_out: i64,
    /// Their known cost; None when no run of the window has a known cost.
    #[serde(default)]
    pub cost_usd: Option<f64>,
}

impl RunStats {
    pub fn finished(&self) -> i64 {
        self.completed + self.failed + self.cancelled + self.timed_out
    }

    /// completed / finished, in 0..=1; None before anything finished.
    pub fn success_rate(&self) -> Option<f64> {
        success_rate(self.completed, self.finished())
    }
}

/// completed / finished, in 0..=1; None when nothing finished. Cancelled and timed-out runs count
/// as finished, not as successes.
pub fn success_rate(completed: i64, finished: i64) -> Option<f64> {
    (finished > 0).then(|| completed as f64 / finished as f64)
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

/// How a trend chart groups runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendBucket {
    Hour,
    Day,
}

impl TrendBucket {
    pub fn duration(self) -> Duration {
        match self {
            TrendBucket::Hour => Duration::hours(1),
            TrendBucket::Day => Duration::days(1),
        }
    }

    /// The start of the bucket holding `at` (UTC).
    pub fn floor(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let secs = self.duration().num_seconds();
        let floored = at.timestamp().div_euclid(secs) * secs;
        DateTime::from_timestamp(floored, 0).unwrap_or(at)
    }
}

impl StatsWindow {
    /// Hours for the last day, days for longer windows.
    pub fn trend_bucket(self) -> TrendBucket {
        match self {
            StatsWindow::Day => TrendBucket::Hour,
            _ => TrendBucket::Day,
        }
    }

    /// The URL form (`24h`, `7d`, `30d`, `all`).
    pub const fn as_str(self) -> &'static str {
        match self {
            StatsWindow::Day => "24h",
            StatsWindow::Week => "7d",
            StatsWindow::Month => "30d",
            StatsWindow::All => "all",
        }
    }

    pub fn parse(text: &str) -> Option<StatsWindow> {
        Self::ALL.into_iter().find(|w| w.as_str() == text)
    }
}

/// Runs created in one bucket, by how they stand now.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct TrendPoint {
    pub start: DateTime<Utc>,
    pub completed: i64,
    pub failed: i64,
    /// Cancelled or timed out.
    pub stopped: i64,
    pub active: i64,
    /// Known cost of the bucket's runs; None when none of them has one.
    #[serde(default)]
    pub cost_usd: Option<f64>,
}

impl TrendPoint {
    pub fn total(&self) -> i64 {
        self.completed + self.failed + self.stopped + self.active
    }

    /// completed / finished in this bucket.
    pub fn success_rate(&self) -> Option<f64> {
        success_rate(self.completed, self.completed + self.failed + self.stopped)
    }
}

/// Runs per bucket over a window, oldest first, with empty buckets filled in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunTrend {
    pub bucket: TrendBucket,
    pub points: Vec<TrendPoint>,
}

impl RunTrend {
    /// Spreads `rows` (one per non-empty bucket) over every bucket from `since` (or the first row)
    /// to `now`.
    pub fn fill(
        bucket: TrendBucket,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        rows: Vec<TrendPoint>,
    ) -> RunTrend {
        let first = since
            .or_else(|| rows.iter().map(|r| r.start).min())
            .unwrap_or(now);
        let mut start = bucket.floor(first);
        let end = bucket.floor(now);
        let mut points = Vec::new();
        while start <= end {
            let point = rows
                .iter()
                .find(|r| r.start == start)
                .cloned()
                .unwrap_or(TrendPoint {
                    start,
                    ..Default::default()
                });
            points.push(point);
            start += bucket.duration();
        }
        RunTrend { bucket, points }
    }
}

/// Everything above the dashboard's table: totals and the trend over one window, and the agents
/// the filter can choose from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashboardSummary {
    pub window: StatsWindow,
    pub stats: RunStats,
    pub trend: RunTrend,
    pub agents: Vec<String>,
    /// Tokens and cost of the window by agent and by model, costliest first.
    #[serde(default)]
    pub usage_by_agent: Vec<UsageRow>,
    #[serde(default)]
    pub usage_by_model: Vec<UsageRow>,
}

/// Tokens and cost of one agent's runs, or of one model's calls.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct UsageRow {
    pub name: String,
    /// Runs of the agent, or calls of the model.
    pub count: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    /// None: no known cost (the model has no price), never a made-up 0.
    pub cost_usd: Option<f64>,
}

/// Most rows of each usage breakdown.
pub const USAGE_ROWS_MAX: i64 = 12;

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
            ..Default::default()
        };
        assert_eq!(stats.finished(), 8);
        assert_eq!(stats.success_rate(), Some(0.75));
        assert_eq!(RunStats::default().success_rate(), None);
    }

    #[test]
    fn a_trend_has_every_bucket_of_the_window_in_order() {
        let now = DateTime::parse_from_rfc3339("2026-03-10T15:42:00Z")
            .unwrap()
            .to_utc();
        let hour = |h: i64| TrendBucket::Hour.floor(now) - Duration::hours(h);
        let rows = vec![
            TrendPoint {
                start: hour(0),
                completed: 2,
                ..Default::default()
            },
            TrendPoint {
                start: hour(23),
                failed: 1,
                ..Default::default()
            },
        ];
        let trend = RunTrend::fill(TrendBucket::Hour, StatsWindow::Day.since(now), now, rows);
        assert_eq!(
            trend.points.len(),
            25,
            "24 h back from 15:42 touches 25 hours"
        );
        assert_eq!(trend.points[0].start, hour(24));
        assert_eq!(trend.points[1].failed, 1);
        assert_eq!(trend.points[24].completed, 2);
        assert!(trend
            .points
            .windows(2)
            .all(|w| w[1].start - w[0].start == Duration::hours(1)));
        let day = TrendBucket::Day.floor(now);
        assert_eq!(day.to_rfc3339(), "2026-03-10T00:00:00+00:00");
        let empty = RunTrend::fill(TrendBucket::Day, None, now, vec![]);
        assert_eq!(empty.points.len(), 1);
    }

    #[test]
    fn windows_end_now() {
        let now = Utc::now();
        assert_eq!(StatsWindow::Day.since(now), Some(now - Duration::hours(24)));
        assert_eq!(StatsWindow::All.since(now), None);
    }
}
