//! Sign-up, sign-in, sign-out and who-am-I.

use crate::error::AppError;
use crate::model::SessionInfo;
use leptos::prelude::*;

#[server(endpoint = "session_info")]
pub async fn get_session_info() -> Result<SessionInfo, AppError> {
    Ok(SessionInfo {
        user: super::ssr::identity().map(|identity| identity.user),
        demo_available: super::ssr::state().demo_user.is_some(),
    })
}

#[server(endpoint = "sign_up")]
pub async fn sign_up(email: String, password: String) -> Result<(), AppError> {
    use crate::server::auth;
    let state = super::ssr::state();
    let user = auth::sign_up(&state.pool, &email, &password, super::ssr::client()).await?;
    ssr::start_session(user.id).await?;
    leptos_axum::redirect("/dashboard");
    Ok(())
}

#[server(endpoint = "sign_in")]
pub async fn sign_in(
    email: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    use crate::server::auth;
    let state = super::ssr::state();
    let user = auth::authenticate(&state.pool, &email, &password, super::ssr::client()).await?;
    ssr::start_session(user.id).await?;
    leptos_axum::redirect(&auth::safe_next(next.as_deref()));
    Ok(())
}

/// One-click sign-in as the demo user, offered only when the server seeded one (RUNWIRE_DEMO).
#[server(endpoint = "sign_in_demo")]
pub async fn sign_in_demo(#[server(default)] next: Option<String>) -> Result<(), AppError> {
    use crate::server::auth;
    let demo = super::ssr::state().demo_user.ok_or(AppError::NotFound)?;
    ssr::start_session(demo.user_id).await?;
    leptos_axum::redirect(&auth::safe_next(next.as_deref()));
    Ok(())
}

#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use crate::server::auth::sessions;
    let https = super::ssr::is_https();
    if let Some(token) = super::ssr::cookie_header()
        .as_deref()
        .and_then(|cookie| sessions::token_from_cookie_header(cookie, https))
    {
        sessions::delete(&super::ssr::state().pool, &token).await?;
    }
    ssr::set_cookie(sessions::removal_cookie(https));
    leptos_axum::redirect("/signin");
    Ok(())
}

#[cfg(feature = "ssr")]
mod ssr {
    use crate::error::AppError;
    use crate::server::auth::sessions;
    use axum::http::{header::SET_COOKIE, HeaderValue};
    use uuid::Uuid;

    /// A fresh session for `user_id`; any session this browser had is ended (rotation on sign-in).
    pub async fn start_session(user_id: Uuid) -> Result<(), AppError> {
        let state = super::super::ssr::state();
        let https = super::super::ssr::is_https();
        if let Some(old) = super::super::ssr::cookie_header()
            .as_deref()
            .and_then(|cookie| sessions::token_from_cookie_header(cookie, https))
        {
            sessions::delete(&state.pool, &old).await?;
        }
        let user_agent = super::super::ssr::header("user-agent");
        let token =
            sessions::create(&state.pool, user_id, user_agent.as_deref(), &state.sessions).await?;
        set_cookie(sessions::cookie(&token, https, &state.sessions));
        Ok(())
    }

    pub fn set_cookie(cookie: String) {
        if let (Some(response), Ok(value)) = (
            leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
            HeaderValue::from_str(&cookie),
        ) {
            response.append_header(SET_COOKIE, value);
        }
    }
}
