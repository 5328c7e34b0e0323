//! Shared by the integration tests: a PostgreSQL server (DATABASE_URL, or a throw-away embedded cluster
//! under RUNWIRE_TEST_DATA_DIR), a migrated template database, and a fresh database per test.
#![allow(dead_code)]

pub mod api;
pub mod metrics;
pub mod otlp;
pub mod process;
pub mod ws;

use runwire::error::AppError;
use runwire::model::{AgentRun, CurrentUser, NewRun, RunStatus, RunUpdate, UserRole};
use runwire::server::db::{
    self, begin_scoped, Durability, EmbeddedPostgres, Principal, ScopedTx, MIGRATOR,
};
use runwire::server::demo_agent::{AgentRunner, AgentRunnerConfig, ScriptOdds};
use runwire::server::jobs::{Clock, JobsConfig, Scheduler, SystemClock};
use runwire::server::publisher::AgentEventPublisher;
use runwire::server::state::AppState;
use runwire::server::web::WebConfig;
use runwire::server::{app, password, users};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;

pub const TEST_PASSWORD: &str = "test-password";
/// The cron endpoint's secret in test apps.
pub const CRON_SECRET: &str = "test-cron-secret";

/// A client that keeps cookies and does not follow redirects, so tests can see them.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        // a hung response fails its test instead of stalling the whole run
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A client like an agent's: no cookies, only what it sends itself.
pub fn agent() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

struct TestServer {
    maintenance: PgConnectOptions,
    /// URL of the maintenance database; other databases differ only in the path.
    url: String,
    template: String,
}

static SERVER: OnceLock<TestServer> = OnceLock::new();

fn test_server() -> &'static TestServer {
    SERVER.get_or_init(|| {
        // Its own thread and runtime: each #[tokio::test] has a runtime of its own, and this runs once.
        std::thread::spawn(|| {
            let (maintenance, url) = match std::env::var("DATABASE_URL") {
                Ok(url) => (url.parse().expect("DATABASE_URL is a PostgreSQL URL"), url),
                Err(_) => start_embedded(),
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let template = runtime.block_on(async {
                drop_databases_of_ended_processes(&maintenance).await;
                prepare_template(&maintenance).await
            });
            TestServer {
                maintenance,
                url,
                template,
            }
        })
        .join()
        .expect("the test database server starts")
    })
}

fn start_embedded() -> (PgConnectOptions, String) {
    let root = std::env::var_os("RUNWIRE_TEST_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-db"));
    std::fs::create_dir_all(&root).unwrap();
    // Test binaries may run in parallel processes (nextest): one of them creates the cluster.
    let lock = std::fs::File::create(root.join("cluster.lock")).unwrap();
    let _guard = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, err)| err)
        .unwrap();
    let cluster = EmbeddedPostgres::start(&root.join("postgres"), Durability::Fast)
        .unwrap_or_else(|err| panic!("embedded PostgreSQL for tests: {err}"));
    let options = cluster.connect_options("postgres");
    let url = cluster.url("postgres");
    // Left running for the next test binary; `make test` stops it at the end.
    cluster.keep_running();
    (options, url)
}

/// Only names of this form are ever dropped (DATABASE_URL may name a server with other databases).
const TEST_DB_PREFIX: &str = "runwire_test_";

/// Drops the test databases of test processes that have ended. A full `make test` makes some 150
/// databases; kept, they filled a CI machine's disk (2.5 GB of the test cluster's 3.5 GB). Each test
/// binary sweeps at its start, so no more than one binary's databases are ever kept. A test's own
/// database is not dropped when the test ends: that would block the test's runtime while pool
/// connections it has half opened wait in authentication (60 s).
async fn drop_databases_of_ended_processes(maintenance: &PgConnectOptions) {
    let mut conn = PgConnection::connect_with(maintenance).await.unwrap();
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)")
            .bind(TEST_DB_PREFIX)
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let ended = |name: &str| {
        let pid = name
            .strip_prefix(TEST_DB_PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .and_then(|(pid, _)| pid.parse::<i32>().ok());
        // signal 0 only asks whether the process exists
        pid.is_some_and(|pid| {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err()
        })
    };
    for name in names.iter().filter(|name| ended(name)) {
        let dropped = conn
            .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await;
        if let Err(err) = dropped {
            eprintln!("test database {name} of an ended test process stays: {err}");
        }
    }
    conn.close().await.unwrap();
}

/// A migrated template, named after the migrations so a schema change gets a new one.
async fn prepare_template(maintenance: &PgConnectOptions) -> String {
    let digest: u64 = MIGRATOR.iter().fold(0xcbf29ce484222325, |acc, m| {
        m.checksum
            .iter()
            .fold(acc, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100000001b3))
    });
    let name = format!("runwire_tpl_{digest:016x}");
    let mut conn = PgConnection::connect_with(maintenance).await.unwrap();
    conn.execute("SELECT pg_advisory_lock(727274)")
        .await
        .unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    if !exists {
        let building = format!("{name}_building");
        conn.execute(format!("DROP DATABASE IF EXISTS {building}").as_str())
            .await
            .unwrap();
        conn.execute(format!("CREATE DATABASE {building}").as_str())
            .await
            .unwrap();
        let mut db = PgConnection::connect_with(&maintenance.clone().database(&building))
            .await
            .unwrap();
        MIGRATOR
            .run(&mut db)
            .await
            .expect("migrations apply to an empty database");
        db.close().await.unwrap();
        conn.execute(format!("ALTER DATABASE {building} RENAME TO {name}").as_str())
            .await
            .unwrap();
    }
    conn.execute("SELECT pg_advisory_unlock(727274)")
        .await
        .unwrap();
    conn.close().await.unwrap();
    name
}

/// A fresh, migrated database of its own.
pub struct TestDb {
    pub name: String,
    /// Owner URL, for a server process of its own (DATABASE_URL).
    pub url: String,
    /// Owner (superuser) options: for set-up that the application role may not do.
    pub owner: PgConnectOptions,
    /// The application pool: every connection runs as `runwire_app`, as in production.
    pub pool: PgPool,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let server = test_server();
        // Named after this process, so a later one can tell which databases it left behind.
        let name = format!(
            "{TEST_DB_PREFIX}{}_{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        let mut conn = PgConnection::connect_with(&server.maintenance)
            .await
            .unwrap();
        conn.execute(format!("CREATE DATABASE {name} TEMPLATE {}", server.template).as_str())
            .await
            .unwrap();
        conn.close().await.unwrap();
        let owner = server.maintenance.clone().database(&name);
        let pool = db::app_pool(&owner, 10).await.unwrap();
        let base = server
            .url
            .rsplit_once('/')
            .map(|(base, _)| base)
            .unwrap_or(&server.url);
        let url = format!("{base}/{name}");
        TestDb {
            name,
            url,
            owner,
            pool,
        }
    }

    pub async fn owner_conn(&self) -> PgConnection {
        PgConnection::connect_with(&self.owner).await.unwrap()
    }

    /// A user whose password is [`TEST_PASSWORD`].
    pub async fn user(&self, email: &str, role: UserRole) -> CurrentUser {
        let hash = password::hash_now(TEST_PASSWORD).unwrap();
        users::ensure(&self.pool, email, &hash, role).await.unwrap()
    }

    /// The ids of `user`'s stored events, in order (read as the owner).
    pub async fn event_ids_of(&self, user: &CurrentUser) -> Vec<i64> {
        sqlx::query_scalar("SELECT id FROM agent_run_events WHERE user_id = $1 ORDER BY id")
            .bind(user.id)
            .fetch_all(&mut self.owner_conn().await)
            .await
            .unwrap()
    }

    /// A read-write API token of `user`'s: what an agent needs to report runs.
    pub async fn agent_token(&self, user: &CurrentUser) -> String {
        let (_, token) = runwire::server::auth::tokens::create(
            &self.pool,
            user,
            &runwire::server::auth::tokens::NewToken::read_write("agent"),
        )
        .await
        .unwrap();
        token
    }

    pub async fn scoped(&self, user: &CurrentUser) -> ScopedTx {
        begin_scoped(&self.pool, principal(user)).await.unwrap()
    }
}

pub fn principal(user: &CurrentUser) -> Principal {
    Principal {
        user_id: user.id,
        role: user.role,
    }
}

/// Built-in agents fifty times faster than real ones, that always pass after one failed check.
pub fn fast_agents() -> AgentRunnerConfig {
    AgentRunnerConfig {
        workers: 2,
        speed: 0.02,
        odds: ScriptOdds {
            failure: 0.0,
            first_check_fails: 1.0,
        },
        ..Default::default()
    }
}

/// A clock stopped at one instant, so a test fires jobs "at" any time without waiting.
pub struct FixedClock(pub chrono::DateTime<chrono::Utc>);

impl Clock for FixedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0
    }
}

/// The real application router, served on a free port for the duration of a test.
pub struct TestApp {
    pub addr: SocketAddr,
    pub db: TestDb,
    pub agents: Arc<AgentRunner>,
    pub jobs: Arc<Scheduler>,
    /// The app's event hub.
    pub bus: Arc<runwire::server::bus::EventBus>,
    pub http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        self.agents.stop_now();
    }
}

impl TestApp {
    pub async fn start(db: TestDb, demo_user: Option<Principal>) -> TestApp {
        Self::start_with_limit(db, demo_user, 10_000).await
    }

    /// Like [`TestApp::start`], allowing `burst` REST requests per token at once (and as many per s).
    pub async fn start_with_limit(db: TestDb, demo_user: Option<Principal>, burst: u32) -> TestApp {
        Self::start_with(db, demo_user, burst, fast_agents()).await
    }

    /// Like [`TestApp::start_with_limit`], with built-in agents configured by `agents`.
    pub async fn start_with(
        db: TestDb,
        demo_user: Option<Principal>,
        burst: u32,
        agents: AgentRunnerConfig,
    ) -> TestApp {
        Self::start_with_jobs(
            db,
            demo_user,
            burst,
            agents,
            Some(CRON_SECRET),
            Arc::new(SystemClock),
        )
        .await
    }

    /// Like [`TestApp::start`], with the app's state changed by `configure` first (web settings,
    /// live limits ...).
    pub async fn start_configured(
        db: TestDb,
        demo_user: Option<Principal>,
        configure: impl FnOnce(&mut AppState),
    ) -> TestApp {
        Self::start_full(
            db,
            demo_user,
            10_000,
            fast_agents(),
            Some(CRON_SECRET),
            Arc::new(SystemClock),
            configure,
        )
        .await
    }

    /// Like [`TestApp::start_with`], with the cron endpoint's secret and the jobs' clock given.
    /// The jobs never fire on their own here: tests fire them.
    pub async fn start_with_jobs(
        db: TestDb,
        demo_user: Option<Principal>,
        burst: u32,
        agents: AgentRunnerConfig,
        cron_secret: Option<&str>,
        clock: Arc<dyn Clock>,
    ) -> TestApp {
        Self::start_full(db, demo_user, burst, agents, cron_secret, clock, |_| {}).await
    }

    /// Like [`TestApp::start`], with the jobs' clock stopped at `now`.
    pub async fn start_at(db: TestDb, now: chrono::DateTime<chrono::Utc>) -> TestApp {
        Self::start_with_jobs(
            db,
            None,
            10_000,
            fast_agents(),
            Some(CRON_SECRET),
            Arc::new(FixedClock(now)),
        )
        .await
    }

    /// Another instance's scheduler (its own hub) on the same database, its clock at `now`.
    pub async fn scheduler_at(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        config: JobsConfig,
    ) -> Arc<Scheduler> {
        let bus = runwire::server::bus::EventBus::start(self.db.pool.clone())
            .await
            .unwrap();
        Scheduler::new(
            self.db.pool.clone(),
            bus,
            self.agents.clone(),
            config,
            Arc::new(FixedClock(now)),
        )
    }

    async fn start_full(
        db: TestDb,
        demo_user: Option<Principal>,
        burst: u32,
        agents: AgentRunnerConfig,
        cron_secret: Option<&str>,
        clock: Arc<dyn Clock>,
        configure: impl FnOnce(&mut AppState),
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let bus = runwire::server::bus::EventBus::start(db.pool.clone())
            .await
            .unwrap();
        let runner = AgentRunner::new(db.pool.clone(), bus.clone(), agents);
        runner.start();
        let jobs = Scheduler::new(
            db.pool.clone(),
            bus.clone(),
            runner.clone(),
            JobsConfig::default(),
            clock,
        );
        let mut state = AppState {
            leptos_options: app::leptos_options(addr).unwrap(),
            pool: db.pool.clone(),
            demo_user,
            api_limiter: runwire::server::rate_limit::limiter(burst, burst),
            publisher: runwire::server::publisher::AgentEventPublisher::new(db.pool.clone()),
            reader: runwire::server::read::RunReader::new(db.pool.clone(), bus.clone()),
            bus,
            agents: runner.clone(),
            jobs: jobs.clone(),
            cron_secret: cron_secret.map(Arc::from),
            metrics_token: None,
            live: runwire::server::live::LiveConfig {
                heartbeat: std::time::Duration::from_millis(500),
                ..Default::default()
            },
            live_sockets: Default::default(),
            exports: Default::default(),
            web: Arc::new(WebConfig {
                request_timeout: std::time::Duration::from_secs(30),
                ..Default::default()
            }),
            sessions: Default::default(),
        };
        configure(&mut state);
        Self::serve(listener, state, runner, jobs, db)
    }

    /// Serves `state` on `listener` through the same accept loop as `runwire serve`.
    pub fn serve(
        listener: tokio::net::TcpListener,
        state: AppState,
        agents: Arc<AgentRunner>,
        jobs: Arc<Scheduler>,
        db: TestDb,
    ) -> TestApp {
        let addr = listener.local_addr().unwrap();
        let bus = state.bus.clone();
        let router = app::router(state);
        let server = tokio::spawn(async move {
            app::serve_http(
                listener,
                router,
                app::ConnectionLimits::default(),
                std::future::pending(),
            )
            .await;
        });
        TestApp {
            addr,
            db,
            agents,
            jobs,
            bus,
            http: browser(),
            server,
        }
    }

    /// A browser-like client signed in as `email` (password [`TEST_PASSWORD`]).
    pub async fn signed_in(&self, email: &str) -> reqwest::Client {
        let client = browser();
        let response = client
            .post(self.url("/api/sign_in"))
            .form(&[("email", email), ("password", TEST_PASSWORD), ("next", "")])
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "sign-in as {email}: {}",
            response.status()
        );
        client
    }

    /// Calls a JSON server function.
    pub async fn call(
        &self,
        client: &reqwest::Client,
        function: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        client
            .post(self.url(&format!("/api/{function}")))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Waits until the hub has handed out every event stored now: a subscription made after this
    /// replays all of them before its `ready`.
    pub async fn hub_caught_up(&self) {
        let newest: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM agent_run_events")
            .fetch_one(&mut self.db.owner_conn().await)
            .await
            .unwrap();
        for _ in 0..500 {
            if self.bus.last_event_id() >= newest {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the hub did not reach event {newest}");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// The publisher's calls by name, as tests write them: each is one update through
/// [`AgentEventPublisher::apply`] (or a create).
#[allow(async_fn_in_trait)]
pub trait PublisherExt {
    async fn start_run(
        &self,
        who: Principal,
        task_id: Option<uuid::Uuid>,
        agent_name: &str,
        task: &str,
    ) -> Result<AgentRun, AppError>;
    async fn update_progress(
        &self,
        who: Principal,
        run_id: uuid::Uuid,
        step: Option<String>,
        percent: f32,
    ) -> Result<AgentRun, AppError>;
    async fn complete_run(
        &self,
        who: Principal,
        run_id: uuid::Uuid,
        result: Option<serde_json::Value>,
        evidence: Option<serde_json::Value>,
    ) -> Result<AgentRun, AppError>;
    async fn fail_run(
        &self,
        who: Principal,
        run_id: uuid::Uuid,
        error: &str,
    ) -> Result<AgentRun, AppError>;
    async fn cancel_run(
        &self,
        who: Principal,
        run_id: uuid::Uuid,
        reason: Option<String>,
    ) -> Result<AgentRun, AppError>;
}

impl PublisherExt for AgentEventPublisher {
    async fn start_run(
        &self,
        who: Principal,
        task_id: Option<uuid::Uuid>,
        agent_name: &str,
        task: &str,
    ) -> Result<AgentRun, AppError> {
        let new = NewRun {
            agent_name: agent_name.to_owned(),
            task: task.to_owned(),
            task_id: task_id.map(Into::into),
            user_id: None,
            status: RunStatus::InProgress,
            step: None,
            metadata: None,
        };
        self.create(who, &new).await
    }

    async fn update_progress(
        &self,
        who: Principal,
        run_id: uuid::Uuid,
        step: Option<String>,
        percent: f32,
    ) -> Result<AgentRun, AppError> {
        self.apply(who, run_id, RunUpdate::Progress { percent, step })
            .await
    }

    async fn complete_run(
        &self,
        who: Principal,
        run_id: uuid::Uuid,
        result: Option<serde_json::Value>,
        evidence: Option<serde_json::Value>,
    ) -> Result<AgentRun, AppError> {
        self.apply(who, run_id, RunUpdate::Complete { result, evidence })
            .await
    }

    async fn fail_run(
        &self,
        who: Principal,
        run_id: uuid::Uuid,
        error: &str,
    ) -> Result<AgentRun, AppError> {
        let error = error.to_owned();
        self.apply(who, run_id, RunUpdate::Fail { error }).await
    }

    async fn cancel_run(
        &self,
        who: Principal,
        run_id: uuid::Uuid,
        reason: Option<String>,
    ) -> Result<AgentRun, AppError> {
        self.apply(who, run_id, RunUpdate::Cancel { reason }).await
    }
}

/// Items per second that `tasks` did since `started`, each task returning how many it did: the
/// benches' writers.
pub async fn rate_of(
    tasks: Vec<tokio::task::JoinHandle<usize>>,
    started: std::time::Instant,
) -> f64 {
    total_of(tasks).await as f64 / started.elapsed().as_secs_f64()
}

/// How many items `tasks` did in all, once each has finished.
pub async fn total_of(tasks: Vec<tokio::task::JoinHandle<usize>>) -> usize {
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total
}

/// A server on a fresh database with one user, and a read-write API token of theirs: what an
/// agent needs to report runs.
pub async fn app_with_agent_token(email: &str) -> (TestApp, String) {
    let db = TestDb::new().await;
    let user = db.user(email, UserRole::User).await;
    let token = db.agent_token(&user).await;
    (TestApp::start(db, None).await, token)
}

/// Waits (a minute at most) until no autovacuum worker has been busy in this database for 2 s:
/// statistics reach it a moment after a load, and it may start on the loaded partitions then.
pub async fn settle_autovacuum(owner: &mut PgConnection) {
    let (mut quiet, deadline) = (
        0,
        std::time::Instant::now() + std::time::Duration::from_secs(60),
    );
    while quiet < 4 && std::time::Instant::now() < deadline {
        let busy: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE backend_type = 'autovacuum worker' AND datname = current_database()",
        )
        .fetch_one(&mut *owner)
        .await
        .unwrap();
        quiet = if busy == 0 { quiet + 1 } else { 0 };
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
