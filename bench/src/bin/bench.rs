//! Benchmark runner: loads input once into a real broker, then runs each contestant on each
//! case, interleaved and repeated, and prints a Markdown table.
//!
//! ```text
//! bench [--records N] [--value-size BYTES] [--partitions P] [--repeat R]
//!       [--cases passthrough,filter-map,count,windowed-count,stream-table-join,table-table-join,
//!        stream-stream-join,eos-passthrough,eos-count]
//!       [--bootstrap-servers HOST:PORT]
//! ```
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
use integration_tests::kafka::{KafkaCluster, shared_cluster, unique_name};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use streams_bench::{keep, peak_rss_mb, value};

struct Options {
    records: u64,
    value_size: usize,
    partitions: i32,
    repeat: usize,
    cases: Vec<String>,
    bootstrap: Option<String>,
}

#[derive(Debug, Clone, Copy)]
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
        bootstrap: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--records" => o.records = v()?.parse()?,
            "--value-size" => o.value_size = v()?.parse()?,
            "--partitions" => o.partitions = v()?.parse()?,
            "--repeat" => o.repeat = v()?.parse()?,
            "--cases" => o.cases = v()?.split(',').map(str::to_owned).collect(),
            "--bootstrap-servers" => o.bootstrap = Some(v()?),
            other => bail!(
                "unknown argument {other:?}; see the usage at the top of bench/src/bin/bench.rs"
            ),
        }
    }
    for case in &o.cases {
        contestants(case)?;
    }
    if o.records == 0 || o.repeat == 0 || o.partitions < 1 {
        bail!("--records, --repeat and --partitions must be at least 1");
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

/// The topics a run reads: the input, and the table the join cases join it with.
struct Topics {
    input: String,
    side: String,
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

/// One contestant of a case: the `contestant` program's kind, the case it runs, and extra
/// arguments.
struct Contestant {
    label: &'static str,
    kind: &'static str,
    case: &'static str,
    args: &'static [&'static str],
}

/// The contestants of `case`: raw and streams for the stateless cases; streams alone for the
/// stateful ones; for `eos-*`, streams under at-least-once and under exactly-once, both
/// committing every 100 ms.
fn contestants(case: &str) -> Result<Vec<Contestant>> {
    let streams = |case| Contestant {
        label: "streams",
        kind: "streams",
        case,
        args: &[],
    };
    Ok(match case {
        "passthrough" | "filter-map" => {
            let case = if case == "passthrough" {
                "passthrough"
            } else {
                "filter-map"
            };
            vec![
                Contestant {
                    label: "raw",
                    kind: "raw",
                    case,
                    args: &[],
                },
                streams(case),
            ]
        }
        "count" => vec![streams("count")],
        "windowed-count" => vec![streams("windowed-count")],
        "stream-table-join" => vec![streams("stream-table-join")],
        "table-table-join" => vec![streams("table-table-join")],
        "stream-stream-join" => vec![streams("stream-stream-join")],
        "eos-passthrough" | "eos-count" => {
            let inner = if case == "eos-count" {
                "count"
            } else {
                "passthrough"
            };
            vec![
                Contestant {
                    label: "at-least-once",
                    kind: "streams",
                    case: inner,
                    args: &["--commit-interval-ms", "100"],
                },
                Contestant {
                    label: "exactly-once",
                    kind: "streams",
                    case: inner,
                    args: &[
                        "--commit-interval-ms",
                        "100",
                        "--guarantee",
                        "exactly_once_v2",
                    ],
                },
            ]
        }
        other => bail!(
            "unknown case {other:?}; allowed: passthrough, filter-map, count, windowed-count, \
             stream-table-join, table-table-join, stream-stream-join, eos-passthrough, eos-count"
        ),
    })
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
    let (kind, case) = (c.kind, c.case);
    let by_commits = c.args.contains(&"--commit-interval-ms");
    let (input, side) = (&topics.input, &topics.side);
    let cluster_admin = KafkaCluster::external(bootstrap);
    let output = unique_name(&format!("bench-out-{kind}-{case}"));
    cluster_admin.create_topic(&output, o.partitions, 1, &[])?;
    let watcher: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let exe = std::env::current_exe()?.with_file_name("contestant");
    let group = unique_name("bench-group");
    let child: Child = Command::new(exe)
        .args([
            kind,
            case,
            "--bootstrap-servers",
            bootstrap,
            "--input",
            input,
            "--output",
            &output,
            "--group",
            &group,
            "--side",
            side,
        ])
        .args(c.args)
        .stdin(Stdio::null())
        .spawn()?;
    let pid = child.id();
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
        let done = if by_commits {
            committed_total(bootstrap, &group, input, o.partitions)? >= o.records as i64
        } else {
            output_count(&watcher, &output, o.partitions)? >= expected
        };
        if done {
            let secs = started.elapsed().as_secs_f64();
            let cpu = proc_cpu_seconds(pid)?;
            let n = counted as f64;
            return Ok(Measure {
                records_per_s: n / secs,
                mb_per_s: n * o.value_size as f64 / secs / 1e6,
                cpu_s_per_m: cpu / n * 1e6,
                peak_rss_mb: peak_rss_mb(&pid.to_string())?,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
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
    let o = parse()?;
    let local;
    let bootstrap = match &o.bootstrap {
        Some(b) => b.clone(),
        None => {
            local = shared_cluster()?;
            local.bootstrap_servers().to_owned()
        }
    };
    let admin = KafkaCluster::external(&bootstrap);
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
    // The table the join cases read: one 100-byte profile per key.
    let side = unique_name("bench-side");
    admin.create_topic(&side, o.partitions, 1, &[])?;
    let profiles = (0..10_000).map(|i| (format!("key-{i}"), value(i, 100), None));
    produce(&bootstrap, &side, profiles).await?;
    let topics = Topics {
        input: input.clone(),
        side,
    };
    let (mut rows, mut eos_rows) = (Vec::new(), Vec::new());
    for case in &o.cases {
        let expected = match case.as_str() {
            "filter-map" => kept,
            // Every record updates two hopping windows, and every update is emitted.
            "windowed-count" => 2 * o.records as i64,
            _ => o.records as i64,
        };
        // Rates are per output record, except for the windowed count: per input record.
        let counted = if case == "windowed-count" {
            o.records as i64
        } else {
            expected
        };
        let mut results: Vec<(Contestant, Vec<Measure>)> = contestants(case)?
            .into_iter()
            .map(|c| (c, Vec::new()))
            .collect();
        for round in 0..o.repeat {
            for (c, ms) in results.iter_mut() {
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
        let summarize = |ms: &[Measure]| {
            let rps: Vec<f64> = ms.iter().map(|m| m.records_per_s).collect();
            let spread = (
                rps.iter().cloned().fold(f64::MAX, f64::min),
                rps.iter().cloned().fold(0.0, f64::max),
            );
            (
                median(rps),
                median(ms.iter().map(|m| m.mb_per_s).collect()),
                median(ms.iter().map(|m| m.cpu_s_per_m).collect()),
                median(ms.iter().map(|m| m.peak_rss_mb).collect()),
                spread,
            )
        };
        let ours = summarize(&results[results.len() - 1].1);
        if case.starts_with("eos-") {
            let alos = summarize(&results[0].1);
            eos_rows.push(format!(
                "| {case} | {} B | {:.0} ({:.0}-{:.0}) | {:.0} ({:.0}-{:.0}) | {:.2} | {:.2} / {:.2} | {:.0} / {:.0} |",
                o.value_size, alos.0, alos.4.0, alos.4.1, ours.0, ours.4.0, ours.4.1, ours.0 / alos.0, alos.2, ours.2, alos.3, ours.3
            ));
            continue;
        }
        if results.len() == 1 {
            rows.push(format!(
                "| {case} | {} B | {:.0} ({:.0}-{:.0}) | n/a | n/a | {:.2} / n/a | n/a | {:.0} / n/a |",
                o.value_size, ours.0, ours.4.0, ours.4.1, ours.2, ours.3
            ));
            continue;
        }
        let raw = summarize(&results[0].1);
        rows.push(format!(
            "| {case} | {} B | {:.0} ({:.0}-{:.0}) | {:.0} ({:.0}-{:.0}) | {:.2} | {:.2} / {:.2} | {:.2} | {:.0} / {:.0} |",
            o.value_size, ours.0, ours.4.0, ours.4.1, raw.0, raw.4.0, raw.4.1, ours.0 / raw.0, ours.2, raw.2, ours.2 / raw.2, ours.3, raw.3
        ));
    }
    if !rows.is_empty() {
        println!(
            "| case | value | ours records/s (min-max) | raw records/s (min-max) | ours / raw throughput | CPU-s per M records ours / raw | ours / raw CPU | peak RSS MB ours / raw |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        for r in rows {
            println!("{r}");
        }
    }
    if !eos_rows.is_empty() {
        println!(
            "| case | value | at-least-once records/s (min-max) | exactly-once records/s (min-max) | exactly-once / at-least-once | CPU-s per M records at-least-once / exactly-once | peak RSS MB at-least-once / exactly-once |"
        );
        println!("|---|---|---|---|---|---|---|");
        for r in eos_rows {
            println!("{r}");
        }
    }
    Ok(())
}
