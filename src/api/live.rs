//! The live WebSocket: a subscription in, the caller's run events out (see `server::live`).

use crate::error::AppError;
use crate::model::{LiveMessage, LiveRequest};
use leptos::prelude::*;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::{BoxedStream, Websocket};

#[server(endpoint = "live_runs", protocol = Websocket<JsonEncoding, JsonEncoding>)]
pub async fn live_runs(
    input: BoxedStream<LiveRequest, AppError>,
) -> Result<BoxedStream<LiveMessage, AppError>, AppError> {
    let principal = super::ssr::require_identity()?.principal();
    let state = super::ssr::state();
    // Small: a slow subscriber should fall behind in the hub (and be told to resync), not hold
    // hundreds of encoded messages of its own.
    let (tx, rx) = futures::channel::mpsc::channel(16);
    let input: std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<LiveRequest, AppError>> + Send>,
    > = input.into();
    tokio::spawn(crate::server::live::serve(
        state.pool.clone(),
        state.bus.clone(),
        state.live,
        principal,
        input,
        tx,
    ));
    Ok(rx.into())
}
