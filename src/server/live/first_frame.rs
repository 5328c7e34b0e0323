//! A live socket whose client could not send a header: a browser on another site (its cookies are
//! never used across sites) says who it is in its first message, `authenticate` with an API token,
//! and never in the URL, where proxies and logs would keep it. Then the socket is served as any other.

use super::{refuse, serve, LiveService, Out, Subscriber};
use crate::model::LiveRequest;
use crate::server::auth::{self, Scope};
use futures::{Stream, StreamExt};

/// Serves a socket that arrived with no identity: its first message must carry a token that may
/// read runs, in time; anything else is answered with an error and the socket closes.
pub async fn serve_authenticating<E, S>(live: LiveService, mut input: S, mut out: Out<E>)
where
    S: Stream<Item = Result<LiveRequest, E>> + Unpin,
    E: std::fmt::Display,
{
    let first = tokio::time::timeout(live.config.subscribe_timeout, input.next()).await;
    let refusal = match first {
        Ok(Some(Ok(LiveRequest::Authenticate { token }))) => {
            match auth::token_identity(&live.pool, &token)
                .await
                .and_then(|identity| identity.require(Scope::RunsRead))
            {
                Ok(identity) => {
                    let who = Subscriber {
                        principal: identity.principal(),
                        credential: identity.credential.clone(),
                    };
                    return serve(live, who, input, out).await;
                }
                Err(err) => err.to_string(),
            }
        }
        Ok(Some(Ok(_))) => {
            "sign in first: send `authenticate` with an API token, or open the socket with an \
             Authorization header"
                .to_owned()
        }
        Ok(Some(Err(err))) => format!("malformed message: {err}"),
        Ok(None) => return,
        Err(_) => "no authentication received in time".to_owned(),
    };
    refuse(&mut out, &mut input, &refusal).await;
}
