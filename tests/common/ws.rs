//! A WebSocket client of the live server function, speaking its framing: binary messages of one tag
//! byte (0 = Ok, 1 = Err) followed by JSON (a frame: an array of messages). Like the browser, it
//! keeps each run's snapshot and folds that run's events into it.

use futures::{SinkExt, StreamExt};
use runwire::model::{
    AgentRun, LiveFrame, LiveMessage, LiveRequest, LiveRunCache, RunEvent, RunFilter,
};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct LiveClient {
    socket: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
    runs: LiveRunCache,
    /// Messages of a frame not handed out yet.
    pending: VecDeque<LiveMessage>,
    /// WebSocket messages received so far (a frame may hold several live messages).
    pub frames: usize,
}

/// One thing the server said.
#[derive(Debug)]
pub enum Frame {
    /// An event, with its run as it stood after it (the snapshot with the events folded in).
    Event(Box<RunEvent>, Box<AgentRun>),
    /// Any other message (run snapshots are taken in silently).
    Message(LiveMessage),
    /// An error of the stream itself (the Err side of the server fn's stream).
    StreamError(String),
    Closed,
}

impl LiveClient {
    pub async fn connect(addr: SocketAddr, token: &str) -> LiveClient {
        LiveClient::try_connect(addr, token)
            .await
            .expect("the live socket opens")
    }

    /// [`LiveClient::connect`], or None when the socket cannot be opened.
    pub async fn try_connect(addr: SocketAddr, token: &str) -> Option<LiveClient> {
        let mut request = format!("ws://{addr}/api/live_runs")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
            .await
            .ok()?;
        Some(LiveClient::from_socket(socket))
    }

    /// A client on a socket opened some other way (a cookie, an Origin).
    pub fn from_socket(
        socket: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
    ) -> LiveClient {
        LiveClient {
            socket,
            runs: LiveRunCache::default(),
            pending: VecDeque::new(),
            frames: 0,
        }
    }

    pub async fn subscribe(
        addr: SocketAddr,
        token: &str,
        filter: RunFilter,
        after_event_id: i64,
    ) -> LiveClient {
        let mut client = LiveClient::connect(addr, token).await;
        client
            .send(&LiveRequest::Subscribe {
                filter,
                after_event_id,
            })
            .await;
        client
    }

    pub async fn send(&mut self, request: &LiveRequest) {
        let mut bytes = vec![0u8];
        bytes.extend(serde_json::to_vec(request).unwrap());
        self.send_raw(bytes).await;
    }

    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        self.socket
            .send(Message::Binary(bytes.into()))
            .await
            .unwrap();
    }

    /// The next thing the server said, answering heartbeats with a ping (as a well-behaved client
    /// does) and skipping them; Closed when nothing but heartbeats came within `wait`, or when the
    /// server closes.
    pub async fn next(&mut self, wait: Duration) -> Frame {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(message) = self.pending.pop_front() {
                match message {
                    LiveMessage::Run { run, as_of } => self.runs.snapshot(*run, as_of),
                    LiveMessage::Event { event } => {
                        let run = self.runs.event(&event).unwrap_or_else(|| {
                            panic!("event {} of a run never described", event.id)
                        });
                        return Frame::Event(event, Box::new(run));
                    }
                    LiveMessage::Heartbeat { .. } => {
                        let mut ping = vec![0u8];
                        ping.extend(serde_json::to_vec(&LiveRequest::Ping).unwrap());
                        let _ = self.socket.send(Message::Binary(ping.into())).await;
                    }
                    message => return Frame::Message(message),
                }
            }
            let frame = match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Ok(Some(Ok(frame))) => frame,
                _ => return Frame::Closed,
            };
            let bytes = match frame {
                Message::Binary(bytes) => bytes.to_vec(),
                Message::Text(text) => text.as_bytes().to_vec(),
                Message::Close(_) => return Frame::Closed,
                _ => continue,
            };
            self.frames += 1;
            let (tag, body) = bytes.split_first().expect("a tagged frame");
            if *tag == 1 {
                return Frame::StreamError(String::from_utf8_lossy(body).into_owned());
            }
            let frame = LiveFrame(bytes::Bytes::copy_from_slice(body));
            self.pending.extend(frame.messages().unwrap());
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
