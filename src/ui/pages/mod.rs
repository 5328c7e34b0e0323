mod agents;
mod dashboard;
mod landing;
mod not_found;

pub use agents::AgentsPage;
pub use dashboard::DashboardPage;
pub use landing::LandingPage;
pub use not_found::NotFound;
