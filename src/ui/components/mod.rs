mod connection_indicator;
mod daily_reports;
mod error_panel;
mod event_timeline;
mod form_error;
mod progress_bar;
mod run_card;
mod run_modal;
mod run_monitor;
mod run_replay;
mod runs_table;
mod span_waterfall;
mod stats_cards;
mod status_badge;
mod trend_chart;
mod usage_breakdown;

pub use connection_indicator::ConnectionIndicator;
pub use daily_reports::DailyReports;
pub use error_panel::ErrorPanel;
pub use event_timeline::EventTimeline;
pub use form_error::FormError;
pub use progress_bar::ProgressBar;
pub use run_card::RunCard;
pub use run_modal::RunModal;
pub use run_monitor::RunMonitor;
pub use run_replay::{index_of, moment_at, Moment, RunReplay};
pub use runs_table::RunsTable;
pub use span_waterfall::{tree_order, SpanWaterfall, WaterfallRow};
pub use stats_cards::StatsCards;
pub use status_badge::StatusBadge;
pub use trend_chart::TrendChart;
pub use usage_breakdown::UsageBreakdown;

#[cfg(all(test, feature = "ssr"))]
mod tests;
