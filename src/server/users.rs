//! The users repository.

use crate::error::AppError;
use crate::model::{CurrentUser, UserRole};
use sqlx::PgPool;

/// Creates a user unless the email is taken; returns the user either way.
pub async fn ensure(
    pool: &PgPool,
    email: &str,
    password_hash: &str,
    role: UserRole,
) -> Result<CurrentUser, sqlx::Error> {
    sqlx::query_as!(
        CurrentUser,
        r#"INSERT INTO users (email, password_hash, role) VALUES ($1, $2, $3)
           ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email
           RETURNING id, email, role AS "role: UserRole""#,
        email,
        password_hash,
        role as UserRole
    )
    .fetch_one(pool)
    .await
}

pub async fn find_by_email(pool: &PgPool, email: &str) -> Result<Option<CurrentUser>, sqlx::Error> {
    sqlx::query_as!(
        CurrentUser,
        r#"SELECT id, email, role AS "role: UserRole" FROM users WHERE email = $1"#,
        email
    )
    .fetch_optional(pool)
    .await
}

/// A new user; a taken email is a field error on `email`.
pub async fn create(
    pool: &PgPool,
    email: &str,
    password_hash: &str,
    role: UserRole,
) -> Result<CurrentUser, AppError> {
    sqlx::query_as!(
        CurrentUser,
        r#"INSERT INTO users (email, password_hash, role) VALUES ($1, $2, $3)
           RETURNING id, email, role AS "role: UserRole""#,
        email,
        password_hash,
        role as UserRole
    )
    .fetch_one(pool)
    .await
    .map_err(|err| match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            AppError::validation("email", "an account with this email already exists")
        }
        _ => AppError::from(err),
    })
}

/// The user and their password hash, for sign-in only.
pub async fn find_credentials(
    pool: &PgPool,
    email: &str,
) -> Result<Option<(CurrentUser, String)>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT id, email, role AS "role: UserRole", password_hash FROM users WHERE email = $1"#,
        email
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| {
        let user = CurrentUser {
            id: row.id,
            email: row.email,
            role: row.role,
        };
        (user, row.password_hash)
    }))
}
