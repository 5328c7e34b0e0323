//! The dashboard's queries at a million runs: each must use an index, never a sequential scan of
//! agent_runs. Plans are the ones PostgreSQL really executes (EXPLAIN ANALYZE), through the same
//! repository functions the server calls, as the app role under row-level security.

mod common;

use common::TestDb;
use runwire::model::{RunFilter, RunSort, RunStatus, StatsWindow, UserRole};
use runwire::server::db::{begin_scoped, Principal};
use runwire::server::seed::bulk as bulk_seed;
use runwire::server::{runs, spans};
use serde_json::Value;

/// Every node of a plan, depth first.
fn nodes(plan: &Value, out: &mut Vec<Value>) {
    out.push(plan.clone());
    if let Some(children) = plan["Plans"].as_array() {
        for child in children {
            nodes(child, out);
        }
    }
}

/// Each scan of an executed plan, as "<node type> on <relation>".
fn scans(explained: &Value) -> Vec<String> {
    let mut all = Vec::new();
    nodes(&explained[0]["Plan"], &mut all);
    all.iter()
        .filter_map(|n| {
            let relation = n["Relation Name"].as_str()?;
            Some(format!(
                "{} on {relation}",
                n["Node Type"].as_str().unwrap_or("?")
            ))
        })
        .collect()
}

fn check(name: &str, explained: Value) {
    let root = &explained[0];
    let scans = scans(&explained);
    println!(
        "{name:<40} {:>8.2} ms  {}",
        root["Execution Time"].as_f64().unwrap_or(f64::NAN),
        scans.join(", ")
    );
    assert!(
        !scans.iter().any(|s| s == "Seq Scan on agent_runs"),
        "{name} scans agent_runs sequentially: {explained:#}"
    );
}

/// The hub makes its generic plans once, when the server starts, and a new install starts on
/// empty tables whose partitions were analysed empty: a plan made then must still find a run's
/// newest event by index, or the hub scans a whole partition of the log for every batch until
/// autovacuum analyses it again.
#[tokio::test]
async fn the_hubs_runs_read_planned_on_a_new_install_scans_no_table() {
    let db = TestDb::new().await;
    let mut hub = begin_scoped(&db.pool, Principal::SYSTEM).await.unwrap();
    let explained = runs::explain_by_ids_as_of_generic(&mut hub, &[uuid::Uuid::new_v4()], 0)
        .await
        .unwrap();
    hub.commit().await.unwrap();
    let sequential: Vec<String> = scans(&explained)
        .into_iter()
        .filter(|scan| scan.starts_with("Seq Scan on "))
        .collect();
    assert!(
        sequential.is_empty(),
        "the hub's runs read scans {sequential:?}: {explained:#}"
    );
}

/// A later page of a run whose spans share one start time (an exporter's batch, the span
/// benchmark): PostgreSQL judges the cursor by the start time alone and, left to itself, read the
/// rest of the run with a bitmap scan and sorted it for every page. The page must come from the
/// `(run_id, started_at, span_id)` index in order, stopping at the limit.
#[tokio::test]
async fn a_later_span_page_reads_the_index_in_order_when_spans_share_a_start() {
    let db = TestDb::new().await;
    let user = db.user("tracer@example.com", UserRole::User).await;
    let mut owner = db.owner_conn().await;
    let (run_id, started_at): (uuid::Uuid, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "INSERT INTO agent_runs (user_id, agent_name, task, status, started_at)
         VALUES ($1, 'tracer', 'many spans', 'in_progress', now()) RETURNING id, now()",
    )
    .bind(user.id)
    .fetch_one(&mut owner)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO agent_run_spans (span_id, run_id, user_id, kind, name, status, started_at,
                                      ended_at, run_created_at)
         SELECT 's' || n, r.id, r.user_id, 'llm', 'chat', 'ok', $2, $2, r.created_at
         FROM agent_runs r, generate_series(0, 4999) AS n WHERE r.id = $1",
    )
    .bind(run_id)
    .bind(started_at)
    .execute(&mut owner)
    .await
    .unwrap();
    sqlx::raw_sql("ANALYZE agent_run_spans")
        .execute(&mut owner)
        .await
        .unwrap();
    let mut tx = begin_scoped(&db.pool, common::principal(&user))
        .await
        .unwrap();
    let explained = spans::explain_page(&mut tx, run_id, Some((started_at, "s2000".into())), 1000)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut all = Vec::new();
    nodes(&explained[0]["Plan"], &mut all);
    let types: Vec<&str> = all.iter().filter_map(|n| n["Node Type"].as_str()).collect();
    println!("a later span page: {}", types.join(" > "));
    assert!(
        !types
            .iter()
            .any(|t| *t == "Sort" || t.starts_with("Bitmap")),
        "a later span page is not read in index order: {explained:#}"
    );
    assert_eq!(explained[0]["Plan"]["Actual Rows"], 1000);
}

#[tokio::test]
async fn dashboard_queries_use_indexes_at_a_million_runs() {
    let count: u64 = std::env::var("RUNWIRE_PLAN_TEST_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let db = TestDb::new().await;
    let user = db.user("million@example.com", UserRole::User).await;
    let other = db.user("small@example.com", UserRole::User).await;
    let mut owner = db.owner_conn().await;
    let started = std::time::Instant::now();
    bulk_seed::generate(&mut owner, user.id, count, 0, |_| {})
        .await
        .unwrap();
    bulk_seed::generate(&mut owner, other.id, 1_000, 0, |_| {})
        .await
        .unwrap();
    println!(
        "loaded {count} runs in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut tx = db.scoped(&user).await;
    let some_id: String = sqlx::query_scalar("SELECT id::text FROM agent_runs LIMIT 1")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    let page = |filter: RunFilter| (filter, RunSort::Newest);
    let queries = [
        ("first page", page(RunFilter::default())),
        (
            "status filter",
            page(RunFilter {
                statuses: vec![RunStatus::Failed, RunStatus::TimedOut],
                ..Default::default()
            }),
        ),
        (
            "active now",
            page(RunFilter {
                active_only: true,
                ..Default::default()
            }),
        ),
        (
            "agent filter",
            page(RunFilter {
                agent_name: Some("reviewer".into()),
                ..Default::default()
            }),
        ),
        (
            "search common text",
            page(RunFilter {
                search: Some("payments".into()),
                ..Default::default()
            }),
        ),
        (
            "search rare text",
            page(RunFilter {
                search: Some("batch 517)".into()),
                ..Default::default()
            }),
        ),
        (
            "search run id prefix",
            page(RunFilter {
                search: Some(some_id[..8].to_owned()),
                ..Default::default()
            }),
        ),
        ("oldest first", (RunFilter::default(), RunSort::Oldest)),
        ("longest first", (RunFilter::default(), RunSort::Longest)),
        (
            "failed, longest first",
            (
                RunFilter {
                    statuses: vec![RunStatus::Failed],
                    ..Default::default()
                },
                RunSort::Longest,
            ),
        ),
    ];
    for (name, (filter, sort)) in queries {
        if filter.search.is_some() {
            // A search first looks through the newest runs; only when that finds less than a page
            // (51 rows: the page and one more) does the server run the full query.
            let window = runs::explain_page(&mut tx, true, &filter, sort, None, 50)
                .await
                .unwrap();
            let found = window[0]["Plan"]["Actual Rows"].as_f64().unwrap_or(0.0);
            check(&format!("{name} (newest runs)"), window);
            if found >= 51.0 {
                continue;
            }
        }
        check(
            name,
            runs::explain_page(&mut tx, false, &filter, sort, None, 50)
                .await
                .unwrap(),
        );
        if let Some(search) = filter.search_text() {
            // the search function's own query, planned the way it plans it (with its values)
            let inner: Value = sqlx::query_scalar(
                "EXPLAIN (ANALYZE, FORMAT JSON) SELECT id FROM agent_runs
                 WHERE user_id = $1 AND (search_text LIKE lower($2) OR id::text LIKE $3)",
            )
            .bind(user.id)
            .bind(format!("%{search}%"))
            .bind(format!("{}%", search.to_lowercase()))
            .fetch_one(&mut owner)
            .await
            .unwrap();
            check(&format!("{name} (search_run_ids)"), inner);
        }
    }
    // The event hub reads each batch's runs with the generic plan (its session forces it; see
    // db::system_session), as the server itself: without the values, the plan must still find
    // runs by their key.
    let mut hub = begin_scoped(&db.pool, Principal::SYSTEM).await.unwrap();
    let some_uuid: uuid::Uuid = some_id.parse().unwrap();
    check(
        "hub: runs of a batch (generic plan)",
        runs::explain_by_ids_as_of_generic(&mut hub, &[some_uuid], 0)
            .await
            .unwrap(),
    );
    hub.commit().await.unwrap();
    for window in StatsWindow::ALL {
        let since = window.since(chrono::Utc::now());
        check(
            &format!("stats {}", window.label()),
            runs::explain_stats(&mut tx, since).await.unwrap(),
        );
    }
    tx.commit().await.unwrap();
}
