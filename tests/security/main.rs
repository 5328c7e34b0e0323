//! Hardening: each module closes one hole a hostile user or visitor could use, with the figure its
//! issue names (see README "Security").

#[path = "../common/mod.rs"]
mod common;

mod database;
mod escaping;
mod forgery;
mod headers;
mod live_limits;
mod memory;
mod queue;
mod redirect;
mod rendering;
mod sign_in;
mod slow_clients;
mod tokens;

use common::{TestApp, TestDb};
use runwire::server::web::WebConfig;
use std::sync::Arc;

/// An app that believes X-Forwarded-For from 127.0.0.1, as it would from its reverse proxy: tests
/// can then speak for any client address.
pub async fn behind_proxy() -> TestApp {
    TestApp::start_configured(TestDb::new().await, None, |state| {
        state.web = Arc::new(WebConfig {
            trusted_proxies: WebConfig::parse_proxies("127.0.0.0/8").unwrap(),
            ..(*state.web).clone()
        });
    })
    .await
}

/// Form fields of a sign-in.
pub fn credentials<'a>(email: &'a str, password: &'a str) -> [(&'static str, &'a str); 3] {
    [("email", email), ("password", password), ("next", "")]
}
