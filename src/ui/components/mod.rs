mod connection_indicator;
mod error_panel;
mod form_error;
mod progress_bar;
mod run_card;
mod runs_table;
mod status_badge;

pub use connection_indicator::ConnectionIndicator;
pub use error_panel::ErrorPanel;
pub use form_error::FormError;
pub use progress_bar::ProgressBar;
pub use run_card::RunCard;
pub use runs_table::RunsTable;
pub use status_badge::StatusBadge;
