//! The HTTP application: Leptos pages and server functions on axum, and the process around it.

use crate::server::bus::EventBus;
use crate::server::cli::Config;
use crate::server::db::{Database, Principal};
use crate::server::demo_agent::AgentRunner;
use crate::server::jobs::alerts::Alerter;
use crate::server::jobs::{Scheduler, SystemClock};
use crate::server::live::LiveConfig;
use crate::server::seed::{self, DEMO_EMAIL, DEMO_PASSWORD};
use crate::server::state::AppState;
use crate::server::{auth, rest};
use crate::ui::app::{shell, App};
use anyhow::Context;
use axum::serve::ListenerExt;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use std::sync::Arc;
use std::sync::OnceLock;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

/// The app's routes, generated once per process. Generating them sets a process-wide flag that
/// stalls any Resource first polled meanwhile in another thread (leptos issue #4773), so it must never
/// run while pages are being rendered; once, before the first router exists, is safe.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

pub fn router(state: AppState) -> Router {
    let routes = route_list();
    let context_state = state.clone();
    let leptos_options = state.leptos_options.clone();
    Router::new()
        .merge(rest::router())
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(context_state.clone()),
            move || shell(leptos_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn(
            crate::error::server_fn_error_status,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::identify,
        ))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Leptos settings: file names and folders from the environment (cargo-leptos sets them), the address
/// from our configuration.
pub fn leptos_options(addr: std::net::SocketAddr) -> anyhow::Result<LeptosOptions> {
    let mut options = get_configuration(None)
        .context("reading the LEPTOS_* settings")?
        .leptos_options;
    options.site_addr = addr;
    Ok(options)
}

/// Migrate, seed when asked, serve until Ctrl-C or SIGTERM, then stop the embedded PostgreSQL.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    // Bind first: a taken port should fail before anything is started.
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; is another runwire running? Set RUNWIRE_ADDR to a free address",
                config.addr
            )
        })?;
    let mut db = Database::locate(config.database_url.as_deref(), &config.data_dir).await?;
    db.migrate().await?;
    let pool = db.app_pool(config.db_pool).await?;
    let demo_user = if config.demo {
        let user = seed::seed_demo(&pool).await?;
        Some(Principal {
            user_id: user.id,
            role: user.role,
        })
    } else {
        None
    };
    let bus = EventBus::start(pool.clone()).await?;
    let agents = AgentRunner::new(pool.clone(), bus.clone(), config.agent_runner());
    agents.start();
    let jobs = Scheduler::new(
        pool.clone(),
        bus.clone(),
        agents.clone(),
        config.jobs(),
        Arc::new(SystemClock),
    );
    if config.jobs {
        jobs.start();
    }
    Alerter::new(config.alerts()).start(bus.clone(), pool.clone());
    let state = AppState {
        leptos_options: leptos_options(config.addr)?,
        pool: pool.clone(),
        demo_user,
        api_limiter: rest::limiter(config.api_rate, config.api_burst),
        bus: bus.clone(),
        live: LiveConfig::default(),
        agents: agents.clone(),
        jobs,
        cron_secret: config
            .cron_secret
            .as_deref()
            .filter(|secret| !secret.is_empty())
            .map(Arc::from),
    };
    let addr = listener.local_addr()?;
    // Live events are small frames that must leave at once, not wait for Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    println!("runwire is serving at http://{addr}");
    if let Some(cluster) = &db.cluster {
        println!(
            "embedded PostgreSQL on 127.0.0.1:{} (data in {}/postgres)",
            cluster.port(),
            config.data_dir.display()
        );
    }
    if config.demo {
        println!("demo account: {DEMO_EMAIL} / {DEMO_PASSWORD}");
    }
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown({
        let bus = bus.clone();
        async move {
            shutdown_signal().await;
            // Live sockets never end by themselves: stopping the hub ends them, so shutdown can finish.
            bus.stop();
        }
    })
    .await
    .context("serving HTTP")?;
    agents.shutdown(std::time::Duration::from_secs(5)).await;
    pool.close().await;
    db.stop()?;
    println!("runwire stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
