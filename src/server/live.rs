//! One live subscriber: check its subscription, replay what it missed from the table, then forward
//! the hub's events — in id order, each once, only its user's, only those its filter names — with
//! heartbeats both ways. A subscriber that falls behind the hub is told to resync; nothing is skipped.

use crate::model::{AgentRun, LiveMessage, LiveRequest, RunEvent, RunFilter, UserRole};
use crate::server::bus::EventBus;
use crate::server::db::{begin_scoped, Principal};
use crate::server::events;
use futures::{SinkExt, Stream, StreamExt};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
pub struct LiveConfig {
    /// Sent by the server when the line is quiet; clients should ping as often.
    pub heartbeat: Duration,
    /// A client silent this long is considered gone.
    pub idle_timeout: Duration,
    /// Time a new connection has to send its subscription.
    pub subscribe_timeout: Duration,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            heartbeat: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
            subscribe_timeout: Duration::from_secs(10),
        }
    }
}

const REPLAY_BATCH: i64 = 500;
/// How long a connection stays open after its final message, for the client to read it and leave.
const LINGER: Duration = Duration::from_secs(2);

type Out<E> = futures::channel::mpsc::Sender<Result<LiveMessage, E>>;

/// Serves one connection until it ends. `input` is what the client sends.
pub async fn serve<E, S>(
    pool: PgPool,
    bus: Arc<EventBus>,
    config: LiveConfig,
    principal: Principal,
    mut input: S,
    mut out: Out<E>,
) where
    S: Stream<Item = Result<LiveRequest, E>> + Unpin,
    E: std::fmt::Display,
{
    let first = tokio::time::timeout(config.subscribe_timeout, input.next()).await;
    let (filter, after) = match first {
        Ok(Some(Ok(LiveRequest::Subscribe {
            filter,
            after_event_id,
        }))) => (filter, after_event_id),
        Ok(Some(Ok(LiveRequest::Ping))) => {
            return refuse(
                &mut out,
                &mut input,
                "subscribe first: the first message must be a subscription",
            )
            .await
        }
        Ok(Some(Err(err))) => {
            return refuse(
                &mut out,
                &mut input,
                &format!("malformed subscription: {err}"),
            )
            .await
        }
        Ok(None) => return,
        Err(_) => return refuse(&mut out, &mut input, "no subscription received in time").await,
    };
    if let Err(err) = filter.validate() {
        return refuse(&mut out, &mut input, &err.to_string()).await;
    }
    // Subscribe to the hub before replaying, so nothing falls between the two.
    let (mut hub, hub_cursor) = bus.subscribe();
    if after < 0 {
        return refuse(
            &mut out,
            &mut input,
            "after_event_id must be 0 or a previous event id",
        )
        .await;
    }
    if after > hub_cursor {
        return refuse(
            &mut out,
            &mut input,
            &format!("after_event_id {after} is in the future (the latest is {hub_cursor})"),
        )
        .await;
    }
    let mut last = after;
    match replay(&pool, principal, &filter, &mut last, hub_cursor, &mut out).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(err) => {
            tracing::error!("live replay: {err}");
            return refuse(
                &mut out,
                &mut input,
                "the server could not read the event log; reconnect",
            )
            .await;
        }
    }
    let last_ready = last.max(hub_cursor);
    if out
        .send(Ok(LiveMessage::Ready {
            last_event_id: last_ready,
        }))
        .await
        .is_err()
    {
        return;
    }
    let stopped = bus.stopped();
    tokio::pin!(stopped);
    let mut heard_from_client = Instant::now();
    let mut heartbeat = tokio::time::interval(config.heartbeat);
    // After a long wait on a slow client, one heartbeat, not a burst of the missed ones.
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    heartbeat.reset();
    loop {
        tokio::select! {
            received = hub.recv() => match received {
                Ok(item) => {
                    if item.event.id <= last || !visible(principal, &item.event) || !filter.matches_identity(&item.run) {
                        continue;
                    }
                    last = item.event.id;
                    let message = LiveMessage::Event {
                        event: Box::new(item.event.clone()),
                        run: Box::new(item.run.clone()),
                    };
                    if out.send(Ok(message)).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    let reason = format!("fell {missed} events behind; reload and subscribe again from {last}");
                    let _ = out.send(Ok(LiveMessage::Resync { reason })).await;
                    return linger(&mut input).await;
                }
                Err(RecvError::Closed) => return,
            },
            request = input.next() => match request {
                Some(Ok(LiveRequest::Ping)) => heard_from_client = Instant::now(),
                Some(Ok(LiveRequest::Subscribe { .. })) => {
                    let message = "already subscribed: open a new connection for another view";
                    return refuse(&mut out, &mut input, message).await;
                }
                Some(Err(err)) => return refuse(&mut out, &mut input, &format!("malformed message: {err}")).await,
                None => return,
            },
            _ = &mut stopped => return,
            _ = heartbeat.tick() => {
                if heard_from_client.elapsed() > config.idle_timeout {
                    return;
                }
                if out.send(Ok(LiveMessage::Heartbeat { last_event_id: last })).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Sends the stored events after `last` up to `up_to` that the subscriber may see; false when the
/// client went away.
async fn replay<E>(
    pool: &PgPool,
    principal: Principal,
    filter: &RunFilter,
    last: &mut i64,
    up_to: i64,
    out: &mut Out<E>,
) -> Result<bool, sqlx::Error> {
    while *last < up_to {
        let mut tx = begin_scoped(pool, principal).await?;
        let batch: Vec<(RunEvent, AgentRun)> =
            events::after_with_runs(&mut tx, *last, Some(up_to), Some(filter), REPLAY_BATCH)
                .await?;
        tx.commit().await?;
        let Some((newest, _)) = batch.last() else {
            break;
        };
        let newest = newest.id;
        for (event, run) in batch {
            let message = LiveMessage::Event {
                event: Box::new(event),
                run: Box::new(run),
            };
            if out.send(Ok(message)).await.is_err() {
                return Ok(false);
            }
        }
        *last = newest;
    }
    Ok(true)
}

fn visible(principal: Principal, event: &RunEvent) -> bool {
    principal.role == UserRole::Admin || event.user_id == principal.user_id
}

/// Sends a final error, then lingers (see [`linger`]).
async fn refuse<E, S>(out: &mut Out<E>, input: &mut S, message: &str)
where
    S: Stream<Item = Result<LiveRequest, E>> + Unpin,
{
    let _ = out
        .send(Ok(LiveMessage::Error {
            message: message.to_owned(),
        }))
        .await;
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
