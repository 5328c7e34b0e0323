//! Service tokens: the one key of a backend that publishes runs for many end users (as the system
//! runwire replaces does with its service key and a `user_id`). A token with `runs:write:any` may
//! create a run for any user, named by runwire id or external id, and report on any run; each write
//! is then done as the run's owner, under their row-level security, as if they had sent it. Any
//! other token acts for its own user only.

use super::{Identity, Scope};
use crate::error::AppError;
use crate::model::UserRole;
use crate::server::db::{begin_scoped, Principal};
use crate::server::{runs, users};
use sqlx::PgPool;
use uuid::Uuid;

/// Who a new run belongs to: the caller, or the user `reference` names. A token without
/// `runs:write:any` naming anyone else is a 403 (whether or not they exist); a service token
/// naming no one is a 404.
pub async fn principal_for_user(
    pool: &PgPool,
    caller: &Identity,
    reference: Option<&str>,
) -> Result<Principal, AppError> {
    let Some(reference) = reference.map(str::trim) else {
        return Ok(caller.principal());
    };
    if !caller.allows(Scope::RunsWriteAny) {
        let own_id = reference.parse::<Uuid>().ok() == Some(caller.user.id);
        let own_external = !own_id
            && users::external_id(pool, caller.user.id).await?.as_deref() == Some(reference);
        return if own_id || own_external {
            Ok(caller.principal())
        } else {
            Err(AppError::Forbidden(
                "this token reports runs of its own user only; naming another `user_id` needs \
                 a service token (scope runs:write:any)"
                    .to_owned(),
            ))
        };
    }
    match users::find_by_reference(pool, reference).await? {
        Some(id) if id == caller.user.id => Ok(caller.principal()),
        Some(id) => Ok(Principal {
            user_id: id,
            role: UserRole::User,
        }),
        None => Err(AppError::NotFound),
    }
}

/// Who a write to run `run_id` is done as: for a service token, the run's owner (404 when there is
/// no such run); for any other token, the caller, whose row-level security hides others' runs.
pub async fn principal_for_run(
    pool: &PgPool,
    caller: &Identity,
    run_id: Uuid,
) -> Result<Principal, AppError> {
    if !caller.allows(Scope::RunsWriteAny) {
        return Ok(caller.principal());
    }
    let every_user = Principal {
        user_id: caller.user.id,
        role: UserRole::Admin,
    };
    let mut tx = begin_scoped(pool, every_user).await?;
    let owner = runs::owner_of(&mut tx, run_id).await?;
    tx.commit().await?;
    match owner {
        Some(owner) if owner == caller.user.id => Ok(caller.principal()),
        Some(owner) => Ok(Principal {
            user_id: owner,
            role: UserRole::User,
        }),
        None => Err(AppError::NotFound),
    }
}
