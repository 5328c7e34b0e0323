use clap::Parser;
use runwire::server::cli::{Cli, Command, DbAction};
use runwire::server::db::{Database, Durability, EmbeddedPostgres, EMBEDDED_DATABASE};
use runwire::server::{app, seed};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into()),
        )
        .init();
    let cli = Cli::parse();
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
        Command::Seed => {
            let mut db = Database::locate(config.database_url.as_deref(), &config.data_dir).await?;
            db.migrate().await?;
            let pool = db.app_pool(2).await?;
            let user = seed::seed_demo(&pool).await?;
            pool.close().await;
            db.stop()?;
            println!(
                "demo user {} ready (password: {})",
                user.email,
                seed::DEMO_PASSWORD
            );
            Ok(())
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
