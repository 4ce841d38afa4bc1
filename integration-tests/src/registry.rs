//! A real schema registry for the suites: Apicurio Registry (its Confluent-compatible API at
//! `/apis/ccompat/v7`, schemas in memory), built from Maven Central by `scripts/registry.sh`.
//!
//! [`shared_registry`] gives each test binary one registry: the one named by
//! `KSTREAMS_SCHEMA_REGISTRY_URL` if set, else a local one started on first use on a free
//! loopback port, which dies with the test process (parent-death signal), like the brokers;
//! its scratch directory goes at exit (see [`crate::cleanup`]).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::cleanup::{ScratchDir, TrackedChild, spawn_tied_to_process};
use crate::kafka::{cache_dir, free_port};

/// Environment variable naming an external registry (a base URL such as
/// `http://host:8081` or `http://host:8080/apis/ccompat/v7`).
pub const REGISTRY_ENV: &str = "KSTREAMS_SCHEMA_REGISTRY_URL";

const POM: &str = include_str!("../../registry/pom.xml");

/// The Apicurio Registry version `registry/pom.xml` builds.
pub fn registry_version() -> &'static str {
    crate::distribution::pom_property(POM, "apicurio.version")
}

/// The runnable registry jar, built by `scripts/registry.sh fetch` on first use.
pub fn registry_jar() -> Result<PathBuf> {
    static FETCH: Mutex<()> = Mutex::new(());
    let _guard = FETCH.lock();
    let jar = cache_dir()
        .join(format!("apicurio-registry-{}", registry_version()))
        .join("build/schema-registry-1-runner.jar");
    if !jar.exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/registry.sh");
        let status = Command::new("bash")
            .arg(&script)
            .arg("fetch")
            .status()
            .context("running scripts/registry.sh fetch")?;
        if !status.success() || !jar.exists() {
            bail!(
                "scripts/registry.sh fetch failed ({status}); {} is missing",
                jar.display()
            );
        }
    }
    Ok(jar)
}

/// A registry this process started; dropping it kills the registry and removes its
/// directory.
pub struct LocalRegistry {
    url: String,
    // Dropped in this order: the process is killed before its directory is removed.
    _child: TrackedChild,
    _log_dir: ScratchDir,
}

impl LocalRegistry {
    /// Starts a registry on a free loopback port and waits until it answers (about 5 s).
    pub fn start() -> Result<Self> {
        let jar = registry_jar()?;
        let port = free_port()?;
        // The log, and the JVM's temporary files (Vert.x's `vertx-cache`): nothing in /tmp.
        let log_dir = ScratchDir::with_prefix("kstreams-registry-")?;
        let log = std::fs::File::create(log_dir.path().join("registry.log"))?;
        let java = std::env::var_os("JAVA_HOME")
            .map(|h| PathBuf::from(h).join("bin/java"))
            .unwrap_or_else(|| PathBuf::from("java"));
        let mut cmd = Command::new(java);
        cmd.args([
            "-Xmx256m",
            "-XX:+UseSerialGC",
            // No /tmp/hsperfdata_<user>/<pid>, which a SIGKILLed JVM leaves behind.
            "-XX:-UsePerfData",
            "-Dquarkus.http.host=127.0.0.1",
        ])
        .arg(format!("-Djava.io.tmpdir={}", log_dir.path().display()))
        .arg(format!("-Dquarkus.http.port={port}"))
        .arg("-jar")
        .arg(&jar)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
        let mut child = spawn_tied_to_process(cmd)?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if http_status(port, "/health/ready") == Some(200)
                && http_status(port, "/apis/ccompat/v7/subjects") == Some(200)
            {
                break;
            }
            if let Some(status) = child.try_wait()? {
                let log = std::fs::read_to_string(log_dir.path().join("registry.log"))
                    .unwrap_or_default();
                bail!("the schema registry exited with {status}:\n{log}");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("the schema registry did not answer within 120 s");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(LocalRegistry {
            url: format!("http://127.0.0.1:{port}/apis/ccompat/v7"),
            _child: child,
            _log_dir: log_dir,
        })
    }

    /// The base URL of its Confluent-compatible API.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The status code of `GET path` on the loopback port, if it answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// The registry shared by the tests of one test binary: the external one named by
/// [`REGISTRY_ENV`] if set, else a local one started on first use.
pub fn shared_registry() -> Result<&'static str> {
    static SHARED: OnceLock<std::result::Result<String, String>> = OnceLock::new();
    static LOCAL: OnceLock<LocalRegistry> = OnceLock::new();
    let shared = SHARED.get_or_init(|| match std::env::var(REGISTRY_ENV) {
        Ok(url) if !url.trim().is_empty() => Ok(url.trim().to_owned()),
        _ => match LocalRegistry::start() {
            Ok(r) => Ok(LOCAL.get_or_init(|| r).url().to_owned()),
            Err(e) => Err(format!("{e:#}")),
        },
    });
    shared
        .as_deref()
        .map_err(|e| anyhow!("the shared schema registry failed to start: {e}"))
}
