//! One live subscriber: check its subscription, replay what it missed from the table, then forward
//! the hub's events — in id order, each once, only its user's, only those its filter names — with
//! heartbeats both ways. Each run travels once per connection as a snapshot; its events after that
//! are small and shared: every subscriber sends the bytes the hub encoded once. A subscriber that
//! falls behind is told to resync; nothing is skipped. A socket ends when its session signs out or
//! expires, or its token is revoked.

use crate::model::{LiveFrame, LiveMessage, LiveRequest, RunFilter, UserRole};
use crate::model::{LIVE_RUNS_REMEMBERED, LIVE_SOCKETS_PER_USER};
use crate::server::auth::Credential;
use crate::server::bus::{BusEvent, EventBus, HUB_CAPACITY};
use crate::server::db::{begin_scoped, Principal};
use crate::server::events::{self, LoggedEvent, StoredRun};
use crate::server::telemetry;
use futures::{SinkExt, Stream, StreamExt};
use sqlx::PgPool;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::Instant;
use uuid::Uuid;

#[derive(Clone, Copy, Debug)]
pub struct LiveConfig {
    /// Sent by the server when the line is quiet; clients should ping as often.
    pub heartbeat: Duration,
    /// A client silent this long is considered gone.
    pub idle_timeout: Duration,
    /// Time a new connection has to send its subscription.
    pub subscribe_timeout: Duration,
    /// Live sockets one user may hold open in this process.
    pub sockets_per_user: usize,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            heartbeat: crate::model::LIVE_HEARTBEAT,
            idle_timeout: crate::model::LIVE_IDLE_TIMEOUT,
            subscribe_timeout: Duration::from_secs(10),
            sockets_per_user: LIVE_SOCKETS_PER_USER,
        }
    }
}

/// What every live socket of the process shares.
#[derive(Clone)]
pub struct LiveService {
    pub pool: PgPool,
    pub bus: Arc<EventBus>,
    pub config: LiveConfig,
    pub sockets: Arc<OpenSockets>,
}

/// Who opened a socket, and with what.
#[derive(Clone, Debug)]
pub struct Subscriber {
    pub principal: Principal,
    pub credential: Credential,
}

mod credentials;
mod first_frame;
mod sockets;

pub use first_frame::serve_authenticating;

use credentials::credential_still_good;
pub use sockets::{OpenSockets, SocketSlot};

const REPLAY_BATCH: i64 = 500;
/// Most messages in one frame: a subscriber that is behind gets several at once, not thousands.
const FRAME_MESSAGES: usize = 64;
/// How long a connection stays open after its final message, for the client to read it and leave.
const LINGER: Duration = Duration::from_secs(2);
/// A client that takes no frame for this long is gone.
const STALLED: Duration = Duration::from_secs(30);
/// Longest a subscription whose cursor is ahead of this process's hub waits for the hub.
const CURSOR_AHEAD_WAIT: Duration = Duration::from_secs(1);

/// While the hub is over its memory budget, subscribers further behind than this resync.
const SHED_BEHIND: usize = 256;

/// Frames waiting in one connection before the subscriber waits for the client.
pub const OUTBOUND_FRAMES: usize = 8;

type Out<E> = futures::channel::mpsc::Sender<Result<LiveFrame, E>>;

/// Serves one connection until it ends. `input` is what the client sends.
pub async fn serve<E, S>(live: LiveService, who: Subscriber, input: S, out: Out<E>)
where
    S: Stream<Item = Result<LiveRequest, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut connection = Connection {
        live,
        who,
        input,
        out,
        sent_runs: HashSet::new(),
    };
    let limit = connection.live.config.sockets_per_user;
    let user = connection.who.principal.user_id;
    let Some(_slot) = connection.live.sockets.open(user, limit) else {
        let message = format!(
            "too many live views open: {limit} per user; close one (another tab?) and retry"
        );
        return connection.refuse(&message).await;
    };
    connection.run().await;
}

struct Connection<E, S> {
    live: LiveService,
    who: Subscriber,
    input: S,
    out: Out<E>,
    /// Runs whose snapshot this connection has sent (bounded; see [`LIVE_RUNS_REMEMBERED`]).
    sent_runs: HashSet<Uuid>,
}

/// How sending a frame went.
enum Sent {
    Ok,
    /// The client is gone.
    Gone,
    /// The client reads too slowly: resync it.
    TooSlow,
}

impl<E, S> Connection<E, S>
where
    S: Stream<Item = Result<LiveRequest, E>> + Unpin,
    E: std::fmt::Display,
{
    async fn run(&mut self) {
        let config = self.live.config;
        let first = tokio::time::timeout(config.subscribe_timeout, self.input.next()).await;
        let (filter, after) = match first {
            Ok(Some(Ok(LiveRequest::Subscribe {
                filter,
                after_event_id,
            }))) => (filter, after_event_id),
            Ok(Some(Ok(LiveRequest::Ping | LiveRequest::Authenticate { .. }))) => {
                return self
                    .refuse("subscribe first: the first message must be a subscription")
                    .await
            }
            Ok(Some(Err(err))) => {
                return self.refuse(&format!("malformed subscription: {err}")).await
            }
            Ok(None) => return,
            Err(_) => return self.refuse("no subscription received in time").await,
        };
        if let Err(err) = filter.validate() {
            return self.refuse(&err.to_string()).await;
        }
        // Subscribe to the hub (and to credential news) before replaying, so nothing falls between.
        let mut credentials = self.live.bus.credential_news();
        let (mut hub, mut hub_cursor) = self.live.bus.subscribe();
        if after < 0 {
            return self
                .refuse("after_event_id must be 0 or a previous event id")
                .await;
        }
        if after > hub_cursor {
            // A cursor that another process handed out (the client failed over) may be a little
            // ahead of this process's hub: give the hub a moment before calling it a cursor from
            // the future. What the hub reads meanwhile is in `hub` already, and duplicates of the
            // replay are dropped by id.
            hub_cursor = self.live.bus.reached(after, CURSOR_AHEAD_WAIT).await;
        }
        if after > hub_cursor {
            let message =
                format!("after_event_id {after} is in the future (the latest is {hub_cursor})");
            return self.refuse(&message).await;
        }
        let mut last = after;
        match self.replay(&filter, &mut last, hub_cursor).await {
            Ok(Sent::Ok) => {}
            Ok(Sent::Gone) => return,
            Ok(Sent::TooSlow) => return self.resync(last).await,
            Err(err) => {
                tracing::error!("live replay: {err}");
                return self
                    .refuse("the server could not read the event log; reconnect")
                    .await;
            }
        }
        let ready = LiveMessage::Ready {
            last_event_id: last.max(hub_cursor),
        };
        if !matches!(self.send(LiveFrame::of(&ready)).await, Sent::Ok) {
            return;
        }
        let stopped = self.live.bus.stopped();
        tokio::pin!(stopped);
        let expiry = self.who.credential.expires_at.map(|at| {
            let left = (at - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO);
            Instant::now() + left
        });
        let expired = async move {
            match expiry {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(expired);
        let mut heard_from_client = Instant::now();
        let mut heartbeat = tokio::time::interval(config.heartbeat);
        // After a long wait on a slow client, one heartbeat, not a burst of the missed ones.
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeat.reset();
        loop {
            tokio::select! {
                received = hub.recv() => match received {
                    Ok(item) => {
                        if self.live.bus.over_budget() && hub.len() > SHED_BEHIND {
                            return self.resync(last).await;
                        }
                        let mut frames = Vec::new();
                        let mut events = u64::from(self.take(&item, &filter, &mut last, &mut frames));
                        // Behind: what is already waiting goes out with it, in one frame.
                        while frames.len() < FRAME_MESSAGES {
                            match hub.try_recv() {
                                Ok(item) => {
                                    events += u64::from(self.take(&item, &filter, &mut last, &mut frames));
                                }
                                Err(TryRecvError::Empty) => break,
                                Err(TryRecvError::Lagged(_)) => return self.resync(last).await,
                                Err(TryRecvError::Closed) => return,
                            }
                        }
                        if frames.is_empty() {
                            continue;
                        }
                        let frame = LiveFrame::join(&frames);
                        match self.send_unless(frame, || hub.len() > HUB_CAPACITY / 2).await {
                            Sent::Ok => {
                                metrics::counter!(telemetry::LIVE_DELIVERIES).increment(events);
                            }
                            Sent::Gone => return,
                            Sent::TooSlow => return self.resync(last).await,
                        }
                    }
                    Err(RecvError::Lagged(_)) => return self.resync(last).await,
                    Err(RecvError::Closed) => return,
                },
                request = self.input.next() => match request {
                    Some(Ok(LiveRequest::Ping)) => heard_from_client = Instant::now(),
                    Some(Ok(LiveRequest::Subscribe { .. } | LiveRequest::Authenticate { .. })) => {
                        let message = "already subscribed: open a new connection for another view";
                        return self.refuse(message).await;
                    }
                    Some(Err(err)) => {
                        return self.refuse(&format!("malformed message: {err}")).await
                    }
                    None => return,
                },
                news = credentials.recv() => {
                    if !credential_still_good(&self.live.pool, &self.who.credential, news).await {
                        return self.refuse(SIGNED_OUT).await;
                    }
                }
                _ = &mut expired => return self.refuse(SIGNED_OUT).await,
                _ = &mut stopped => return,
                _ = heartbeat.tick() => {
                    if heard_from_client.elapsed() > config.idle_timeout {
                        return;
                    }
                    let beat = LiveMessage::Heartbeat { last_event_id: last };
                    if !matches!(self.send(LiveFrame::of(&beat)).await, Sent::Ok) {
                        return;
                    }
                }
            }
        }
    }

    /// Adds the frames one hub event calls for: none for another user's event, one outside the
    /// filter, or one already sent; the run's snapshot first when this connection has not sent it.
    /// Says whether the event was taken.
    fn take(
        &mut self,
        item: &BusEvent,
        filter: &RunFilter,
        last: &mut i64,
        frames: &mut Vec<LiveFrame>,
    ) -> bool {
        if item.event.id <= *last
            || !visible(self.who.principal, &item.event)
            || !filter.matches_identity(&item.run.run)
        {
            return false;
        }
        *last = item.event.id;
        self.add_run(&item.run, frames);
        frames.push(item.frame().clone());
        true
    }

    fn add_run(&mut self, run: &StoredRun, frames: &mut Vec<LiveFrame>) {
        if self.sent_runs.contains(&run.run.id) {
            return;
        }
        if self.sent_runs.len() >= LIVE_RUNS_REMEMBERED {
            self.sent_runs.clear();
        }
        self.sent_runs.insert(run.run.id);
        frames.push(run.frame().clone());
    }

    /// Sends the stored events after `last` up to `up_to` that the subscriber may see.
    async fn replay(
        &mut self,
        filter: &RunFilter,
        last: &mut i64,
        up_to: i64,
    ) -> Result<Sent, sqlx::Error> {
        while *last < up_to {
            let mut tx = begin_scoped(&self.live.pool, self.who.principal).await?;
            let batch =
                events::after_with_runs(&mut tx, *last, Some(up_to), Some(filter), REPLAY_BATCH)
                    .await?;
            tx.commit().await?;
            let Some((newest, _)) = batch.last() else {
                break;
            };
            let newest = newest.id;
            metrics::counter!(telemetry::LIVE_REPLAYED).increment(batch.len() as u64);
            let mut frames = Vec::with_capacity(2 * batch.len());
            for (event, run) in &batch {
                self.add_run(run, &mut frames);
                frames.push(LiveFrame::of_event(event));
            }
            for chunk in frames.chunks(FRAME_MESSAGES) {
                match self.send(LiveFrame::join(chunk)).await {
                    Sent::Ok => {}
                    other => return Ok(other),
                }
            }
            *last = newest;
        }
        Ok(Sent::Ok)
    }

    /// Hands a frame to the connection, waiting while the client catches up, but not for ever, not
    /// while the hub is over its memory budget, and not once `behind` says the hub is filling up
    /// with what this connection has yet to read.
    async fn send(&mut self, frame: LiveFrame) -> Sent {
        self.send_unless(frame, || false).await
    }

    async fn send_unless(&mut self, frame: LiveFrame, behind: impl Fn() -> bool) -> Sent {
        let waited = Instant::now();
        loop {
            match queue_frame(&mut self.out, &frame, Duration::from_secs(1)).await {
                Queued::Yes => return Sent::Ok,
                Queued::Gone => return Sent::Gone,
                Queued::NoRoomYet
                    if behind() || self.live.bus.over_budget() || waited.elapsed() > STALLED =>
                {
                    return Sent::TooSlow
                }
                Queued::NoRoomYet => {}
            }
        }
    }

    async fn resync(&mut self, last: i64) {
        metrics::counter!(telemetry::LIVE_RESYNCS).increment(1);
        let reason = format!("fell behind; reload and subscribe again from {last}");
        let _ = self
            .out
            .send(Ok(LiveFrame::of(&LiveMessage::Resync { reason })))
            .await;
        self.linger().await;
    }

    /// Sends a final error, then lingers (see [`linger`]).
    async fn refuse(&mut self, message: &str) {
        refuse(&mut self.out, &mut self.input, message).await;
    }

    async fn linger(&mut self) {
        linger(&mut self.input).await;
    }
}

/// What became of a frame offered to the connection's queue.
#[derive(Debug, PartialEq, Eq)]
enum Queued {
    Yes,
    /// The connection has closed.
    Gone,
    /// The queue stayed full for the whole wait; the frame is not in it.
    NoRoomYet,
}

/// Puts `frame` in the connection's queue, waiting at most `patience` for room, and never puts it
/// in twice when called again after a [`Queued::NoRoomYet`]. That is why this `feed`s: `feed` is
/// done once the frame is queued. `send` goes on to wait until the queue has room for the next one
/// (its flush), so a timeout during that wait looked like "not sent" although the frame was queued,
/// and the retry queued a second copy: `benches/live.rs` counted 1,408 events delivered twice to a
/// subscriber at 16,000 events/s.
async fn queue_frame<E>(out: &mut Out<E>, frame: &LiveFrame, patience: Duration) -> Queued {
    match tokio::time::timeout(patience, out.feed(Ok(frame.clone()))).await {
        Ok(Ok(())) => Queued::Yes,
        Ok(Err(_)) => Queued::Gone,
        Err(_) => Queued::NoRoomYet,
    }
}

/// Sends a final error on a socket, then lingers.
async fn refuse<E, S>(out: &mut Out<E>, input: &mut S, message: &str)
where
    S: Stream<Item = Result<LiveRequest, E>> + Unpin,
{
    let error = LiveMessage::Error {
        message: message.to_owned(),
    };
    let _ = out.send(Ok(LiveFrame::of(&error))).await;
    linger(input).await;
}

/// After a final message, reads and drops what the client still sends until it hangs up, for a
/// moment at most. Closing a socket with unread input makes the kernel reset the connection, and a
/// reset destroys data the client has received but not yet read: the final message itself.
async fn linger<E, S>(input: &mut S)
where
    S: Stream<Item = Result<LiveRequest, E>> + Unpin,
{
    let _ = tokio::time::timeout(LINGER, async { while input.next().await.is_some() {} }).await;
}

const SIGNED_OUT: &str = "your session ended or your token was revoked; sign in again";

fn visible(principal: Principal, event: &LoggedEvent) -> bool {
    principal.role == UserRole::Admin || event.user_id == principal.user_id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: i64) -> LiveFrame {
        LiveFrame::of(&LiveMessage::Heartbeat { last_event_id: n })
    }

    #[tokio::test]
    async fn a_frame_offered_again_after_a_full_queue_arrives_once() {
        // Room for one frame (the sender's own slot): the second waits until the first is read.
        let (mut out, mut connection) = futures::channel::mpsc::channel::<Result<LiveFrame, ()>>(0);
        let patience = Duration::from_millis(50);
        assert_eq!(
            queue_frame(&mut out, &frame(1), patience).await,
            Queued::Yes
        );
        assert_eq!(
            queue_frame(&mut out, &frame(2), patience).await,
            Queued::NoRoomYet
        );
        assert_eq!(connection.next().await, Some(Ok(frame(1))));
        // offered again, as send_unless does after NoRoomYet
        assert_eq!(
            queue_frame(&mut out, &frame(2), patience).await,
            Queued::Yes
        );
        assert_eq!(connection.next().await, Some(Ok(frame(2))));
        assert!(
            matches!(
                connection.try_recv(),
                Err(futures::channel::mpsc::TryRecvError::Empty)
            ),
            "nothing else is queued, no second copy"
        );
        drop(connection);
        assert_eq!(
            queue_frame(&mut out, &frame(3), patience).await,
            Queued::Gone
        );
    }
}
