use crate::server::db::Principal;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use sqlx::PgPool;

/// What every handler and server function can reach (server functions through `expect_context`).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub pool: PgPool,
    /// The demo user, when RUNWIRE_DEMO seeded one.
    pub demo_user: Option<Principal>,
}
