//! The users repository.

use crate::error::AppError;
use crate::model::{check_external_id, CurrentUser, UserRole};
use sqlx::PgPool;
use uuid::Uuid;

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

/// Sets the id `email`'s user has in another system (empty: clears it). 404 for an unknown email;
/// an id another user has is a field error.
pub async fn set_external_id(
    pool: &PgPool,
    email: &str,
    external_id: &str,
) -> Result<(), AppError> {
    let external_id = external_id.trim();
    if !external_id.is_empty() {
        check_external_id(external_id)?;
    }
    let updated = sqlx::query!(
        "UPDATE users SET external_id = nullif($2, '') WHERE email = $1",
        email,
        external_id
    )
    .execute(pool)
    .await
    .map_err(|err| match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            AppError::validation("external_id", "another user has this external id")
        }
        _ => AppError::from(err),
    })?;
    if updated.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// The user a service names: by their runwire id, else by their external id.
pub async fn find_by_reference(
    pool: &PgPool,
    reference: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    if let Ok(id) = reference.parse::<Uuid>() {
        let found = sqlx::query_scalar!("SELECT id FROM users WHERE id = $1", id)
            .fetch_optional(pool)
            .await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    sqlx::query_scalar!("SELECT id FROM users WHERE external_id = $1", reference)
        .fetch_optional(pool)
        .await
}

/// A user's external id, if they have one.
pub async fn external_id(pool: &PgPool, user_id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!("SELECT external_id FROM users WHERE id = $1", user_id)
        .fetch_one(pool)
        .await
}
