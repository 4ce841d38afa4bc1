//! Kafka Streams' side: `differential/java` (Kafka Streams and its `TopologyTestDriver` from
//! Maven Central) built by `scripts/java-program.sh` and run as one long-lived JVM that
//! answers case after case over its standard input and output.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::case::{Outcome, Rec};

/// The running Java driver. Killed, and its scratch directory removed, when dropped.
pub struct JavaDriver {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    // Kafka Streams' state directories and the JVM's temporary files.
    _scratch: tempfile::TempDir,
}

/// Builds the Java program (fetching its jars on first use); returns its class path. Built
/// once per process: the tests that start drivers run in parallel, and a second build would
/// replace the classes under a running driver.
pub fn build() -> Result<String> {
    static BUILT: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(classpath) = built.as_ref() {
        return Ok(classpath.clone());
    }
    let classpath = build_once()?;
    *built = Some(classpath.clone());
    Ok(classpath)
}

fn build_once() -> Result<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("../scripts/java-program.sh"))
        .arg(root.join("java"))
        .arg("kstreams-diff")
        .stderr(Stdio::inherit())
        .output()
        .context("running scripts/java-program.sh (are bash, Maven and a JDK installed?)")?;
    if !out.status.success() {
        bail!("building the Kafka Streams driver failed ({})", out.status);
    }
    let dir = String::from_utf8(out.stdout)?.trim().to_owned();
    Ok(format!("{dir}/classes:{dir}/libs/*"))
}

impl JavaDriver {
    /// Builds and starts the driver.
    pub fn start() -> Result<JavaDriver> {
        let classpath = build()?;
        let scratch = tempfile::Builder::new()
            .prefix("kstreams-differential-")
            .tempdir()?;
        let java = std::env::var_os("JAVA_HOME")
            .map(|home| Path::new(&home).join("bin/java"))
            .unwrap_or_else(|| "java".into());
        let mut child = Command::new(java)
            .arg("-XX:-UsePerfData")
            .arg(format!("-Djava.io.tmpdir={}", scratch.path().display()))
            .args(["-cp", &classpath, "kstreamsdiff.DiffDriver"])
            .arg(scratch.path().join("state"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting java")?;
        let stdin = child.stdin.take().context("the driver's stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("the driver's stdout")?);
        Ok(JavaDriver {
            child,
            stdin,
            stdout,
            _scratch: scratch,
        })
    }

    /// Runs `input` through the variant named `variant` on Kafka Streams.
    pub fn run(&mut self, variant: &str, input: &[Rec]) -> Result<Outcome> {
        let mut request = format!("case {variant} {}\n", input.len());
        for r in input {
            request.push_str(&r.to_string());
            request.push('\n');
        }
        self.stdin.write_all(request.as_bytes())?;
        self.stdin.flush()?;
        let head = self.line()?;
        if let Some(message) = head.strip_prefix("error ") {
            return Ok(Outcome::Failed(message.to_owned()));
        }
        let count: usize = head
            .strip_prefix("ok ")
            .with_context(|| format!("unexpected answer from the Java driver: {head:?}"))?
            .parse()?;
        let records = (0..count)
            .map(|_| Rec::parse(&self.line()?))
            .collect::<Result<_>>()?;
        Ok(Outcome::Records(records))
    }

    /// Kafka Streams' `describe()` of the variant named `variant`.
    pub fn describe(&mut self, variant: &str) -> Result<String> {
        self.stdin
            .write_all(format!("describe {variant}\n").as_bytes())?;
        self.stdin.flush()?;
        let head = self.line()?;
        let count: usize = head
            .strip_prefix("ok ")
            .with_context(|| format!("unexpected answer from the Java driver: {head:?}"))?
            .parse()?;
        let lines = (0..count)
            .map(|_| self.line())
            .collect::<Result<Vec<_>>>()?;
        Ok(lines.join("\n"))
    }

    fn line(&mut self) -> Result<String> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            bail!("the Java driver exited (its errors are above)");
        }
        Ok(line.trim_end().to_owned())
    }
}

impl Drop for JavaDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
