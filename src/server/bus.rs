//! One LISTEN connection per process feeding a broadcast hub. NOTIFY only says "something new";
//! the hub reads the events themselves from the table, in id order, and hands them out without
//! gaps, so no payload limit, dropped connection or reordered commit can lose one.
//!
//! Ids are handed out at INSERT but become visible at COMMIT, so id 11 can be visible while id 10 is
//! still in flight. The hub never passes a missing id until every transaction that was in flight
//! when it saw the gap has finished: then the id either became visible (and is delivered in order)
//! or never will (rolled back) and is skipped. Its cursor is therefore a safe resume point: every
//! event up to it is settled.

use crate::model::LiveFrame;
use crate::server::db::{begin_scoped, system_session, Principal, ScopedTx};
use crate::server::events::{self, InFlight, LoggedEvent, StoredRun};
use crate::server::telemetry;
use carried::{HubRuns, Note};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{broadcast, Notify};

mod carried;

pub const CHANNEL: &str = "agent_run_events";
/// Sign-outs and revoked tokens (see migrations): live sockets of that credential close.
pub const CREDENTIALS_CHANNEL: &str = "runwire_credentials";
/// Events a subscriber may fall behind before it is told to resync.
pub const HUB_CAPACITY: usize = 8192;
/// Roughly how many bytes of events the hub may hold for subscribers that are behind before the
/// ones furthest behind are told to resync: the count limit alone would let 8,192 large events
/// (each up to a result's 256 KiB) pile up.
pub const HUB_BUDGET_BYTES: usize = 64 * 1024 * 1024;
const READ_BATCH: i64 = 1000;
/// How often the hub looks again without a NOTIFY while it waits on a gap (an aborted transaction
/// sends no NOTIFY), and, much more rarely, as a safety net when all is quiet.
const GAP_POLL: Duration = Duration::from_millis(250);
const QUIET_POLL: Duration = Duration::from_secs(5);

/// One event as the hub hands it out, with its run as stored when it was read. Every subscriber
/// shares this one copy, and the frame it sends is encoded once, by whichever needs it first.
#[derive(Debug)]
pub struct BusEvent {
    pub event: LoggedEvent,
    /// Shared by all the events of one run the hub read together.
    pub run: Arc<StoredRun>,
    frame: OnceLock<LiveFrame>,
    _held: Held,
}

impl BusEvent {
    /// The event as a live frame.
    pub fn frame(&self) -> &LiveFrame {
        self.frame
            .get_or_init(|| crate::model::LiveFrame::of_event(&self.event))
    }
}

/// Counts the bytes of a hub item while it lives (it lives while any subscriber has yet to read it).
#[derive(Debug)]
struct Held {
    bytes: usize,
    total: Arc<AtomicUsize>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.total.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// A change to a credential that live sockets opened with it must hear about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialNews {
    /// Signed out, or revoked: `runwire_credentials` NOTIFY payload (`s:<hash hex>`, `t:<token id>`).
    Ended(Arc<str>),
    /// The LISTEN connection was away: notices may have been missed, so every socket checks its own.
    CheckAll,
}

pub struct EventBus {
    sender: broadcast::Sender<Arc<BusEvent>>,
    credentials: broadcast::Sender<CredentialNews>,
    held_bytes: Arc<AtomicUsize>,
    /// Every event with an id up to this one has been handed to the hub (or will never exist).
    cursor: AtomicI64,
    connected: AtomicBool,
    /// Events handed out as their NOTIFY carried them.
    carried: AtomicU64,
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
            credentials: broadcast::channel(1024).0,
            held_bytes: Arc::new(AtomicUsize::new(0)),
            cursor: AtomicI64::new(0),
            connected: AtomicBool::new(false),
            carried: AtomicU64::new(0),
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

    /// News of ended credentials, for live sockets.
    pub fn credential_news(&self) -> broadcast::Receiver<CredentialNews> {
        self.credentials.subscribe()
    }

    /// Whether the events held for subscribers that are behind take more than [`HUB_BUDGET_BYTES`]:
    /// then those furthest behind resync.
    pub fn over_budget(&self) -> bool {
        self.held_bytes.load(Ordering::Relaxed) > HUB_BUDGET_BYTES
    }

    /// The hub's cursor once it has reached `id`, or as it stands after `limit`.
    pub async fn reached(&self, id: i64, limit: Duration) -> i64 {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let cursor = self.last_event_id();
            if cursor >= id || tokio::time::Instant::now() >= deadline {
                return cursor;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Bytes of events held for subscribers that have yet to read them.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes.load(Ordering::Relaxed)
    }

    /// The hub's cursor: every event up to it is settled and has been handed out.
    pub fn last_event_id(&self) -> i64 {
        self.cursor.load(Ordering::SeqCst)
    }

    /// How many events this hub handed out as their NOTIFY carried them, without reading them.
    pub fn carried_events(&self) -> u64 {
        self.carried.load(Ordering::Relaxed)
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
        listener.listen_all([CHANNEL, CREDENTIALS_CHANNEL]).await?;
        self.connected.store(true, Ordering::SeqCst);
        // Whatever ended while no one listened: every socket checks its own credential.
        let _ = self.credentials.send(CredentialNews::CheckAll);
        let mut gap = Gap::default();
        let mut runs = HubRuns::default();
        let mut reader = system_session(pool).await?;
        self.catch_up(&mut reader, &mut gap, &mut runs).await?;
        loop {
            let mut read = true;
            tokio::select! {
                note = listener.try_recv() => match note? {
                    // The events a note carries go out as they are when they are the next in
                    // line. Otherwise one read serves every notification already waiting: a burst
                    // of N events costs one catch-up, not N.
                    Some(note) => {
                        let mut carried = !gap.is_pending();
                        carried = self.hear(&note, carried, &mut runs);
                        while let Some(note) = listener.next_buffered() {
                            carried = self.hear(&note, carried, &mut runs);
                        }
                        read = !carried;
                    }
                    // The connection dropped; the listener reconnects on the next call.
                    None => {
                        self.connected.store(false, Ordering::SeqCst);
                        tracing::warn!("event bus: LISTEN connection lost, reconnecting");
                        let _ = self.credentials.send(CredentialNews::CheckAll);
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
            if read {
                self.catch_up(&mut reader, &mut gap, &mut runs).await?;
            }
        }
    }

    /// Passes on a credential notice. Hands out the events an event notice carries while `carried`
    /// (every notice before it was handed out that way); says whether this one was too, or else the
    /// table must be read.
    fn hear(
        &self,
        note: &sqlx::postgres::PgNotification,
        carried: bool,
        runs: &mut HubRuns,
    ) -> bool {
        if note.channel() == CREDENTIALS_CHANNEL {
            let _ = self
                .credentials
                .send(CredentialNews::Ended(Arc::from(note.payload())));
            return carried;
        }
        carried && self.hand_out_carried(note.payload(), runs)
    }

    /// Hands out the events of an event notice without reading the table, if they are the very
    /// next ids after the cursor, with runs to fold them into; says whether it did (or nothing in
    /// the notice was new).
    ///
    /// A notice is sent when its transaction commits, so its events are visible and settled; and
    /// with every id up to the cursor settled, so is every id up to the last of them: the cursor
    /// may move there, exactly as after a read. Anything else (a gap, a notice without its events,
    /// a run the hub does not hold, an event that changes more than the columns say, no one
    /// listening) is left to the read.
    fn hand_out_carried(&self, payload: &str, runs: &mut HubRuns) -> bool {
        let Some(note) = Note::read(payload) else {
            return false;
        };
        let cursor = self.cursor.load(Ordering::SeqCst);
        if note.id <= cursor {
            return true;
        }
        let Some(mut events) = note.events else {
            return false;
        };
        events.retain(|event| event.id > cursor);
        let next_in_line = events.iter().zip(cursor + 1..).all(|(e, id)| e.id == id);
        if !next_in_line
            || events.last().map(|e| e.id) != Some(note.id)
            || self.sender.receiver_count() == 0
            || !runs.can_fold(&events)
        {
            return false;
        }
        metrics::counter!(telemetry::HUB_CARRIED).increment(events.len() as u64);
        self.carried
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        let folded = runs.fold(&events);
        let mut counted = Vec::new();
        for (event, run) in events.into_iter().zip(folded) {
            self.pass(event.id, event.created_at);
            self.hand_out(event, run, &mut counted);
        }
        true
    }

    /// Moves the cursor to `id`: every event up to it is settled.
    fn pass(&self, id: i64, created_at: DateTime<Utc>) {
        self.cursor.store(id, Ordering::SeqCst);
        let lag = (Utc::now() - created_at).to_std().unwrap_or_default();
        metrics::histogram!(telemetry::HUB_LAG).record(lag.as_secs_f64());
    }

    /// Sends one event, with its run, to every subscriber. `counted` holds the runs whose bytes
    /// the events sent with it already count: a run shared by several is counted once.
    fn hand_out(&self, event: LoggedEvent, run: Arc<StoredRun>, counted: &mut Vec<uuid::Uuid>) {
        let mut bytes = event.approx_bytes();
        if !counted.contains(&run.run.id) {
            counted.push(run.run.id);
            bytes += run.approx_bytes();
        }
        self.held_bytes.fetch_add(bytes, Ordering::Relaxed);
        let held = Held {
            bytes,
            total: Arc::clone(&self.held_bytes),
        };
        let _ = self.sender.send(Arc::new(BusEvent {
            event,
            run,
            frame: OnceLock::new(),
            _held: held,
        }));
    }

    /// Hands out every settled event after the cursor, in id order.
    ///
    /// While no one listens it reads the events' ids alone: the cursor must still move (a subscriber
    /// replays the table up to it), but payloads and runs no one is sent are not worth reading. That
    /// read was a fifth of the server's CPU in span ingest with no browser open (perf), and the
    /// payloads' JSON output a good part of the database's. A subscriber that arrives mid-batch may
    /// have read the cursor before it moved past the event at hand, so that event is read again in
    /// full and sent (subscribers drop an id they have seen).
    ///
    /// Every run it reads is kept in `runs`, for the events of it that notices carry later.
    async fn catch_up(
        &self,
        tx: &mut ScopedTx,
        gap: &mut Gap,
        runs: &mut HubRuns,
    ) -> Result<(), sqlx::Error> {
        let mut after = self.cursor.load(Ordering::SeqCst);
        loop {
            let watched = self.sender.receiver_count() > 0;
            let batch: Vec<HubRead> = if watched {
                events::after_with_runs(tx, after, None, None, READ_BATCH)
                    .await?
                    .into_iter()
                    .map(|(event, run)| (event.id, event.created_at, Some((event, run))))
                    .collect()
            } else {
                // Events pass that no run held is folded with.
                runs.clear();
                events::ids_after(tx, after, READ_BATCH)
                    .await?
                    .into_iter()
                    .map(|(id, created_at)| (id, created_at, None))
                    .collect()
            };
            let full = batch.len() as i64 == READ_BATCH;
            let mut expected = after + 1;
            let mut blocked = false;
            let mut reread = false;
            let mut counted: Vec<uuid::Uuid> = Vec::new();
            for (id, created_at, read) in batch {
                if id != expected {
                    match gap.check(tx, expected).await? {
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
                self.pass(id, created_at);
                expected = id + 1;
                if let Some((_, run)) = &read {
                    runs.keep(run);
                }
                if self.sender.receiver_count() == 0 {
                    continue;
                }
                let Some((event, run)) = read else {
                    // Someone subscribed during an ids-only read: from this event on, in full.
                    expected = id;
                    reread = true;
                    break;
                };
                self.hand_out(event, run, &mut counted);
            }
            if blocked || (!full && !reread) {
                return Ok(());
            }
            after = expected - 1;
        }
    }
}

/// An event's id and time as the hub read them, with the event and its run when someone listens.
type HubRead = (i64, DateTime<Utc>, Option<(LoggedEvent, Arc<StoredRun>)>);

/// A missing id the hub is waiting on, and the transactions that may still fill it.
#[derive(Default)]
struct Gap {
    at: Option<i64>,
    in_flight: InFlight,
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
            metrics::counter!(telemetry::HUB_GAP_WAITS).increment(1);
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
