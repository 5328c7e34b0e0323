use anyhow::Context;
use clap::Parser;
use runwire::model::{normalize_email, UserRole};
use runwire::server::auth::{self, tokens};
use runwire::server::cli::{Cli, Command, Config, DbAction, TokenAction, UserAction};
use runwire::server::db::{Database, Durability, EmbeddedPostgres, EMBEDDED_DATABASE};
use runwire::server::telemetry::logs;
use runwire::server::{app, seed, users};
use sqlx::PgPool;
use std::process::ExitCode;

/// Stack of each runtime thread. Server-side rendering walks a page's whole view tree on the stack:
/// the run page (monitor, replay, waterfall) outgrows tokio's 2 MiB default in a debug build.
const WORKER_STACK_BYTES: usize = 8 * 1024 * 1024;

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(WORKER_STACK_BYTES)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(start()),
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn start() -> ExitCode {
    let cli = Cli::parse();
    logs::init(cli.config.log_format);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line naming the problem and its fix, never a panic trace.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => app::serve(config).await,
        Command::Migrate => {
            let mut db = Database::locate(config.database_url.as_deref(), &config.data_dir).await?;
            db.migrate().await?;
            db.stop()?;
            println!("migrations applied");
            Ok(())
        }
        Command::Seed {
            runs,
            events_per_run,
        } => {
            let mut db = Database::locate(config.database_url.as_deref(), &config.data_dir).await?;
            db.migrate().await?;
            let pool = db.app_pool(2).await?;
            let user = seed::seed_demo(&pool).await?;
            pool.close().await;
            println!(
                "demo user {} ready (password: {})",
                user.email,
                seed::DEMO_PASSWORD
            );
            if let Some(runs) = runs {
                let started = std::time::Instant::now();
                let mut conn = runwire::server::db::connect_owner(&db.owner_options).await?;
                let made = runwire::server::seed::bulk::generate(
                    &mut conn,
                    user.id,
                    runs,
                    events_per_run,
                    |done| eprint!("\r{done} / {runs} runs"),
                )
                .await?;
                eprintln!();
                println!(
                    "added {} runs and {} events for {} in {:.1} s",
                    made.runs,
                    made.events,
                    user.email,
                    started.elapsed().as_secs_f64()
                );
            }
            db.stop()?;
            Ok(())
        }
        Command::Token {
            action:
                TokenAction::Create {
                    email,
                    name,
                    scopes,
                    expires_in,
                },
        } => {
            with_pool(&config, |pool| async move {
                let email = normalize_email(&email).map_err(anyhow::Error::msg)?;
                let user = users::find_by_email(&pool, &email)
                    .await?
                    .with_context(|| format!("no user with email {email}"))?;
                let new = tokens::NewToken {
                    name,
                    scopes: scopes.0,
                    expires_at: expires_in.map(|lifetime| chrono::Utc::now() + lifetime),
                };
                let (_, token) = tokens::create(&pool, &user, &new).await?;
                println!("{token}");
                Ok(())
            })
            .await
        }
        Command::User {
            action:
                UserAction::Create {
                    email,
                    admin,
                    external_id,
                },
        } => {
            let password = match std::env::var("RUNWIRE_NEW_PASSWORD") {
                Ok(password) => password,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let role = if admin {
                UserRole::Admin
            } else {
                UserRole::User
            };
            with_pool(&config, |pool| async move {
                let user = auth::register(&pool, &email, &password, role).await?;
                if let Some(external_id) = external_id {
                    users::set_external_id(&pool, &user.email, &external_id).await?;
                }
                println!("created {} ({})", user.email, user.role.as_str());
                Ok(())
            })
            .await
        }
        Command::User {
            action: UserAction::SetExternalId { email, external_id },
        } => {
            with_pool(&config, |pool| async move {
                users::set_external_id(&pool, &email, &external_id).await?;
                println!("{email}: external id {external_id:?}");
                Ok(())
            })
            .await
        }
        Command::Db { action } => {
            let dir = config.data_dir.join("postgres");
            match action {
                DbAction::Stop => {
                    EmbeddedPostgres::stop_running(&dir)?;
                    println!("embedded PostgreSQL stopped");
                }
                DbAction::Start => {
                    let cluster = EmbeddedPostgres::start(&dir, Durability::Safe)?;
                    println!(
                        "embedded PostgreSQL running on 127.0.0.1:{}",
                        cluster.port()
                    );
                    cluster.keep_running();
                }
                DbAction::Url => {
                    let cluster = EmbeddedPostgres::start(&dir, Durability::Safe)?;
                    println!("{}", cluster.url(EMBEDDED_DATABASE));
                    cluster.keep_running();
                }
            }
            Ok(())
        }
    }
}

/// Runs `work` with a migrated application pool, then shuts the database down again.
async fn with_pool<F, Fut>(config: &Config, work: F) -> anyhow::Result<()>
where
    F: FnOnce(PgPool) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut db = Database::locate(config.database_url.as_deref(), &config.data_dir).await?;
    db.migrate().await?;
    let pool = db.app_pool(2).await?;
    let result = work(pool.clone()).await;
    pool.close().await;
    db.stop()?;
    result
}
