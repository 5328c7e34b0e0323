//! Who is asking: sessions for browsers, API tokens for agents, and the middleware that turns either
//! into an [`Identity`] on the request. Everything downstream takes the user from there, never from
//! the request's query, body or other headers.

pub mod secret;
pub mod service;
pub mod sessions;
pub mod throttle;
pub mod tokens;

use crate::error::AppError;
pub use crate::model::TokenScope as Scope;
use crate::model::{
    check_new_password, is_reserved_email, normalize_email, CurrentUser, UserRole,
    PASSWORD_MAX_CHARS,
};
use crate::server::db::Principal;
use crate::server::state::AppState;
use crate::server::web::ClientAddr;
use crate::server::{password, users};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::sync::{Arc, OnceLock};

/// The authenticated caller of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: CurrentUser,
    pub via: AuthMethod,
    /// What the caller may do: everything for a session (admin only for admins), the token's
    /// scopes for a token.
    pub scopes: Vec<Scope>,
    pub credential: Credential,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Session,
    ApiToken { token_id: uuid::Uuid },
}

/// The session or token a request came with: what a live socket watches for its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// `s:<sha256 hex of the session id>` or `t:<token id>`, as the `runwire_credentials` NOTIFY
    /// names it.
    pub key: Arc<str>,
    /// When it stops being accepted (a session's idle or absolute end, a token's expiry).
    pub expires_at: Option<DateTime<Utc>>,
}

impl Identity {
    /// Who the database sees: an admin only with the admin scope.
    pub fn principal(&self) -> Principal {
        let role = if self.user.role == UserRole::Admin && self.allows(Scope::Admin) {
            UserRole::Admin
        } else {
            UserRole::User
        };
        Principal {
            user_id: self.user.id,
            role,
        }
    }

    /// Whether the caller may do `scope` (reporting runs for any user includes one's own).
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
            || (scope == Scope::RunsWrite && self.scopes.contains(&Scope::RunsWriteAny))
    }

    /// The caller when it may do `scope`; 403 otherwise.
    pub fn require(self, scope: Scope) -> Result<Identity, AppError> {
        if self.allows(scope) {
            Ok(self)
        } else {
            Err(AppError::Forbidden(format!(
                "this token lacks the `{}` scope",
                scope.as_str()
            )))
        }
    }

    /// The caller when signed in through the browser: tokens cannot manage tokens.
    pub fn require_session(self) -> Result<Identity, AppError> {
        match self.via {
            AuthMethod::Session => Ok(self),
            AuthMethod::ApiToken { .. } => Err(AppError::Forbidden(
                "API tokens are managed from a signed-in browser session, not with a token"
                    .to_owned(),
            )),
        }
    }
}

/// What a browser session may do.
fn session_scopes(role: UserRole) -> Vec<Scope> {
    match role {
        UserRole::Admin => Scope::ALL.to_vec(),
        UserRole::User => vec![Scope::RunsWrite, Scope::RunsRead],
    }
}

/// Resolves the caller once per request. A bearer token that is present but wrong is a 401 at once;
/// a missing or stale session is simply no identity (and a sign-in redirect for private pages).
pub async fn identify(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    // Static files and the operations endpoints need no user: the cron and metrics endpoints check
    // their own secrets (in the Authorization header, which is not an API token there).
    if path.starts_with("/pkg/")
        || path == "/favicon.svg"
        || path.starts_with("/api/cron/")
        || path == "/health"
        || path == "/ready"
        || path == "/metrics"
    {
        return next.run(request).await;
    }
    let https = request
        .extensions()
        .get::<ClientAddr>()
        .is_some_and(|client| client.https);
    match resolve(&state, request.headers(), https).await {
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

/// The token of an `Authorization: Bearer <token>` header, if the request sent one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
}

async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
    https: bool,
) -> Result<Option<Identity>, AppError> {
    let pool = &state.pool;
    if headers.contains_key(header::AUTHORIZATION) {
        let token = bearer_token(headers).ok_or(AppError::Unauthorized)?;
        return token_identity(pool, token).await.map(Some);
    }
    let Some(token) = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|cookie| sessions::token_from_cookie_header(cookie, https))
    else {
        return Ok(None);
    };
    Ok(sessions::find_user(pool, &token, &state.sessions)
        .await?
        .map(|(user, expires_at)| Identity {
            scopes: session_scopes(user.role),
            user,
            via: AuthMethod::Session,
            credential: Credential {
                key: Arc::from(sessions::credential_key(&token)),
                expires_at: Some(expires_at),
            },
        }))
}

/// The caller an API token names; 401 for anything but a live token.
pub async fn token_identity(pool: &PgPool, token: &str) -> Result<Identity, AppError> {
    let token = Some(token.trim())
        .filter(|t| !t.is_empty() && t.len() <= 200)
        .ok_or(AppError::Unauthorized)?;
    let found = tokens::find_user(pool, token)
        .await?
        .ok_or(AppError::Unauthorized)?;
    Ok(Identity {
        user: found.user,
        via: AuthMethod::ApiToken {
            token_id: found.token_id,
        },
        scopes: found.scopes,
        credential: Credential {
            key: Arc::from(format!("t:{}", found.token_id)),
            expires_at: found.expires_at,
        },
    })
}

/// Whether a credential is still accepted: for a live socket that may have missed a notice.
pub async fn credential_is_live(
    pool: &PgPool,
    credential: &Credential,
) -> Result<bool, sqlx::Error> {
    if credential
        .expires_at
        .is_some_and(|expires| expires <= Utc::now())
    {
        return Ok(false);
    }
    match credential.key.split_once(':') {
        Some(("t", id)) => match uuid::Uuid::try_parse(id) {
            Ok(id) => tokens::is_live(pool, id).await,
            Err(_) => Ok(false),
        },
        Some(("s", hash)) => sessions::is_live(pool, hash).await,
        _ => Ok(false),
    }
}

/// Pages a visitor without a session is sent to sign-in from: all but the landing and the sign-in and
/// sign-up pages. Server functions and the REST API answer 401 themselves.
pub fn is_private_page(method: &Method, path: &str) -> bool {
    (method == Method::GET || method == Method::HEAD)
        && !matches!(path, "/" | "/signin" | "/signup")
        && !path.starts_with("/api/")
}

/// Where to go after sign-in: `next` when it is a path on this site, else the dashboard. A path here
/// starts with one `/` and holds no control character, whitespace, backslash or non-ASCII byte; nor,
/// once percent-decoded, does its path part hold a control character or backslash, or start with
/// `//`. Browsers drop tabs and newlines and read `\\` as `/`: `/\t/evil.example` and
/// `/\\evil.example` would leave the site.
pub fn safe_next(next: Option<&str>) -> String {
    const HOME: &str = "/dashboard";
    let Some(next) = next else {
        return HOME.to_owned();
    };
    let path = next.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_decoded(path);
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 2048
        && !next
            .bytes()
            .any(|b| b.is_ascii_control() || b.is_ascii_whitespace() || b == b'\\' || b >= 0x80)
        && !decoded.starts_with(b"//")
        && !decoded.iter().any(|b| b.is_ascii_control() || *b == b'\\');
    if local {
        next.to_owned()
    } else {
        HOME.to_owned()
    }
}

/// `%XX` sequences decoded, repeatedly (a double-encoded `%2509` is a tab too); other bytes as they are.
fn percent_decoded(text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..3 {
        let decoded = percent_decode(&bytes);
        if decoded == bytes {
            break;
        }
        bytes = decoded;
    }
    bytes
}

fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(high * 16 + low);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
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
/// same error. Every attempt is counted, atomically, before any password is checked, per email and
/// per client address: past the limit the answer is 429 whatever the password, even for attempts
/// made all at once.
pub async fn authenticate(
    pool: &PgPool,
    email: &str,
    password: &str,
    client: Option<ClientAddr>,
) -> Result<CurrentUser, AppError> {
    if password.chars().count() > PASSWORD_MAX_CHARS {
        return Err(AppError::validation(
            "password",
            "password must be at most 128 characters",
        ));
    }
    let email = normalize_email(email).map_err(|m| AppError::validation("email", m))?;
    let limits = throttle::sign_in(&email, client.map(|c| c.ip));
    throttle::count_attempt(pool, &limits).await?;

    let found = users::find_credentials(pool, &email).await?;
    let stored_hash = found
        .as_ref()
        .map(|(_, hash)| hash.clone())
        .unwrap_or_else(|| dummy_hash().to_owned());
    let matches = password::verify(password, &stored_hash).await?;
    match found {
        Some((user, _)) if matches => {
            throttle::forgive(pool, &limits).await?;
            Ok(user)
        }
        _ => Err(AppError::InvalidCredentials),
    }
}

/// Signs up a visitor: [`register`], throttled per client address.
pub async fn sign_up(
    pool: &PgPool,
    email: &str,
    password: &str,
    client: Option<ClientAddr>,
) -> Result<CurrentUser, AppError> {
    if let Some(client) = client {
        throttle::count_attempt(pool, &throttle::sign_up(client.ip)).await?;
    }
    register(pool, email, password, UserRole::User).await
}

/// Creates an account after checking the email and password rules. runwire's own addresses (the
/// demo user, the health probe) cannot be taken.
pub async fn register(
    pool: &PgPool,
    email: &str,
    password: &str,
    role: UserRole,
) -> Result<CurrentUser, AppError> {
    let email = normalize_email(email).map_err(|m| AppError::validation("email", m))?;
    if is_reserved_email(&email) {
        return Err(AppError::validation(
            "email",
            "this address is reserved by runwire; use your own",
        ));
    }
    check_new_password(password).map_err(|m| AppError::validation("password", m))?;
    let hash = password::hash(password).await?;
    users::create(pool, &email, &hash, role).await
}

/// Verified against when the email is unknown, so both cases cost one argon2 run.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| password::hash_now("no such user").expect("argon2 hashes a constant"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        for good in ["/agents?x=1", "/dashboard?q=a%20b", "/runs/a%20b", "/x#y"] {
            assert_eq!(safe_next(Some(good)), good);
        }
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "dashboard",
            "/\t/evil.example",
            "/%09/evil.example",
            "/%2F/evil.example",
            "/%252F/evil.example",
            "/%5Cevil.example",
            "/a\nb",
            "/é",
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
