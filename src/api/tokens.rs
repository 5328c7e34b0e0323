//! The signed-in user's API tokens. Managed only from a browser session: a token cannot mint, list or
//! revoke tokens.

use crate::error::AppError;
use crate::model::ApiToken;
use leptos::prelude::*;
use uuid::Uuid;

#[server(endpoint = "list_tokens")]
pub async fn list_tokens() -> Result<Vec<ApiToken>, AppError> {
    use crate::server::auth::tokens;
    let user = super::ssr::require_identity()?.require_session()?.user;
    Ok(tokens::list(&super::ssr::state().pool, user.id).await?)
}

/// Creates a token; the returned secret is shown once and never again. Each ticked box grants one
/// scope (`write`: runs:write, `read`: runs:read, and for admins only `admin`: admin and `any`:
/// runs:write:any, a service's key); `expires_in` is
/// a lifetime like `90d`, or empty for a token that never expires.
#[server(endpoint = "create_token")]
pub async fn create_token(
    name: String,
    #[server(default)] write: Option<String>,
    #[server(default)] read: Option<String>,
    #[server(default)] admin: Option<String>,
    #[server(default)] any: Option<String>,
    #[server(default)] expires_in: Option<String>,
) -> Result<(ApiToken, String), AppError> {
    use crate::model::{parse_lifetime, TokenScope};
    use crate::server::auth::tokens::{self, NewToken};
    let user = super::ssr::require_identity()?.require_session()?.user;
    let scopes = [
        (write, TokenScope::RunsWrite),
        (read, TokenScope::RunsRead),
        (admin, TokenScope::Admin),
        (any, TokenScope::RunsWriteAny),
    ]
    .into_iter()
    .filter(|(ticked, _)| ticked.is_some())
    .map(|(_, scope)| scope)
    .collect();
    let expires_at = match expires_in.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(
            chrono::Utc::now()
                + parse_lifetime(text).map_err(|m| AppError::validation("expires_in", m))?,
        ),
    };
    let new = NewToken {
        name,
        scopes,
        expires_at,
    };
    tokens::create(&super::ssr::state().pool, &user, &new).await
}

#[server(endpoint = "revoke_token")]
pub async fn revoke_token(id: Uuid) -> Result<(), AppError> {
    use crate::server::auth::tokens;
    let user = super::ssr::require_identity()?.require_session()?.user;
    if tokens::revoke(&super::ssr::state().pool, user.id, id).await? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}
