//! API tokens for agents: `rw_<secret>`, shown once, stored as a hash, revocable.

use super::secret;
use crate::model::{ApiToken, CurrentUser, UserRole};
use sqlx::PgPool;
use uuid::Uuid;

pub const TOKEN_PREFIX: &str = "rw_";

/// A new token for `user_id`; returns its listing and the token itself (never stored).
pub async fn create(
    pool: &PgPool,
    user_id: Uuid,
    name: &str,
) -> Result<(ApiToken, String), sqlx::Error> {
    let token = format!("{TOKEN_PREFIX}{}", secret::generate());
    let listing = sqlx::query_as(
        "INSERT INTO api_tokens (user_id, name, prefix, token_hash) VALUES ($1, $2, $3, $4)
         RETURNING id, name, prefix, created_at, last_used_at, revoked_at",
    )
    .bind(user_id)
    .bind(name)
    .bind(&token[..TOKEN_PREFIX.len() + 6])
    .bind(secret::hash(&token))
    .fetch_one(pool)
    .await?;
    Ok((listing, token))
}

pub async fn list(pool: &PgPool, user_id: Uuid) -> Result<Vec<ApiToken>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_tokens
         WHERE user_id = $1 ORDER BY created_at DESC",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}

/// Revokes one of `user_id`'s tokens; false when there is no such live token of theirs.
pub async fn revoke(pool: &PgPool, user_id: Uuid, token_id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(token_id)
    .bind(user_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The owner of a live token, and the token's id. `last_used_at` is refreshed at most once a minute.
pub async fn find_user(
    pool: &PgPool,
    token: &str,
) -> Result<Option<(CurrentUser, Uuid)>, sqlx::Error> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let row: Option<(Uuid, String, UserRole, Uuid)> = sqlx::query_as(
        "WITH hit AS (
             SELECT t.id, u.id AS user_id, u.email, u.role, t.last_used_at
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL
         ), touch AS (
             UPDATE api_tokens SET last_used_at = now()
             WHERE id = (SELECT id FROM hit)
               AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
         )
         SELECT user_id, email, role, id FROM hit",
    )
    .bind(secret::hash(token))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id, email, role, token_id)| (CurrentUser { id, email, role }, token_id)))
}
