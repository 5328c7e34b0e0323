use crate::server::auth::sessions::SessionPolicy;
use crate::server::bus::EventBus;
use crate::server::db::Principal;
use crate::server::demo_agent::AgentRunner;
use crate::server::jobs::Scheduler;
use crate::server::live::{LiveConfig, LiveService, OpenSockets};
use crate::server::publisher::AgentEventPublisher;
use crate::server::rate_limit::ApiLimiter;
use crate::server::read::RunReader;
use crate::server::rest::export::OpenExports;
use crate::server::web::WebConfig;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use sqlx::PgPool;
use std::sync::Arc;

/// What every handler and server function can reach (server functions through `expect_context`).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub pool: PgPool,
    /// The demo user, when RUNWIRE_DEMO seeded one.
    pub demo_user: Option<Principal>,
    /// Per-user request budget of the REST API.
    pub api_limiter: Arc<ApiLimiter>,
    /// The process's event hub (one LISTEN connection).
    pub bus: Arc<EventBus>,
    /// The one write path.
    pub publisher: AgentEventPublisher,
    /// The one read path.
    pub reader: RunReader,
    pub live: LiveConfig,
    /// The live sockets open in this process, per user.
    pub live_sockets: Arc<OpenSockets>,
    /// The exports running in this process, per user.
    pub exports: Arc<OpenExports>,
    /// The built-in demo agents' queue and workers.
    pub agents: Arc<AgentRunner>,
    /// The scheduled jobs (also fired by `POST /api/cron/{job}`).
    pub jobs: Arc<Scheduler>,
    /// The bearer secret of the cron endpoint; None: the endpoint answers 503.
    pub cron_secret: Option<Arc<str>>,
    /// The bearer token of `GET /metrics`; None: metrics are not served on the app's address.
    #[from_ref(skip)]
    pub metrics_token: Option<Arc<str>>,
    /// The public origin, trusted proxies and request timeout.
    pub web: Arc<WebConfig>,
    pub sessions: SessionPolicy,
}

impl AppState {
    /// What a live socket needs.
    pub fn live_service(&self) -> LiveService {
        LiveService {
            pool: self.pool.clone(),
            bus: Arc::clone(&self.bus),
            config: self.live,
            sockets: Arc::clone(&self.live_sockets),
        }
    }
}
