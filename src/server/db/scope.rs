//! The only way to reach run data: a transaction that has first told Postgres who is asking, so the
//! row-level security policies on `agent_runs` and `agent_run_events` filter every statement in it.

use crate::model::UserRole;
use crate::server::telemetry;
use sqlx::{Connection, Executor, PgConnection, PgPool, Postgres, Transaction};
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
    conn: Scoped,
    principal: Principal,
    /// Events appended in this transaction, by kind: counted as ingested once it commits.
    appended: Vec<(&'static str, u64)>,
}

enum Scoped {
    Transaction(Transaction<'static, Postgres>),
    /// [`system_session`]: every statement its own transaction.
    Session(PgConnection),
}

/// Begins a transaction with `app.user_id` and `app.role` set for its duration only, in one round
/// trip: BEGIN and the two settings go as one simple query. Both values are typed (a UUID and the
/// name of a [`UserRole`]), never text a client wrote, so writing them inline cannot inject SQL.
pub async fn begin_scoped(pool: &PgPool, principal: Principal) -> Result<ScopedTx, sqlx::Error> {
    let begin = format!(
        "BEGIN; SELECT set_config('app.user_id', '{}', true), set_config('app.role', '{}', true)",
        principal.user_id,
        principal.role.as_str()
    );
    // Every pooled connection busy: this transaction waits for one to come back.
    if pool.num_idle() == 0 && pool.size() >= pool.options().get_max_connections() {
        metrics::counter!(telemetry::DB_POOL_WAITS).increment(1);
    }
    let started = std::time::Instant::now();
    let tx = pool.begin_with(begin).await?;
    metrics::histogram!(telemetry::DB_POOL_ACQUIRE).record(started.elapsed().as_secs_f64());
    Ok(ScopedTx {
        conn: Scoped::Transaction(tx),
        principal,
        appended: Vec::new(),
    })
}

/// How the event hub's session plans its statements.
///
/// Always the generic plan. The hub asks the same few questions of the partitioned event log after
/// every commit, and Postgres planned them afresh each time (a custom plan over every partition
/// looked cheaper than the generic one): 0.4 and 0.8 ms of planning for two reads that ran in 0.1
/// and 0.3 ms. Forcing generic plans on the publisher's transactions too measured slower in
/// `benches/live.rs`, so only the hub has them.
///
/// Never a sequential scan. A generic plan is made once, from the statistics of that moment, and
/// kept until they change. On a new install the log's partitions are analysed empty (their
/// migration ends with ANALYZE), so a scan of all of them cost nothing, and the hub's runs read
/// kept scanning every event of a run's partition for each batch until autovacuum analysed it again:
/// 22% of both cores, three times any writer's backend, in the span benchmark's first seconds
/// (perf). Every question the hub asks has an index (tests/plans.rs checks the plan made on an
/// empty database and the one at a million runs).
const HUB_PLANNER_SETTINGS: [(&str, &str); 2] = [
    ("plan_cache_mode", "force_generic_plan"),
    ("enable_seqscan", "off"),
];

/// [`HUB_PLANNER_SETTINGS`] as `set_config` calls, for the session or (`local`) the transaction.
pub fn hub_planner_settings(local: bool) -> String {
    HUB_PLANNER_SETTINGS
        .iter()
        .map(|(name, value)| format!("set_config('{name}', '{value}', {local})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A connection of the server's own, scoped to [`Principal::SYSTEM`] for its whole session, for the
/// event hub: with no transaction around its reads, each costs one round trip instead of four.
/// It is opened outside the pool and never joins it, so its scope cannot reach a user's request.
///
/// Its statements run with [`HUB_PLANNER_SETTINGS`].
pub async fn system_session(pool: &PgPool) -> Result<ScopedTx, sqlx::Error> {
    let principal = Principal::SYSTEM;
    let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
    let scope = format!(
        "SELECT set_config('app.user_id', '{}', false), set_config('app.role', '{}', false), {}",
        principal.user_id,
        principal.role.as_str(),
        hub_planner_settings(false)
    );
    conn.execute(scope.as_str()).await?;
    Ok(ScopedTx {
        conn: Scoped::Session(conn),
        principal,
        appended: Vec::new(),
    })
}

impl ScopedTx {
    pub fn principal(&self) -> Principal {
        self.principal
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
        match &mut self.conn {
            Scoped::Transaction(tx) => tx,
            Scoped::Session(conn) => conn,
        }
    }

    /// Notes that an event of `kind` was appended (see [`ScopedTx::commit`]).
    pub fn note_appended(&mut self, kind: &'static str) {
        match self.appended.iter_mut().find(|(seen, _)| *seen == kind) {
            Some((_, count)) => *count += 1,
            None => self.appended.push((kind, 1)),
        }
    }

    /// Commits the transaction (a session's statements committed one by one already), and counts
    /// its events as ingested: only what committed is counted.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.conn {
            Scoped::Transaction(tx) => tx.commit().await?,
            Scoped::Session(_) => {}
        }
        for (kind, count) in self.appended {
            metrics::counter!(telemetry::EVENTS_INGESTED, "kind" => kind).increment(count);
        }
        Ok(())
    }
}
