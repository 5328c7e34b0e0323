//! Command line and environment configuration.

use crate::server::partitions::PartitionUnit;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "runwire",
    version,
    about = "Live event bridge and dashboard for AI agent runs"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
pub struct Config {
    /// PostgreSQL to use. Unset: runwire starts its own cluster under --data-dir.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// A streaming standby of DATABASE_URL (same user) for the dashboard's lists, totals and
    /// exports; writes, live delivery and everything else stay on the primary.
    #[arg(long, env = "DATABASE_READ_URL", global = true, hide_env_values = true)]
    pub database_read_url: Option<String>,
    /// Address the web server listens on.
    #[arg(
        long,
        env = "RUNWIRE_ADDR",
        default_value = "127.0.0.1:3000",
        global = true
    )]
    pub addr: SocketAddr,
    /// Folder for the embedded PostgreSQL cluster and other local state.
    #[arg(
        long,
        env = "RUNWIRE_DATA_DIR",
        default_value = ".runwire",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Seed the demo user and demo runs at start-up (1/0, true/false).
    #[arg(long, env = "RUNWIRE_DEMO", default_value = "false", global = true,
          value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub demo: bool,
    /// Largest number of pooled database connections.
    #[arg(long, env = "RUNWIRE_DB_POOL", default_value_t = 20, global = true)]
    pub db_pool: u32,
    /// REST requests per second allowed per API token (per process), sustained.
    #[arg(long, env = "RUNWIRE_API_RATE", default_value_t = 200, global = true)]
    pub api_rate: u32,
    /// REST requests per API token allowed in a burst above the sustained rate.
    #[arg(long, env = "RUNWIRE_API_BURST", default_value_t = 1000, global = true)]
    pub api_burst: u32,
    /// Built-in agent runs this process works on at once (0: only other processes run them).
    #[arg(
        long,
        env = "RUNWIRE_AGENT_WORKERS",
        default_value_t = 4,
        global = true
    )]
    pub agent_workers: usize,
    /// Multiplies the built-in agents' step durations (0.2 = five times faster).
    #[arg(long, env = "RUNWIRE_AGENT_SPEED", default_value_t = 1.0, global = true,
          value_parser = parse_speed)]
    pub agent_speed: f64,
    /// Seconds a built-in run survives without its worker renewing its lease: when a process dies,
    /// its runs end as timed out this long (plus a reaper's round) later.
    #[arg(long, env = "RUNWIRE_AGENT_LEASE_SECS", default_value_t = 30, global = true,
          value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub agent_lease_secs: u64,
    /// Share of built-in agent runs that end in failure, from 0 to 1.
    #[arg(long, env = "RUNWIRE_AGENT_FAILURE_RATE", default_value_t = 0.15, global = true,
          value_parser = parse_fraction)]
    pub agent_failure_rate: f64,
    /// Schedule of `cleanup-old-runs` (cron, UTC; five fields, or six with seconds).
    #[arg(long, env = "RUNWIRE_CRON_CLEANUP", default_value = "0 0 2 * * *", global = true,
          value_parser = parse_cron)]
    pub cron_cleanup: cron::Schedule,
    /// Schedule of `health-check`.
    #[arg(long, env = "RUNWIRE_CRON_HEALTH", default_value = "0 */5 * * * *", global = true,
          value_parser = parse_cron)]
    pub cron_health: cron::Schedule,
    /// Schedule of `daily-report`.
    #[arg(long, env = "RUNWIRE_CRON_REPORT", default_value = "0 0 9 * * *", global = true,
          value_parser = parse_cron)]
    pub cron_report: cron::Schedule,
    /// Finished runs older than this many days are deleted by `cleanup-old-runs`.
    #[arg(long, env = "RUNWIRE_RETENTION_DAYS", default_value_t = 30, global = true,
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub retention_days: u32,
    /// How much time one partition of the event log and the spans holds: month, week or day.
    #[arg(long, env = "RUNWIRE_PARTITION_UNIT", value_enum, default_value_t = PartitionUnit::Month,
          global = true)]
    pub partition_unit: PartitionUnit,
    /// Run the scheduled jobs in this process (1/0); with 0, only `POST /api/cron/{job}` fires them.
    #[arg(long, env = "RUNWIRE_JOBS", default_value = "true", global = true,
          value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub jobs: bool,
    /// Bearer secret of `POST /api/cron/{job}`; unset, the endpoint is disabled (503).
    #[arg(long, env = "CRON_SECRET", global = true, hide_env_values = true)]
    pub cron_secret: Option<String>,
    /// Slack-compatible webhook that gets failure alerts; unset, no alerts are sent.
    #[arg(
        long,
        env = "RUNWIRE_ALERT_WEBHOOK",
        global = true,
        hide_env_values = true
    )]
    pub alert_webhook: Option<String>,
    /// Alert when an agent's failed share of its runs over 24 h passes this (0 to 1).
    #[arg(long, env = "RUNWIRE_ALERT_FAILURE_RATE", default_value_t = 0.5, global = true,
          value_parser = parse_fraction)]
    pub alert_failure_rate: f64,
    /// The URL browsers reach runwire at (`https://runs.example.com`): its origin is the only one
    /// allowed to send cookie-authenticated writes, and https there turns on HSTS and `__Host-`
    /// cookies. Unset: each request's own Host.
    #[arg(long, env = "RUNWIRE_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Reverse proxies (CIDRs or addresses, comma-separated) whose X-Forwarded-For and
    /// X-Forwarded-Proto are believed. Unset: none; the peer address is the client.
    #[arg(
        long,
        env = "RUNWIRE_TRUSTED_PROXIES",
        default_value = "",
        global = true
    )]
    pub trusted_proxies: String,
    /// Seconds a request may take to be answered (a streamed body may go on longer).
    #[arg(long, env = "RUNWIRE_REQUEST_TIMEOUT", default_value_t = 30, global = true,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout: u64,
    /// Seconds a client has to send a request's headers.
    #[arg(long, env = "RUNWIRE_HEADER_TIMEOUT", default_value_t = 10, global = true,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub header_timeout: u64,
    /// Connections served at once; more wait in the kernel's backlog.
    #[arg(long, env = "RUNWIRE_MAX_CONNECTIONS", default_value_t = 4096, global = true,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Live sockets one user may hold open at once (per process).
    #[arg(long, env = "RUNWIRE_LIVE_SOCKETS_PER_USER", default_value_t = crate::model::LIVE_SOCKETS_PER_USER,
          global = true)]
    pub live_sockets_per_user: usize,
    /// Days a session may go unused before it ends (it ends after 30 days whatever the use).
    #[arg(long, env = "RUNWIRE_SESSION_IDLE_DAYS", default_value_t = 7, global = true,
          value_parser = clap::value_parser!(u32).range(1..=30))]
    pub session_idle_days: u32,
    /// Runs one user may have waiting for a built-in agent.
    #[arg(long, env = "RUNWIRE_MAX_QUEUED_PER_USER", default_value_t = 20, global = true,
          value_parser = clap::value_parser!(i64).range(1..=10_000))]
    pub max_queued_per_user: i64,
    /// A JSON price table (the shape of data/prices.json) whose models override or extend the
    /// shipped one, for pricing spans that carry tokens but no cost.
    #[arg(long, env = "RUNWIRE_PRICES", global = true)]
    pub prices: Option<std::path::PathBuf>,
    /// Log lines as `text` or `json` (one object per line, for a log shipper).
    #[arg(long, env = "RUNWIRE_LOG_FORMAT", default_value = "text", global = true,
          value_parser = parse_log_format)]
    pub log_format: crate::server::telemetry::logs::LogFormat,
    /// Bearer token that `GET /metrics` asks for. Unset (and no RUNWIRE_METRICS_ADDR): no metrics.
    #[arg(
        long,
        env = "RUNWIRE_METRICS_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,
    /// A second address that serves only `GET /metrics`, with no token (keep it private: a
    /// loopback or internal address).
    #[arg(long, env = "RUNWIRE_METRICS_ADDR", global = true)]
    pub metrics_addr: Option<SocketAddr>,
}

impl Config {
    /// The price table: the shipped one, overridden by the operator's file when there is one.
    pub fn price_table(&self) -> anyhow::Result<crate::model::PriceTable> {
        use anyhow::Context;
        let shipped = crate::model::PriceTable::shipped();
        let Some(path) = &self.prices else {
            return Ok(shipped);
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("RUNWIRE_PRICES: cannot read {}", path.display()))?;
        let own: crate::model::PriceTable = serde_json::from_str(&text)
            .with_context(|| format!("RUNWIRE_PRICES: {} is not a price table", path.display()))?;
        own.validate()
            .map_err(|problem| anyhow::anyhow!("RUNWIRE_PRICES: {problem}"))?;
        Ok(shipped.overridden_by(own))
    }
}

/// Token scopes from the command line.
#[derive(Clone, Debug)]
pub struct ScopeList(pub Vec<crate::model::TokenScope>);

fn parse_scopes(text: &str) -> Result<ScopeList, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            crate::model::TokenScope::parse(s).ok_or_else(|| {
                format!("unknown scope `{s}` (runs:write, runs:read, admin or runs:write:any)")
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(ScopeList)
}

fn parse_expiry(text: &str) -> Result<chrono::Duration, String> {
    crate::model::parse_lifetime(text)
}

fn parse_cron(text: &str) -> Result<cron::Schedule, String> {
    crate::server::jobs::parse_schedule(text)
}

fn parse_speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(speed) if speed.is_finite() && (0.0..=100.0).contains(&speed) => Ok(speed),
        _ => Err(format!("`{text}` is not a speed factor from 0 to 100")),
    }
}

fn parse_log_format(text: &str) -> Result<crate::server::telemetry::logs::LogFormat, String> {
    crate::server::telemetry::logs::LogFormat::parse(text)
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!("`{text}` is not a fraction from 0 to 1")),
    }
}

impl Config {
    pub fn jobs(&self) -> crate::server::jobs::JobsConfig {
        crate::server::jobs::JobsConfig {
            cleanup: self.cron_cleanup.clone(),
            health: self.cron_health.clone(),
            report: self.cron_report.clone(),
            retention: chrono::Duration::days(i64::from(self.retention_days)),
            session_idle: self.sessions().idle,
            partition_unit: self.partition_unit,
            ..Default::default()
        }
    }

    /// How the web reaches the server, or why the settings make no sense.
    pub fn web(&self) -> anyhow::Result<crate::server::web::WebConfig> {
        use crate::server::web::WebConfig;
        Ok(WebConfig {
            public_origin: self
                .public_url
                .as_deref()
                .filter(|url| !url.trim().is_empty())
                .map(WebConfig::parse_public_url)
                .transpose()
                .map_err(anyhow::Error::msg)?,
            trusted_proxies: WebConfig::parse_proxies(&self.trusted_proxies)
                .map_err(anyhow::Error::msg)?,
            request_timeout: std::time::Duration::from_secs(self.request_timeout),
        })
    }

    pub fn connection_limits(&self) -> crate::server::app::ConnectionLimits {
        crate::server::app::ConnectionLimits {
            header_read_timeout: std::time::Duration::from_secs(self.header_timeout),
            max_connections: self.max_connections as usize,
        }
    }

    pub fn live(&self) -> crate::server::live::LiveConfig {
        crate::server::live::LiveConfig {
            sockets_per_user: self.live_sockets_per_user,
            ..Default::default()
        }
    }

    pub fn sessions(&self) -> crate::server::auth::sessions::SessionPolicy {
        crate::server::auth::sessions::SessionPolicy {
            idle: chrono::Duration::days(i64::from(self.session_idle_days)),
            ..Default::default()
        }
    }

    pub fn alerts(&self) -> crate::server::jobs::alerts::AlertConfig {
        crate::server::jobs::alerts::AlertConfig {
            webhook: self
                .alert_webhook
                .clone()
                .filter(|url| !url.trim().is_empty()),
            failure_rate: self.alert_failure_rate,
            ..Default::default()
        }
    }

    pub fn agent_runner(&self) -> crate::server::demo_agent::AgentRunnerConfig {
        let defaults = crate::server::demo_agent::AgentRunnerConfig::default();
        let lease = std::time::Duration::from_secs(self.agent_lease_secs);
        let mut config = crate::server::demo_agent::AgentRunnerConfig {
            workers: self.agent_workers,
            speed: self.agent_speed,
            max_waiting_per_user: self.max_queued_per_user,
            lease,
            // A short lease is meant to be noticed soon after it runs out.
            reap_every: defaults.reap_every.min(lease / 2),
            ..defaults
        };
        config.odds.failure = self.agent_failure_rate;
        config
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Migrate, then serve the web app (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Create the demo user and demo runs, then exit; with --runs, also bulk-load that many
    /// generated runs for the demo user (run it while no server is serving).
    Seed {
        /// Generated runs to add (COPY-based: a million takes minutes, not hours).
        #[arg(long)]
        runs: Option<u64>,
        /// Events per generated run.
        #[arg(long, default_value_t = 5)]
        events_per_run: u32,
    },
    /// Manage API tokens (for scripts and CI).
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage the embedded PostgreSQL cluster.
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum DbAction {
    /// Start the embedded cluster and leave it running.
    Start,
    /// Stop the embedded cluster.
    Stop,
    /// Print a psql-ready URL of the embedded database (it contains the password).
    Url,
}

#[derive(Subcommand, Debug, Clone)]
pub enum TokenAction {
    /// Create an API token for a user; prints only the token, for `TOKEN=$(runwire token create ...)`.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// What it may do, comma-separated: runs:write (report runs), runs:read, admin and
        /// runs:write:any (report runs for any user: a service's key), the last two for admins only.
        #[arg(long, default_value = "runs:write", value_parser = parse_scopes)]
        scopes: ScopeList,
        /// How long it lives (90d, 12h, 2w); unset, it never expires.
        #[arg(long, value_parser = parse_expiry)]
        expires_in: Option<chrono::Duration>,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum UserAction {
    /// Create a user; the password is read from RUNWIRE_NEW_PASSWORD or the first line of stdin.
    Create {
        #[arg(long)]
        email: String,
        /// Make the user an admin (sees every user's runs).
        #[arg(long)]
        admin: bool,
        /// The user's id in another system (what a service token names them by in `user_id`).
        #[arg(long)]
        external_id: Option<String>,
    },
    /// Set (or with an empty value, clear) the id a user has in another system, which a service
    /// token may name them by in `user_id`.
    SetExternalId {
        #[arg(long)]
        email: String,
        #[arg(long)]
        external_id: String,
    },
}
