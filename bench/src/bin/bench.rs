//! Benchmark runner: loads input once into a real broker, then runs each contestant on each
//! case, interleaved and repeated, and prints a Markdown table.
//!
//! ```text
//! bench [--records N] [--value-size BYTES] [--partitions P] [--repeat R]
//!       [--cases consume,consume-produce,passthrough,filter-map,kv-store,window-store,count,
//!        windowed-count,stream-table-join,table-table-join,stream-stream-join,
//!        eos-passthrough,eos-count,restore | all]
//!       [--contestants raw,java-raw,streams,kstreams] [--bootstrap-servers HOST:PORT]
//!       [--latency-rate RECORDS_PER_S [--seconds S]] [--json FILE]
//!       [--window-store-records N]
//!       [--contestant-bootstrap HOST:PORT] [--config K=V]... [--java-config K=V]...
//! ```
//!
//! `--contestant-bootstrap` points the contestants at another listener of the same broker
//! (the runner still loads the input and counts the output through `--bootstrap-servers`),
//! with `--config` settings for ours and `--java-config` settings for the Java ones: how the
//! cost of TLS and SASL is measured (`scripts/bench-tls.sh`).
//!
//! `window-store` stops at the first `--window-store-records` (500,000) input records: each of
//! its range fetches scans every live window of two keys (on both sides: neither store can
//! bound the scan's start by time for a key range), so at about 10,000 records/s it would
//! otherwise take most of a full run.
//!
//! `--json FILE` appends one JSON object per contestant and case (medians, spread, every
//! round, and the run's settings) for `scripts/bench-report.py`, which writes the generated
//! part of `docs/benchmarks.md`.
//!
//! With `--latency-rate`, each contestant instead runs at a fixed input rate: once its first
//! output appears (warm-up), records are produced at that rate for `--seconds` (30), each
//! stamped with its send time, and end-to-end latency (output seen minus record timestamp,
//! which the cases keep) is reported as p50 / p99 / max over the records sent in that window.
//! Cases: passthrough, filter-map, count, windowed-count, stream-table-join.
//!
//! Contestants: `raw` (a plain rdkafka program: consume, consume-produce, passthrough,
//! filter-map), `java-raw` (the plain Java clients: consume, consume-produce), `streams` (ours)
//! and `kstreams` (Apache Kafka Streams 4.1.1); the Java ones are the application in
//! `bench/kstreams-java`, built by its `build.sh` on first use and run with `java -Xmx1g`.
//!
//! The cases without output (`consume`, `kv-store`, `window-store`, `restore`) stop the clock
//! when the contestant prints `done` (it counts what it processed). `restore` loads a
//! changelog of N records with distinct keys into `<application id>-kv-changelog` before
//! each run, starts the `kv-store` topology on an empty state directory and an empty input,
//! and reports N over the seconds from the first restoration's start to the last one's end,
//! as the contestant measured them (start-up and the group join are not in it; CPU and peak
//! RSS are the whole process's until then).
//!
//! Each contestant runs as its own process (`contestant`), so its CPU time (utime + stime from
//! `/proc/<pid>/stat`) and peak RSS (`VmHWM`) are its own. The clock starts when the process
//! is spawned and stops when the output topic holds every expected record; start-up and the
//! group join are counted for every contestant alike.
//!
//! `eos-passthrough` and `eos-count` run the passthrough and count topologies twice, under
//! at-least-once and under exactly-once, both committing every 100 ms; their clock stops when
//! the group has committed every input record (under exactly-once, committed offsets mean
//! committed output).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use integration_tests::client::produce;
use integration_tests::kafka::{KafkaCluster, unique_name};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use streams_bench::{CASES, JAVA_RAW_CASES, NO_OUTPUT, RAW_CASES, keep, peak_rss_mb, value};
use streams_core::timestamp::now_ms;

struct Options {
    records: u64,
    value_size: usize,
    partitions: i32,
    repeat: usize,
    cases: Vec<String>,
    contestants: Vec<String>,
    bootstrap: Option<String>,
    /// The Kafka Streams contestant's class path, once built.
    java: Option<String>,
    /// Fixed-rate latency mode: input records per second.
    latency_rate: Option<u64>,
    /// How long the fixed-rate phase lasts.
    seconds: u64,
    /// Where to append the results as JSON lines.
    json: Option<String>,
    /// How many input records the `window-store` case processes.
    window_store_records: u64,
    /// Where the contestants connect (`--contestant-bootstrap`), when not where the runner
    /// loads and counts: a secured listener of the same broker.
    contestant_bootstrap: Option<String>,
    /// `--config key=value` for the Rust contestant (librdkafka names).
    config: Vec<String>,
    /// `--java-config key=value` for the Java contestants (Java client names).
    java_config: Vec<String>,
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Measure {
    records_per_s: f64,
    mb_per_s: f64,
    cpu_s_per_m: f64,
    peak_rss_mb: f64,
}

fn parse() -> Result<Options> {
    let mut o = Options {
        records: 1_000_000,
        value_size: 100,
        partitions: 1,
        repeat: 3,
        cases: vec!["passthrough".into(), "filter-map".into()],
        contestants: KINDS.iter().map(|k| (*k).to_owned()).collect(),
        bootstrap: None,
        java: None,
        latency_rate: None,
        seconds: 30,
        json: None,
        window_store_records: 500_000,
        contestant_bootstrap: None,
        config: Vec::new(),
        java_config: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--records" => o.records = v()?.parse()?,
            "--value-size" => o.value_size = v()?.parse()?,
            "--partitions" => o.partitions = v()?.parse()?,
            "--repeat" => o.repeat = v()?.parse()?,
            "--cases" => {
                let cases = v()?;
                o.cases = if cases == "all" {
                    all_cases().into_iter().map(str::to_owned).collect()
                } else {
                    cases.split(',').map(str::to_owned).collect()
                };
            }
            "--contestants" => {
                o.contestants = v()?.split(',').map(str::to_owned).collect();
                if let Some(bad) = o.contestants.iter().find(|c| !KINDS.contains(&c.as_str())) {
                    bail!("unknown contestant {bad:?}; allowed: {}", KINDS.join(", "));
                }
            }
            "--json" => o.json = Some(v()?),
            "--window-store-records" => o.window_store_records = v()?.parse()?,
            "--bootstrap-servers" => o.bootstrap = Some(v()?),
            "--contestant-bootstrap" => o.contestant_bootstrap = Some(v()?),
            "--config" => o.config.push(v()?),
            "--java-config" => o.java_config.push(v()?),
            "--latency-rate" => o.latency_rate = Some(v()?.parse()?),
            "--seconds" => o.seconds = v()?.parse()?,
            other => bail!(
                "unknown argument {other:?}; see the usage at the top of bench/src/bin/bench.rs"
            ),
        }
    }
    for case in &o.cases {
        contestants(case, &o.contestants)?;
    }
    if o.records == 0 || o.repeat == 0 || o.partitions < 1 {
        bail!("--records, --repeat and --partitions must be at least 1");
    }
    if o.latency_rate.is_some() {
        if o.latency_rate == Some(0) || o.seconds == 0 {
            bail!("--latency-rate and --seconds must be at least 1");
        }
        if let Some(bad) = o
            .cases
            .iter()
            .find(|c| !LATENCY_CASES.contains(&c.as_str()))
        {
            bail!(
                "case {bad:?} has no latency mode; allowed with --latency-rate: {}",
                LATENCY_CASES.join(", ")
            );
        }
    }
    Ok(o)
}

fn proc_cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat.rsplit_once(") ").context("stat format")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

fn output_count(consumer: &BaseConsumer, topic: &str, partitions: i32) -> Result<i64> {
    let mut total = 0;
    for p in 0..partitions {
        let (lo, hi) = consumer.fetch_watermarks(topic, p, Duration::from_secs(5))?;
        total += hi - lo;
    }
    Ok(total)
}

/// The topics and group of one run: the input, the table the join cases join it with, and
/// the contestant's group (its application id).
struct Topics {
    input: String,
    side: String,
    group: String,
}

/// The sum over `topic`'s partitions of `group`'s committed offsets.
fn committed_total(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> Result<i64> {
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(10))?;
    Ok(committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum())
}

/// One contestant of a case: who runs it (`raw`: rdkafka, `java-raw`: the Java clients,
/// `streams`: ours, `kstreams`: Kafka Streams), the case the program runs, and extra
/// arguments.
struct Contestant {
    label: String,
    kind: &'static str,
    case: String,
    args: Vec<&'static str>,
}

/// The contestant kinds.
const KINDS: [&str; 4] = ["raw", "java-raw", "streams", "kstreams"];

/// The cases, and their contestants: both raw programs, ours and Kafka Streams for `consume`;
/// the raw programs for `consume-produce` (ours is `passthrough`); rdkafka, ours and Kafka
/// Streams for passthrough and filter-map; ours and Kafka Streams for the stateful ones; for
/// `eos-*`, ours and Kafka Streams each under at-least-once and under exactly-once,
/// committing every 100 ms.
/// The `eos-*` cases, run after the contestant cases except `restore`.
const EOS_CASES: [&str; 2] = ["eos-passthrough", "eos-count"];

/// Every case, in the order of the tables.
fn all_cases() -> Vec<&'static str> {
    let (last, rest) = CASES.split_last().expect("cases");
    rest.iter()
        .chain(&EOS_CASES)
        .chain([last])
        .copied()
        .collect()
}

/// Whether contestant `kind` runs `case` (outside the `eos-*` pairs).
fn runs(kind: &str, case: &str) -> bool {
    match kind {
        "raw" => RAW_CASES.contains(&case),
        "java-raw" => JAVA_RAW_CASES.contains(&case),
        _ => case != "consume-produce",
    }
}

fn contestants(case: &str, kinds: &[String]) -> Result<Vec<Contestant>> {
    let cases = all_cases();
    if !cases.contains(&case) {
        bail!("unknown case {case:?}; allowed: {}", cases.join(", "));
    }
    let mut out = Vec::new();
    for kind in KINDS {
        if !kinds.iter().any(|k| k == kind) {
            continue;
        }
        if let Some(inner) = case.strip_prefix("eos-") {
            for (guarantee, label) in [
                ("at_least_once", "at-least-once"),
                ("exactly_once_v2", "exactly-once"),
            ] {
                if matches!(kind, "raw" | "java-raw") {
                    continue;
                }
                out.push(Contestant {
                    label: format!("{kind} {label}"),
                    kind,
                    case: inner.to_owned(),
                    args: vec!["--commit-interval-ms", "100", "--guarantee", guarantee],
                });
            }
        } else if runs(kind, case) {
            out.push(Contestant {
                label: kind.to_owned(),
                kind,
                case: case.to_owned(),
                args: Vec::new(),
            });
        }
    }
    Ok(out)
}

/// Runs contestant `c` until `expected` output records exist (for the exactly-once
/// comparison, whose output topics also hold transaction markers: until its group has
/// committed every input record); rates are per `counted` records.
fn run_one(
    bootstrap: &str,
    c: &Contestant,
    topics: &Topics,
    o: &Options,
    (expected, counted): (i64, i64),
) -> Result<Measure> {
    let (kind, case) = (c.kind, c.case.as_str());
    let by_commits = c.args.contains(&"--commit-interval-ms");
    let (input, side, group) = (&topics.input, &topics.side, &topics.group);
    let cluster_admin = KafkaCluster::external(bootstrap);
    let output = unique_name(&format!("bench-out-{kind}-{case}"));
    cluster_admin.create_topic(&output, o.partitions, 1, &[])?;
    let watcher: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let expect = NO_OUTPUT
        .contains(&case)
        .then(|| vec!["--expect".to_owned(), expected.to_string()]);
    let mut child = spawn_contestant(
        bootstrap,
        c,
        o,
        [input.as_str(), &output, group, side],
        expect.as_deref(),
    )?;
    let pid = child.id();
    let done = child.stdout.take().map(watch_done);
    let mut child = Reap(child);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(1800);
    loop {
        if Instant::now() > deadline {
            bail!("{kind}/{case} did not finish within 30 minutes");
        }
        if let Some(status) = child.0.try_wait()? {
            bail!("{kind}/{case} exited early: {status}");
        }
        let (finished, timed) = if let Some(done) = &done {
            (done.get().is_some(), done.get().copied().flatten())
        } else {
            let progress = if by_commits {
                committed_total(bootstrap, group, input, o.partitions)
                    .map(|committed| committed >= o.records as i64)
            } else {
                output_count(&watcher, &output, o.partitions).map(|n| n >= expected)
            };
            // The broker can answer a progress query with a passing error (a new topic's
            // leader not known yet): ask again, within the deadline.
            let finished = progress.unwrap_or_else(|e| {
                eprintln!("{kind}/{case}: checking progress failed ({e}); asking again");
                false
            });
            (finished, None)
        };
        if finished {
            let secs = timed.unwrap_or_else(|| started.elapsed().as_secs_f64());
            let cpu = proc_cpu_seconds(pid)?;
            let n = counted as f64;
            let measure = Measure {
                records_per_s: n / secs,
                mb_per_s: n * o.value_size as f64 / secs / 1e6,
                cpu_s_per_m: cpu / n * 1e6,
                peak_rss_mb: peak_rss_mb(&pid.to_string())?,
            };
            drop(child);
            // A full run writes tens of GB over all cases and rounds: the output and the
            // application's internal topics go once measured.
            cluster_admin.delete_topics(&[&output], &[&format!("{group}-")])?;
            return Ok(measure);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a contestant printed when done: unset until then; then the seconds it timed itself
/// (restore), if any.
type Done = std::sync::Arc<std::sync::OnceLock<Option<f64>>>;

/// Reads the contestant's stdout for its `done` line.
fn watch_done(stdout: std::process::ChildStdout) -> Done {
    use std::io::BufRead;
    let done = Done::default();
    let seen = done.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.trim().strip_prefix("done") {
                let _ = seen.set(rest.trim().parse::<f64>().ok());
            }
        }
    });
    done
}

/// The cases whose output records keep the input record's timestamp, one output (or a fixed
/// number) per input: the ones the fixed-rate latency mode measures.
const LATENCY_CASES: [&str; 5] = [
    "passthrough",
    "filter-map",
    "count",
    "windowed-count",
    "stream-table-join",
];

/// End-to-end latencies of one fixed-rate run, in ms.
struct Latency {
    p50: f64,
    p99: f64,
    max: f64,
    sent: u64,
    measured: usize,
}

/// Runs contestant `c` on a fresh input topic at `rate` records/s: a warm-up until its first
/// output, then `o.seconds` of fixed-rate input, then until the output of those records has
/// arrived (or 30 s more). Latency = when the output record was read minus its timestamp.
fn run_latency(
    bootstrap: &str,
    c: &Contestant,
    side: &str,
    o: &Options,
    rate: u64,
) -> Result<Latency> {
    use rdkafka::Message;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let (kind, case) = (c.kind, c.case.as_str());
    let admin = KafkaCluster::external(bootstrap);
    let input = unique_name(&format!("lat-in-{kind}-{case}"));
    let output = unique_name(&format!("lat-out-{kind}-{case}"));
    admin.create_topic(&input, o.partitions, 1, &[])?;
    admin.create_topic(&output, o.partitions, 1, &[])?;
    let group = unique_name("lat-group");
    let child = spawn_contestant(
        bootstrap,
        c,
        o,
        [input.as_str(), &output, &group, side],
        None,
    )?;
    let mut child = Reap(child);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "1")
        .set("partitioner", "murmur2_random")
        .create()?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_name("lat-reader"))
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "5")
        .create()?;
    consumer.subscribe(&[&output])?;
    let mut seq: u64 = 0;
    let send = |producer: &BaseProducer, seq: &mut u64| -> Result<()> {
        let key = format!("key-{}", *seq % 10_000);
        let payload = value(*seq, o.value_size);
        let record = BaseRecord::to(&input)
            .key(&key)
            .payload(&payload)
            .timestamp(now_ms());
        producer.send(record).map_err(|(e, _)| e)?;
        *seq += 1;
        Ok(())
    };
    // Warm-up: a record every 10 ms until output appears (the contestant has started, joined
    // its group and processed).
    let deadline = Instant::now() + Duration::from_secs(120);
    'warm: loop {
        if Instant::now() > deadline {
            bail!("{kind}/{case} produced no output within 120 s");
        }
        if let Some(status) = child.0.try_wait()? {
            bail!("{kind}/{case} exited early: {status}");
        }
        send(&producer, &mut seq)?;
        producer.poll(Duration::ZERO);
        let until = Instant::now() + Duration::from_millis(10);
        while Instant::now() < until {
            if let Some(m) = consumer.poll(Duration::from_millis(2)) {
                m?;
                break 'warm;
            }
        }
    }
    // Let the warm-up records drain, then measure.
    let settle = Instant::now() + Duration::from_secs(2);
    while Instant::now() < settle {
        consumer.poll(Duration::from_millis(5));
        producer.poll(Duration::ZERO);
    }
    let start_ms = now_ms();
    let started = Instant::now();
    let window = Duration::from_secs(o.seconds);
    let first_seq = seq;
    let mut latencies: Vec<f64> = Vec::new();
    let read = |consumer: &BaseConsumer, latencies: &mut Vec<f64>| -> Result<()> {
        while let Some(m) = consumer.poll(Duration::ZERO) {
            let m = m?;
            if let Some(ts) = m.timestamp().to_millis()
                && ts >= start_ms
            {
                latencies.push((now_ms() - ts) as f64);
            }
        }
        Ok(())
    };
    while started.elapsed() < window {
        let due = first_seq + (started.elapsed().as_secs_f64() * rate as f64) as u64;
        while seq < due {
            send(&producer, &mut seq)?;
        }
        producer.poll(Duration::ZERO);
        read(&consumer, &mut latencies)?;
        std::thread::sleep(Duration::from_micros(500));
    }
    let sent = seq - first_seq;
    producer.flush(Duration::from_secs(10))?;
    // The tail: until the output stops growing for 3 s (or 30 s pass).
    let tail_end = Instant::now() + Duration::from_secs(30);
    let mut last_growth = Instant::now();
    let mut seen = latencies.len();
    while Instant::now() < tail_end && last_growth.elapsed() < Duration::from_secs(3) {
        read(&consumer, &mut latencies)?;
        std::thread::sleep(Duration::from_millis(2));
        if latencies.len() > seen {
            seen = latencies.len();
            last_growth = Instant::now();
        }
    }
    drop(child);
    admin.delete_topics(&[&input, &output], &[&format!("{group}-")])?;
    if latencies.is_empty() {
        bail!("{kind}/{case}: no output for the measured records");
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Ok(Latency {
        p50: at(0.5),
        p99: at(0.99),
        max: at(1.0),
        sent,
        measured: latencies.len(),
    })
}

/// The fixed-rate latency mode's table.
fn latency_mode(bootstrap: &str, side: &str, o: &Options, rate: u64) -> Result<()> {
    let mut rows = Vec::new();
    for case in &o.cases {
        for c in contestants(case, &o.contestants)? {
            let mut runs = Vec::new();
            for round in 0..o.repeat {
                let l = run_latency(bootstrap, &c, side, o, rate)?;
                eprintln!(
                    "{case} {} round {}: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} sent, {} outputs measured)",
                    c.label,
                    round + 1,
                    l.p50,
                    l.p99,
                    l.max,
                    l.sent,
                    l.measured
                );
                runs.push(l);
            }
            let (p50, p99, max) = (
                median(runs.iter().map(|l| l.p50).collect()),
                median(runs.iter().map(|l| l.p99).collect()),
                median(runs.iter().map(|l| l.max).collect()),
            );
            rows.push(format!(
                "| {case} | {} B | {} | {rate} | {p50:.0} | {p99:.0} | {max:.0} |",
                o.value_size, c.label,
            ));
            write_json(
                o,
                serde_json::json!({
                    "mode": "latency",
                    "case": case,
                    "contestant": c.label,
                    "kind": c.kind,
                    "value_size": o.value_size,
                    "partitions": o.partitions,
                    "rate": rate,
                    "seconds": o.seconds,
                    "repeat": o.repeat,
                    "p50_ms": p50,
                    "p99_ms": p99,
                    "max_ms": max,
                    "sent": runs.iter().map(|l| l.sent).sum::<u64>(),
                    "measured": runs.iter().map(|l| l.measured).sum::<usize>(),
                }),
            )?;
        }
    }
    println!("| case | value | contestant | input records/s | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    Ok(())
}

/// The contestants' `security.protocol` (PLAINTEXT unless `--config` says otherwise), for the
/// JSON rows.
fn security(o: &Options) -> String {
    o.config
        .iter()
        .find_map(|s| s.strip_prefix("security.protocol="))
        .unwrap_or("PLAINTEXT")
        .to_owned()
}

/// Starts contestant `c` as its own process on `[input, output, group, side]`; with
/// `expect` (the `--expect N` of the cases without output), its stdout is piped for the
/// `done` line.
fn spawn_contestant(
    bootstrap: &str,
    c: &Contestant,
    o: &Options,
    [input, output, group, side]: [&str; 4],
    expect: Option<&[String]>,
) -> Result<Child> {
    let mut command = match (c.kind, &o.java) {
        ("kstreams" | "java-raw", Some(classpath)) => streams_bench::java_command(classpath)?,
        ("kstreams" | "java-raw", None) => bail!("the Java contestants were not built"),
        _ => Command::new(std::env::current_exe()?.with_file_name("contestant")),
    };
    let java = matches!(c.kind, "kstreams" | "java-raw");
    let settings = if java { &o.java_config } else { &o.config };
    let settings = settings.iter().flat_map(|s| ["--config", s.as_str()]);
    let bootstrap = o.contestant_bootstrap.as_deref().unwrap_or(bootstrap);
    Ok(command
        .args([c.kind, c.case.as_str(), "--bootstrap-servers", bootstrap])
        .args([
            "--input", input, "--output", output, "--group", group, "--side", side,
        ])
        .args(&c.args)
        .args(expect.unwrap_or_default())
        .args(settings)
        .stdin(Stdio::null())
        .stdout(if expect.is_some() {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .spawn()?)
}

/// Terminates the contestant (SIGTERM, then SIGKILL) when dropped.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let pid = self.0.id();
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        for _ in 0..100 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let mut o = parse()?;
    if o.contestants
        .iter()
        .any(|c| c == "kstreams" || c == "java-raw")
    {
        o.java = Some(streams_bench::build_java()?);
    }
    let bootstrap = streams_bench::bootstrap_servers(o.bootstrap.clone())?;
    let admin = KafkaCluster::external(&bootstrap);
    // The table the join cases read: one 100-byte profile per key.
    let side = unique_name("bench-side");
    admin.create_topic(&side, o.partitions, 1, &[])?;
    let profiles = (0..10_000).map(|i| (format!("key-{i}"), value(i, 100), None));
    produce(&bootstrap, &side, profiles).await?;
    if let Some(rate) = o.latency_rate {
        // Each latency run makes its own input.
        let result = latency_mode(&bootstrap, &side, &o, rate);
        admin.delete_topics(&[&side], &[])?;
        return result;
    }
    let input = unique_name("bench-in");
    admin.create_topic(&input, o.partitions, 1, &[])?;
    eprintln!(
        "loading {} records of {} bytes into {input} ({} partitions)",
        o.records, o.value_size, o.partitions
    );
    let kept = (0..o.records)
        .filter(|&i| keep(&value(i, o.value_size)))
        .count() as i64;
    let records =
        (0..o.records).map(|i| (format!("key-{}", i % 10_000), value(i, o.value_size), None));
    produce(&bootstrap, &input, records).await?;
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    for case in &o.cases {
        let expected = match case.as_str() {
            "filter-map" => kept,
            // Every record updates two hopping windows, and every update is emitted.
            "windowed-count" => 2 * o.records as i64,
            "window-store" => o.records.min(o.window_store_records) as i64,
            _ => o.records as i64,
        };
        // Rates are per output record, except for the windowed count: per input record.
        let counted = if case == "windowed-count" {
            o.records as i64
        } else {
            expected
        };
        let mut results: Vec<(Contestant, Vec<Measure>)> = contestants(case, &o.contestants)?
            .into_iter()
            .map(|c| (c, Vec::new()))
            .collect();
        for round in 0..o.repeat {
            for (c, ms) in results.iter_mut() {
                let topics = if case == "restore" {
                    restore_topics(&bootstrap, &side, &o).await?
                } else {
                    Topics {
                        input: input.clone(),
                        side: side.clone(),
                        group: unique_name("bench-group"),
                    }
                };
                let m = run_one(&bootstrap, c, &topics, &o, (expected, counted))?;
                eprintln!(
                    "{case} {} round {}: {:.0} records/s, {:.2} CPU-s per million, peak RSS {:.1} MB",
                    c.label,
                    round + 1,
                    m.records_per_s,
                    m.cpu_s_per_m,
                    m.peak_rss_mb
                );
                ms.push(m);
            }
        }
        let mut summaries = Vec::new();
        for (c, ms) in &results {
            let rps: Vec<f64> = ms.iter().map(|m| m.records_per_s).collect();
            let (lo, hi) = (
                rps.iter().cloned().fold(f64::MAX, f64::min),
                rps.iter().cloned().fold(0.0, f64::max),
            );
            let s = Summary {
                records_per_s: median(rps),
                cpu_s_per_m: median(ms.iter().map(|m| m.cpu_s_per_m).collect()),
                peak_rss_mb: median(ms.iter().map(|m| m.peak_rss_mb).collect()),
            };
            let mb_per_s = median(ms.iter().map(|m| m.mb_per_s).collect());
            rows.push(format!(
                "| {case} | {} B | {} | {:.0} ({:.0}-{:.0}) | {mb_per_s:.1} | {:.2} | {:.0} |",
                o.value_size, c.label, s.records_per_s, lo, hi, s.cpu_s_per_m, s.peak_rss_mb
            ));
            write_json(
                &o,
                serde_json::json!({
                    "mode": "throughput",
                    "security": security(&o),
                    "case": case,
                    "contestant": c.label,
                    "kind": c.kind,
                    "value_size": o.value_size,
                    "partitions": o.partitions,
                    "records": o.records,
                    "case_records": expected,
                    "repeat": o.repeat,
                    "records_per_s": s.records_per_s,
                    "records_per_s_min": lo,
                    "records_per_s_max": hi,
                    "mb_per_s": mb_per_s,
                    "cpu_s_per_m": s.cpu_s_per_m,
                    "peak_rss_mb": s.peak_rss_mb,
                    "rounds": ms,
                }),
            )?;
            summaries.push((c.label.clone(), s));
        }
        let find = |label: &str| summaries.iter().find(|(l, _)| l == label).map(|(_, s)| *s);
        let ratio = |a: Option<Summary>, b: Option<Summary>| match (a, b) {
            (Some(a), Some(b)) => format!(
                "{:.2} / {:.2} / {:.2}",
                a.records_per_s / b.records_per_s,
                a.cpu_s_per_m / b.cpu_s_per_m,
                a.peak_rss_mb / b.peak_rss_mb
            ),
            _ => "n/a".into(),
        };
        let (ours, theirs, raw) = if case.starts_with("eos-") {
            (
                find("streams exactly-once"),
                find("kstreams exactly-once"),
                find("streams at-least-once"),
            )
        } else {
            (find("streams"), find("kstreams"), find("raw"))
        };
        ratios.push(format!(
            "| {case} | {} B | {} | {} |",
            o.value_size,
            ratio(ours, raw),
            ratio(ours, theirs)
        ));
    }
    admin.delete_topics(&[&input, &side], &[])?;
    println!(
        "| case | value | contestant | records/s (min-max) | MB/s | CPU-s per M records | peak RSS MB |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    println!();
    println!(
        "| case | value | ours / raw (eos-*: exactly-once / at-least-once): throughput / CPU per record / peak RSS | ours / Kafka Streams: throughput / CPU per record / peak RSS |"
    );
    println!("|---|---|---|---|");
    for r in ratios {
        println!("{r}");
    }
    Ok(())
}

/// A fresh group, an empty input topic, and the group's `kv` changelog loaded with
/// `o.records` records of distinct keys, for one run of the `restore` case. Both topics are
/// named after the group, so the run deletes them with the application's internal topics.
async fn restore_topics(bootstrap: &str, side: &str, o: &Options) -> Result<Topics> {
    let admin = KafkaCluster::external(bootstrap);
    let group = unique_name("bench-group");
    let input = format!("{group}-input");
    admin.create_topic(&input, o.partitions, 1, &[])?;
    let changelog = format!("{group}-kv-changelog");
    admin.create_topic(
        &changelog,
        o.partitions,
        1,
        &[("cleanup.policy", "compact")],
    )?;
    eprintln!("loading {} records into {changelog}", o.records);
    let records = (0..o.records).map(|i| (format!("key-{i}"), value(i, o.value_size), None));
    produce(bootstrap, &changelog, records).await?;
    Ok(Topics {
        input,
        side: side.to_owned(),
        group,
    })
}

/// Appends `row` to the `--json` file, if one was given.
fn write_json(o: &Options, row: serde_json::Value) -> Result<()> {
    use std::io::Write;
    let Some(path) = &o.json else {
        return Ok(());
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {path} for the results"))?;
    writeln!(file, "{row}")?;
    Ok(())
}

/// Medians of one contestant's rounds.
#[derive(Clone, Copy)]
struct Summary {
    records_per_s: f64,
    cpu_s_per_m: f64,
    peak_rss_mb: f64,
}
