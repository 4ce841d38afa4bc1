//! Shared pieces of the benchmark runner and its contestants.

/// The cases a contestant process runs, in the order of the tables (the runner adds
/// `eos-passthrough` and `eos-count`: passthrough and count under both guarantees).
pub const CASES: [&str; 12] = [
    "consume",
    "consume-produce",
    "passthrough",
    "filter-map",
    "kv-store",
    "window-store",
    "count",
    "windowed-count",
    "stream-table-join",
    "table-table-join",
    "stream-stream-join",
    "restore",
];

/// The cases without output records: their contestants print `done` once through.
pub const NO_OUTPUT: [&str; 4] = ["consume", "kv-store", "window-store", "restore"];

/// The cases of the plain rdkafka program (`raw`).
pub const RAW_CASES: [&str; 4] = ["consume", "consume-produce", "passthrough", "filter-map"];

/// The cases of the plain Java-client program (`java-raw`).
pub const JAVA_RAW_CASES: [&str; 2] = ["consume", "consume-produce"];

/// Times restoration, as a restore listener: from the first restoration's start to the last
/// one's end, and the records restored.
#[derive(Clone, Default)]
pub struct RestoreClock(std::sync::Arc<parking_lot::Mutex<RestoreTimes>>);

#[derive(Default)]
struct RestoreTimes {
    first_start: Option<std::time::Instant>,
    last_end: Option<std::time::Instant>,
    restored: u64,
}

impl RestoreClock {
    fn times(&self) -> parking_lot::MutexGuard<'_, RestoreTimes> {
        self.0.lock()
    }

    /// Records restored by the restorations that ended so far.
    pub fn restored(&self) -> u64 {
        self.times().restored
    }

    /// Once a restoration has ended and at least `records` were restored: the seconds from
    /// the first start to the last end, and the records restored.
    pub fn finished(&self, records: u64) -> Option<(f64, u64)> {
        let t = self.times();
        match (t.first_start, t.last_end) {
            (Some(start), Some(end)) if t.restored >= records => {
                Some(((end - start).as_secs_f64(), t.restored))
            }
            _ => None,
        }
    }
}

impl streams_core::store::RestoreListener for RestoreClock {
    fn on_restore_start(&self, _: &str, _: &str, _: i32, _: i64, _: i64) {
        self.times()
            .first_start
            .get_or_insert_with(std::time::Instant::now);
    }

    fn on_restore_end(&self, _: &str, _: &str, _: i32, total: u64) {
        let mut t = self.times();
        t.last_end = Some(std::time::Instant::now());
        t.restored += total;
    }
}

/// The filter of the `filter-map` case: keeps values whose last byte is even (about half of the
/// generated input).
pub fn keep(value: &[u8]) -> bool {
    value.last().is_some_and(|b| b % 2 == 0)
}

/// The map of the `filter-map` case: ASCII upper-case copy of `value` into `out`.
pub fn filter_map(value: &[u8], out: &mut Vec<u8>) {
    out.extend(value.iter().map(u8::to_ascii_uppercase));
}

/// The generated value of record `i`: `size` bytes of lower-case letters, last byte varying.
pub fn value(i: u64, size: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..size)
        .map(|j| b'a' + ((i as usize + j) % 26) as u8)
        .collect();
    if let Some(last) = v.last_mut() {
        *last = b'a' + (i % 26) as u8;
    }
    v
}

/// Peak resident memory (`VmHWM`) in MB of process `pid` (`"self"` for this one).
pub fn peak_rss_mb(pid: &str) -> std::io::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| std::io::Error::other("no VmHWM line in /proc status"))?;
    Ok(kb / 1024.0)
}

/// The JVM options of the Kafka Streams contestant: a 1 GiB heap, its logging at warnings.
pub const JAVA_OPTIONS: [&str; 2] = ["-Xmx1g", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"];

/// Builds the Kafka Streams (Java) contestant with `bench/kstreams-java/build.sh` (jars from
/// Maven Central on first use, then javac) and returns its class path.
pub fn build_java() -> std::io::Result<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/kstreams-java/build.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "building the Kafka Streams contestant ({script}) failed: {}",
            out.status
        )));
    }
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok(format!("{dir}/classes:{dir}/libs/*"))
}

/// For contestant `streams` (ours) nothing; for `kstreams` the class path of the Kafka
/// Streams contestant, built first (see [`build_java`]).
pub fn java_for(contestant: &str) -> anyhow::Result<Option<String>> {
    match contestant {
        "streams" => Ok(None),
        "kstreams" => Ok(Some(build_java()?)),
        other => anyhow::bail!("unknown contestant {other:?}; allowed: streams, kstreams"),
    }
}

/// The command that runs the Kafka Streams contestant's main class from `classpath`. The
/// JVM keeps its temporary files (RocksDB's native library, which a JVM killed with SIGKILL
/// leaves behind, and the contestant's state) in a scratch directory of this process, removed
/// when it exits, and writes no performance-data file.
pub fn java_command(classpath: &str) -> std::io::Result<std::process::Command> {
    static JVM_TMP: std::sync::OnceLock<integration_tests::cleanup::ScratchDir> =
        std::sync::OnceLock::new();
    let tmp = match JVM_TMP.get() {
        Some(dir) => dir,
        None => {
            let dir = integration_tests::cleanup::ScratchDir::with_prefix("kstreams-bench-jvm-")?;
            JVM_TMP.get_or_init(|| dir)
        }
    };
    let mut java = std::process::Command::new("java");
    java.args(JAVA_OPTIONS)
        .arg("-XX:-UsePerfData")
        .arg(format!("-Djava.io.tmpdir={}", tmp.path().display()))
        .args(["-cp", classpath, "kstreamsbench.Contestant"]);
    Ok(java)
}

/// The broker to use: `flag` when given, else the shared test cluster
/// (`KSTREAMS_BOOTSTRAP_SERVERS`, or a broker started for this process).
pub fn bootstrap_servers(flag: Option<String>) -> anyhow::Result<String> {
    Ok(match flag {
        Some(b) => b,
        None => integration_tests::kafka::shared_cluster()?
            .bootstrap_servers()
            .to_owned(),
    })
}

/// The value after `name` in `args` (`--records 1000`), if given.
pub fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// The whole number after `name` in `args`, or `default`.
pub fn number(args: &[String], name: &str, default: u64) -> anyhow::Result<u64> {
    use anyhow::Context;
    flag(args, name).map_or(Ok(default), |v| {
        v.parse()
            .with_context(|| format!("{name} takes a whole number, not {v:?}"))
    })
}
