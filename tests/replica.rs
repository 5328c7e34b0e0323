//! `DATABASE_READ_URL`: a streaming standby of an embedded cluster (`pg_basebackup`) takes the
//! dashboard's lists, and a list still sees every write that finished before it began: the read
//! waits for the standby to replay that far, or, when the standby lags (replay paused), reads the
//! primary. The real binary, on a primary and standby of the test's own.

mod common;

use common::process::ServerProcess;
use reqwest::StatusCode;
use runwire::model::UserRole;
use runwire::server::auth::tokens::{self, NewToken};
use runwire::server::db::{self, Durability, EmbeddedPostgres, MIGRATOR};
use runwire::server::{password, users};
use serde_json::{json, Value};
use sqlx::Executor;
use std::time::{Duration, Instant};

const METRICS_TOKEN: &str = "replica-metrics";

/// Dashboard reads served by the standby and by the primary so far.
async fn served_by(addr: std::net::SocketAddr) -> (f64, f64) {
    let text = common::metrics::scrape(&format!("http://{addr}/metrics"), METRICS_TOKEN).await;
    let count = |by: &str| {
        common::metrics::sample(
            &text,
            &format!(r#"runwire_read_replica_reads_total{{served_by="{by}"}}"#),
        )
    };
    (count("standby"), count("primary"))
}

#[tokio::test]
async fn lists_read_the_standby_and_still_see_every_earlier_write() {
    let root = std::env::temp_dir().join(format!("runwire-replica-{}", uuid::Uuid::new_v4()));
    let primary = EmbeddedPostgres::start(&root.join("primary"), Durability::Fast).unwrap();
    db::ensure_database(&primary.connect_options("postgres"), "runwire")
        .await
        .unwrap();
    let owner = primary.connect_options("runwire");
    let mut conn = db::connect_owner(&owner).await.unwrap();
    MIGRATOR.run(&mut conn).await.unwrap();
    let pool = db::app_pool(&owner, 2).await.unwrap();
    let hash = password::hash_now("replica-password").unwrap();
    let user = users::ensure(&pool, "reader@example.com", &hash, UserRole::User)
        .await
        .unwrap();
    let (_, token) = tokens::create(&pool, &user, &NewToken::read_write("agent"))
        .await
        .unwrap();
    let standby =
        EmbeddedPostgres::start_standby_of(&primary, &root.join("standby"), Durability::Fast)
            .unwrap();
    let read_url = standby.url("runwire");
    let mut server = ServerProcess::start_with(
        &primary.url("runwire"),
        None,
        &[
            ("DATABASE_READ_URL", read_url.as_str()),
            ("RUNWIRE_METRICS_TOKEN", METRICS_TOKEN),
        ],
    )
    .await;
    let http = common::agent();
    let base = format!("http://{}", server.addr);
    let create = |task: &'static str| {
        http.post(format!("{base}/api/v1/runs"))
            .bearer_auth(&token)
            .json(&json!({ "agent_name": "replicated", "task": task }))
            .send()
    };
    let listed = || async {
        let response = http
            .get(format!("{base}/api/v1/runs"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.unwrap();
        page["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|run| run["task"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };

    // A write, then at once a list: the standby serves it, and the run is there.
    let (standby_before, primary_before) = served_by(server.addr).await;
    assert_eq!(create("first").await.unwrap().status(), StatusCode::CREATED);
    assert!(listed().await.contains(&"first".to_owned()));
    let (standby_after, primary_after) = served_by(server.addr).await;
    assert_eq!(standby_after - standby_before, 1.0);
    assert_eq!(primary_after, primary_before);

    // The standby stops replaying: a list waits for it a little, then reads the primary, and
    // still sees the write before it.
    let mut standby_conn = db::connect_owner(&standby.connect_options("runwire"))
        .await
        .unwrap();
    standby_conn
        .execute("SELECT pg_wal_replay_pause()")
        .await
        .unwrap();
    assert_eq!(
        create("second").await.unwrap().status(),
        StatusCode::CREATED
    );
    let asked = Instant::now();
    assert!(listed().await.contains(&"second".to_owned()));
    assert!(asked.elapsed() >= db::REPLICA_WAIT_MAX);
    let (standby_lagging, primary_lagging) = served_by(server.addr).await;
    assert_eq!(primary_lagging - primary_after, 1.0);
    assert_eq!(standby_lagging, standby_after);
    // The standby itself has not seen it: the list above was the primary's.
    let on_standby: i64 =
        sqlx::query_scalar("SELECT count(*) FROM agent_runs WHERE task = 'second'")
            .fetch_one(&mut standby_conn)
            .await
            .unwrap();
    assert_eq!(on_standby, 0);

    // Replay resumes: the standby serves again.
    standby_conn
        .execute("SELECT pg_wal_replay_resume()")
        .await
        .unwrap();
    assert!(listed().await.contains(&"second".to_owned()));
    let (standby_resumed, _) = served_by(server.addr).await;
    assert_eq!(standby_resumed - standby_lagging, 1.0);

    server.child.kill().await.unwrap();

    // A read URL that names the primary itself would make every read wait for nothing: refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_runwire"))
        .arg("serve")
        .env("DATABASE_URL", primary.url("runwire"))
        .env("DATABASE_READ_URL", primary.url("runwire"))
        .env("RUNWIRE_ADDR", port.to_string())
        .env("RUST_LOG", "error")
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("not in recovery"), "{said}");
    drop(pool);
    drop(standby);
    drop(primary);
    let _ = std::fs::remove_dir_all(&root);
    // the clusters stop when dropped; give the postmasters a moment to go
    tokio::time::sleep(Duration::from_millis(100)).await;
}
