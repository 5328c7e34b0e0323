//! A live socket lives no longer than the session or token it was opened with.

use crate::server::auth::Credential;
use crate::server::bus::CredentialNews;
use sqlx::PgPool;
use tokio::sync::broadcast::error::RecvError;

/// Whether the socket's credential survives `news`.
pub(super) async fn credential_still_good(
    pool: &PgPool,
    credential: &Credential,
    news: Result<CredentialNews, RecvError>,
) -> bool {
    match news {
        Ok(CredentialNews::Ended(key)) => *key != *credential.key,
        Err(RecvError::Closed) => true,
        // Notices may have been missed: ask the database.
        Ok(CredentialNews::CheckAll) | Err(RecvError::Lagged(_)) => {
            match crate::server::auth::credential_is_live(pool, credential).await {
                Ok(live) => live,
                Err(err) => {
                    tracing::warn!("live: checking a credential: {err}");
                    true
                }
            }
        }
    }
}
