mod connection_indicator;
mod error_panel;
mod event_timeline;
mod form_error;
mod progress_bar;
mod run_card;
mod run_monitor;
mod runs_table;
mod status_badge;

pub use connection_indicator::ConnectionIndicator;
pub use error_panel::ErrorPanel;
pub use event_timeline::EventTimeline;
pub use form_error::FormError;
pub use progress_bar::ProgressBar;
pub use run_card::RunCard;
pub use run_monitor::RunMonitor;
pub use runs_table::RunsTable;
pub use status_badge::StatusBadge;

#[cfg(all(test, feature = "ssr"))]
mod tests;
