//! The real `huckleberry` binary as a child process, for the tests that need the binary
//! itself (start-up, signals, memory, what it prints): started with exactly the given
//! environment, JSON logs, where no `.env` file can be picked up; its stdout lines stream to
//! the test, its stderr is collected; killed when dropped.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_huckleberry");

/// A running binary.
pub(crate) struct Binary {
    child: Child,
    /// Every stdout line, in order, as the binary logs it.
    logs: Receiver<String>,
    /// Reads stderr to its end.
    stderr: Option<JoinHandle<String>>,
}

impl Binary {
    /// Starts the binary with exactly `env` (plus `LOG_FORMAT=json`).
    pub(crate) fn start<K: AsRef<str>, V: AsRef<str>>(env: &[(K, V)]) -> Binary {
        Binary::start_wrapped(&[], &[], env)
    }

    /// Starts `huckleberry <args>` with exactly `env` (plus `LOG_FORMAT=json`).
    pub(crate) fn start_with_args<K: AsRef<str>, V: AsRef<str>>(
        args: &[&str],
        env: &[(K, V)],
    ) -> Binary {
        Binary::start_wrapped(&[], args, env)
    }

    /// As [`Binary::start_with_args`], run through `wrapper`, a command that execs its last
    /// arguments (`["prlimit", "--nofile=256:256"]`), so the process id is still the binary's.
    /// The wrapper is looked up on the test's `PATH`: the binary's environment is cleared.
    pub(crate) fn start_wrapped<K: AsRef<str>, V: AsRef<str>>(
        wrapper: &[&str],
        args: &[&str],
        env: &[(K, V)],
    ) -> Binary {
        let mut command = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut command = Command::new(on_path(program));
                command.args(wrapper_args).arg(BIN);
                command
            }
            None => Command::new(BIN),
        };
        command
            .args(args)
            .env_clear()
            .env("LOG_FORMAT", "json")
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k.as_ref(), v.as_ref());
        }
        let mut child = command.spawn().expect("the binary starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let (tx, logs) = std::sync::mpsc::channel();
        // Both pipes are drained all along, so logging never blocks the app.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Binary {
            child,
            logs,
            stderr: Some(stderr),
        }
    }

    /// Waits up to `limit` for the "listening" log line. Returns the address (`None` when
    /// the binary exits or `limit` passes first) and every line read meanwhile.
    pub(crate) fn wait_listening(&self, limit: Duration) -> (Option<String>, Vec<String>) {
        let deadline = Instant::now() + limit;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.logs.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    return (None, lines);
                }
            };
            let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            lines.push(line);
            if json["message"] == "listening" {
                let address = json["addr"].as_str().expect("addr").to_owned();
                return (Some(address), lines);
            }
        }
    }

    /// The next log line, waiting up to 30 s for it.
    pub(crate) fn next_log(&self) -> String {
        self.logs
            .recv_timeout(Duration::from_secs(30))
            .expect("the binary logs a line")
    }

    /// The next log line for which `pick` returns `Some`, waiting up to `limit` in all;
    /// `None` when the time runs out or the binary exits first.
    pub(crate) fn find_log<T>(
        &self,
        limit: Duration,
        mut pick: impl FnMut(&serde_json::Value) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.logs.recv_timeout(left).ok()?;
            let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if let Some(found) = pick(&json) {
                return Some(found);
            }
        }
    }

    /// The process id.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_none()
    }

    /// Sends SIGTERM, as an orchestrator stops the app.
    pub(crate) fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGTERM delivered");
    }

    /// Waits up to `limit` for the binary to exit.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the binary did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `limit` for the binary to exit; then every stdout line not yet read, and
    /// all of stderr.
    pub(crate) fn finish(mut self, limit: Duration) -> (Vec<String>, String) {
        self.wait_exit(limit);
        // The reader thread ends at end of file, which ends this iterator.
        let stdout = self.logs.iter().collect();
        let stderr = self
            .stderr
            .take()
            .expect("stderr is read once")
            .join()
            .expect("stderr reader");
        (stdout, stderr)
    }
}

/// `program`'s full path on the test's `PATH`.
fn on_path(program: &str) -> std::path::PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|path| path.is_file())
        })
        .unwrap_or_else(|| panic!("{program} is on the PATH"))
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
