//! Server functions: the browser's only door to data.

pub mod agents;
pub mod auth;
pub mod live;
pub mod runs;
pub mod system;
pub mod tokens;

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use crate::error::AppError;
    use crate::server::auth::Identity;
    use crate::server::db::{begin_scoped, ScopedTx};
    use crate::server::state::AppState;
    use axum::extract::ConnectInfo;
    use axum::http::request::Parts;
    use leptos::prelude::{expect_context, use_context};
    use std::net::{IpAddr, SocketAddr};

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

    /// A transaction scoped to the caller, for repository calls.
    pub async fn scoped_tx() -> Result<ScopedTx, AppError> {
        let principal = require_identity()?.principal();
        Ok(begin_scoped(&state().pool, principal).await?)
    }

    pub fn client_ip() -> Option<IpAddr> {
        parts().and_then(|p| {
            p.extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        })
    }

    /// Whether the page was served over https (directly or behind a proxy that says so).
    pub fn is_https() -> bool {
        parts().is_some_and(|p| {
            p.uri.scheme_str() == Some("https")
                || p.headers
                    .get("x-forwarded-proto")
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
        })
    }

    pub fn header(name: &str) -> Option<String> {
        parts().and_then(|p| p.headers.get(name)?.to_str().ok().map(str::to_owned))
    }

    pub fn cookie_header() -> Option<String> {
        header("cookie")
    }
}
