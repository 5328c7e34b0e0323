//! Three runwire processes on one database behind a small TCP balancer; 300 live clients spread over
//! them; one process is killed (SIGKILL) mid-stream. Its clients reconnect through the balancer to
//! the others and resume from their last event: counting every event, none is lost or doubled. The
//! scheduled job keeps firing once per firing, and the built-in runs the dead process held end as
//! timed out when their lease runs out, while the survivors' runs go on.

mod common;

use common::process::ServerProcess;
use common::ws::{Frame, LiveClient};
use common::{principal, TestDb};
use runwire::model::{AgentRun, LiveMessage, LiveRequest, RunFilter, RunStatus};
use runwire::model::{NewRun, RunUpdate, TriggerRequest, UserRole};
use runwire::server::auth::tokens::{self, NewToken};
use runwire::server::demo_agent::{AgentRunner, AgentRunnerConfig};
use runwire::server::publisher::AgentEventPublisher;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

const PROCESSES: usize = 3;
const USERS: usize = 10;
const CLIENTS_PER_USER: usize = 30;
const EVENTS_PER_USER: usize = 150;
/// Built-in runs' lease in the processes: a dead process's runs end this long after it died.
const LEASE_SECS: u64 = 4;

/// Hands each new connection to the next backend that accepts it, round robin, and pipes bytes
/// both ways until either side closes: a dead backend's connections close with it.
struct Balancer {
    addr: SocketAddr,
}

impl Balancer {
    async fn start(backends: Vec<SocketAddr>) -> Balancer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut next = 0usize;
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let start = next;
                next = next.wrapping_add(1);
                let backends = backends.clone();
                tokio::spawn(async move {
                    for n in 0..backends.len() {
                        let backend = backends[(start + n) % backends.len()];
                        if let Ok(mut upstream) = TcpStream::connect(backend).await {
                            let _ = upstream.set_nodelay(true);
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                            return;
                        }
                    }
                });
            }
        });
        Balancer { addr }
    }
}

/// What one client saw: every event id in order, and when it was live again after the kill.
struct Seen {
    ids: Vec<i64>,
    reconnects: usize,
    live_again_after_kill: Option<Duration>,
}

/// A live client that reconnects through the balancer, resuming from its last event, as the
/// browser does, until it has seen `last_id()` (once the producers are done).
async fn watch(
    balancer: SocketAddr,
    token: String,
    killed_at: Arc<Mutex<Option<Instant>>>,
    mut target: tokio::sync::watch::Receiver<Option<i64>>,
) -> Seen {
    let mut seen = Seen {
        ids: Vec::new(),
        reconnects: 0,
        live_again_after_kill: None,
    };
    let mut cut_after_kill = false;
    let give_up = Instant::now() + Duration::from_secs(120);
    'connect: loop {
        assert!(Instant::now() < give_up, "a client never caught up");
        let after = seen.ids.last().copied().unwrap_or(0);
        let Some(mut client) = LiveClient::try_connect(balancer, &token).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        client
            .send(&LiveRequest::Subscribe {
                filter: RunFilter::default(),
                after_event_id: after,
            })
            .await;
        loop {
            if let Some(last) = *target.borrow_and_update() {
                if seen.ids.last().copied().unwrap_or(0) >= last {
                    return seen;
                }
            }
            let frame = tokio::select! {
                frame = client.next(Duration::from_secs(60)) => frame,
                _ = target.changed() => continue,
            };
            match frame {
                Frame::Event(event, _) => {
                    let previous = seen.ids.last().copied().unwrap_or(0);
                    assert!(event.id > previous, "event {} after {previous}", event.id);
                    seen.ids.push(event.id);
                }
                Frame::Message(LiveMessage::Ready { .. }) => {
                    if cut_after_kill && seen.live_again_after_kill.is_none() {
                        let killed = killed_at.lock().unwrap().expect("cut after the kill");
                        seen.live_again_after_kill = Some(killed.elapsed());
                    }
                }
                // A process whose hub has not yet read the newest event refuses a cursor past it:
                // try again, as the browser does.
                Frame::Message(LiveMessage::Error { .. }) | Frame::StreamError(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    seen.reconnects += 1;
                    continue 'connect;
                }
                Frame::Message(LiveMessage::Resync { reason }) => {
                    panic!("a client was told to resync: {reason}")
                }
                Frame::Message(_) => {}
                Frame::Closed => {
                    if killed_at.lock().unwrap().is_some() {
                        cut_after_kill = true;
                    }
                    seen.reconnects += 1;
                    continue 'connect;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_loses_no_event_doubles_none_and_its_runs_are_timed_out() {
    let db = TestDb::new().await;
    let lease = LEASE_SECS.to_string();
    let env = [
        ("RUNWIRE_LIVE_SOCKETS_PER_USER", "1000"),
        ("RUNWIRE_JOBS", "1"),
        // health-check every 2 s on every process: each firing must run once
        ("RUNWIRE_CRON_HEALTH", "*/2 * * * * *"),
        ("RUNWIRE_AGENT_WORKERS", "2"),
        ("RUNWIRE_AGENT_SPEED", "1"),
        ("RUNWIRE_AGENT_FAILURE_RATE", "0"),
        ("RUNWIRE_AGENT_LEASE_SECS", lease.as_str()),
    ];
    let mut processes = Vec::new();
    for _ in 0..PROCESSES {
        processes.push(ServerProcess::start_with(&db.url, None, &env).await);
    }
    // every process is ready (migrated, hub connected) before the clients come
    for process in &processes {
        for _ in 0..200 {
            let ready = common::agent()
                .get(format!("http://{}/ready", process.addr))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status() == 200) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let balancer = Balancer::start(processes.iter().map(|p| p.addr).collect()).await;

    let mut users = Vec::new();
    for n in 0..USERS {
        let user = db
            .user(&format!("viewer{n}@example.com"), UserRole::User)
            .await;
        let (_, token) = tokens::create(&db.pool, &user, &NewToken::read_write("viewer"))
            .await
            .unwrap();
        users.push((user, token));
    }
    let killed_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let mut targets = Vec::new();
    let mut clients = Vec::new();
    for (n, (_, token)) in users.iter().enumerate() {
        let (set_target, target) = tokio::sync::watch::channel(None);
        targets.push(set_target);
        for _ in 0..CLIENTS_PER_USER {
            clients.push((
                n,
                tokio::spawn(watch(
                    balancer.addr,
                    token.clone(),
                    Arc::clone(&killed_at),
                    target.clone(),
                )),
            ));
        }
    }

    // Built-in runs of another user, held by the processes' workers when the kill comes.
    let owner = db.user("builtin@example.com", UserRole::User).await;
    let bus = runwire::server::bus::EventBus::start(db.pool.clone())
        .await
        .unwrap();
    let queue_only = AgentRunner::new(
        db.pool.clone(),
        bus,
        AgentRunnerConfig {
            workers: 0,
            ..Default::default()
        },
    );
    let mut builtin = Vec::new();
    for n in 0..6 {
        let request = TriggerRequest::parse("researcher", &format!("failover {n}"), "").unwrap();
        builtin.push(
            queue_only
                .trigger(principal(&owner), &request)
                .await
                .unwrap()
                .id,
        );
    }

    // Let every client get live, then produce; kill one process a third of the way through.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let publisher = AgentEventPublisher::new(db.pool.clone());
    let mut runs: Vec<AgentRun> = Vec::new();
    for (user, _) in &users {
        let new = NewRun {
            agent_name: "failover".into(),
            task: "stream through a kill".into(),
            task_id: None,
            user_id: None,
            status: RunStatus::InProgress,
            step: None,
            metadata: None,
        };
        runs.push(publisher.create(principal(user), &new).await.unwrap());
    }
    let started = Instant::now();
    let victim = 0;
    let victim_pid = processes[victim].pid();
    for step in 1..EVENTS_PER_USER {
        if step == EVENTS_PER_USER / 3 {
            processes[victim].child.start_kill().unwrap(); // SIGKILL: no goodbye
            *killed_at.lock().unwrap() = Some(Instant::now());
        }
        for ((user, _), run) in users.iter().zip(&runs) {
            let update = RunUpdate::Progress {
                percent: step as f32 * 100.0 / EVENTS_PER_USER as f32,
                step: None,
            };
            publisher
                .apply(principal(user), run.id, update)
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let produced_in = started.elapsed();

    let mut stored = Vec::new();
    for ((user, _), target) in users.iter().zip(&targets) {
        let ids = db.event_ids_of(user).await;
        target.send_replace(ids.last().copied());
        stored.push(ids);
    }
    let mut cut = 0;
    let mut slowest = Duration::ZERO;
    let mut reconnects = 0;
    for (n, client) in clients {
        let seen = client.await.expect("a client failed");
        assert_eq!(
            seen.ids, stored[n],
            "a client of user {n} lost or doubled events"
        );
        reconnects += seen.reconnects;
        if let Some(after) = seen.live_again_after_kill {
            cut += 1;
            slowest = slowest.max(after);
        }
    }
    let total = USERS * CLIENTS_PER_USER;
    println!(
        "failover: {total} clients, {} events each over {produced_in:.1?}; {cut} were cut by the \
         kill and all were live again {slowest:.0?} after it ({reconnects} reconnects in all)",
        stored[0].len()
    );
    // The balancer spread the clients: about a third were on the killed process.
    assert!(
        cut >= total / 5,
        "only {cut} clients were cut: the kill tested nothing"
    );

    // The scheduled job fired once per firing, before and after the kill.
    let firings: Vec<(chrono::DateTime<chrono::Utc>, i64)> = sqlx::query_as(
        "SELECT scheduled_for, count(*) FROM job_runs WHERE job = 'health-check'
         GROUP BY scheduled_for ORDER BY scheduled_for",
    )
    .fetch_all(&mut db.owner_conn().await)
    .await
    .unwrap();
    assert!(firings.iter().all(|(_, runs)| *runs == 1), "{firings:?}");
    let after_kill = firings
        .iter()
        .filter(|(at, _)| {
            *at > chrono::Utc::now() - chrono::Duration::from_std(produced_in / 2).unwrap()
        })
        .count();
    assert!(
        after_kill >= 1,
        "the job stopped firing after the kill: {firings:?}"
    );

    // The dead process's built-in runs end as timed out once their lease runs out; the others don't.
    let held: Vec<(uuid::Uuid, Option<String>)> =
        sqlx::query_as("SELECT run_id, claimed_by FROM agent_jobs WHERE run_id = ANY($1)")
            .bind(&builtin)
            .fetch_all(&mut db.owner_conn().await)
            .await
            .unwrap();
    let dead = |claimed: &Option<String>| {
        claimed
            .as_deref()
            .is_some_and(|by| by.contains(&format!(":{victim_pid}:")))
    };
    let orphans: Vec<uuid::Uuid> = held
        .iter()
        .filter(|(_, by)| dead(by))
        .map(|r| r.0)
        .collect();
    assert!(
        !orphans.is_empty(),
        "the killed process held no built-in run: {held:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(LEASE_SECS + 15);
    loop {
        let statuses: Vec<(uuid::Uuid, RunStatus)> =
            sqlx::query_as("SELECT id, status FROM agent_runs WHERE id = ANY($1)")
                .bind(&builtin)
                .fetch_all(&mut db.owner_conn().await)
                .await
                .unwrap();
        let orphans_ended = statuses
            .iter()
            .filter(|(id, _)| orphans.contains(id))
            .all(|(_, status)| *status == RunStatus::TimedOut);
        if orphans_ended {
            let survivors_timed_out = statuses
                .iter()
                .filter(|(id, s)| !orphans.contains(id) && *s == RunStatus::TimedOut)
                .count();
            assert_eq!(
                survivors_timed_out, 0,
                "a live process's run was timed out: {statuses:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "orphaned runs not timed out: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for mut process in processes.into_iter().skip(1) {
        process.child.kill().await.unwrap();
    }
}
