//! runwire behind the nginx of Debian's packages, configured by the shipped `deploy/nginx.conf`
//! (only its ports and upstream rewritten): REST and the live WebSocket pass through; the headers
//! nginx sets are the ones runwire believes, and a client's own forwarded headers do not survive
//! the hop; runwire's own 413 reaches the client; nginx's request id is runwire's.

mod common;

use common::process::ServerProcess;
use common::ws::{Frame, LiveClient};
use common::TestDb;
use runwire::model::{LiveMessage, RunFilter, UserRole};
use runwire::server::auth::tokens::{self, NewToken};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Debian's nginx (`make test` installs it).
fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .expect("nginx is not installed: `make test` installs it (apt-get install nginx-light)")
}

fn free_addr() -> SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap()
}

/// `text` with `from` replaced by `to`, which must occur exactly once: if the shipped file
/// changes shape, this test must be told rather than test something else.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "deploy/nginx.conf: `{from}`");
    text.replace(from, to)
}

/// nginx running `deploy/nginx.conf` in front of `upstream`, listening on `listen`.
struct Nginx {
    child: std::process::Child,
    dir: PathBuf,
}

impl Nginx {
    async fn start(upstream: SocketAddr, listen: SocketAddr) -> Nginx {
        let site =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf"))
                .unwrap();
        let site = replace_once(
            &site,
            "server 127.0.0.1:3000",
            &format!("server {upstream}"),
        );
        let site = replace_once(&site, "listen 80;", &format!("listen {listen};"));
        let dir = std::env::temp_dir().join(format!("runwire-nginx-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        let main = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{site}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), main).unwrap();
        let child = std::process::Command::new(nginx_binary())
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Owned at once, so a failed start below still stops and reaps it.
        let nginx = Nginx { child, dir };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(listen).await.is_ok() {
                return nginx;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let log = std::fs::read_to_string(nginx.dir.join("error.log")).unwrap_or_default();
        panic!("nginx did not start: {log}");
    }
}

impl Drop for Nginx {
    /// SIGTERM: the master stops its workers before it exits (a SIGKILL would orphan them).
    fn drop(&mut self) {
        let master = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(master, nix::sys::signal::Signal::SIGTERM);
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn rest_and_live_pass_through_nginx_with_the_headers_runwire_believes() {
    let db = TestDb::new().await;
    let user = db.user("proxied@example.com", UserRole::User).await;
    let (_, token) = tokens::create(&db.pool, &user, &NewToken::read_write("agent"))
        .await
        .unwrap();
    let log = std::env::temp_dir().join(format!("runwire-nginx-{}.jsonl", uuid::Uuid::new_v4()));
    let server = ServerProcess::start_logging(
        &db.url,
        None,
        &[
            ("RUNWIRE_TRUSTED_PROXIES", "127.0.0.1"),
            ("RUNWIRE_LOG_FORMAT", "json"),
            ("RUST_LOG", "info"),
        ],
        std::fs::File::create(&log).unwrap(),
    )
    .await;
    let front = free_addr();
    let _nginx = Nginx::start(server.addr, front).await;
    let http = common::agent();
    let base = format!("http://{front}");

    // The live socket, upgraded through nginx, then REST writes through nginx reach it.
    let mut live = LiveClient::subscribe(front, &token, RunFilter::default(), 0).await;
    assert!(matches!(
        live.next(Duration::from_secs(10)).await,
        Frame::Message(LiveMessage::Ready { .. })
    ));
    let created = http
        .post(format!("{base}/api/v1/runs"))
        .bearer_auth(&token)
        .json(&json!({ "agent_name": "behind-nginx", "task": "pass through" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // nginx's $request_id (32 hex digits) is the request's id in runwire too
    let id = created.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    let run: Value = created.json().await.unwrap();
    let run_id = run["id"].as_str().unwrap().to_owned();
    for percent in [25, 50, 75] {
        let progress = http
            .post(format!("{base}/api/v1/runs/{run_id}/progress"))
            .bearer_auth(&token)
            .json(&json!({ "percent": percent }))
            .send()
            .await
            .unwrap();
        assert_eq!(progress.status(), 200);
    }
    let mut seen = Vec::new();
    while seen.len() < 4 {
        match live.next(Duration::from_secs(10)).await {
            Frame::Event(event, run) => seen.push((event.kind.as_str(), run.progress_percent)),
            Frame::Message(_) => {}
            other => panic!("expected the run's events through nginx, got {other:?}"),
        }
    }
    assert_eq!(seen.last().unwrap().1, 75.0, "{seen:?}");

    // A client's own forwarded headers do not survive nginx: runwire sees the real peer over http.
    let spoofed = http
        .get(format!("{base}/health"))
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(!spoofed.headers().contains_key("strict-transport-security"));
    let spoofed_id = spoofed.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let line = ServerProcess::answered_line(&log, &spoofed_id).await;
    assert_eq!(line["spans"][0]["client"], "127.0.0.1", "{line}");
    // ... while from the trusted proxy's address the same headers are believed (so the check above
    // can tell the two apart).
    let direct = http
        .get(format!("http://{}/health", server.addr))
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-forwarded-proto", "https")
        .header("x-request-id", "direct-from-proxy")
        .send()
        .await
        .unwrap();
    assert!(direct.headers().contains_key("strict-transport-security"));
    let line = ServerProcess::answered_line(&log, "direct-from-proxy").await;
    assert_eq!(line["spans"][0]["client"], "203.0.113.9", "{line}");

    // A body over runwire's limit gets runwire's own JSON 413, not an nginx page.
    let big = http
        .post(format!("{base}/api/v1/runs/{run_id}/events"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    let body: Value = big.json().await.unwrap();
    assert_eq!(body["code"], "payload_too_large");
    drop(server);
    let _ = std::fs::remove_file(&log);
}
