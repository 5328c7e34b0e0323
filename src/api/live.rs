//! The live WebSocket: a subscription in, the caller's run events out (see `server::live`), over the
//! bounded transport of [`super::live_socket`].

use crate::error::AppError;
use crate::model::{LiveFrame, LiveRequest};
use leptos::prelude::*;
use leptos::server_fn::BoxedStream;

#[server(endpoint = "live_runs", protocol = super::live_socket::Websocket)]
pub async fn live_runs(
    input: BoxedStream<LiveRequest, AppError>,
) -> Result<BoxedStream<LiveFrame, AppError>, AppError> {
    use crate::server::auth::Scope;
    use crate::server::live::{self, Subscriber, OUTBOUND_FRAMES};
    let state = super::ssr::state();
    let (tx, rx) = futures::channel::mpsc::channel(OUTBOUND_FRAMES);
    let input: std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<LiveRequest, AppError>> + Send>,
    > = input.into();
    match super::ssr::require_scope(Scope::RunsRead) {
        Ok(identity) => {
            let subscriber = Subscriber {
                principal: identity.principal(),
                credential: identity.credential.clone(),
            };
            tokio::spawn(live::serve(state.live_service(), subscriber, input, tx));
        }
        // no cookie or header: the first message may carry a token
        Err(AppError::Unauthorized) => {
            tokio::spawn(live::serve_authenticating(state.live_service(), input, tx));
        }
        Err(err) => return Err(err),
    }
    Ok(rx.into())
}
