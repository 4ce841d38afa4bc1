//! An example binary running as a service, as a container runs it: started with its
//! arguments, its standard output read line by line, stopped by SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The example running as a service, its standard output read by a thread.
pub struct Service {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Service {
    /// Starts `binary` with `args` and waits until it says it runs.
    pub fn start(binary: &str, args: &[String]) -> Result<Service> {
        let mut child = Command::new(binary)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().context("stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let service = Service { child, lines };
        let line = service
            .lines
            .recv_timeout(Duration::from_secs(60))
            .context("the service's first line")?;
        if !line.starts_with("running against") {
            bail!("unexpected first line: {line}");
        }
        Ok(service)
    }

    /// SIGTERM, then the exit status, which must be success within `grace`: the close
    /// committed in time.
    pub fn terminate(mut self, grace: Duration) -> Result<()> {
        // By our own child's pid, which we have not reaped yet.
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !sent.success() {
            bail!("kill -TERM failed: {sent}");
        }
        let deadline = Instant::now() + grace;
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("the service exited with {status} after SIGTERM");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("the service did not stop within {grace:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // A failed test must not leave the process behind.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
