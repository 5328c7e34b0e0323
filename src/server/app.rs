//! The HTTP application: Leptos pages and server functions on axum, and the process around it.

use crate::server::bus::EventBus;
use crate::server::cli::Config;
use crate::server::db::{Database, Principal, ReadReplica};
use crate::server::demo_agent::AgentRunner;
use crate::server::jobs::alerts::Alerter;
use crate::server::jobs::{Scheduler, SystemClock};
use crate::server::publisher::AgentEventPublisher;
use crate::server::read::RunReader;
use crate::server::seed::{self, DEMO_EMAIL, DEMO_PASSWORD};
use crate::server::state::AppState;
use crate::server::{auth, otlp, partitions, rate_limit, rest, telemetry, web};
use crate::ui::app::{shell, App};
use anyhow::Context;
use axum::http::{header, HeaderValue};
use axum::{middleware, Router};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::OnceLock;
use tower_http::compression::CompressionLayer;

/// The app's routes, generated once per process. Generating them sets a process-wide flag that
/// stalls any Resource first polled meanwhile in another thread (leptos issue #4773), so it must never
/// run while pages are being rendered; once, before the first router exists, is safe.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

pub fn router(state: AppState) -> Router {
    // Installed before the first request: until then, everything counted would be lost.
    telemetry::recorder();
    let routes = route_list();
    let leptos_options = state.leptos_options.clone();
    let context = page_context(state.clone());
    Router::new()
        .merge(rest::router())
        .merge(otlp::router())
        .leptos_routes_with_context(&state, routes, context.clone(), move || {
            shell(leptos_options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, shell))
        .layer(middleware::from_fn(web::finish_abandoned_renders))
        .layer(middleware::from_fn(crate::error::server_fn_error_status))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::identify,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            web::request_timeout,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            web::refuse_cross_site,
        ))
        .layer(middleware::from_fn(web::security_headers))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            web::client_addr,
        ))
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn(web::catch_panic))
        .layer(middleware::from_fn(telemetry::requests::observe))
        .with_state(state)
}

/// What every page and server function gets in its context: the app state, and, on a page, the
/// Content-Security-Policy header that lets exactly its nonced bootstrap script run.
fn page_context(state: AppState) -> impl Fn() + Clone + Send + Sync + 'static {
    move || {
        provide_context(state.clone());
        if let (Some(nonce), Some(response)) = (
            leptos::nonce::use_nonce(),
            use_context::<leptos_axum::ResponseOptions>(),
        ) {
            if let Ok(policy) = HeaderValue::from_str(&web::content_security_policy(Some(&nonce))) {
                response.insert_header(header::CONTENT_SECURITY_POLICY, policy);
            }
        }
    }
}

/// Limits of the accept loop.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// A client must send a request's headers within this; a slow-loris holds a connection no longer.
    pub header_read_timeout: std::time::Duration,
    /// Connections open at once; the next waits in the kernel's backlog.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: std::time::Duration::from_secs(10),
            max_connections: 4096,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open requests finish (a few
/// seconds at most). Each connection gets the client's address, TCP_NODELAY (live events are small
/// frames that must leave at once) and a header-read timeout; at most `limits.max_connections` are
/// open at a time. From now on freed memory is kept for a while ([`keep_freed_memory`]).
///
/// [`keep_freed_memory`]: crate::server::allocator::keep_freed_memory
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::{Service, ServiceExt};
    crate::server::allocator::keep_freed_memory();
    let open = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let stopping = tokio::sync::watch::Sender::new(false);
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&open).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!("accepting a connection: {err}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(service) = make_service.call(remote).await;
        let service =
            hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                service.clone().oneshot(request.map(axum::body::Body::new))
            });
        // HTTP/1.1 only: the auto-detecting builder waits for a client's first bytes with no
        // timeout at all, so a connection that never speaks would hold its place for ever.
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut stopping = stopping.subscribe();
        tokio::spawn(async move {
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = async { stopping.wait_for(|stop| *stop).await.map(drop) } => {
                    // finish the request in hand, take no more on this connection
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    stopping.send_replace(true);
    // Every connection has closed when every place is free again (a few seconds at most).
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), open.acquire_many(all)).await;
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
    telemetry::recorder();
    // Bind first: a taken port should fail before anything is started.
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; is another runwire running? Set RUNWIRE_ADDR to a free address",
                config.addr
            )
        })?;
    let metrics_listener = match config.metrics_addr {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on RUNWIRE_METRICS_ADDR {addr}"))?,
        ),
        None => None,
    };
    let mut db = Database::locate(config.database_url.as_deref(), &config.data_dir).await?;
    db.migrate().await?;
    let pool = db.app_pool(config.db_pool).await?;
    // The scheduler keeps partitions made ahead; this covers a process whose jobs are off, or a
    // database that was not served for a while. Failing, it only warns: rows without a partition
    // wait in the DEFAULT one.
    if let Err(err) =
        partitions::create_ahead_committed(&pool, chrono::Utc::now(), config.partition_unit).await
    {
        tracing::warn!("could not make the event log's partitions ahead: {err}");
    }
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
        api_limiter: rate_limit::limiter(config.api_rate, config.api_burst),
        bus: bus.clone(),
        publisher: AgentEventPublisher::with_prices(pool.clone(), Arc::new(config.price_table()?)),
        reader: match config
            .database_read_url
            .as_deref()
            .filter(|url| !url.is_empty())
        {
            Some(url) => {
                let replica = ReadReplica::connect(url, pool.clone(), config.db_pool)
                    .await
                    .context("DATABASE_READ_URL")?;
                RunReader::with_replica(pool.clone(), bus.clone(), Arc::new(replica))
            }
            None => RunReader::new(pool.clone(), bus.clone()),
        },
        live: config.live(),
        live_sockets: Default::default(),
        exports: Default::default(),
        agents: agents.clone(),
        jobs,
        cron_secret: config
            .cron_secret
            .as_deref()
            .filter(|secret| !secret.is_empty())
            .map(Arc::from),
        metrics_token: config
            .metrics_token
            .as_deref()
            .filter(|token| !token.is_empty())
            .map(Arc::from),
        web: Arc::new(config.web()?),
        sessions: config.sessions(),
    };
    let addr = listener.local_addr()?;
    tracing::info!("runwire is serving at http://{addr}");
    if let Some(metrics) = metrics_listener {
        let at = metrics.local_addr()?;
        tracing::info!("metrics at http://{at}/metrics");
        if !is_internal(at.ip()) {
            tracing::warn!(
                "RUNWIRE_METRICS_ADDR {at} is not a loopback or private address, and /metrics \
                 there asks for no token: keep it behind a firewall or use RUNWIRE_METRICS_TOKEN"
            );
        }
        let router = telemetry::private_router(state.clone());
        let stopped = bus.stopped();
        tokio::spawn(serve_http(
            metrics,
            router,
            ConnectionLimits {
                max_connections: 64,
                ..config.connection_limits()
            },
            stopped,
        ));
    }
    if let Some(cluster) = &db.cluster {
        tracing::info!(
            "embedded PostgreSQL on 127.0.0.1:{} (data in {}/postgres)",
            cluster.port(),
            config.data_dir.display()
        );
    }
    if config.demo {
        tracing::info!("demo account: {DEMO_EMAIL} / {DEMO_PASSWORD}");
    }
    serve_http(listener, router(state), config.connection_limits(), {
        let bus = bus.clone();
        async move {
            shutdown_signal().await;
            // Live sockets never end by themselves: stopping the hub ends them, so shutdown can finish.
            bus.stop();
        }
    })
    .await;
    agents.shutdown(std::time::Duration::from_secs(5)).await;
    pool.close().await;
    db.stop()?;
    tracing::info!("runwire stopped");
    Ok(())
}

/// A loopback or private-network address (not one every network can reach).
fn is_internal(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local()
        }
    }
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
