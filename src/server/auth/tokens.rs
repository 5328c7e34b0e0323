//! API tokens for agents: `rw_<secret>`, shown once, stored as a hash, scoped, optionally expiring,
//! revocable.

use super::secret;
use crate::model::{ApiToken, CurrentUser, TokenScope, UserRole};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

pub const TOKEN_PREFIX: &str = "rw_";

/// What a new token is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewToken {
    pub name: String,
    pub scopes: Vec<TokenScope>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl NewToken {
    /// A token for an agent: `runs:write`, never expiring.
    pub fn for_agent(name: &str) -> NewToken {
        NewToken {
            name: name.to_owned(),
            scopes: vec![TokenScope::RunsWrite],
            expires_at: None,
        }
    }

    /// A token that may read and write runs (not admin), never expiring.
    pub fn read_write(name: &str) -> NewToken {
        NewToken {
            scopes: vec![TokenScope::RunsWrite, TokenScope::RunsRead],
            ..NewToken::for_agent(name)
        }
    }
}

/// A new token for `owner`; returns its listing and the token itself (never stored). Only an admin
/// may give a token the admin or runs:write:any scope.
pub async fn create(
    pool: &PgPool,
    owner: &CurrentUser,
    new: &NewToken,
) -> Result<(ApiToken, String), crate::error::AppError> {
    use crate::error::AppError;
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > TOKEN_NAME_MAX_CHARS {
        return Err(AppError::validation(
            "name",
            format!("name the token (1 to {TOKEN_NAME_MAX_CHARS} characters)"),
        ));
    }
    if new.scopes.is_empty() {
        return Err(AppError::validation("scopes", "choose at least one scope"));
    }
    if let Some(scope) = new.scopes.iter().find(|scope| scope.admin_only()) {
        if owner.role != UserRole::Admin {
            return Err(AppError::Forbidden(format!(
                "only an admin can create a token with the {} scope",
                scope.as_str()
            )));
        }
    }
    if new.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(AppError::validation(
            "expires_at",
            "the expiry must be in the future",
        ));
    }
    let mut scopes: Vec<String> = new.scopes.iter().map(|s| s.as_str().to_owned()).collect();
    scopes.sort_unstable();
    scopes.dedup();
    let token = format!("{TOKEN_PREFIX}{}", secret::generate());
    let listing = sqlx::query_as!(
        ApiToken,
        "INSERT INTO api_tokens (user_id, name, prefix, token_hash, scopes, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at",
        owner.id,
        name,
        &token[..TOKEN_PREFIX.len() + 6],
        secret::hash(&token),
        &scopes,
        new.expires_at
    )
    .fetch_one(pool)
    .await?;
    Ok((listing, token))
}

/// Longest token name.
pub const TOKEN_NAME_MAX_CHARS: usize = 100;

pub async fn list(pool: &PgPool, user_id: Uuid) -> Result<Vec<ApiToken>, sqlx::Error> {
    sqlx::query_as!(
        ApiToken,
        "SELECT id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at
         FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC",
        user_id
    )
    .fetch_all(pool)
    .await
}

/// Revokes one of `user_id`'s tokens; false when there is no such live token of theirs.
pub async fn revoke(pool: &PgPool, user_id: Uuid, token_id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
"UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
token_id,
user_id
)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A live token, as a request presents it.
pub struct FoundToken {
    pub user: CurrentUser,
    pub token_id: Uuid,
    pub scopes: Vec<TokenScope>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The owner and scopes of a live (unrevoked, unexpired) token. `last_used_at` is refreshed at most
/// once a minute.
pub async fn find_user(pool: &PgPool, token: &str) -> Result<Option<FoundToken>, sqlx::Error> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let row = sqlx::query!(
        r#"WITH hit AS (
               SELECT t.id, u.id AS user_id, u.email, u.role, t.scopes, t.expires_at, t.last_used_at
               FROM api_tokens t JOIN users u ON u.id = t.user_id
               WHERE t.token_hash = $1 AND t.revoked_at IS NULL
                 AND (t.expires_at IS NULL OR t.expires_at > now())
           ), touch AS (
               UPDATE api_tokens SET last_used_at = now()
               WHERE id = (SELECT id FROM hit)
                 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
           )
           SELECT user_id AS "user_id!", email AS "email!", role AS "role!: UserRole", id AS "id!",
                  scopes AS "scopes!", expires_at
           FROM hit"#,
        secret::hash(token)
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| FoundToken {
        user: CurrentUser {
            id: row.user_id,
            email: row.email,
            role: row.role,
        },
        token_id: row.id,
        scopes: row
            .scopes
            .iter()
            .filter_map(|s| TokenScope::parse(s))
            .collect(),
        expires_at: row.expires_at,
    }))
}

/// Whether the token is neither revoked nor expired.
pub async fn is_live(pool: &PgPool, token_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM api_tokens WHERE id = $1 AND revoked_at IS NULL
                          AND (expires_at IS NULL OR expires_at > now())) AS "live!""#,
        token_id
    )
    .fetch_one(pool)
    .await
}
