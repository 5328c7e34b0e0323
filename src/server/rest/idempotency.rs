//! Safe retries: a write sent with an `Idempotency-Key` is done once; repeating it returns the first
//! answer and writes nothing. The key is claimed in the write's own transaction, so a failed write
//! leaves no key behind and a concurrent duplicate waits for the first to finish.

use crate::error::AppError;
use crate::server::db::ScopedTx;
use axum::http::{HeaderMap, StatusCode};
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::types::Json;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

pub enum Claim {
    /// First use: go ahead, then [`store`] the answer.
    New,
    /// Seen before: this was the answer.
    Replay(StatusCode, Value),
}

/// The key sent with the request, if any: 1 to 200 visible ASCII characters.
pub fn key_from(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if (1..=200).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key.to_owned()))
        }
        _ => Err(AppError::BadRequest(
            "Idempotency-Key must be 1 to 200 visible ASCII characters".to_owned(),
        )),
    }
}

/// Identifies the request a key was first used with.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(method.as_bytes());
    hash.update(b" ");
    hash.update(path.as_bytes());
    hash.update(b"\n");
    hash.update(body);
    hash.finalize().to_vec()
}

pub async fn claim(tx: &mut ScopedTx, key: &str, fingerprint: &[u8]) -> Result<Claim, AppError> {
    let user_id = tx.principal().user_id;
    let inserted = sqlx::query!(
        "INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, key) DO NOTHING",
        user_id,
        key,
        fingerprint
    )
    .execute(tx.conn())
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Claim::New);
    }
    let stored = sqlx::query!(
        "SELECT request_hash, status_code, response FROM idempotency_keys WHERE user_id = $1 AND key = $2",
        user_id,
        key
    )
    .fetch_one(tx.conn())
    .await?;
    let (status, response) = (stored.status_code, stored.response);
    if stored.request_hash != fingerprint {
        return Err(AppError::validation(
            "Idempotency-Key",
            "this key was already used for a different request",
        ));
    }
    let status = status
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| AppError::internal("idempotency key committed without its answer"))?;
    Ok(Claim::Replay(status, response.unwrap_or(Value::Null)))
}

pub async fn store(
    tx: &mut ScopedTx,
    key: &str,
    status: StatusCode,
    response: &RawValue,
) -> Result<(), AppError> {
    sqlx::query!(
"UPDATE idempotency_keys SET status_code = $3, response = $4 WHERE user_id = $1 AND key = $2",
tx.principal().user_id,
key,
i32::from(status.as_u16()),
Json(response) as _
)
    .execute(tx.conn())
    .await?;
    Ok(())
}
