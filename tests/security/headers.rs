//! (11) Security headers on every answer, a nonce-based CSP on pages, and idle sessions ending.

use crate::common::{TestApp, TestDb};
use runwire::model::UserRole;

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn pages_carry_a_nonce_csp_that_matches_their_bootstrap_script() {
    let app = TestApp::start(TestDb::new().await, None).await;
    app.db.user("csp@example.com", UserRole::User).await;
    let client = app.signed_in("csp@example.com").await;
    let mut nonces = Vec::new();
    for path in [
        "/",
        "/signin",
        "/dashboard",
        "/agents",
        "/settings/tokens",
        "/no/such/page",
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        let policy = header(&response, "content-security-policy");
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert!(policy.contains("'wasm-unsafe-eval'"), "{path}: {policy}");
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        assert_eq!(header(&response, "referrer-policy"), "same-origin");
        assert_eq!(header(&response, "x-frame-options"), "DENY");
        assert!(
            response
                .headers()
                .get("strict-transport-security")
                .is_none(),
            "plain http"
        );
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("{path}: no nonce in {policy}"))
            .to_owned();
        let html = response.text().await.unwrap();
        // every inline script of the page carries the nonce, and there is one at least
        let scripts: Vec<&str> = html.split("<script").skip(1).collect();
        assert!(!scripts.is_empty(), "{path}");
        for script in scripts {
            let tag = script.split('>').next().unwrap();
            if !tag.contains("src=") {
                assert!(
                    tag.contains(&format!("nonce=\"{nonce}\"")),
                    "{path}: <script{tag}>"
                );
            }
        }
        assert!(
            !html.contains(" style=\""),
            "{path}: an inline style the CSP would block"
        );
        nonces.push(nonce);
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 6, "a fresh nonce for every page");
    // static files and JSON get the plain headers
    let css = client
        .get(app.url("/pkg/runwire.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&css, "x-content-type-options"), "nosniff");
}

#[tokio::test]
async fn a_session_unused_for_its_idle_time_ends() {
    let app = TestApp::start(TestDb::new().await, None).await;
    app.db.user("idle@example.com", UserRole::User).await;
    let client = app.signed_in("idle@example.com").await;
    let info = |client: &reqwest::Client| client.post(app.url("/api/session_info")).send();
    let before: runwire::model::SessionInfo = info(&client).await.unwrap().json().await.unwrap();
    assert!(before.user.is_some());
    sqlx::query("UPDATE sessions SET last_seen_at = now() - interval '7 days 1 minute'")
        .execute(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    let after: runwire::model::SessionInfo = info(&client).await.unwrap().json().await.unwrap();
    assert!(after.user.is_none(), "idle for over 7 days: signed out");
    let page = client.get(app.url("/dashboard")).send().await.unwrap();
    assert!(page.status().is_redirection());
}
