//! An application instance run as a child process (so that a test can SIGKILL it): its log
//! file, a SIGKILL that reaps it, a SIGTERM that waits for a clean exit, and the end of its
//! log for a failure message. Dropping it kills the process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A running (or stopped) child process with its log.
pub struct ChildApp {
    /// The name in its log and in failure messages.
    pub name: String,
    /// Where the process's stderr goes, appended to across restarts.
    pub log: PathBuf,
    child: Option<Child>,
}

impl ChildApp {
    /// An instance named `name` logging to `log`, not started.
    pub fn new(name: &str, log: &Path) -> Self {
        ChildApp {
            name: name.to_owned(),
            log: log.to_owned(),
            child: None,
        }
    }

    /// Starts `command` (stdout discarded, stderr appended to the log; `RUST_LOG` from
    /// `log_env` when set there, else `info,librdkafka=warn`).
    pub fn start(&mut self, mut command: Command, log_env: &str) -> Result<()> {
        let child = command
            .env(
                "RUST_LOG",
                std::env::var(log_env).unwrap_or_else(|_| "info,librdkafka=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.log)?,
            )
            .spawn()
            .with_context(|| format!("starting {}", self.name))?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL, then reap.
    pub fn kill9(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM (the app closes cleanly), then reap; fails if it exits badly or takes more
    /// than 60 s.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM {} failed: {status}", child.id());
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    bail!(
                        "{} exited with {status}; the end of its log:\n{}",
                        self.name,
                        self.log_tail()
                    );
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                child.kill()?;
                child.wait()?;
                bail!(
                    "{} did not close within 60 s; the end of its log:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Fails with the end of the log if the process has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            self.child = None;
            bail!(
                "{} exited with {status}; the end of its log:\n{}",
                self.name,
                self.log_tail()
            );
        }
        Ok(())
    }

    /// The last 120 lines of the log, for failures (a CI run keeps no files).
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(120)..].join("\n")
    }
}

impl Drop for ChildApp {
    fn drop(&mut self) {
        let _ = self.kill9();
    }
}
