//! The transport of the live WebSocket server function. The browser side is the stock server-function
//! WebSocket client; the server side is our own, because the stock one cannot be bounded: it takes
//! client messages of up to 64 MiB, queues 2,048 messages each way per socket, and copies every
//! outgoing message once more to frame it. Here a client message is at most
//! [`LIVE_INBOUND_MAX_BYTES`], a socket holds a handful of outgoing frames, and a frame goes out as
//! the very bytes the hub encoded once for every subscriber.

use crate::model::{LiveFrame, LiveRequest};
use bytes::Bytes;
use leptos::server_fn::client::Client;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::FromServerFnError;
use leptos::server_fn::server::Server;
use leptos::server_fn::Protocol;
use leptos::server_fn::{BoxedStream, ContentType, Decodes, Encodes, Format, FormatType};
use std::ops::Deref;

/// Largest message a live client may send: a subscription with a filter, or a ping.
pub const LIVE_INBOUND_MAX_BYTES: usize = 16 * 1024;
/// The socket's read buffer: requests are acks and subscriptions of a few hundred bytes; a longer
/// one (up to the limit above) makes the buffer grow for that read only.
pub const LIVE_READ_BUFFER_BYTES: usize = 4 * 1024;

/// The live socket protocol: the stock WebSocket framing (a tag byte, then JSON) with frames passed
/// through as bytes. (Named `Websocket` because the `#[server]` macro recognises a WebSocket
/// protocol by that name.)
pub struct Websocket;

/// Frames are already JSON: passed through untouched.
pub struct FrameEncoding;

impl ContentType for FrameEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for FrameEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl Encodes<LiveFrame> for FrameEncoding {
    type Error = std::convert::Infallible;

    fn encode(frame: &LiveFrame) -> Result<Bytes, Self::Error> {
        Ok(Bytes::copy_from_slice(frame.json()))
    }
}

impl Decodes<LiveFrame> for FrameEncoding {
    type Error = std::convert::Infallible;

    fn decode(bytes: Bytes) -> Result<LiveFrame, Self::Error> {
        Ok(LiveFrame(bytes))
    }
}

type Stock = leptos::server_fn::Websocket<JsonEncoding, FrameEncoding>;

#[cfg(feature = "ssr")]
impl<Input, C, S, E> Protocol<Input, BoxedStream<LiveFrame, E>, C, S, E> for Websocket
where
    Input: Deref<Target = BoxedStream<LiveRequest, E>>
        + Into<BoxedStream<LiveRequest, E>>
        + From<BoxedStream<LiveRequest, E>>,
    Stock: Protocol<Input, BoxedStream<LiveFrame, E>, C, S, E>,
    S: Server<
        E,
        Request = axum::http::Request<axum::body::Body>,
        Response = axum::http::Response<axum::body::Body>,
    >,
    C: Client<E>,
    E: FromServerFnError + Send + Sync + 'static,
{
    const METHOD: http::Method = http::Method::GET;

    async fn run_server<F, Fut>(
        request: axum::http::Request<axum::body::Body>,
        server_fn: F,
    ) -> Result<axum::http::Response<axum::body::Body>, E>
    where
        F: Fn(Input) -> Fut + Send,
        Fut: std::future::Future<Output = Result<BoxedStream<LiveFrame, E>, E>> + Send,
    {
        server::run(request, server_fn).await
    }

    fn run_client(
        path: &str,
        input: Input,
    ) -> impl std::future::Future<Output = Result<BoxedStream<LiveFrame, E>, E>> + Send {
        <Stock as Protocol<Input, BoxedStream<LiveFrame, E>, C, S, E>>::run_client(path, input)
    }
}

#[cfg(not(feature = "ssr"))]
impl<Input, C, S, E> Protocol<Input, BoxedStream<LiveFrame, E>, C, S, E> for Websocket
where
    Input: Deref<Target = BoxedStream<LiveRequest, E>>
        + Into<BoxedStream<LiveRequest, E>>
        + From<BoxedStream<LiveRequest, E>>,
    Stock: Protocol<Input, BoxedStream<LiveFrame, E>, C, S, E>,
    S: Server<E>,
    C: Client<E>,
    E: FromServerFnError + Send + Sync + 'static,
{
    const METHOD: http::Method = http::Method::GET;

    fn run_server<F, Fut>(
        request: S::Request,
        server_fn: F,
    ) -> impl std::future::Future<Output = Result<S::Response, E>> + Send
    where
        F: Fn(Input) -> Fut + Send,
        Fut: std::future::Future<Output = Result<BoxedStream<LiveFrame, E>, E>> + Send,
    {
        <Stock as Protocol<Input, BoxedStream<LiveFrame, E>, C, S, E>>::run_server(
            request, server_fn,
        )
    }

    fn run_client(
        path: &str,
        input: Input,
    ) -> impl std::future::Future<Output = Result<BoxedStream<LiveFrame, E>, E>> + Send {
        <Stock as Protocol<Input, BoxedStream<LiveFrame, E>, C, S, E>>::run_client(path, input)
    }
}

#[cfg(feature = "ssr")]
mod server {
    use super::{LIVE_INBOUND_MAX_BYTES, LIVE_READ_BUFFER_BYTES};
    use crate::model::{LiveFrame, LiveRequest, LIVE_FRAME_TAG};
    use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
    use axum::extract::FromRequest;
    use axum::response::IntoResponse;
    use futures::{SinkExt, StreamExt};
    use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
    use leptos::server_fn::BoxedStream;
    use std::ops::Deref;

    /// Client messages waiting for the subscriber: it reads them as they come.
    const INBOUND_QUEUE: usize = 4;

    pub async fn run<Input, E, F, Fut>(
        request: axum::http::Request<axum::body::Body>,
        server_fn: F,
    ) -> Result<axum::http::Response<axum::body::Body>, E>
    where
        Input: Deref<Target = BoxedStream<LiveRequest, E>>
            + Into<BoxedStream<LiveRequest, E>>
            + From<BoxedStream<LiveRequest, E>>,
        E: FromServerFnError + Send + Sync + 'static,
        F: Fn(Input) -> Fut + Send,
        Fut: std::future::Future<Output = Result<BoxedStream<LiveFrame, E>, E>> + Send,
    {
        let upgrade = WebSocketUpgrade::from_request(request, &())
            .await
            .map_err(|err| E::from_server_fn_error(ServerFnErrorErr::Request(err.to_string())))?
            .max_message_size(LIVE_INBOUND_MAX_BYTES)
            .max_frame_size(LIVE_INBOUND_MAX_BYTES)
            // tungstenite zero-fills its whole read buffer before every read attempt, and the
            // read half wakes on each write readiness: the 128 KiB default made memset 39% of a
            // loaded server's profile and kept 128 KiB resident per socket. Clients send only
            // small requests, so a buffer the size of the largest one is plenty.
            .read_buffer_size(LIVE_READ_BUFFER_BYTES)
            // Writes go out at once; the subscriber, not the socket, decides what to hold back.
            .write_buffer_size(0);
        let (requests, input) = futures::channel::mpsc::channel(INBOUND_QUEUE);
        let input: BoxedStream<LiveRequest, E> = input.into();
        let output = server_fn(Input::from(input)).await?;
        Ok(upgrade
            .on_upgrade(move |socket| pump(socket, requests, output))
            .into_response())
    }

    /// Moves client messages to the subscriber and its frames to the client, until either ends.
    async fn pump<E: FromServerFnError>(
        socket: WebSocket,
        mut requests: futures::channel::mpsc::Sender<Result<LiveRequest, E>>,
        output: BoxedStream<LiveFrame, E>,
    ) {
        let (mut sink, mut stream) = socket.split();
        let mut output: std::pin::Pin<
            Box<dyn futures::Stream<Item = Result<LiveFrame, E>> + Send>,
        > = output.into();
        loop {
            tokio::select! {
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Binary(bytes))) => {
                        if requests.send(decode(&bytes)).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(Message::Text(text))) => {
                        if requests.send(decode(text.as_bytes())).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    // closed, reset, or a message over the size limit: the connection ends
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                },
                outgoing = output.next() => match outgoing {
                    Some(Ok(frame)) => {
                        if sink.send(Message::Binary(frame.0)).await.is_err() {
                            break;
                        }
                    }
                    Some(Err(err)) => {
                        let mut bytes = vec![1u8];
                        bytes.extend_from_slice(err.ser().as_ref());
                        let _ = sink.send(Message::Binary(bytes.into())).await;
                        break;
                    }
                    None => break,
                },
            }
        }
        let _ = sink.send(Message::Close(None)).await;
    }

    /// One client message: a tag byte (0: a value), then the request's JSON.
    fn decode<E: FromServerFnError>(bytes: &[u8]) -> Result<LiveRequest, E> {
        match bytes.split_first() {
            Some((&LIVE_FRAME_TAG, json)) => serde_json::from_slice(json).map_err(|err| {
                E::from_server_fn_error(ServerFnErrorErr::Deserialization(err.to_string()))
            }),
            _ => Err(E::from_server_fn_error(ServerFnErrorErr::Deserialization(
                "a live message starts with the tag byte 0".to_owned(),
            ))),
        }
    }
}
