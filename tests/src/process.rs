//! Running a client tool as a child process with a deadline.

use std::ffi::OsStr;
use std::fmt;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::workspace_root;

/// A client call that takes longer than this is named on stderr (nextest shows it for failing
/// tests, or always with `--no-capture`): a hint at what made a test slow.
const SLOW: Duration = Duration::from_secs(5);

/// What a finished command left behind.
#[derive(Debug)]
pub struct Output {
    /// The command line, for messages.
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Fails the test, showing everything the command printed, unless it exited with 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "command failed:\n{self}");
        self
    }

    /// Parses the last non-empty stdout line as JSON: the result line of a `tests/clients`
    /// script. Fails the test with all output if there is none.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        let line = self.stdout.lines().rev().find(|l| !l.trim().is_empty());
        let Some(line) = line else { panic!("no JSON result on stdout:\n{self}") };
        match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => panic!("the last stdout line is not JSON ({e}):\n{self}"),
        }
    }

    /// Parses every non-empty stdout line as JSON (kcat -J prints one object per line).
    #[track_caller]
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| match serde_json::from_str(l) {
                Ok(v) => v,
                Err(e) => panic!("stdout line {l:?} is not JSON ({e}):\n{self}"),
            })
            .collect()
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.command)?;
        writeln!(f, "exit: {} after {:.2?}", describe(self.status), self.elapsed)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())
    }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("code {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => status.to_string(),
    }
}

/// Runs `cmd` to completion, feeding it `stdin`, and returns what it printed. If it is still
/// running after `timeout`, its process group is killed and the test fails with its output.
#[track_caller]
pub fn run(mut cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> Output {
    let command = format!("{cmd:?}");
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a timeout kills whatever it started too.
        .process_group(0);
    let started = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => panic!("cannot start `{command}`: {e}"),
    };
    let writer = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let bytes = bytes.to_vec();
        // A child that exits early closes the pipe; the exit status tells the story then.
        thread::spawn(move || drop(pipe.write_all(&bytes)))
    });
    let stdout = drain(child.stdout.take().expect("stdout is piped"));
    let stderr = drain(child.stderr.take().expect("stderr is piped"));

    let (status, timed_out) = wait_bounded(&mut child, timeout);
    // Anything the command left running in its group goes too (no-op when the group is gone).
    kill_group(&child, libc::SIGKILL);
    if let Some(w) = writer {
        w.join().expect("stdin writer");
    }
    let output = Output {
        command,
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
        elapsed: started.elapsed(),
    };
    assert!(!timed_out, "command still running after {timeout:?}, killed:\n{output}");
    if output.elapsed > SLOW {
        eprintln!("slow ({:.1?}): {}", output.elapsed, output.command);
    }
    output
}

/// Waits for `child` at most `timeout`; kills it (SIGKILL) if it is still running then.
/// Returns its exit status and whether it had to be killed.
pub(crate) fn wait_bounded(child: &mut Child, timeout: Duration) -> (ExitStatus, bool) {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return (status, false),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                kill_group(child, libc::SIGKILL);
                let status = child.wait().expect("wait for a killed child");
                return (status, true);
            }
            Err(e) => panic!("waiting for pid {}: {e}", child.id()),
        }
    }
}

fn kill_group(child: &Child, signal: libc::c_int) {
    let pgid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    // SAFETY: kill(2) with a negative pid signals the process group we created for the child.
    unsafe { libc::kill(-pgid, signal) };
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// The Python with the client libraries: `$ODRADEK_PYTHON`, else `.venv/bin/python` in the
/// repository (made by `scripts/setup-test-env.sh`).
#[track_caller]
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("ODRADEK_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = workspace_root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/setup-test-env.sh (or set ODRADEK_PYTHON)",
        venv.display()
    );
    venv
}

/// Runs `tests/clients/<script>` with `args` under [`python`], bounded by `timeout`.
#[track_caller]
pub fn run_python<I, S>(script: &str, args: I, timeout: Duration) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let path = workspace_root().join("tests/clients").join(script);
    assert!(path.is_file(), "no client script {}", path.display());
    let mut cmd = Command::new(python());
    cmd.arg(path).args(args).env("PYTHONUNBUFFERED", "1").env("PYTHONDONTWRITEBYTECODE", "1");
    run(cmd, None, timeout)
}

/// Runs `kcat` (Debian's package, installed by `scripts/setup-test-env.sh`) with `args` and
/// `stdin`, bounded by `timeout`.
#[track_caller]
pub fn run_kcat<I, S>(args: I, stdin: Option<&str>, timeout: Duration) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new("kcat");
    cmd.args(args);
    let probe = Command::new("kcat").arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status();
    if probe.is_err() {
        panic!("kcat is not installed: run scripts/setup-test-env.sh");
    }
    run(cmd, stdin.map(str::as_bytes), timeout)
}
