//! Server functions: the browser's only door to data.

pub mod agents;
pub mod auth;
pub mod live;
pub mod live_socket;
pub mod runs;
pub mod system;
pub mod tokens;

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use crate::error::AppError;
    use crate::server::auth::{Identity, Scope};
    use crate::server::db::{begin_scoped, Principal, ScopedTx};
    use crate::server::state::AppState;
    use crate::server::web::ClientAddr;
    use axum::http::request::Parts;
    use leptos::prelude::{expect_context, use_context};

    pub fn state() -> AppState {
        expect_context::<AppState>()
    }

    fn parts() -> Option<Parts> {
        use_context::<Parts>()
    }

    /// The caller as the auth middleware resolved it from the session cookie or API token.
    pub fn identity() -> Option<Identity> {
        parts().and_then(|p| p.extensions.get::<Identity>().cloned())
    }

    pub fn require_identity() -> Result<Identity, AppError> {
        identity().ok_or(AppError::Unauthorized)
    }

    /// The caller, when allowed `scope` (a session always is, but for admin).
    pub fn require_scope(scope: Scope) -> Result<Identity, AppError> {
        require_identity()?.require(scope)
    }

    /// Who reads, when the caller may read runs.
    pub fn reader() -> Result<Principal, AppError> {
        Ok(require_scope(Scope::RunsRead)?.principal())
    }

    /// A transaction scoped to a caller who may read runs, for repository calls.
    pub async fn scoped_tx() -> Result<ScopedTx, AppError> {
        Ok(begin_scoped(&state().pool, reader()?).await?)
    }

    /// Where the request came from (trusted proxies taken into account).
    pub fn client() -> Option<ClientAddr> {
        parts().and_then(|p| p.extensions.get::<ClientAddr>().copied())
    }

    /// Whether the page was served over https (directly, per the public URL, or per a trusted proxy).
    pub fn is_https() -> bool {
        client().is_some_and(|client| client.https)
    }

    pub fn header(name: &str) -> Option<String> {
        parts().and_then(|p| p.headers.get(name)?.to_str().ok().map(str::to_owned))
    }

    pub fn cookie_header() -> Option<String> {
        header("cookie")
    }
}
