//! Browser sessions: a random id in an HttpOnly cookie, its hash in `sessions`. A session ends at its
//! absolute lifetime or after a stretch of disuse, whichever comes first. Over https the cookie carries
//! the `__Host-` prefix, so no sibling subdomain can set or shadow it.

use super::secret;
use crate::model::{CurrentUser, UserRole};
use chrono::{DateTime, Duration, Utc};
use cookie::{Cookie, SameSite};
use sqlx::PgPool;
use uuid::Uuid;

pub const COOKIE_NAME: &str = "runwire_session";
/// The cookie's name over https: the browser only accepts it Secure, for `/`, without a Domain.
pub const SECURE_COOKIE_NAME: &str = "__Host-runwire_session";

/// How long sessions live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionPolicy {
    /// From sign-in, whatever the use.
    pub absolute: Duration,
    /// Unused this long, a session ends.
    pub idle: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            absolute: Duration::days(30),
            idle: Duration::days(7),
        }
    }
}

/// Starts a session for `user_id`; returns the cookie value (the only copy of the secret).
pub async fn create(
    pool: &PgPool,
    user_id: Uuid,
    user_agent: Option<&str>,
    policy: &SessionPolicy,
) -> Result<String, sqlx::Error> {
    let token = secret::generate();
    sqlx::query!(
"INSERT INTO sessions (token_hash, user_id, expires_at, user_agent) VALUES ($1, $2, $3, $4)",
secret::hash(&token),
user_id,
Utc::now() + policy.absolute,
user_agent.map(|ua| ua.chars().take(300).collect::<String>())
)
    .execute(pool)
    .await?;
    Ok(token)
}

/// The user of a live session and when the session ends if unused from now on; an expired, idle or
/// unknown token is no session. `last_seen_at` is refreshed at most once a minute, so reading pages
/// does not write on every request.
pub async fn find_user(
    pool: &PgPool,
    token: &str,
    policy: &SessionPolicy,
) -> Result<Option<(CurrentUser, DateTime<Utc>)>, sqlx::Error> {
    let row = sqlx::query!(
        r#"WITH hit AS (
               SELECT s.token_hash, u.id, u.email, u.role, s.expires_at
               FROM sessions s JOIN users u ON u.id = s.user_id
               WHERE s.token_hash = $1 AND s.expires_at > now()
                 AND s.last_seen_at > now() - make_interval(secs => $2)
           ), touch AS (
               UPDATE sessions SET last_seen_at = now()
               WHERE token_hash = (SELECT token_hash FROM hit)
                 AND last_seen_at < now() - interval '1 minute'
           )
           SELECT id AS "id!", email AS "email!", role AS "role!: UserRole",
                  least(expires_at, now() + make_interval(secs => $2)) AS "ends!"
           FROM hit"#,
        secret::hash(token),
        policy.idle.num_seconds() as f64
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| {
        let user = CurrentUser {
            id: row.id,
            email: row.email,
            role: row.role,
        };
        (user, row.ends)
    }))
}

/// Whether the session whose hash is `hash_hex` is still there and unexpired (idle sessions are
/// caught by the expiry a live socket already knows).
pub async fn is_live(pool: &PgPool, hash_hex: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
r#"SELECT EXISTS (SELECT 1 FROM sessions WHERE token_hash = decode($1, 'hex') AND expires_at > now()) AS "live!""#,
hash_hex
)
    .fetch_one(pool)
    .await
}

/// How the `runwire_credentials` notices name this session.
pub fn credential_key(token: &str) -> String {
    let hex: String = secret::hash(token)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("s:{hex}")
}

pub async fn delete(pool: &PgPool, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM sessions WHERE token_hash = $1",
        secret::hash(token)
    )
    .execute(pool)
    .await
    .map(drop)
}

fn name(https: bool) -> &'static str {
    if https {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

/// The Set-Cookie value that stores `token`; Secure and `__Host-` when the page came over https.
pub fn cookie(token: &str, https: bool, policy: &SessionPolicy) -> String {
    Cookie::build((name(https), token.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(https)
        .max_age(cookie::time::Duration::seconds(
            policy.absolute.num_seconds(),
        ))
        .build()
        .to_string()
}

/// The Set-Cookie value that removes the session cookie.
pub fn removal_cookie(https: bool) -> String {
    Cookie::build((name(https), ""))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(https)
        .max_age(cookie::time::Duration::ZERO)
        .build()
        .to_string()
}

/// The session token in a Cookie request header, if any. Over https only the `__Host-` cookie
/// counts: a plain one could have been planted by a sibling subdomain.
pub fn token_from_cookie_header(header: &str, https: bool) -> Option<String> {
    let wanted = name(https);
    Cookie::split_parse(header)
        .flatten()
        .find(|c| c.name() == wanted && !c.value().is_empty())
        .map(|c| c.value().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_http_only_lax_and_secure_with_host_prefix_only_over_https() {
        let policy = SessionPolicy::default();
        let plain = cookie("abc", false, &policy);
        assert!(plain.starts_with("runwire_session=abc"));
        assert!(plain.contains("HttpOnly"));
        assert!(plain.contains("SameSite=Lax"));
        assert!(plain.contains("Path=/"));
        assert!(!plain.contains("Secure"));
        let secure = cookie("abc", true, &policy);
        assert!(secure.starts_with("__Host-runwire_session=abc"));
        assert!(secure.contains("Secure"));
        assert!(!secure.contains("Domain"));
        assert!(removal_cookie(false).contains("Max-Age=0"));
    }

    #[test]
    fn token_is_read_from_among_other_cookies_by_the_name_of_the_scheme() {
        assert_eq!(
            token_from_cookie_header("a=1; runwire_session=tok; b=2", false),
            Some("tok".to_owned())
        );
        assert_eq!(token_from_cookie_header("a=1", false), None);
        assert_eq!(token_from_cookie_header("runwire_session=", false), None);
        assert_eq!(token_from_cookie_header(";;garbage", false), None);
        // over https a planted plain cookie is ignored
        assert_eq!(
            token_from_cookie_header("runwire_session=planted", true),
            None
        );
        assert_eq!(
            token_from_cookie_header("runwire_session=planted; __Host-runwire_session=mine", true),
            Some("mine".to_owned())
        );
    }

    #[test]
    fn credential_keys_name_the_hash_not_the_secret() {
        let key = credential_key("secret-token");
        assert!(key.starts_with("s:"));
        assert_eq!(key.len(), 2 + 64);
        assert!(!key.contains("secret"));
    }
}
