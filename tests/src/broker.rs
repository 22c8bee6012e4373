//! The broker under test as a child process: `odradek broker` on 127.0.0.1:<free port>.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::process::wait_bounded;

/// How long a started broker may take to accept connections.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a broker may take to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// For validating the harness and the client scripts against another Kafka-compatible broker
/// (never used by CI): a command line with `{port}` and `{data_dir}` placeholders, split on
/// whitespace, that runs that broker in the foreground on 127.0.0.1:{port}. When it is set,
/// the broker's `--override`s are not passed on: tests that depend on them may fail.
pub const PEER_CMD_ENV: &str = "ODRADEK_TEST_PEER_CMD";

/// The `odradek` binary: `$ODRADEK_BIN`, else `<target dir>/<profile>/odradek`, the profile
/// directory that holds the `deps/` directory of the running test executable.
#[track_caller]
pub fn odradek_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ODRADEK_BIN") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "ODRADEK_BIN={} is not a file", p.display());
        return p;
    }
    let exe = std::env::current_exe().expect("path of the test executable");
    let dir = exe.parent().expect("the test executable has a directory");
    let profile_dir =
        if dir.ends_with("deps") { dir.parent().expect("deps/ has a parent") } else { dir };
    let bin = profile_dir.join("odradek");
    assert!(
        bin.is_file(),
        "the odradek binary is not at {} (next to the test executable {}): build it first with \
         `cargo build --bins` using the same target directory and profile, or set ODRADEK_BIN",
        bin.display(),
        exe.display()
    );
    bin
}

/// A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it; the listener that
/// found it is closed again before the broker binds it).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// How a broker process ended after [`BrokerProcess::stop`].
#[derive(Debug)]
pub struct Stopped {
    pub status: ExitStatus,
    /// From SIGTERM to exit.
    pub after: Duration,
    /// It did not exit within [`STOP_TIMEOUT`] of SIGTERM and was killed with SIGKILL.
    pub needed_sigkill: bool,
}

/// One broker process with its own port and data directory, both kept across restarts.
/// Everything it prints goes to `broker.log` in its directory; the test's failure output shows
/// the tail of it. Dropping it kills the process; a failing test keeps the directory.
pub struct BrokerProcess {
    port: u16,
    /// A clustered node's `CONTROLLER` listener port (none: a standalone broker).
    controller_port: Option<u16>,
    overrides: Vec<(String, String)>,
    dir: Option<TempDir>,
    child: Option<Child>,
    starts: u32,
}

impl BrokerProcess {
    /// Starts `odradek broker` with the harness's listener and data directory and nothing else.
    #[track_caller]
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts `odradek broker` with extra `--override key=value` settings (Kafka's names,
    /// e.g. `("auto.create.topics.enable", "false")`), and waits until it accepts connections.
    #[track_caller]
    pub fn start_with(overrides: &[(&str, &str)]) -> Self {
        Self::start_node(free_port(), None, overrides)
    }

    /// Starts one node of a cluster: the client listener on `port`, the `CONTROLLER`
    /// listener on `controller_port` when the node is a controller, and the cluster's settings
    /// (`node.id`, `process.roles`, `controller.quorum.voters`, ...) in `overrides`.
    #[track_caller]
    pub fn start_node(port: u16, controller_port: Option<u16>, overrides: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new().prefix("odradek-e2e-").tempdir().expect("temp dir");
        fs::create_dir(dir.path().join("data")).expect("create data dir");
        let mut broker = BrokerProcess {
            controller_port,
            port,
            overrides: overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            dir: Some(dir),
            child: None,
            starts: 0,
        };
        broker.spawn();
        broker
    }

    /// `127.0.0.1:<port>`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker's `log.dirs`.
    pub fn data_dir(&self) -> PathBuf {
        self.root().join("data")
    }

    /// Where the broker's stdout and stderr go, across restarts.
    pub fn log_path(&self) -> PathBuf {
        self.root().join("broker.log")
    }

    /// Everything the broker printed so far (all runs).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => child.try_wait().expect("try_wait").is_none(),
            None => false,
        }
    }

    /// A clean shutdown: SIGTERM, then wait up to [`STOP_TIMEOUT`], then SIGKILL.
    #[track_caller]
    pub fn stop(&mut self) -> Stopped {
        let mut child = self.child.take().expect("stop(): the broker is not running");
        signal(&child, libc::SIGTERM);
        let sent = Instant::now();
        let (status, needed_sigkill) = wait_bounded(&mut child, STOP_TIMEOUT);
        let stopped = Stopped { status, after: sent.elapsed(), needed_sigkill };
        self.note(&format!("stopped with SIGTERM: {stopped:?}"));
        stopped
    }

    /// A crash of the process (not of the machine): SIGKILL, then reap it.
    #[track_caller]
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("kill9(): the broker is not running");
        signal(&child, libc::SIGKILL);
        let (status, _) = wait_bounded(&mut child, STOP_TIMEOUT);
        self.note(&format!("killed with SIGKILL: {status}"));
    }

    /// Starts the broker again on the same port with the same data directory and settings,
    /// after [`stop`](Self::stop) or [`kill9`](Self::kill9), and waits until it accepts
    /// connections.
    #[track_caller]
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart(): stop() or kill9() the broker first");
        self.spawn();
    }

    fn root(&self) -> &Path {
        self.dir.as_ref().expect("the broker directory lives as long as the broker").path()
    }

    #[track_caller]
    fn spawn(&mut self) {
        self.starts += 1;
        let mut cmd = self.command();
        self.note(&format!("start #{}: {cmd:?}", self.starts));
        let log = OpenOptions::new().append(true).create(true).open(self.log_path()).expect("log");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone log handle")))
            .stderr(Stdio::from(log));
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => panic!("cannot start the broker `{cmd:?}`: {e}"),
        };
        self.child = Some(child);
        self.wait_until_accepting();
    }

    fn command(&self) -> Command {
        let port = self.port.to_string();
        let data_dir = self.data_dir().display().to_string();
        if let Ok(template) = std::env::var(PEER_CMD_ENV) {
            let mut words = template
                .split_whitespace()
                .map(|w| w.replace("{port}", &port).replace("{data_dir}", &data_dir));
            let mut cmd = Command::new(words.next().expect("ODRADEK_TEST_PEER_CMD is empty"));
            cmd.args(words);
            if !self.overrides.is_empty() {
                eprintln!("{PEER_CMD_ENV} is set: not passing overrides {:?}", self.overrides);
            }
            return cmd;
        }
        let listeners = match self.controller_port {
            None => format!("PLAINTEXT://127.0.0.1:{port}"),
            Some(controller) => {
                format!("PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}")
            }
        };
        let mut cmd = Command::new(odradek_bin());
        cmd.arg("broker")
            .arg("--override")
            .arg(format!("listeners={listeners}"))
            .arg("--override")
            .arg(format!("log.dirs={data_dir}"));
        if self.controller_port.is_some() {
            cmd.arg("--override").arg(format!("advertised.listeners=PLAINTEXT://127.0.0.1:{port}"));
        }
        for (k, v) in &self.overrides {
            cmd.arg("--override").arg(format!("{k}={v}"));
        }
        cmd
    }

    #[track_caller]
    fn wait_until_accepting(&mut self) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let child = self.child.as_mut().expect("spawned");
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                panic!(
                    "the broker exited ({status}) before accepting connections on {addr}\n{}",
                    self.log_tail()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(250)).is_ok() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the broker did not accept connections on {addr} within {START_TIMEOUT:?}\n{}",
                    self.log_tail()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Appends a harness line to the broker log, so the log reads as the test's timeline.
    fn note(&self, line: &str) {
        if let Ok(mut f) = OpenOptions::new().append(true).create(true).open(self.log_path()) {
            let _ = writeln!(f, "=== harness: {line}");
        }
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(80)..];
        format!(
            "--- {} (last {} lines) ---\n{}",
            self.log_path().display(),
            tail.len(),
            tail.join("\n")
        )
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, libc::SIGKILL);
            let _ = child.wait();
        }
        if thread::panicking() {
            eprintln!("{}", self.log_tail());
            if let Some(dir) = self.dir.take() {
                eprintln!("kept the broker's directory for inspection: {}", dir.keep().display());
            }
        }
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    // SAFETY: kill(2) on the pid of a child we have not reaped yet.
    unsafe { libc::kill(pid, sig) };
}
