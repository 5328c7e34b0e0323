//! The event hub alone, without sockets: when ids become visible out of order, it waits for the
//! transactions that may still fill a gap, and hands out every committed event once, in id order.

mod common;

use common::{principal, PublisherExt, TestDb};
use runwire::model::{AgentRun, CurrentUser, LiveFrame, RunStatus, RunUpdate, UserRole};
use runwire::server::bus::EventBus;
use runwire::server::db::begin_scoped;
use runwire::server::events;
use runwire::server::publisher::{self, AgentEventPublisher};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

const WRITERS: usize = 12;
const WRITING: Duration = Duration::from_secs(4);

/// Transaction ids are the cluster's, not one database's: the writers of one test would change
/// what the other sets up, so they take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run_of(publisher: &AgentEventPublisher, user: &CurrentUser, agent: &str) -> Uuid {
    let who = principal(user);
    let task = "commit out of order";
    publisher
        .start_run(who, None, agent, task)
        .await
        .unwrap()
        .id
}

fn progress(step: u32) -> RunUpdate {
    RunUpdate::Progress {
        percent: (step as f32 / 100.0).min(99.0),
        step: Some(format!("step {step}")),
    }
}

/// `count` writers, each moving its own run on by one step per transaction for [`WRITING`].
fn spawn_writers(
    publisher: &AgentEventPublisher,
    user: &CurrentUser,
    count: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..count)
        .map(|n| {
            let (publisher, user) = (publisher.clone(), user.clone());
            tokio::spawn(async move {
                let run = run_of(&publisher, &user, &format!("writer {n}")).await;
                let until = Instant::now() + WRITING;
                let mut step = 0u32;
                while Instant::now() < until {
                    step += 1;
                    publisher
                        .apply(principal(&user), run, progress(step))
                        .await
                        .unwrap();
                }
            })
        })
        .collect()
}

/// The gap a snapshot's list of running transactions does not show. Writer A takes its
/// transaction id after writer C's, but its event id before C's; C commits. Now no transaction
/// newer than C has finished, so a snapshot's list stops below A's id and does not name A, although
/// A is running and holds the missing event id. The hub must still wait for A.
#[tokio::test]
async fn a_gap_held_by_a_transaction_newer_than_every_finished_one_is_waited_for() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let db = TestDb::new().await;
    let user = db.user("writer@example.com", UserRole::User).await;
    let publisher = AgentEventPublisher::new(db.pool.clone());
    let (run_a, run_c) = (
        run_of(&publisher, &user, "a").await,
        run_of(&publisher, &user, "c").await,
    );
    let bus = EventBus::start(db.pool.clone()).await.unwrap();
    let (mut hub, _) = bus.subscribe();

    let mut c = begin_scoped(&db.pool, principal(&user)).await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(c.conn())
        .await
        .unwrap();
    let mut a = begin_scoped(&db.pool, principal(&user)).await.unwrap();
    publisher::apply_in(&mut a, run_a, &[progress(1)])
        .await
        .unwrap();
    publisher::apply_in(&mut c, run_c, &[progress(1)])
        .await
        .unwrap();
    c.commit().await.unwrap();
    // The hub hears of C's event; A's, with the smaller id, is not visible yet.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.commit().await.unwrap();

    let mut handed_out = Vec::new();
    while handed_out.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(10), hub.recv()).await {
            Ok(Ok(item)) => handed_out.push(item.event.run_id),
            other => panic!("after {handed_out:?}: {other:?}"),
        }
    }
    assert_eq!(
        handed_out,
        [run_a, run_c],
        "the hub passed over A's event, or handed them out out of order"
    );
}

/// Many writers at once: ids keep becoming visible out of order, and the hub keeps meeting gaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_writers_committing_out_of_order_lose_the_hub_no_event() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let db = TestDb::new().await;
    let user = db.user("writer@example.com", UserRole::User).await;
    let bus = EventBus::start(db.pool.clone()).await.unwrap();
    let (mut hub, start) = bus.subscribe();
    let publisher = AgentEventPublisher::new(db.pool.clone());

    let writers = spawn_writers(&publisher, &user, WRITERS);
    // The hub's receiver holds a few thousand events; read them while the writers write.
    let reader = tokio::spawn(async move {
        let mut ids = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(3), hub.recv()).await {
                Ok(Ok(item)) => ids.push(item.event.id),
                Ok(Err(RecvError::Lagged(n))) => panic!("the test's reader fell {n} behind"),
                Ok(Err(RecvError::Closed)) | Err(_) => return ids,
            }
        }
    });
    for writer in writers {
        writer.await.unwrap();
    }
    let handed_out = reader.await.unwrap();

    let stored: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM agent_run_events WHERE id > $1 ORDER BY id")
            .bind(start)
            .fetch_all(&mut db.owner_conn().await)
            .await
            .unwrap();
    assert!(stored.len() > 1000, "only {} events written", stored.len());
    assert!(
        handed_out.windows(2).all(|w| w[0] < w[1]),
        "the hub handed out events twice or out of order"
    );
    let missing: Vec<&i64> = stored
        .iter()
        .filter(|id| handed_out.binary_search(id).is_err())
        .collect();
    assert!(
        missing.is_empty(),
        "the hub passed over {} of {} committed events: {missing:?}",
        missing.len(),
        stored.len()
    );
    assert_eq!(handed_out, stored);
}

/// While no one listens the hub reads ids alone; a subscriber that arrives at any moment, mid-read
/// included, still gets every event after the cursor it was given. Subscribers come and go while
/// writers write, so the hub keeps switching between its two reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_arriving_while_no_one_listens_miss_no_event() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let db = TestDb::new().await;
    let user = db.user("writer@example.com", UserRole::User).await;
    let bus = EventBus::start(db.pool.clone()).await.unwrap();
    let publisher = AgentEventPublisher::new(db.pool.clone());

    let writers = spawn_writers(&publisher, &user, 4);
    // Each visit: subscribe, take what the hub hands out for a moment, leave; then a pause with no
    // one listening.
    let mut visits: Vec<(i64, Vec<i64>)> = Vec::new();
    let until = Instant::now() + WRITING - Duration::from_millis(500);
    let mut pause = 1u64;
    while Instant::now() < until {
        let (mut hub, cursor) = bus.subscribe();
        let mut ids = Vec::new();
        let leave = tokio::time::sleep(Duration::from_millis(40));
        tokio::pin!(leave);
        loop {
            tokio::select! {
                item = hub.recv() => ids.push(item.unwrap().event.id),
                _ = &mut leave => break,
            }
        }
        drop(hub);
        visits.push((cursor, ids));
        pause = pause % 7 + 2;
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    for writer in writers {
        writer.await.unwrap();
    }

    let stored: Vec<i64> = sqlx::query_scalar("SELECT id FROM agent_run_events ORDER BY id")
        .fetch_all(&mut db.owner_conn().await)
        .await
        .unwrap();
    let mut checked = 0;
    for (cursor, ids) in &visits {
        // What it must have been handed: every stored event after its cursor, up to the last one
        // it saw. Ids at or below the cursor may come again; the subscriber drops them.
        let Some(&last) = ids.last() else { continue };
        let after: Vec<i64> = ids.iter().copied().filter(|id| id > cursor).collect();
        let expected: Vec<i64> = stored
            .iter()
            .copied()
            .filter(|id| id > cursor && *id <= last)
            .collect();
        assert_eq!(
            after, expected,
            "a subscriber given cursor {cursor} missed or repeated events"
        );
        checked += after.len();
    }
    assert!(
        visits.len() > 20 && checked > 500,
        "{} visits saw {checked} events",
        visits.len()
    );
}

/// Events a NOTIFY carries go out without a read of the table: each exactly as the table holds it,
/// with its run as the publisher left it. Progress and status changes are carried; a check (its
/// payload changes the run) and a large result are read from the table, and the two ways mix.
#[tokio::test]
async fn carried_events_go_out_as_the_table_holds_them_with_their_runs() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let db = TestDb::new().await;
    let user = db.user("carried@example.com", UserRole::User).await;
    let who = principal(&user);
    let bus = EventBus::start(db.pool.clone()).await.unwrap();
    let (mut hub, cursor) = bus.subscribe();
    let publisher = AgentEventPublisher::new(db.pool.clone());
    let created = publisher.start_run(who, None, "a", "t").await.unwrap();
    let status = |status, step: &str| RunUpdate::Status {
        status,
        step: Some(step.to_owned()),
    };
    let batches = vec![
        vec![progress(1)],
        vec![progress(2), progress(3)],
        vec![
            status(RunStatus::AwaitingVerification, "done?"),
            status(RunStatus::Verifying, "checking"),
        ],
        vec![RunUpdate::Verification {
            passed: false,
            evidence: serde_json::json!({ "why": "not yet" }),
        }],
        vec![status(RunStatus::Retrying, "again")],
        vec![status(RunStatus::InProgress, "second try"), progress(4)],
        vec![progress(5), progress(6)],
        vec![RunUpdate::Complete {
            result: Some(serde_json::json!({ "text": "x".repeat(5000) })),
            evidence: None,
        }],
    ];
    let mut answers = vec![created.clone()];
    let mut sizes = vec![1];
    let mut handed_out = Vec::new();
    let mut take = async |count: usize, handed_out: &mut Vec<_>| {
        for _ in 0..count {
            match tokio::time::timeout(Duration::from_secs(10), hub.recv()).await {
                Ok(Ok(item)) => handed_out.push(item),
                other => panic!("after {} events: {other:?}", handed_out.len()),
            }
        }
    };
    take(1, &mut handed_out).await;
    for batch in &batches {
        answers.push(publisher.apply_batch(who, created.id, batch).await.unwrap());
        sizes.push(batch.len());
        // One notice at a time: the hub hands each out before the next is sent.
        take(batch.len(), &mut handed_out).await;
    }

    let mut tx = db.scoped(&user).await;
    let stored = events::after_with_runs(&mut tx, cursor, None, None, 1000)
        .await
        .unwrap();
    assert_eq!(stored.len(), handed_out.len());
    // The run as each call left it, by the id of the last event the call wrote.
    let mut last_ids = stored.iter().map(|(e, _)| e.id);
    let by_last_event: HashMap<i64, &AgentRun> = sizes
        .iter()
        .zip(&answers)
        .map(|(size, answer)| (last_ids.by_ref().take(*size).last().unwrap(), answer))
        .collect();
    for (item, (event, _)) in handed_out.iter().zip(&stored) {
        assert_eq!(item.event.id, event.id);
        assert_eq!(
            *item.frame(),
            LiveFrame::of_event(event),
            "event {} differs from the table",
            event.id
        );
        assert!(item.run.as_of >= event.id);
        assert_eq!(
            &item.run.run, by_last_event[&item.run.as_of],
            "the run sent with event {} is not the run as of event {}",
            event.id, item.run.as_of
        );
    }
    let carried = bus.carried_events() as usize;
    assert!(
        carried >= 7 && carried < handed_out.len() - 2,
        "{carried} of {} events carried",
        handed_out.len()
    );
}
