//! Brute-force guard for sign-in: at most a few failures per email and per client address within a
//! window, counted in Postgres so every replica shares the count.

use crate::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

pub const WINDOW_SECS: i64 = 15 * 60;
pub const MAX_FAILURES_PER_EMAIL: i32 = 5;
pub const MAX_FAILURES_PER_IP: i32 = 50;

pub fn email_key(email: &str) -> String {
    format!("email:{email}")
}

pub fn ip_key(ip: std::net::IpAddr) -> String {
    format!("ip:{ip}")
}

fn limit_of(key: &str) -> i32 {
    if key.starts_with("ip:") {
        MAX_FAILURES_PER_IP
    } else {
        MAX_FAILURES_PER_EMAIL
    }
}

/// Refuses when any key has used up its failures in the current window.
pub async fn check(pool: &PgPool, keys: &[String]) -> Result<(), AppError> {
    let rows: Vec<(String, i32, DateTime<Utc>)> = sqlx::query_as(
        "SELECT key, failures, window_started_at FROM sign_in_failures
         WHERE key = ANY($1) AND window_started_at > now() - make_interval(secs => $2)",
    )
    .bind(keys)
    .bind(WINDOW_SECS as f64)
    .fetch_all(pool)
    .await?;
    let now = Utc::now();
    let blocked_until = rows
        .iter()
        .filter(|(key, failures, _)| *failures >= limit_of(key))
        .map(|(_, _, started)| *started + chrono::Duration::seconds(WINDOW_SECS))
        .max();
    match blocked_until {
        Some(until) => Err(AppError::RateLimited {
            retry_after_secs: (until - now).num_seconds().max(1) as u64,
        }),
        None => Ok(()),
    }
}

/// Counts one failure against each key (a window that has passed starts over).
pub async fn record_failure(pool: &PgPool, keys: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sign_in_failures (key, failures) SELECT unnest($1::text[]), 1
         ON CONFLICT (key) DO UPDATE SET
             failures = CASE WHEN sign_in_failures.window_started_at > now() - make_interval(secs => $2)
                             THEN sign_in_failures.failures + 1 ELSE 1 END,
             window_started_at = CASE WHEN sign_in_failures.window_started_at > now() - make_interval(secs => $2)
                                      THEN sign_in_failures.window_started_at ELSE now() END",
    )
    .bind(keys)
    .bind(WINDOW_SECS as f64)
    .execute(pool)
    .await
    .map(drop)
}

/// A successful sign-in forgives the email's failures (not the address's).
pub async fn clear(pool: &PgPool, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sign_in_failures WHERE key = $1")
        .bind(key)
        .execute(pool)
        .await
        .map(drop)
}
