//! The schema on a real PostgreSQL: the transition table agrees with Rust, triggers and constraints
//! hold, NOTIFY fires, and row-level security isolates users.

mod common;

use chrono::Utc;
use common::TestDb;
use runwire::error::AppError;
use runwire::model::{RunEvent, RunSort, RunStatus, StatsWindow, UserRole};
use runwire::server::runs;
use runwire::server::seed::{self, SeedRun};
use sqlx::postgres::PgListener;
use sqlx::Row;
use uuid::Uuid;

fn seed(status: RunStatus) -> SeedRun<'static> {
    let now = Utc::now();
    SeedRun {
        agent_name: "tester",
        task: "check the schema",
        status,
        progress_percent: 10.0,
        current_step: None,
        result: None,
        error: None,
        created_at: now,
        started_at: Some(now),
        completed_at: status.is_terminal().then_some(now),
    }
}

#[tokio::test]
async fn sql_transition_table_agrees_with_rust_on_all_121_pairs() {
    let db = TestDb::new().await;
    let rows = sqlx::query(
        "SELECT f, t, run_status_transition_allowed(f, t) AS allowed
         FROM unnest(enum_range(NULL::run_status)) f, unnest(enum_range(NULL::run_status)) t",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 121);
    for row in rows {
        let from: RunStatus = row.get("f");
        let to: RunStatus = row.get("t");
        let allowed: bool = row.get("allowed");
        assert_eq!(allowed, from.can_transition_to(to), "{from} -> {to}");
    }
    // and the enum itself has exactly the Rust variants, in order
    let names: Vec<String> =
        sqlx::query_scalar("SELECT unnest(enum_range(NULL::run_status))::text")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let rust: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(names, rust);
}

#[tokio::test]
async fn update_trigger_enforces_the_table_on_all_121_pairs() {
    let db = TestDb::new().await;
    let user = db.user("trigger@example.com", UserRole::User).await;
    for from in RunStatus::ALL {
        for to in RunStatus::ALL {
            let mut tx = db.scoped(&user).await;
            let id = seed::insert_seed(&mut tx, &seed(from)).await.unwrap();
            let result = sqlx::query(
                "UPDATE agent_runs SET status = $2,
                        completed_at = CASE WHEN run_status_is_terminal($2) THEN now() END
                 WHERE id = $1",
            )
            .bind(id)
            .bind(to)
            .execute(tx.conn())
            .await;
            // Staying put is not a transition: allowed for active runs (a progress update), while a
            // finished run accepts no write at all.
            let expected = from.can_transition_to(to) || (from == to && from.is_active());
            match result {
                Ok(done) => {
                    assert!(expected, "{from} -> {to} was accepted");
                    assert_eq!(done.rows_affected(), 1);
                }
                Err(err) => {
                    assert!(!expected, "{from} -> {to} was rejected: {err}");
                    assert!(matches!(AppError::from(err), AppError::Conflict(_)));
                }
            }
        }
    }
}

#[tokio::test]
async fn progress_moves_forward_within_an_attempt_only() {
    let db = TestDb::new().await;
    let user = db.user("progress@example.com", UserRole::User).await;
    let mut tx = db.scoped(&user).await;
    let id = seed::insert_seed(&mut tx, &seed(RunStatus::InProgress))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let set = |progress: f32, attempt: i32| {
        sqlx::query("UPDATE agent_runs SET progress_percent = $2, attempt = $3 WHERE id = $1")
            .bind(id)
            .bind(progress)
            .bind(attempt)
    };
    let mut tx = db.scoped(&user).await;
    set(50.0, 1).execute(tx.conn()).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = db.scoped(&user).await;
    let err = set(40.0, 1).execute(tx.conn()).await.unwrap_err();
    assert_eq!(
        AppError::from(err),
        AppError::validation(
            "progress_percent",
            format!("progress of run {id} cannot move backwards (50 -> 40) within an attempt")
        )
    );
    drop(tx);

    // A new attempt may start over.
    let mut tx = db.scoped(&user).await;
    set(5.0, 2).execute(tx.conn()).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = db.scoped(&user).await;
    for bad in [-1.0_f32, 100.5] {
        let err = set(bad, 2).execute(tx.conn()).await.unwrap_err();
        assert!(
            matches!(AppError::from(err), AppError::Validation { ref field, .. } if field == "progress_percent"),
            "{bad}"
        );
        drop(tx);
        tx = db.scoped(&user).await;
    }
}

#[tokio::test]
async fn check_constraints_name_the_field() {
    let db = TestDb::new().await;
    let user = db.user("checks@example.com", UserRole::User).await;
    let long_name = "a".repeat(101);
    for (agent, task, field) in [
        ("", "task", "agent_name"),
        (long_name.as_str(), "task", "agent_name"),
        ("agent", "", "task"),
    ] {
        let mut tx = db.scoped(&user).await;
        let mut run = seed(RunStatus::Pending);
        run.agent_name = agent;
        run.task = task;
        let err = seed::insert_seed(&mut tx, &run).await.unwrap_err();
        assert!(
            matches!(AppError::from(err), AppError::Validation { field: ref f, .. } if f == field),
            "{field}"
        );
    }
    // completed_at goes with the terminal states, and only with them
    let mut tx = db.scoped(&user).await;
    let mut run = seed(RunStatus::Completed);
    run.completed_at = None;
    assert!(seed::insert_seed(&mut tx, &run).await.is_err());
}

#[tokio::test]
async fn events_are_append_only_for_the_application() {
    let db = TestDb::new().await;
    let user = db.user("append@example.com", UserRole::User).await;
    let mut tx = db.scoped(&user).await;
    seed::insert_seed(&mut tx, &seed(RunStatus::InProgress))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    for statement in [
        "UPDATE agent_run_events SET step = 'rewritten'",
        "DELETE FROM agent_run_events",
    ] {
        let mut tx = db.scoped(&user).await;
        let err = sqlx::query(statement).execute(tx.conn()).await.unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{statement}: {err}"
        );
    }
    // Even the owner cannot rewrite history.
    let mut owner = db.owner_conn().await;
    let err = sqlx::query("UPDATE agent_run_events SET step = 'rewritten'")
        .execute(&mut owner)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"));
}

#[tokio::test]
async fn events_and_spans_name_their_runs_owner_and_go_with_the_user() {
    let db = TestDb::new().await;
    let owner = db.user("keys-owner@example.com", UserRole::User).await;
    let other = db.user("keys-other@example.com", UserRole::User).await;
    let mut tx = db.scoped(&owner).await;
    let run_id = seed::insert_seed(&mut tx, &seed(RunStatus::InProgress))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    const SPAN_INSERT: &str =
        "INSERT INTO agent_run_spans (run_id, user_id, span_id, kind, name, status, started_at,
                                      run_created_at)
         VALUES ($1, $2, 's1', 'llm', 'chat', 'running', now(),
                 (SELECT created_at FROM agent_runs WHERE id = $1))";
    // As the schema's owner (no row-level security in the way): only the keys stand between a
    // run and a row that names it with somebody else as its user.
    let mut conn = db.owner_conn().await;
    for statement in [
        "INSERT INTO agent_run_events (run_id, user_id, kind, status) VALUES ($1, $2, 'progress', 'in_progress')",
        SPAN_INSERT,
    ] {
        let err = sqlx::query(statement)
            .bind(run_id)
            .bind(other.id)
            .execute(&mut conn)
            .await
            .unwrap_err();
        let constraint = err.as_database_error().and_then(|err| err.constraint());
        assert!(
            constraint.is_some_and(|name| name.ends_with("_run_owner")),
            "{statement}: {err}"
        );
    }
    // A span names its run's creation time too (its partition): another time is no run of its.
    let err = sqlx::query(
        "INSERT INTO agent_run_spans (run_id, user_id, span_id, kind, name, status, started_at,
                                      run_created_at)
         VALUES ($1, $2, 's0', 'llm', 'chat', 'running', now(),
                 (SELECT created_at - interval '1 day' FROM agent_runs WHERE id = $1))",
    )
    .bind(run_id)
    .bind(owner.id)
    .execute(&mut conn)
    .await
    .unwrap_err();
    assert_eq!(
        err.as_database_error().and_then(|err| err.constraint()),
        Some("agent_run_spans_run_owner"),
        "{err}"
    );
    sqlx::query(SPAN_INSERT)
        .bind(run_id)
        .bind(owner.id)
        .execute(&mut conn)
        .await
        .unwrap();
    // Neither key a span names can move under it.
    for statement in [
        "UPDATE agent_runs SET created_at = created_at - interval '1 day' WHERE id = $1",
        "UPDATE agent_run_spans SET run_created_at = run_created_at - interval '1 day'
         WHERE run_id = $1",
    ] {
        let err = sqlx::query(statement)
            .bind(run_id)
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("never changes"),
            "{statement}: {err}"
        );
    }

    // Deleting a run takes its events and spans with it; its owner's other runs keep theirs.
    let mut tx = db.scoped(&owner).await;
    let kept = seed::insert_seed(&mut tx, &seed(RunStatus::InProgress))
        .await
        .unwrap();
    let deleted = seed::insert_seed(&mut tx, &seed(RunStatus::InProgress))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    for run in [kept, deleted] {
        sqlx::query(SPAN_INSERT)
            .bind(run)
            .bind(owner.id)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    sqlx::query("DELETE FROM agent_runs WHERE id = $1")
        .bind(deleted)
        .execute(&mut conn)
        .await
        .unwrap();
    let rows_of = |run: Uuid| {
        sqlx::query_scalar::<_, i64>(
            "SELECT (SELECT count(*) FROM agent_run_events WHERE run_id = $1)
                  + (SELECT count(*) FROM agent_run_spans WHERE run_id = $1)",
        )
        .bind(run)
    };
    assert_eq!(rows_of(deleted).fetch_one(&mut conn).await.unwrap(), 0);
    assert!(
        rows_of(kept).fetch_one(&mut conn).await.unwrap() >= 2,
        "the other run keeps its rows"
    );

    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(owner.id)
        .execute(&mut conn)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM agent_run_events WHERE run_id = $1)
              + (SELECT count(*) FROM agent_run_spans WHERE run_id = $1)",
    )
    .bind(run_id)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(left, 0, "the user's events and spans went with the user");
}

#[tokio::test]
async fn every_event_insert_notifies_its_id_and_owner_and_carries_only_small_events() {
    let db = TestDb::new().await;
    let user = db.user("notify@example.com", UserRole::User).await;
    let owner_pool = sqlx::PgPool::connect_with(db.owner.clone()).await.unwrap();
    let mut listener = PgListener::connect_with(&owner_pool).await.unwrap();
    listener.listen("agent_run_events").await.unwrap();
    let mut next_note = async || -> serde_json::Value {
        let note = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv())
            .await
            .expect("a notification within 5 s")
            .unwrap();
        serde_json::from_str(note.payload()).unwrap()
    };

    let mut tx = db.scoped(&user).await;
    let run_id = seed::insert_seed(&mut tx, &seed(RunStatus::InProgress))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let payload = next_note().await;
    let stored: Vec<RunEvent> = sqlx::query_as(
        "SELECT id, run_id, user_id, kind, status, progress, step, payload, created_at
         FROM agent_run_events WHERE run_id = $1 ORDER BY id",
    )
    .bind(run_id)
    .fetch_all(&mut db.owner_conn().await)
    .await
    .unwrap();
    assert_eq!(stored.len(), 1);
    let carried: Vec<RunEvent> = serde_json::from_value(payload["events"].clone()).unwrap();
    assert_eq!(
        carried, stored,
        "the events carried are not the rows stored"
    );
    assert_eq!(
        payload,
        serde_json::json!({
            "id": stored[0].id,
            "user_id": user.id.to_string(),
            "events": payload["events"],
        })
    );

    // Events too large to carry: the note names the newest id and the owner alone.
    let big: i64 = sqlx::query_scalar(
        "INSERT INTO agent_run_events (run_id, user_id, kind, status, progress, payload)
         SELECT $1, $2, 'progress', 'in_progress', n, json_build_object('text', repeat('x', 3000))
         FROM generate_series(1, 2) n
         RETURNING id",
    )
    .bind(run_id)
    .bind(user.id)
    .fetch_all(&mut db.owner_conn().await)
    .await
    .unwrap()
    .into_iter()
    .max()
    .unwrap();
    assert_eq!(
        next_note().await,
        serde_json::json!({ "id": big, "user_id": user.id.to_string() })
    );
}

#[tokio::test]
async fn the_application_role_is_neither_owner_nor_superuser() {
    let db = TestDb::new().await;
    let row = sqlx::query(
        "SELECT current_user::text AS name, r.rolsuper, r.rolbypassrls,
                (SELECT tableowner FROM pg_tables WHERE tablename = 'agent_runs') AS owner
         FROM pg_roles r WHERE r.rolname = current_user",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>("name"), "runwire_app");
    assert!(!row.get::<bool, _>("rolsuper"));
    assert!(!row.get::<bool, _>("rolbypassrls"));
    assert_ne!(row.get::<String, _>("owner"), "runwire_app");
}

#[tokio::test]
async fn row_level_security_isolates_users_and_lets_admins_see_all() {
    let db = TestDb::new().await;
    let alice = db.user("alice@example.com", UserRole::User).await;
    let bob = db.user("bob@example.com", UserRole::User).await;
    let admin = db.user("admin@example.com", UserRole::Admin).await;
    let mut ids = vec![];
    for user in [&alice, &bob] {
        let mut tx = db.scoped(user).await;
        ids.push(
            seed::insert_seed(&mut tx, &seed(RunStatus::InProgress))
                .await
                .unwrap(),
        );
        tx.commit().await.unwrap();
    }
    let (alice_run, bob_run) = (ids[0], ids[1]);

    // No user set: nothing is visible, nothing can be written.
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM agent_runs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM agent_run_events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(events, 0);

    // Alice, even with no WHERE clause, sees only her run and its events.
    let mut tx = db.scoped(&alice).await;
    let visible: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM agent_runs")
        .fetch_all(tx.conn())
        .await
        .unwrap();
    assert_eq!(visible, vec![alice_run]);
    let event_runs: Vec<Uuid> = sqlx::query_scalar("SELECT run_id FROM agent_run_events")
        .fetch_all(tx.conn())
        .await
        .unwrap();
    assert_eq!(event_runs, vec![alice_run]);
    assert!(runs::get(&mut tx, bob_run).await.unwrap().is_none());
    let listed = runs::page(&mut tx, &Default::default(), RunSort::Newest, None, 50)
        .await
        .unwrap()
        .runs;
    assert_eq!(
        listed.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![alice_run]
    );
    assert_eq!(runs::stats(&mut tx, None).await.unwrap().total, 1);

    // She cannot change Bob's run, nor create one in his name, nor move hers to him.
    let updated = sqlx::query("UPDATE agent_runs SET progress_percent = 99 WHERE id = $1")
        .bind(bob_run)
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 0);
    let deleted = sqlx::query("DELETE FROM agent_runs WHERE id = $1")
        .bind(bob_run)
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 0);
    tx.commit().await.unwrap();
    let mut tx = db.scoped(&alice).await;
    let err =
        sqlx::query("INSERT INTO agent_runs (user_id, agent_name, task) VALUES ($1, 'x', 'y')")
            .bind(bob.id)
            .execute(tx.conn())
            .await
            .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    drop(tx);
    let mut tx = db.scoped(&alice).await;
    let err = sqlx::query(
        "INSERT INTO agent_run_events (run_id, user_id, kind, status) VALUES ($1, $2, 'progress', 'in_progress')",
    )
    .bind(bob_run)
    .bind(bob.id)
    .execute(tx.conn())
    .await
    .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    drop(tx);

    // Bob's run is untouched.
    let mut tx = db.scoped(&bob).await;
    let bobs = runs::get(&mut tx, bob_run).await.unwrap().unwrap();
    assert_eq!(bobs.progress_percent, 10.0);
    drop(tx);

    // The admin sees both.
    let mut tx = db.scoped(&admin).await;
    let mut all: Vec<Uuid> = runs::page(&mut tx, &Default::default(), RunSort::Newest, None, 50)
        .await
        .unwrap()
        .runs
        .iter()
        .map(|r| r.id)
        .collect();
    all.sort();
    let mut expected = vec![alice_run, bob_run];
    expected.sort();
    assert_eq!(all, expected);
}

#[tokio::test]
async fn stats_function_counts_exactly() {
    let db = TestDb::new().await;
    let user = db.user("stats@example.com", UserRole::User).await;
    let other = db.user("other@example.com", UserRole::User).await;
    let now = Utc::now();
    let mut tx = db.scoped(&user).await;
    let plan = [
        (RunStatus::Completed, 10, 0),
        (RunStatus::Completed, 30, 0),
        (RunStatus::Failed, 20, 0),
        (RunStatus::Cancelled, 5, 0),
        (RunStatus::InProgress, 0, 0),
        (RunStatus::Queued, 0, 0),
        // outside a 24 h window
        (RunStatus::Completed, 100, 3),
    ];
    for (status, seconds, days_ago) in plan {
        let created = now - chrono::Duration::days(days_ago) - chrono::Duration::minutes(1);
        let mut run = seed(status);
        run.created_at = created;
        run.started_at = Some(created);
        run.completed_at = status
            .is_terminal()
            .then(|| created + chrono::Duration::seconds(seconds));
        seed::insert_seed(&mut tx, &run).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = db.scoped(&other).await;
    seed::insert_seed(&mut tx, &seed(RunStatus::Failed))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = db.scoped(&user).await;
    let day = runs::stats(&mut tx, StatsWindow::Day.since(now))
        .await
        .unwrap();
    assert_eq!(
        (
            day.total,
            day.active,
            day.completed,
            day.failed,
            day.cancelled,
            day.timed_out
        ),
        (6, 2, 2, 1, 1, 0)
    );
    assert_eq!(
        day.avg_duration_seconds,
        Some((10.0 + 30.0 + 20.0 + 5.0) / 4.0)
    );
    assert_eq!(day.success_rate(), Some(0.5));
    let all = runs::stats(&mut tx, None).await.unwrap();
    assert_eq!((all.total, all.completed), (7, 3));
    assert_eq!(
        all.avg_duration_seconds,
        Some((10.0 + 30.0 + 20.0 + 5.0 + 100.0) / 5.0)
    );
    let active: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM active_runs_for_user($1)")
        .bind(user.id)
        .fetch_all(tx.conn())
        .await
        .unwrap();
    assert_eq!(active.len(), 2);
}
