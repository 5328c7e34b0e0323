//! The TypeScript client (clients/typescript) against a running runwire: Node's test runner runs
//! its tests (`test/*.test.mjs`, on the compiled `dist/`, which `make ts-client` builds) with the
//! server's URL and a token: REST, and a live subscription cut twice and resumed with no event lost
//! or doubled.

mod common;

use common::app_with_agent_token;

#[tokio::test]
async fn the_typescript_client_passes_its_tests_against_a_live_server() {
    let (app, token) = app_with_agent_token("ts@example.com").await;
    let package = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/typescript");
    assert!(
        std::path::Path::new(package).join("dist/index.js").exists(),
        "clients/typescript/dist is missing: `make ts-client` builds it"
    );
    let output = tokio::process::Command::new("node")
        .args([
            "--experimental-websocket",
            "--test",
            "--test-timeout=60000",
            "test/",
        ])
        .current_dir(package)
        .env("RUNWIRE_URL", app.url(""))
        .env("RUNWIRE_TOKEN", &token)
        .output()
        .await
        .expect("node runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{report}");
    assert!(report.contains("# fail 0"), "{report}");
    assert!(report.contains("# pass 4"), "{report}");
}
