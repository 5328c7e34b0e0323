//! A WebSocket client of the live server function, speaking its framing: binary messages of one tag
//! byte (0 = Ok, 1 = Err) followed by JSON.

use futures::{SinkExt, StreamExt};
use runwire::model::{LiveMessage, LiveRequest, RunFilter};
use std::net::SocketAddr;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct LiveClient {
    socket: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
}

/// What one frame from the server held.
#[derive(Debug)]
pub enum Frame {
    Message(LiveMessage),
    /// An error of the stream itself (the Err side of the server fn's stream).
    StreamError(String),
    Closed,
}

impl LiveClient {
    pub async fn connect(addr: SocketAddr, token: &str) -> LiveClient {
        let mut request = format!("ws://{addr}/api/live_runs")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
            .await
            .unwrap();
        LiveClient { socket }
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

    /// The next frame, answering heartbeats with a ping (as a well-behaved client does) and skipping
    /// them; Closed when nothing but heartbeats came within `wait`, or when the server closes.
    pub async fn next(&mut self, wait: Duration) -> Frame {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
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
            let (tag, body) = bytes.split_first().expect("a tagged frame");
            if *tag == 1 {
                return Frame::StreamError(String::from_utf8_lossy(body).into_owned());
            }
            match serde_json::from_slice::<LiveMessage>(body).unwrap() {
                LiveMessage::Heartbeat { .. } => {
                    let mut ping = vec![0u8];
                    ping.extend(serde_json::to_vec(&LiveRequest::Ping).unwrap());
                    let _ = self.socket.send(Message::Binary(ping.into())).await;
                }
                message => return Frame::Message(message),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
