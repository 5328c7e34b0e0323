//! The users repository.

use crate::model::{CurrentUser, UserRole};
use sqlx::PgPool;

/// Creates a user unless the email is taken; returns the user either way.
pub async fn ensure(
    pool: &PgPool,
    email: &str,
    password_hash: &str,
    role: UserRole,
) -> Result<CurrentUser, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO users (email, password_hash, role) VALUES ($1, $2, $3)
         ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email
         RETURNING id, email, role",
    )
    .bind(email)
    .bind(password_hash)
    .bind(role)
    .fetch_one(pool)
    .await
}

pub async fn find_by_email(pool: &PgPool, email: &str) -> Result<Option<CurrentUser>, sqlx::Error> {
    sqlx::query_as("SELECT id, email, role FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(pool)
        .await
}
