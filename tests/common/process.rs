//! The real `runwire` binary as a separate process on a database of the tests, for what only a
//! process can show: restarts, signals, memory.

use std::net::SocketAddr;
use std::time::Duration;

pub struct ServerProcess {
    pub addr: SocketAddr,
    pub child: tokio::process::Child,
}

impl ServerProcess {
    /// Starts `runwire serve` on `database_url` at `addr` (a free port when None) and waits until
    /// it accepts connections.
    pub async fn start(database_url: &str, addr: Option<SocketAddr>) -> ServerProcess {
        Self::start_with(database_url, addr, &[]).await
    }

    /// Like [`ServerProcess::start`], with more environment settings.
    pub async fn start_with(
        database_url: &str,
        addr: Option<SocketAddr>,
        env: &[(&str, &str)],
    ) -> ServerProcess {
        Self::start_logging(database_url, addr, env, std::process::Stdio::null()).await
    }

    /// Like [`ServerProcess::start_with`], writing the server's standard output (its log) to
    /// `stdout`.
    pub async fn start_logging(
        database_url: &str,
        addr: Option<SocketAddr>,
        env: &[(&str, &str)],
        stdout: impl Into<std::process::Stdio>,
    ) -> ServerProcess {
        let addr = addr.unwrap_or_else(|| {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap()
        });
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_runwire"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("RUNWIRE_ADDR", addr.to_string())
            .env("RUNWIRE_DEMO", "0")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(stdout)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return ServerProcess { addr, child };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("runwire did not start listening on {addr}");
    }

    /// The JSON log line (`RUNWIRE_LOG_FORMAT=json`) the server at `log` wrote when it answered the
    /// request `id`; every line of the log must be JSON.
    pub async fn answered_line(log: &std::path::Path, id: &str) -> serde_json::Value {
        for _ in 0..100 {
            let written = std::fs::read_to_string(log).unwrap();
            let found = written
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l)
                        .unwrap_or_else(|e| panic!("not JSON: {l}: {e}"))
                })
                .find(|o| o["message"] == "answered" && o["spans"][0]["request_id"] == id);
            if let Some(line) = found {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no log line for request {id}");
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server is running")
    }

    /// The process's resident memory now and at its peak, in MiB (VmRSS, VmHWM).
    pub fn memory_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map(|kb| kb / 1024.0)
                .unwrap()
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}
