//! The publisher's one-round-trip path: progress on a run it wrote last is computed from its copy
//! and written only if the row is still that version. These tests make the copy wrong in every way
//! it can be (another process wrote the run, another user asks, the run moved on) and check that
//! the answer and what is stored are exactly what the locked path gives.

mod common;

use common::{principal, PublisherExt, TestApp, TestDb};
use runwire::error::AppError;
use runwire::model::{AgentRun, RunEvent, RunStatus, RunUpdate, UserRole};
use runwire::server::events;
use runwire::server::publisher::AgentEventPublisher;
use runwire::server::runs;
use serde_json::json;
use uuid::Uuid;

fn progress(percent: f32, step: &str) -> RunUpdate {
    RunUpdate::Progress {
        percent,
        step: Some(step.to_owned()),
    }
}

async fn stored(db: &TestDb, user: &runwire::model::CurrentUser, id: Uuid) -> AgentRun {
    let mut tx = db.scoped(user).await;
    runs::get(&mut tx, id).await.unwrap().unwrap()
}

async fn events_of(db: &TestDb, user: &runwire::model::CurrentUser, id: Uuid) -> Vec<RunEvent> {
    let mut tx = db.scoped(user).await;
    events::for_run(&mut tx, id, 0, 1000).await.unwrap()
}

#[tokio::test]
async fn progress_on_a_run_it_wrote_takes_one_trip_and_stores_what_the_locked_path_would() {
    let db = TestDb::new().await;
    let user = db.user("one-trip@example.com", UserRole::User).await;
    let who = principal(&user);
    let publisher = AgentEventPublisher::new(db.pool.clone());
    let run = publisher.start_run(who, None, "a", "t").await.unwrap();

    // The first update reads the run (this publisher has no copy); the next ones need none.
    let first = publisher
        .apply(who, run.id, progress(10.0, "one"))
        .await
        .unwrap();
    assert_eq!(publisher.one_trip_batches(), 0);
    let second = publisher
        .apply_batch(
            who,
            run.id,
            &[progress(20.0, "two"), progress(30.0, "three")],
        )
        .await
        .unwrap();
    let third = publisher
        .apply(
            who,
            run.id,
            RunUpdate::Progress {
                percent: 40.0,
                step: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        publisher.one_trip_batches(),
        2,
        "progress took the locked path"
    );

    let now = stored(&db, &user, run.id).await;
    assert_eq!(third, now, "the answer is not the run as stored");
    assert_eq!(now.progress_percent, 40.0);
    assert_eq!(now.current_step.as_deref(), Some("three"), "a step is kept");
    assert!(second.updated_at > first.updated_at && third.updated_at > second.updated_at);

    let log = events_of(&db, &user, run.id).await;
    let seen: Vec<(String, Option<f32>, Option<&str>)> = log
        .iter()
        .map(|e| (e.kind.as_str().to_owned(), e.progress, e.step.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("started".to_owned(), Some(0.0), None),
            ("progress".to_owned(), Some(10.0), Some("one")),
            ("progress".to_owned(), Some(20.0), Some("two")),
            ("progress".to_owned(), Some(30.0), Some("three")),
            ("progress".to_owned(), Some(40.0), Some("three")),
        ]
    );
    assert!(log
        .iter()
        .all(|e| e.user_id == user.id && e.status == RunStatus::InProgress));
    // The events carry the transaction's time, as the run does: a fold of them rebuilds the run.
    assert_eq!(log[4].created_at, third.updated_at);
    let mut folded = run.clone();
    for event in &log[1..] {
        folded.fold(event);
    }
    assert_eq!(folded, now);
}

#[tokio::test]
async fn a_copy_another_process_made_stale_is_not_used() {
    let db = TestDb::new().await;
    let user = db.user("two-processes@example.com", UserRole::User).await;
    let who = principal(&user);
    // Two server processes: each keeps its own copy of the run.
    let (here, there) = (
        AgentEventPublisher::new(db.pool.clone()),
        AgentEventPublisher::new(db.pool.clone()),
    );
    let run = here.start_run(who, None, "a", "t").await.unwrap();
    here.apply(who, run.id, progress(10.0, "here"))
        .await
        .unwrap();
    there
        .apply(who, run.id, progress(50.0, "there"))
        .await
        .unwrap();

    // From its copy at 10%, 30% would be fine; the run is at 50%.
    let refused = here.apply(who, run.id, progress(30.0, "here")).await;
    assert!(
        matches!(refused, Err(AppError::Validation { .. })),
        "progress went backwards from a stale copy: {refused:?}"
    );
    assert_eq!(stored(&db, &user, run.id).await.progress_percent, 50.0);

    // Concurrent batches from both: every one lands, in some order, none computed from a copy
    // another had overtaken (each asks for more than anything before it).
    let mut writers = Vec::new();
    for (n, publisher) in [here.clone(), there.clone()].into_iter().enumerate() {
        writers.push(tokio::spawn(async move {
            for step in 0..40u32 {
                let percent = 51.0 + step as f32;
                let update = progress(percent, &format!("{n}"));
                match publisher.apply(who, run.id, update).await {
                    Ok(_) => {}
                    // the other writer got further first
                    Err(AppError::Validation { .. }) => {}
                    Err(err) => panic!("{err:?}"),
                }
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let log = events_of(&db, &user, run.id).await;
    let percents: Vec<f32> = log.iter().filter_map(|e| e.progress).collect();
    assert!(
        percents.windows(2).all(|w| w[0] <= w[1]),
        "progress went backwards in the log: {percents:?}"
    );
    let now = stored(&db, &user, run.id).await;
    assert_eq!(now.progress_percent, 90.0);
    assert_eq!(Some(now.progress_percent), log.last().unwrap().progress);
    assert!(here.one_trip_batches() + there.one_trip_batches() > 0);
}

#[tokio::test]
async fn another_user_learns_nothing_from_a_run_the_publisher_holds() {
    let db = TestDb::new().await;
    let owner = db.user("owner@example.com", UserRole::User).await;
    let other = db.user("other@example.com", UserRole::User).await;
    let publisher = AgentEventPublisher::new(db.pool.clone());
    let run = publisher
        .start_run(principal(&owner), None, "a", "t")
        .await
        .unwrap();
    publisher
        .apply(principal(&owner), run.id, progress(50.0, "mine"))
        .await
        .unwrap();

    // Backwards from the held copy, and forwards: both "not found", nothing stored.
    for percent in [10.0, 60.0] {
        let answer = publisher
            .apply(principal(&other), run.id, progress(percent, "theirs"))
            .await;
        assert!(
            matches!(answer, Err(AppError::NotFound)),
            "{percent}%: {answer:?}"
        );
    }
    let now = stored(&db, &owner, run.id).await;
    assert_eq!(now.progress_percent, 50.0);
    assert_eq!(events_of(&db, &owner, run.id).await.len(), 2);
    assert_eq!(publisher.one_trip_batches(), 0);

    // The owner's next progress still takes one trip: the refusals left the copy as it was.
    publisher
        .apply(principal(&owner), run.id, progress(70.0, "mine"))
        .await
        .unwrap();
    assert_eq!(publisher.one_trip_batches(), 1);
}

#[tokio::test]
async fn anything_but_progress_on_a_running_run_takes_the_locked_path() {
    let db = TestDb::new().await;
    let user = db.user("locked@example.com", UserRole::User).await;
    let who = principal(&user);
    let publisher = AgentEventPublisher::new(db.pool.clone());
    let run = publisher.start_run(who, None, "a", "t").await.unwrap();
    publisher
        .apply(who, run.id, progress(10.0, "a"))
        .await
        .unwrap();

    // A batch that mixes progress with a check: the check needs the clock and the row.
    let mixed = [
        progress(20.0, "b"),
        RunUpdate::Verification {
            passed: false,
            evidence: serde_json::json!("not yet"),
        },
    ];
    publisher.apply_batch(who, run.id, &mixed).await.unwrap();
    // A refused update (out of range) is refused as the locked path refuses it.
    let refused = publisher.apply(who, run.id, progress(101.0, "c")).await;
    assert!(
        matches!(refused, Err(AppError::Validation { .. })),
        "{refused:?}"
    );
    let done = publisher
        .complete_run(who, run.id, Some(serde_json::json!({"ok": true})), None)
        .await
        .unwrap();
    assert_eq!(publisher.one_trip_batches(), 0);
    assert_eq!(done, stored(&db, &user, run.id).await);

    // A finished run is no longer held: progress on it is refused by the locked path.
    let late = publisher.apply(who, run.id, progress(100.0, "d")).await;
    assert!(matches!(late, Err(AppError::Conflict(_))), "{late:?}");
    assert_eq!(publisher.one_trip_batches(), 0);
}

/// Over REST, progress without an Idempotency-Key is the publisher's own write (one round trip once
/// the process has written the run); with a key, the key is claimed and stored in the write's
/// transaction, so it takes the locked path. Both answer with the run as stored.
#[tokio::test]
async fn rest_progress_without_a_key_takes_one_trip_and_with_a_key_is_done_once() {
    let db = TestDb::new().await;
    let user = db.user("rest-one-trip@example.com", UserRole::User).await;
    let token = db.agent_token(&user).await;
    let mut publisher = None;
    let app = TestApp::start_configured(db, None, |state| {
        publisher = Some(state.publisher.clone());
    })
    .await;
    let publisher = publisher.unwrap();
    let client = common::agent();
    let post = async |path: String, body: serde_json::Value, key: Option<&str>| {
        let mut request = client.post(app.url(&path)).bearer_auth(&token).json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json::<serde_json::Value>().await.unwrap())
    };
    let (status, run) = post(
        "/api/v1/runs".to_owned(),
        json!({"agent_name": "a", "task": "t", "status": "in_progress"}),
        None,
    )
    .await;
    assert_eq!(status, 201, "{run}");
    let id: Uuid = run["id"].as_str().unwrap().parse().unwrap();
    let progress = format!("/api/v1/runs/{id}/progress");
    for percent in [10, 20, 30] {
        let (status, answer) = post(progress.clone(), json!({"percent": percent}), None).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            answer["progress_percent"].as_f64(),
            Some(f64::from(percent))
        );
    }
    assert_eq!(publisher.one_trip_batches(), 2);

    for _ in 0..2 {
        let (status, answer) = post(progress.clone(), json!({"percent": 40}), Some("k-40")).await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, answer) = post(progress.clone(), json!({"percent": 35}), None).await;
    assert_eq!(status, 422, "backwards from 40: {answer}");
    assert_eq!(publisher.one_trip_batches(), 2);
    assert_eq!(stored(&app.db, &user, id).await.progress_percent, 40.0);
    assert_eq!(
        events_of(&app.db, &user, id).await.len(),
        5,
        "the keyed write was done once"
    );
    let (status, answer) = post(progress, json!({"percent": 50}), None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        serde_json::from_value::<AgentRun>(answer).unwrap(),
        stored(&app.db, &user, id).await
    );
}
