mod agents;
mod dashboard;
mod landing;
mod not_found;
mod run;
mod sign_in;
mod system;
mod tokens;

pub use agents::AgentsPage;
pub use dashboard::DashboardPage;
pub use landing::LandingPage;
pub use not_found::NotFound;
pub use run::RunPage;
pub use sign_in::{SignInPage, SignUpPage};
pub use system::SystemPage;
pub use tokens::TokensPage;
