//! Small Java programs of the suite (`integration-tests/java/*.java`), compiled against the
//! Kafka jars the fixture already fetched and run on the machine's JDK.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::kafka::kafka_libs;

/// Compiles `java/<name>.java` into `dir`; returns the class path to run it with.
pub fn compile(name: &str, dir: &Path) -> Result<String> {
    let libs = kafka_libs()?.join("*").display().to_string();
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("java")
        .join(format!("{name}.java"));
    let out = Command::new("javac")
        .args(["-J-XX:-UsePerfData", "-d"])
        .arg(dir)
        .arg("-cp")
        .arg(&libs)
        .arg(&source)
        .output()
        .context("running javac")?;
    if !out.status.success() {
        bail!(
            "javac {} failed: {}",
            source.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(format!("{}:{libs}", dir.display()))
}

/// Runs the class `main` from `classpath` with `args`, its temporary files in `tmp`; returns
/// its standard output, or an error with its standard error when it fails.
pub fn run(classpath: &str, tmp: &Path, main: &str, args: &[&str]) -> Result<String> {
    let out = Command::new("java")
        .arg("-XX:-UsePerfData")
        .arg("-XX:TieredStopAtLevel=1")
        .arg(format!("-Djava.io.tmpdir={}", tmp.display()))
        .args(["-cp", classpath, main])
        .args(args)
        .output()
        .context("running java")?;
    if !out.status.success() {
        bail!(
            "the Java program {main} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}
