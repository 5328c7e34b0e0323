//! The REST API fuzzed from its own OpenAPI document with schemathesis (installed by `make test` into
//! `.venv`): every request the document calls valid is accepted (but for the refusals that depend
//! on state, named in tests/fuzz/hooks.py), every request it calls invalid is refused, nothing
//! answers 5xx, and every answer matches the document.

mod common;

use common::process::ServerProcess;
use common::TestDb;
use runwire::model::UserRole;
use runwire::server::auth::tokens::{self, NewToken};
use std::path::Path;

#[tokio::test]
async fn the_api_does_what_its_openapi_document_says() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schemathesis = root.join(".venv/bin/schemathesis");
    assert!(
        schemathesis.exists(),
        "schemathesis is missing: `make fuzz-deps` installs it into .venv"
    );
    let db = TestDb::new().await;
    let user = db.user("fuzz@example.com", UserRole::User).await;
    let (_, token) = tokens::create(&db.pool, &user, &NewToken::read_write("fuzz"))
        .await
        .unwrap();
    let server = ServerProcess::start_with(
        &db.url,
        None,
        &[
            ("CRON_SECRET", "fuzz-cron-secret"),
            ("RUNWIRE_METRICS_TOKEN", "fuzz-metrics-token"),
            ("RUNWIRE_API_RATE", "100000"),
            ("RUNWIRE_API_BURST", "100000"),
            ("RUNWIRE_JOBS", "0"),
        ],
    )
    .await;
    let output = tokio::process::Command::new(&schemathesis)
        .current_dir(root)
        .env("SCHEMATHESIS_HOOKS", "tests.fuzz.hooks")
        .env("RUNWIRE_FUZZ_TOKEN", &token)
        .args(["--config-file", "tests/fuzz/schemathesis.toml", "run"])
        .arg(format!("http://{}/api/v1/openapi.json", server.addr))
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--max-examples", "25", "--seed", "7", "--no-color"])
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    let summary: Vec<&str> = report
        .lines()
        .filter(|line| line.contains("generated") || line.contains("passed"))
        .collect();
    println!("{}", summary.join("\n"));
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
