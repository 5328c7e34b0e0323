//! Server functions: the browser's only door to data.

pub mod runs;

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use crate::error::AppError;
    use crate::server::db::{begin_scoped, Principal, ScopedTx};
    use crate::server::state::AppState;
    use leptos::prelude::expect_context;

    pub fn state() -> AppState {
        expect_context::<AppState>()
    }

    /// Who is asking. Until sign-in exists (issue "Accounts"), requests act for the seeded demo user;
    /// without one they are refused.
    pub fn principal() -> Result<Principal, AppError> {
        state().demo_user.ok_or(AppError::Unauthorized)
    }

    /// A transaction scoped to the caller, for repository calls.
    pub async fn scoped_tx() -> Result<ScopedTx, AppError> {
        let principal = principal()?;
        Ok(begin_scoped(&state().pool, principal).await?)
    }
}
