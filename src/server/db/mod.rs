//! The database: where it is (a given DATABASE_URL or the embedded cluster), its schema (migrations) and
//! the application pool, whose connections all log in as the non-owner role `runwire_app`.

mod embedded;
mod replica;
mod scope;

pub use embedded::{Durability, EmbeddedError, EmbeddedPostgres};
pub use replica::{ReadReplica, REPLICA_WAIT_MAX};
pub use scope::{begin_scoped, hub_planner_settings, system_session, Principal, ScopedTx};

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, PgConnection, PgPool};
use std::path::Path;
use std::time::Duration;

pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The role every pooled connection logs in as: RLS applies to it (it owns nothing).
pub const APP_ROLE: &str = "runwire_app";
/// The database the embedded cluster serves the app from.
pub const EMBEDDED_DATABASE: &str = "runwire";

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL is not a valid PostgreSQL URL ({0}); expected postgres://user:password@host:port/database")]
    BadUrl(String),
    #[error("cannot connect to PostgreSQL at {target}: {cause}; check that the server runs and the credentials are right{hint}")]
    Connect {
        target: String,
        hint: &'static str,
        // not a #[source]: the message already says it, and error chains would say it twice
        cause: sqlx::Error,
    },
    #[error("applying migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    #[error("role {APP_ROLE} may not be used: {0}")]
    UnsafeAppRole(String),
    #[error("DATABASE_READ_URL must name a streaming standby of DATABASE_URL, but that server is not in recovery (a primary, or a promoted standby)")]
    NotAStandby,
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// Where the database lives, and the cluster when we run it ourselves.
pub struct Database {
    /// Owner connection options: migrations, seeding, maintenance.
    pub owner_options: PgConnectOptions,
    pub cluster: Option<EmbeddedPostgres>,
}

impl Database {
    /// DATABASE_URL when given (nothing is started), else the embedded cluster under `data_dir`.
    pub async fn locate(database_url: Option<&str>, data_dir: &Path) -> Result<Self, DbError> {
        match database_url {
            Some(url) => {
                let owner_options: PgConnectOptions = url
                    .parse()
                    .map_err(|e: sqlx::Error| DbError::BadUrl(e.to_string()))?;
                Ok(Database {
                    owner_options,
                    cluster: None,
                })
            }
            None => {
                let dir = data_dir.join("postgres");
                let cluster = tokio::task::spawn_blocking(move || {
                    EmbeddedPostgres::start(&dir, Durability::Safe)
                })
                .await
                .expect("the embedded PostgreSQL start does not panic")?;
                ensure_database(&cluster.connect_options("postgres"), EMBEDDED_DATABASE).await?;
                Ok(Database {
                    owner_options: cluster.connect_options(EMBEDDED_DATABASE),
                    cluster: Some(cluster),
                })
            }
        }
    }

    pub async fn migrate(&self) -> Result<(), DbError> {
        let mut conn = connect_owner(&self.owner_options).await?;
        MIGRATOR.run(&mut conn).await?;
        conn.close().await?;
        Ok(())
    }

    pub async fn app_pool(&self, max_connections: u32) -> Result<PgPool, DbError> {
        app_pool(&self.owner_options, max_connections).await
    }

    pub fn stop(&mut self) -> Result<(), DbError> {
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.stop()?;
        }
        Ok(())
    }
}

/// A pooled connection idle longer than this is pinged before use (the server may have restarted).
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// A pool whose connections log in as [`APP_ROLE`], so row-level security applies to every query and
/// no statement in it can become the owner again. The role's password is read, as the owner, from
/// `runwire_secrets` (written by the migrations); the role is checked for powers it must not have.
pub async fn app_pool(owner: &PgConnectOptions, max_connections: u32) -> Result<PgPool, DbError> {
    let password = prepare_app_role(owner).await?;
    let options = owner
        .clone()
        .username(APP_ROLE)
        .password(&password)
        .disable_statement_logging();
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        // sqlx pings every connection it hands out: one more round trip per transaction, a fifth
        // of a publish. A connection in steady use proves itself; one idle for a while is pinged.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_AFTER_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_with(options.clone())
        .await
        .map_err(|cause| connect_error(&options, cause))
}

/// Checks [`APP_ROLE`] as the owner and makes sure it can log in with the stored password; returns it.
async fn prepare_app_role(owner: &PgConnectOptions) -> Result<String, DbError> {
    let mut conn = connect_owner(owner).await?;
    let role = sqlx::query!(
        r#"SELECT array_remove(ARRAY[
                      CASE WHEN rolsuper THEN 'SUPERUSER' END, CASE WHEN rolbypassrls THEN 'BYPASSRLS' END,
                      CASE WHEN rolcreaterole THEN 'CREATEROLE' END,
                      CASE WHEN rolcreatedb THEN 'CREATEDB' END,
                      CASE WHEN rolreplication THEN 'REPLICATION' END], NULL) AS "powers!",
                  ARRAY(SELECT roleid::regrole::text FROM pg_auth_members WHERE member = r.oid)
                      AS "memberships!"
           FROM pg_roles r WHERE rolname = $1"#,
        APP_ROLE
    )
    .fetch_one(&mut conn)
    .await?;
    let (unsafe_powers, memberships) = (role.powers, role.memberships);
    if !unsafe_powers.is_empty() {
        return Err(DbError::UnsafeAppRole(format!(
            "it has {}; remove them with ALTER ROLE {APP_ROLE} NO{}",
            unsafe_powers.join(", "),
            unsafe_powers.join(" NO")
        )));
    }
    if !memberships.is_empty() {
        return Err(DbError::UnsafeAppRole(format!(
            "it is a member of {}; REVOKE that membership",
            memberships.join(", ")
        )));
    }
    let password: String =
        sqlx::query_scalar!("SELECT value FROM runwire_secrets WHERE name = 'app_role_password'")
            .fetch_one(&mut conn)
            .await?;
    let probe = owner
        .clone()
        .username(APP_ROLE)
        .password(&password)
        .disable_statement_logging();
    // Another database of the same server may have set the role's password (roles are per server,
    // not per database): set it back to this database's.
    match PgConnection::connect_with(&probe).await {
        Ok(probe) => probe.close().await?,
        Err(_) => conn
            .execute(
                format!(
                    "ALTER ROLE {APP_ROLE} LOGIN PASSWORD '{}'",
                    password.replace('\'', "''")
                )
                .as_str(),
            )
            .await
            .map(drop)?,
    }
    conn.close().await?;
    Ok(password)
}

/// One round trip to the database.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query_scalar!("SELECT 1 AS one")
        .fetch_one(pool)
        .await
        .map(drop)
}

/// The newest migration applied to the database (0: none).
pub async fn applied_migration(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT coalesce(max(version), 0) AS "version!" FROM _sqlx_migrations WHERE success"#
    )
    .fetch_one(pool)
    .await
}

pub async fn connect_owner(options: &PgConnectOptions) -> Result<PgConnection, DbError> {
    let options = options.clone().disable_statement_logging();
    tokio::time::timeout(
        Duration::from_secs(15),
        PgConnection::connect_with(&options),
    )
    .await
    .map_err(|_| connect_error(&options, sqlx::Error::PoolTimedOut))?
    .map_err(|source| connect_error(&options, source))
}

/// Creates `name` on the server of `maintenance` (connected to another database) when it is missing.
pub async fn ensure_database(maintenance: &PgConnectOptions, name: &str) -> Result<(), DbError> {
    let mut conn = connect_owner(maintenance).await?;
    let exists: bool = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS "exists!""#,
        name
    )
    .fetch_one(&mut conn)
    .await?;
    if !exists {
        conn.execute(format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\"")).as_str())
            .await?;
    }
    conn.close().await?;
    Ok(())
}

fn connect_error(options: &PgConnectOptions, cause: sqlx::Error) -> DbError {
    let target = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("(default)")
    );
    let hint = if std::env::var_os("DATABASE_URL").is_some() {
        " (DATABASE_URL is set; unset it to use the embedded PostgreSQL)"
    } else {
        ""
    };
    DbError::Connect {
        target,
        hint,
        cause,
    }
}
