//! A private PostgreSQL cluster for development and tests: created on first use under the data folder,
//! started on a free localhost port with its own socket directory, reused while it runs, stopped by the
//! process that started it. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.

use sqlx::postgres::PgConnectOptions;
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{chown, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SUPERUSER: &str = "postgres";

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH or in /usr/lib/postgresql/*/bin; install them (Debian: apt-get install postgresql) or set DATABASE_URL to an existing server")]
    BinariesNotFound,
    #[error("running as root, PostgreSQL must run as the `postgres` OS user, which does not exist; create it (useradd --system postgres) or set DATABASE_URL")]
    NoPostgresUser,
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How the cluster trades durability for speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Normal settings: what `make run` uses.
    Safe,
    /// fsync off and a smaller WAL: for throw-away test clusters only.
    Fast,
}

#[derive(Debug)]
pub struct EmbeddedPostgres {
    root: PathBuf,
    bin_dir: PathBuf,
    port: u16,
    password: String,
    owner: Option<OsUser>,
    started_here: bool,
}

#[derive(Clone, Copy, Debug)]
struct OsUser {
    uid: u32,
    gid: u32,
}

impl EmbeddedPostgres {
    /// Creates (first time) and starts the cluster under `root`, or attaches to it when it already runs.
    pub fn start(root: &Path, durability: Durability) -> Result<Self, EmbeddedError> {
        let mut cluster = Self::open(root)?;
        cluster.password = cluster.init_once()?;
        match cluster.running_port() {
            Some(port) => cluster.port = port,
            None => cluster.boot(durability)?,
        }
        Ok(cluster)
    }

    /// A streaming standby of `primary` under `root`: a base backup (`pg_basebackup -R`, so it
    /// follows the primary's WAL from then on), started read-only on a port of its own. For trying
    /// `DATABASE_READ_URL` locally, and for its test.
    pub fn start_standby_of(
        primary: &EmbeddedPostgres,
        root: &Path,
        durability: Durability,
    ) -> Result<Self, EmbeddedError> {
        let mut standby = Self::open(root)?;
        let data = standby.data_dir();
        if data.exists() {
            return Err(EmbeddedError::Command {
                what: "pg_basebackup".into(),
                detail: format!("{} exists already", data.display()),
            });
        }
        standby.make_private_dirs()?;
        // pg_basebackup sits beside the server's own binaries (which PATH may only link to).
        let server_bin = fs::canonicalize(standby.bin_dir.join("initdb"))
            .ok()
            .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| standby.bin_dir.clone());
        standby.bin_dir = server_bin;
        standby.run_pg(
            "pg_basebackup",
            standby
                .pg_command("pg_basebackup")
                .env("PGPASSWORD", &primary.password)
                .args([
                    "-h",
                    "127.0.0.1",
                    "-U",
                    SUPERUSER,
                    "-X",
                    "stream",
                    "-R",
                    // a fast checkpoint: the default spreads it over minutes
                    "--checkpoint=fast",
                    "-D",
                ])
                .arg(&data)
                .arg(format!("--port={}", primary.port)),
        )?;
        // The superuser and its password come with the backup.
        write_private(&standby.password_file(), &primary.password)?;
        standby.password = primary.password.clone();
        standby.boot(durability)?;
        Ok(standby)
    }

    /// Stops the cluster under `root` if it runs, whoever started it (`runwire db stop`).
    pub fn stop_running(root: &Path) -> Result<(), EmbeddedError> {
        Self::open(root)?.stop_cluster()
    }

    fn open(root: &Path) -> Result<Self, EmbeddedError> {
        let bin_dir = find_bin_dir().ok_or(EmbeddedError::BinariesNotFound)?;
        let owner = if nix::unistd::geteuid().is_root() {
            let user = nix::unistd::User::from_name(SUPERUSER)
                .ok()
                .flatten()
                .ok_or(EmbeddedError::NoPostgresUser)?;
            Some(OsUser {
                uid: user.uid.as_raw(),
                gid: user.gid.as_raw(),
            })
        } else {
            None
        };
        create_dir(root)?;
        let root = fs::canonicalize(root).map_err(io_err(root))?;
        Ok(EmbeddedPostgres {
            root,
            bin_dir,
            port: 0,
            password: String::new(),
            owner,
            started_here: false,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Superuser connection options for `database`.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username(SUPERUSER)
            .password(&self.password)
            .database(database)
    }

    /// A URL for psql and other tools; it carries the password, so print it only to the owner.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// Stops the cluster if this process started it; a cluster found running is left to its starter.
    pub fn stop(&mut self) -> Result<(), EmbeddedError> {
        if !self.started_here {
            return Ok(());
        }
        self.started_here = false;
        self.stop_cluster()
    }

    /// Leaves the cluster running after this value is gone (`runwire db start`).
    pub fn keep_running(mut self) {
        self.started_here = false;
    }

    fn stop_cluster(&self) -> Result<(), EmbeddedError> {
        if self.running_port().is_none() {
            return Ok(());
        }
        let data = self.data_dir();
        self.run_pg(
            "pg_ctl stop",
            self.pg_command("pg_ctl")
                .args(["stop", "-m", "fast", "-w", "-t", "60", "-D"])
                .arg(&data),
        )
        .map(drop)
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    fn password_file(&self) -> PathBuf {
        self.root.join("superuser.password")
    }

    /// initdb on first use; returns the superuser password (generated then, read back later).
    fn init_once(&self) -> Result<String, EmbeddedError> {
        let data = self.data_dir();
        let password_file = self.password_file();
        if data.join("PG_VERSION").exists() {
            let password = fs::read_to_string(&password_file).map_err(io_err(&password_file))?;
            return Ok(password.trim().to_owned());
        }
        let password = random_password();
        self.make_private_dirs()?;
        // initdb reads the password from a file the postgres user can read; it is removed right after.
        let pwfile = self.root.join(".initdb-pw");
        write_private(&pwfile, &password)?;
        self.give_to_owner(&pwfile)?;
        let result = self.run_pg(
            "initdb",
            self.pg_command("initdb")
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    SUPERUSER,
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                ])
                .arg(format!("--pwfile={}", pwfile.display())),
        );
        let _ = fs::remove_file(&pwfile);
        if let Err(err) = result {
            let _ = fs::remove_dir_all(&data);
            return Err(err);
        }
        write_private(&password_file, &password)?;
        Ok(password)
    }

    /// The port of the cluster when its postmaster is alive.
    fn running_port(&self) -> Option<u16> {
        let pid_file = fs::read_to_string(self.data_dir().join("postmaster.pid")).ok()?;
        let mut lines = pid_file.lines();
        let pid: i32 = lines.next()?.trim().parse().ok()?;
        let port: u16 = lines.nth(2)?.trim().parse().ok()?;
        // signal 0: does the process exist (a stale pid file survives a crash)
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).ok()?;
        Some(port)
    }

    fn boot(&mut self, durability: Durability) -> Result<(), EmbeddedError> {
        let mut last_err = None;
        // A port found free can be taken before postgres binds it; try a few.
        for _ in 0..3 {
            let port = free_port()?;
            let mut options = format!(
                "-c listen_addresses=127.0.0.1 -p {port} -k {} -c max_connections=300",
                self.socket_dir().display()
            );
            if durability == Durability::Fast {
                // A smaller WAL too: every test database is created by copying the template through
                // the WAL, and the default 1 GB of it is disk that a CI machine may not have.
                options.push_str(
                    " -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
                     -c max_wal_size=256MB -c min_wal_size=64MB",
                );
            }
            let log = self.root.join("postgres.log");
            let data = self.data_dir();
            let result = self.run_pg(
                "pg_ctl start",
                self.pg_command("pg_ctl")
                    .env("GLIBC_TUNABLES", postgres_malloc_tunables())
                    .args(["start", "-w", "-t", "60", "-D"])
                    .arg(&data)
                    .arg("-l")
                    .arg(&log)
                    .arg("-o")
                    .arg(options),
            );
            match result {
                Ok(_) => {
                    self.port = port;
                    self.started_here = true;
                    return Ok(());
                }
                Err(err) => last_err = Some(err),
            }
        }
        Err(last_err.expect("three attempts were made"))
    }

    fn pg_command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(program));
        command.current_dir(&self.root);
        if let Some(owner) = self.owner {
            command.uid(owner.uid).gid(owner.gid);
        }
        command
    }

    fn run_pg(&self, what: &str, command: &mut Command) -> Result<Output, EmbeddedError> {
        let output = command.output().map_err(|err| EmbeddedError::Command {
            what: what.to_owned(),
            detail: err.to_string(),
        })?;
        if output.status.success() {
            return Ok(output);
        }
        let mut detail = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        if detail.is_empty() {
            detail = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        }
        let log = self.root.join("postgres.log");
        Err(EmbeddedError::Command {
            what: what.to_owned(),
            detail: format!("{detail} (server log: {})", log.display()),
        })
    }

    /// The data and socket folders, private to the cluster's owner, who also gets the root.
    fn make_private_dirs(&self) -> Result<(), EmbeddedError> {
        for dir in [self.data_dir(), self.socket_dir()] {
            create_dir(&dir)?;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io_err(&dir))?;
            self.give_to_owner(&dir)?;
        }
        self.give_to_owner(&self.root)
    }

    fn give_to_owner(&self, path: &Path) -> Result<(), EmbeddedError> {
        match self.owner {
            Some(owner) => chown(path, Some(owner.uid), Some(owner.gid)).map_err(io_err(path)),
            None => Ok(()),
        }
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            eprintln!("warning: stopping the embedded PostgreSQL: {err}");
        }
    }
}

/// glibc's malloc settings for the server's processes (they inherit pg_ctl's environment), after
/// any the caller's environment already has.
///
/// By default glibc gives the top of the heap back to the system whenever more than a few hundred
/// KiB of it are free, which a backend's memory contexts are after every statement, and the next
/// statement faults the same pages in again, zeroed. Under span ingest that was 7% of all CPU, in
/// PostgreSQL's page faults (perf). Here a backend keeps up to 64 MiB of freed heap, asks for
/// 16 MiB more than it needs when it grows, and serves requests of up to 16 MiB from the heap;
/// work_mem (4 MiB) keeps its sorts and hashes below that.
fn postgres_malloc_tunables() -> String {
    const TUNABLES: &str = "glibc.malloc.trim_threshold=67108864:glibc.malloc.top_pad=16777216:\
                            glibc.malloc.mmap_threshold=16777216";
    match std::env::var("GLIBC_TUNABLES") {
        Ok(given) if !given.is_empty() => format!("{TUNABLES}:{given}"),
        _ => TUNABLES.to_owned(),
    }
}

/// A directory holding initdb and pg_ctl: PATH first, then Debian's versioned folders, newest first.
fn find_bin_dir() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    find_bin_dir_in(
        std::env::split_paths(&path),
        Path::new("/usr/lib/postgresql"),
    )
}

fn find_bin_dir_in(path: impl Iterator<Item = PathBuf>, debian_root: &Path) -> Option<PathBuf> {
    let has_tools = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|tool| dir.join(tool).is_file())
    };
    let mut versioned: Vec<(u32, PathBuf)> = fs::read_dir(debian_root)
        .map(|dirs| {
            dirs.flatten()
                .filter_map(|dir| {
                    let version = dir.file_name().to_str()?.parse().ok()?;
                    Some((version, dir.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    versioned.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    path.chain(versioned.into_iter().map(|(_, dir)| dir))
        .find(|dir| has_tools(dir))
}

fn free_port() -> Result<u16, EmbeddedError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io_err(Path::new("127.0.0.1:0")))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(io_err(Path::new("127.0.0.1:0")))
}

fn random_password() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 32)
}

fn create_dir(dir: &Path) -> Result<(), EmbeddedError> {
    fs::create_dir_all(dir).map_err(io_err(dir))
}

fn write_private(path: &Path, contents: &str) -> Result<(), EmbeddedError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    file.write_all(contents.as_bytes()).map_err(io_err(path))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> EmbeddedError + '_ {
    move |source| EmbeddedError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_install(dir: &Path) {
        fs::create_dir_all(dir).unwrap();
        for tool in ["initdb", "pg_ctl", "postgres"] {
            fs::write(dir.join(tool), "").unwrap();
        }
    }

    #[test]
    fn binaries_are_found_on_path_first_then_newest_debian_version() {
        let root = std::env::temp_dir().join(format!("runwire-bins-{}", std::process::id()));
        let on_path = root.join("path-bin");
        let debian = root.join("debian");
        fake_install(&debian.join("13/bin"));
        fake_install(&debian.join("15/bin"));
        fs::create_dir_all(debian.join("notes")).unwrap();

        let found = find_bin_dir_in(std::iter::once(on_path.clone()), &debian);
        assert_eq!(found, Some(debian.join("15/bin")));
        fake_install(&on_path);
        let found = find_bin_dir_in(std::iter::once(on_path.clone()), &debian);
        assert_eq!(found, Some(on_path));
        let none = find_bin_dir_in(std::iter::empty(), &root.join("missing"));
        assert_eq!(none, None);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn missing_binaries_error_names_the_fix() {
        let message = EmbeddedError::BinariesNotFound.to_string();
        assert!(message.contains("apt-get install postgresql"));
        assert!(message.contains("DATABASE_URL"));
    }
}
