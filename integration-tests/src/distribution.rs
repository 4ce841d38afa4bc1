//! The Apache Kafka distribution the fixture runs: its version (from `kafka/pom.xml`) and its
//! jars, fetched with Maven into a cache outside the work tree on first use.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use parking_lot::Mutex;

/// Environment variable overriding the directory that holds the broker jars.
pub const KAFKA_LIBS_ENV: &str = "KSTREAMS_KAFKA_LIBS";

const POM: &str = include_str!("../../kafka/pom.xml");

/// The Kafka version the fixture runs, as declared in `kafka/pom.xml`.
pub fn kafka_version() -> &'static str {
    pom_property(POM, "kafka.version")
}

/// The value of the property `<name>` in the Maven `pom`, or `unknown`.
pub(crate) fn pom_property(pom: &'static str, name: &str) -> &'static str {
    pom.split(&format!("<{name}>"))
        .nth(1)
        .and_then(|rest| rest.split(&format!("</{name}>")).next())
        .unwrap_or("unknown")
}

/// The cache root for build output, broker jars and the like: `$KSTREAMS_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/kstreams-rs`, else `$HOME/.cache/kstreams-rs`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KSTREAMS_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("kstreams-rs")
}

/// The directory with the broker's jars, fetched with Maven on first use.
///
/// Fetching goes to a scratch directory that is renamed into place when complete, so a run
/// that is interrupted half-way never leaves a partial set of jars behind.
pub fn kafka_libs() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(KAFKA_LIBS_ENV) {
        return Ok(PathBuf::from(dir));
    }
    static FETCH: Mutex<()> = Mutex::new(());
    let _guard = FETCH.lock();
    let home = cache_dir().join(format!("kafka-{}", kafka_version()));
    let libs = home.join("libs");
    if libs
        .join("kafka_2.13-".to_owned() + kafka_version() + ".jar")
        .exists()
    {
        return Ok(libs);
    }
    fs::create_dir_all(&home)?;
    let scratch = home.join(format!("libs.partial-{}", std::process::id()));
    let pom = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kafka/pom.xml");
    // Maven's JVM writes no performance data to /tmp.
    let maven_opts = match std::env::var("MAVEN_OPTS") {
        Ok(opts) if opts.contains("-XX:-UsePerfData") => opts,
        Ok(opts) => format!("{opts} -XX:-UsePerfData"),
        Err(_) => "-XX:-UsePerfData".to_owned(),
    };
    let status = Command::new("mvn")
        .env("MAVEN_OPTS", maven_opts)
        .args(["-q", "-B", "-f"])
        .arg(&pom)
        .arg("dependency:copy-dependencies")
        .arg(format!("-DoutputDirectory={}", scratch.display()))
        .status()
        .context("running mvn to fetch the Kafka jars (is Maven installed?)")?;
    if !status.success() {
        bail!(
            "mvn failed to fetch the Kafka {} jars: {status}",
            kafka_version()
        );
    }
    if libs.exists() {
        fs::remove_dir_all(&libs)?;
    }
    fs::rename(&scratch, &libs)?;
    Ok(libs)
}
