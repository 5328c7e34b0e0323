//! One LISTEN connection per process feeding a broadcast hub. NOTIFY only says "something new";
//! the hub reads the events themselves from the table, in id order, and hands them out without
//! gaps, so no payload limit, dropped connection or reordered commit can lose one.
//!
//! Ids are handed out at INSERT but become visible at COMMIT, so id 11 can be visible while id 10 is
//! still in flight. The hub never passes a missing id until every transaction that was in flight
//! when it saw the gap has finished: then the id either became visible (and is delivered in order)
//! or never will (rolled back) and is skipped. Its cursor is therefore a safe resume point: every
//! event up to it is settled.

use crate::model::{AgentRun, RunEvent};
use crate::server::db::{begin_scoped, Principal, ScopedTx};
use crate::server::events;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, Notify};

pub const CHANNEL: &str = "agent_run_events";
/// Events a subscriber may fall behind before it is told to resync.
pub const HUB_CAPACITY: usize = 8192;
const READ_BATCH: i64 = 1000;
/// How often the hub looks again without a NOTIFY while it waits on a gap (an aborted transaction
/// sends no NOTIFY), and, much more rarely, as a safety net when all is quiet.
const GAP_POLL: Duration = Duration::from_millis(250);
const QUIET_POLL: Duration = Duration::from_secs(5);

/// One event as the hub hands it out, with its run as stored when it was read.
#[derive(Debug)]
pub struct BusEvent {
    pub event: RunEvent,
    pub run: AgentRun,
}

pub struct EventBus {
    sender: broadcast::Sender<Arc<BusEvent>>,
    /// Every event with an id up to this one has been handed to the hub (or will never exist).
    cursor: AtomicI64,
    connected: AtomicBool,
    stopping: tokio::sync::watch::Sender<bool>,
    wake: Notify,
}

/// The hub reads every user's events.
const SYSTEM: Principal = Principal::SYSTEM;

impl EventBus {
    /// Starts the hub on `pool`; it runs until the process ends.
    pub async fn start(pool: PgPool) -> Result<Arc<EventBus>, sqlx::Error> {
        let bus = Arc::new(EventBus {
            sender: broadcast::channel(HUB_CAPACITY).0,
            cursor: AtomicI64::new(0),
            connected: AtomicBool::new(false),
            stopping: tokio::sync::watch::Sender::new(false),
            wake: Notify::new(),
        });
        let start = settled_max_id(&pool).await?;
        bus.cursor.store(start, Ordering::SeqCst);
        tokio::spawn(Arc::clone(&bus).run(pool));
        Ok(bus)
    }

    /// A receiver of every event after the returned cursor. Subscribe first, then replay the table up
    /// to the cursor: together they miss nothing (duplicates are possible; drop ids already seen).
    pub fn subscribe(&self) -> (broadcast::Receiver<Arc<BusEvent>>, i64) {
        let receiver = self.sender.subscribe();
        (receiver, self.cursor.load(Ordering::SeqCst))
    }

    /// The hub's cursor: every event up to it is settled and has been handed out.
    pub fn last_event_id(&self) -> i64 {
        self.cursor.load(Ordering::SeqCst)
    }

    /// Whether the LISTEN connection is up.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// Asks the hub to look for new events now.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// Ends the hub (at shutdown, before the pool closes); subscribers' streams then end.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
        self.wake.notify_one();
    }

    fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Resolves once the hub is stopping: subscribers end their streams then.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut stopping = self.stopping.subscribe();
        async move {
            let _ = stopping.wait_for(|stopping| *stopping).await;
        }
    }

    async fn run(self: Arc<Self>, pool: PgPool) {
        let mut backoff = Duration::from_millis(100);
        while !self.is_stopping() {
            match self.listen(&pool).await {
                Ok(()) => backoff = Duration::from_millis(100),
                // the pool closes right after the hub is told to stop
                Err(_) if self.is_stopping() => return,
                Err(err) => {
                    self.connected.store(false, Ordering::SeqCst);
                    tracing::warn!("event bus: {err}; reconnecting in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Listens until the connection fails. After every (re)connect it reads the table from its
    /// cursor, so whatever was published while it was away is delivered too.
    async fn listen(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        self.connected.store(true, Ordering::SeqCst);
        let mut gap = Gap::default();
        self.catch_up(pool, &mut gap).await?;
        loop {
            tokio::select! {
                note = listener.try_recv() => match note? {
                    // One read serves every notification already waiting: a burst of N events
                    // costs one catch-up, not N.
                    Some(_) => while listener.next_buffered().is_some() {},
                    // The connection dropped; the listener reconnects on the next call.
                    None => {
                        self.connected.store(false, Ordering::SeqCst);
                        tracing::warn!("event bus: LISTEN connection lost, reconnecting");
                    }
                },
                _ = tokio::time::sleep(if gap.is_pending() { GAP_POLL } else { QUIET_POLL }) => {}
                _ = self.wake.notified() => {}
            }
            if self.is_stopping() {
                self.connected.store(false, Ordering::SeqCst);
                return Ok(());
            }
            self.connected.store(true, Ordering::SeqCst);
            self.catch_up(pool, &mut gap).await?;
        }
    }

    /// Hands out every settled event after the cursor, in id order.
    async fn catch_up(&self, pool: &PgPool, gap: &mut Gap) -> Result<(), sqlx::Error> {
        loop {
            let mut tx = begin_scoped(pool, SYSTEM).await?;
            let cursor = self.cursor.load(Ordering::SeqCst);
            let batch = events::after_with_runs(&mut tx, cursor, None, None, READ_BATCH).await?;
            let full = batch.len() as i64 == READ_BATCH;
            let mut expected = cursor + 1;
            let mut blocked = false;
            let mut reread = false;
            for (event, run) in batch {
                if event.id != expected {
                    match gap.check(&mut tx, expected).await? {
                        GapState::Pass => {}
                        GapState::Reread => {
                            reread = true;
                            break;
                        }
                        GapState::Wait => {
                            blocked = true;
                            break;
                        }
                    }
                }
                // Cursor first, then send: a subscriber that reads the cursor in between replays
                // this event from the table and drops the duplicate.
                self.cursor.store(event.id, Ordering::SeqCst);
                expected = event.id + 1;
                let _ = self.sender.send(Arc::new(BusEvent { event, run }));
            }
            tx.commit().await?;
            if blocked || (!full && !reread) {
                return Ok(());
            }
        }
    }
}

/// A missing id the hub is waiting on, and the transactions that may still fill it.
#[derive(Default)]
struct Gap {
    at: Option<i64>,
    in_flight: Vec<String>,
    cleared: bool,
}

enum GapState {
    /// Still possibly in flight: stop here.
    Wait,
    /// Everything that could fill it has finished: read again, since it may be visible now.
    Reread,
    /// Read again after clearing and still missing: a rolled-back id, never to appear.
    Pass,
}

impl Gap {
    fn is_pending(&self) -> bool {
        self.at.is_some()
    }

    async fn check(&mut self, tx: &mut ScopedTx, at: i64) -> Result<GapState, sqlx::Error> {
        if self.at != Some(at) {
            *self = Gap {
                at: Some(at),
                in_flight: events::in_flight_and_max_id(tx).await?.0,
                cleared: false,
            };
        } else if self.cleared {
            *self = Gap::default();
            return Ok(GapState::Pass);
        }
        if events::all_finished(tx, &self.in_flight).await? {
            self.cleared = true;
            return Ok(GapState::Reread);
        }
        Ok(GapState::Wait)
    }
}

/// The largest event id below which nothing can still appear: read the visible maximum, then wait
/// for the transactions in flight at that moment (they may hold smaller ids).
async fn settled_max_id(pool: &PgPool) -> Result<i64, sqlx::Error> {
    let mut tx = begin_scoped(pool, SYSTEM).await?;
    let (in_flight, max_id) = events::in_flight_and_max_id(&mut tx).await?;
    tx.commit().await?;
    loop {
        let mut tx = begin_scoped(pool, SYSTEM).await?;
        let done = events::all_finished(&mut tx, &in_flight).await?;
        tx.commit().await?;
        if done {
            return Ok(max_id);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
