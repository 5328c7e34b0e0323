//! The signed-in user's API tokens.

use crate::error::AppError;
use crate::model::ApiToken;
use leptos::prelude::*;
use uuid::Uuid;

pub const TOKEN_NAME_MAX_CHARS: usize = 100;

#[server(endpoint = "list_tokens")]
pub async fn list_tokens() -> Result<Vec<ApiToken>, AppError> {
    use crate::server::auth::tokens;
    let user = super::ssr::require_identity()?.user;
    Ok(tokens::list(&super::ssr::state().pool, user.id).await?)
}

/// Creates a token; the returned secret is shown once and never again.
#[server(endpoint = "create_token")]
pub async fn create_token(name: String) -> Result<(ApiToken, String), AppError> {
    use crate::server::auth::tokens;
    let user = super::ssr::require_identity()?.user;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > TOKEN_NAME_MAX_CHARS {
        return Err(AppError::validation(
            "name",
            "name the token (1 to 100 characters)",
        ));
    }
    Ok(tokens::create(&super::ssr::state().pool, user.id, name).await?)
}

#[server(endpoint = "revoke_token")]
pub async fn revoke_token(id: Uuid) -> Result<(), AppError> {
    use crate::server::auth::tokens;
    let user = super::ssr::require_identity()?.user;
    if tokens::revoke(&super::ssr::state().pool, user.id, id).await? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}
