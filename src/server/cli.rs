//! Command line and environment configuration.

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
        let mut config = crate::server::demo_agent::AgentRunnerConfig {
            workers: self.agent_workers,
            speed: self.agent_speed,
            ..Default::default()
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
    },
}
