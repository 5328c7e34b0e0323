//! The only way to reach run data: a transaction that has first told Postgres who is asking, so the
//! row-level security policies on `agent_runs` and `agent_run_events` filter every statement in it.

use crate::model::UserRole;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

/// Who a request acts for. Made from a session or an API token, never from client input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub role: UserRole,
}

impl Principal {
    /// The server itself (event hub, agent workers, scheduled jobs): sees every user's rows.
    pub const SYSTEM: Principal = Principal {
        user_id: Uuid::nil(),
        role: UserRole::Admin,
    };
}

/// A transaction scoped to one [`Principal`]. Repository functions take this, not a pool, so a query
/// on runs cannot be written without a user.
pub struct ScopedTx {
    tx: Transaction<'static, Postgres>,
    principal: Principal,
    /// The transaction's time (`now()` in every statement of it).
    now: DateTime<Utc>,
}

/// Begins a transaction with `app.user_id` and `app.role` set for its duration only.
pub async fn begin_scoped(pool: &PgPool, principal: Principal) -> Result<ScopedTx, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let now = sqlx::query_scalar!(
        r#"SELECT now() AS "now!" FROM (SELECT set_config('app.user_id', $1, true),
                                                set_config('app.role', $2, true)) AS scope"#,
        principal.user_id.to_string(),
        principal.role.as_str(),
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(ScopedTx { tx, principal, now })
}

impl ScopedTx {
    pub fn principal(&self) -> Principal {
        self.principal
    }

    /// The transaction's time: what `now()` is in each of its statements.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The user whose rows queries should name explicitly (so indexes on user_id apply), or None for an
    /// admin, who sees everyone's.
    pub fn owner_filter(&self) -> Option<Uuid> {
        match self.principal.role {
            UserRole::Admin => None,
            UserRole::User => Some(self.principal.user_id),
        }
    }

    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}
