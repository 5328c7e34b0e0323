//! Who is asking: sessions for browsers, API tokens for agents, and the middleware that turns either
//! into an [`Identity`] on the request. Everything downstream takes the user from there, never from
//! the request's query, body or other headers.

pub mod secret;
pub mod sessions;
pub mod throttle;
pub mod tokens;

use crate::error::AppError;
use crate::model::{
    check_new_password, normalize_email, CurrentUser, UserRole, PASSWORD_MAX_CHARS,
};
use crate::server::db::Principal;
use crate::server::state::AppState;
use crate::server::{password, users};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use sqlx::PgPool;
use std::net::IpAddr;
use std::sync::OnceLock;

/// The authenticated caller of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: CurrentUser,
    pub via: AuthMethod,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Session,
    ApiToken { token_id: uuid::Uuid },
}

impl Identity {
    pub fn principal(&self) -> Principal {
        Principal {
            user_id: self.user.id,
            role: self.user.role,
        }
    }
}

/// Resolves the caller once per request. A bearer token that is present but wrong is a 401 at once;
/// a missing or stale session is simply no identity (and a sign-in redirect for private pages).
pub async fn identify(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    // Static files and the operations endpoints need no user: the cron endpoint checks its own
    // secret (in the Authorization header, which is not an API token there).
    if path.starts_with("/pkg/")
        || path == "/favicon.svg"
        || path.starts_with("/api/cron/")
        || path == "/health"
        || path == "/ready"
    {
        return next.run(request).await;
    }
    match resolve(&state.pool, request.headers()).await {
        Ok(Some(identity)) => {
            request.extensions_mut().insert(identity);
        }
        Ok(None) if is_private_page(request.method(), path) => {
            let wanted = request
                .uri()
                .path_and_query()
                .map(|pq| pq.as_str())
                .unwrap_or("/");
            return Redirect::to(&format!("/signin?next={}", encode_component(wanted)))
                .into_response();
        }
        Ok(None) => {}
        Err(err) => return err.into_response(),
    }
    next.run(request).await
}

async fn resolve(pool: &PgPool, headers: &HeaderMap) -> Result<Option<Identity>, AppError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 200)
            .ok_or(AppError::Unauthorized)?;
        let (user, token_id) = tokens::find_user(pool, token)
            .await?
            .ok_or(AppError::Unauthorized)?;
        return Ok(Some(Identity {
            user,
            via: AuthMethod::ApiToken { token_id },
        }));
    }
    let Some(token) = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(sessions::token_from_cookie_header)
    else {
        return Ok(None);
    };
    Ok(sessions::find_user(pool, &token)
        .await?
        .map(|user| Identity {
            user,
            via: AuthMethod::Session,
        }))
}

/// Pages a visitor without a session is sent to sign-in from: all but the landing and the sign-in and
/// sign-up pages. Server functions and the REST API answer 401 themselves.
pub fn is_private_page(method: &Method, path: &str) -> bool {
    (method == Method::GET || method == Method::HEAD)
        && !matches!(path, "/" | "/signin" | "/signup")
        && !path.starts_with("/api/")
}

/// A local path to go to after sign-in; anything else (other hosts, `//evil`) becomes the dashboard.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/dashboard".to_owned(),
    }
}

fn encode_component(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Checks an email and password. Unknown email and wrong password take the same time and give the
/// same error; repeated failures per email and per address are throttled.
pub async fn authenticate(
    pool: &PgPool,
    email: &str,
    password: &str,
    client: Option<IpAddr>,
) -> Result<CurrentUser, AppError> {
    if password.chars().count() > PASSWORD_MAX_CHARS {
        return Err(AppError::validation(
            "password",
            "password must be at most 128 characters",
        ));
    }
    let email = normalize_email(email).map_err(|m| AppError::validation("email", m))?;
    let mut keys = vec![throttle::email_key(&email)];
    keys.extend(client.map(throttle::ip_key));
    throttle::check(pool, &keys).await?;

    let found = users::find_credentials(pool, &email).await?;
    let stored_hash = found
        .as_ref()
        .map(|(_, hash)| hash.clone())
        .unwrap_or_else(|| dummy_hash().to_owned());
    let candidate = password.to_owned();
    let matches = tokio::task::spawn_blocking(move || password::verify(&candidate, &stored_hash))
        .await
        .map_err(AppError::internal)?;
    match found {
        Some((user, _)) if matches => {
            throttle::clear(pool, &keys[0]).await?;
            Ok(user)
        }
        _ => {
            throttle::record_failure(pool, &keys).await?;
            Err(AppError::InvalidCredentials)
        }
    }
}

/// Creates an account after checking the email and password rules.
pub async fn register(
    pool: &PgPool,
    email: &str,
    password: &str,
    role: UserRole,
) -> Result<CurrentUser, AppError> {
    let email = normalize_email(email).map_err(|m| AppError::validation("email", m))?;
    check_new_password(password).map_err(|m| AppError::validation("password", m))?;
    let hash = hash_password(password).await?;
    users::create(pool, &email, &hash, role).await
}

pub async fn hash_password(password: &str) -> Result<String, AppError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)
}

/// Verified against when the email is unknown, so both cases cost one argon2 run.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| password::hash("no such user").expect("argon2 hashes a constant"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/agents?x=1")), "/agents?x=1");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "dashboard",
        ] {
            assert_eq!(safe_next(Some(bad)), "/dashboard", "{bad}");
        }
        assert_eq!(safe_next(None), "/dashboard");
    }

    #[test]
    fn private_pages_are_all_but_landing_and_sign_in() {
        for public in ["/", "/signin", "/signup", "/api/list_runs"] {
            assert!(!is_private_page(&Method::GET, public), "{public}");
        }
        for private in ["/dashboard", "/agents", "/settings/tokens", "/runs/1"] {
            assert!(is_private_page(&Method::GET, private), "{private}");
        }
        assert!(!is_private_page(&Method::POST, "/dashboard"));
    }

    #[test]
    fn next_is_percent_encoded() {
        assert_eq!(
            encode_component("/dashboard?status=failed&q=a b"),
            "/dashboard%3Fstatus%3Dfailed%26q%3Da%20b"
        );
    }
}
