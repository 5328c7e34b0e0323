//! Browser sessions: a random id in an HttpOnly cookie, its hash in `sessions`.

use super::secret;
use crate::model::CurrentUser;
use chrono::{Duration, Utc};
use cookie::{Cookie, SameSite};
use sqlx::PgPool;
use uuid::Uuid;

pub const COOKIE_NAME: &str = "runwire_session";
pub const LIFETIME_DAYS: i64 = 30;

/// Starts a session for `user_id`; returns the cookie value (the only copy of the secret).
pub async fn create(
    pool: &PgPool,
    user_id: Uuid,
    user_agent: Option<&str>,
) -> Result<String, sqlx::Error> {
    let token = secret::generate();
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, expires_at, user_agent) VALUES ($1, $2, $3, $4)",
    )
    .bind(secret::hash(&token))
    .bind(user_id)
    .bind(Utc::now() + Duration::days(LIFETIME_DAYS))
    .bind(user_agent.map(|ua| ua.chars().take(300).collect::<String>()))
    .execute(pool)
    .await?;
    Ok(token)
}

/// The user of a live session; an expired or unknown token is no session. `last_seen_at` is
/// refreshed at most once a minute, so reading pages does not write on every request.
pub async fn find_user(pool: &PgPool, token: &str) -> Result<Option<CurrentUser>, sqlx::Error> {
    sqlx::query_as(
        "WITH hit AS (
             SELECT s.token_hash, u.id, u.email, u.role
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > now()
         ), touch AS (
             UPDATE sessions SET last_seen_at = now()
             WHERE token_hash = (SELECT token_hash FROM hit)
               AND last_seen_at < now() - interval '1 minute'
         )
         SELECT id, email, role FROM hit",
    )
    .bind(secret::hash(token))
    .fetch_optional(pool)
    .await
}

pub async fn delete(pool: &PgPool, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(secret::hash(token))
        .execute(pool)
        .await
        .map(drop)
}

/// The Set-Cookie value that stores `token`; `secure` when the page was served over https.
pub fn cookie(token: &str, secure: bool) -> String {
    Cookie::build((COOKIE_NAME, token.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(cookie::time::Duration::days(LIFETIME_DAYS))
        .build()
        .to_string()
}

/// The Set-Cookie value that removes the session cookie.
pub fn removal_cookie(secure: bool) -> String {
    Cookie::build((COOKIE_NAME, ""))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(cookie::time::Duration::ZERO)
        .build()
        .to_string()
}

/// The session token in a Cookie request header, if any.
pub fn token_from_cookie_header(header: &str) -> Option<String> {
    Cookie::split_parse(header)
        .flatten()
        .find(|c| c.name() == COOKIE_NAME && !c.value().is_empty())
        .map(|c| c.value().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_http_only_lax_and_secure_only_over_https() {
        let plain = cookie("abc", false);
        assert!(plain.starts_with("runwire_session=abc"));
        assert!(plain.contains("HttpOnly"));
        assert!(plain.contains("SameSite=Lax"));
        assert!(plain.contains("Path=/"));
        assert!(!plain.contains("Secure"));
        assert!(cookie("abc", true).contains("Secure"));
        assert!(removal_cookie(false).contains("Max-Age=0"));
    }

    #[test]
    fn token_is_read_from_among_other_cookies() {
        assert_eq!(
            token_from_cookie_header("a=1; runwire_session=tok; b=2"),
            Some("tok".to_owned())
        );
        assert_eq!(token_from_cookie_header("a=1"), None);
        assert_eq!(token_from_cookie_header("runwire_session="), None);
        assert_eq!(token_from_cookie_header(";;garbage"), None);
    }
}
