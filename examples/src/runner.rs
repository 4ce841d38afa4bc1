//! What every example binary shares: the command-line options, the embedded mock cluster, the
//! sample-data generator run, and reading back and printing the results.
//!
//! An example runs in one of two modes:
//!
//! - **sample run** (no `--bootstrap-servers`, or `--generate`): the example's sample input is
//!   produced, the application runs until it has committed every input record (and, phase by
//!   phase, tables are loaded before the streams that join them), then every output topic is
//!   read to its end and printed, and the program exits. Without a broker this runs on
//!   librdkafka's embedded mock cluster. Unless `--state-dir` says otherwise, the state lives
//!   in a temporary directory that is removed at the end, also when the run fails or is
//!   interrupted (Ctrl-C, SIGTERM).
//! - **service** (`--bootstrap-servers` without `--generate`): the application runs against the
//!   cluster until Ctrl-C or SIGTERM, printing output records as they arrive; `--rate` also
//!   produces generated input, and SIGUSR1 pauses and resumes processing. Its state stays in
//!   `--state-dir` (default: `state.dir`'s default) for the next start.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kstreams::core::timestamp::now_ms;
use kstreams::prelude::*;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers as _, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

pub use crate::args::CommonArgs;
use crate::interrupt::Interrupt;
use crate::settings::Settings;
use kstreams::core::config::ClientKind;

/// A record of sample input, already serialized.
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// The topic's name without the prefix.
    pub topic: &'static str,
    /// The key bytes.
    pub key: Option<Vec<u8>>,
    /// The value bytes.
    pub value: Option<Vec<u8>>,
    /// The record timestamp (ms since the epoch).
    pub timestamp: i64,
}

/// One record read from an output topic.
#[derive(Debug, Clone)]
pub struct OutputRecord<'a> {
    /// The topic's name without the prefix.
    pub topic: &'a str,
    /// The key bytes.
    pub key: Option<&'a [u8]>,
    /// The value bytes.
    pub value: Option<&'a [u8]>,
    /// The record timestamp.
    pub timestamp: i64,
    /// Header values by name (the last of each name).
    pub headers: HashMap<String, String>,
}

/// An example application, as the runner drives it.
pub trait Example {
    /// The default application id.
    fn name(&self) -> &'static str;
    /// Topics the application reads (created when missing), without the prefix.
    fn input_topics(&self) -> Vec<&'static str>;
    /// Topics the application writes and the runner prints, without the prefix.
    fn output_topics(&self) -> Vec<&'static str>;
    /// The topology, reading and writing the prefixed topics.
    fn topology(&self) -> kstreams::Result<Topology>;
    /// Settings beyond the common ones (error handlers, ...).
    fn configure(&self, config: StreamsConfig) -> kstreams::Result<StreamsConfig> {
        Ok(config)
    }
    /// The sample input, in phases: each phase is produced and fully processed before the
    /// next (tables before the streams joined with them).
    fn sample(&self) -> Result<Vec<Vec<RawRecord>>>;
    /// One output record as a line of text.
    fn describe(&self, record: &OutputRecord<'_>) -> Result<String>;
    /// The `seq`-th record of an endless generated input at wall-clock time `now` (`--rate`);
    /// `None` for examples without one. The sample's first phase (its tables) is produced
    /// before it starts.
    fn live_record(&self, seq: u64, now: i64) -> Option<Result<RawRecord>> {
        let _ = (seq, now);
        None
    }
    /// The stores the query server (`--queries-address`) serves; none by default.
    #[cfg(feature = "http")]
    fn queries(
        &self,
        server: streams_http::QueryServerBuilder,
    ) -> streams_http::QueryServerBuilder {
        server
    }
}

/// The embedded mock cluster, kept alive for the whole run when used.
pub struct Cluster {
    bootstrap: String,
    /// `--config` and `--config-file`, for the helper clients too.
    settings: Settings,
    _mock: Option<MockCluster<'static, rdkafka::producer::DefaultProducerContext>>,
}

impl Cluster {
    /// The configuration of a helper client of `kind` (see [`Settings::client`]).
    fn client(&self, kind: ClientKind) -> ClientConfig {
        let mut config = self.settings.client(&self.bootstrap, kind);
        if kind == ClientKind::Producer {
            // Keys land where Java producers and the library put them (murmur2), so that
            // the partition a query's metadata names for a key is the one holding it.
            config.set("partitioner", "murmur2_random");
        }
        config
    }
}

/// Runs `example` as the options say: a sample run returns the output lines (sorted by topic,
/// then key, in offset order per key); a service runs until Ctrl-C and returns nothing.
pub async fn run(example: &dyn Example, args: &CommonArgs) -> Result<Vec<String>> {
    // From here on SIGINT and SIGTERM stop the run in order instead of ending the process.
    let mut interrupt = Interrupt::listen()?;
    let sample = args.generate || args.bootstrap_servers.is_none();
    let topology = example.topology()?;
    let cluster = connect(example, args, &topology)?;
    // A sample run's state is scratch: removed when `run` returns, however it returns (after
    // the application, which is declared later and so dropped first).
    let scratch = match &args.state_dir {
        None if sample => Some(
            tempfile::Builder::new()
                .prefix("kstreams-example-")
                .tempdir()
                .context("creating the state directory")?,
        ),
        _ => None,
    };
    let mut config = cluster
        .settings
        .apply(StreamsConfig::new(
            args.application_id.as_deref().unwrap_or(example.name()),
            &cluster.bootstrap,
        ))?
        .set("processing.guarantee", &args.processing_guarantee)?;
    if sample {
        config = config.set("commit.interval.ms", "100")?;
    }
    let state_dir = match (&args.state_dir, &scratch) {
        (Some(d), _) => Some(d.clone()),
        (None, Some(t)) => Some(t.path().to_owned()),
        (None, None) => None,
    };
    if let Some(address) = &args.metrics_address {
        config = config.set("metrics.prometheus.address", address)?;
    }
    if let Some(address) = &args.queries_address {
        config = config.set("application.server", address)?;
    }
    if let Some(dir) = state_dir {
        config = config.set("state.dir", &dir.to_string_lossy())?;
    }
    let config = example.configure(config)?;
    if !sample {
        return serve(example, args, &cluster, topology, config, &mut interrupt).await;
    }

    let mut streams = KafkaStreams::new(topology, config)?;
    let phases = example.sample()?;
    let producer: FutureProducer = cluster.client(ClientKind::Producer).create()?;
    streams.start()?;
    for phase in &phases {
        for r in phase {
            interrupt.check()?;
            let topic = args.topic(r.topic);
            let mut record = FutureRecord::to(&topic).timestamp(r.timestamp);
            if let Some(k) = &r.key {
                record = record.key(k);
            }
            if let Some(v) = &r.value {
                record = record.payload(v);
            }
            producer
                .send(record, Duration::from_secs(30))
                .await
                .map_err(|(e, _)| e)
                .with_context(|| format!("producing sample input to {topic}"))?;
        }
        let topics: Vec<String> = phase.iter().map(|r| args.topic(r.topic)).collect();
        wait_until_processed(
            &streams,
            &cluster,
            config_group(example, args),
            &topics,
            &interrupt,
        )?;
    }
    let lines = read_outputs(example, args, &cluster, &interrupt);
    streams.close(Duration::from_secs(30))?;
    lines
}

fn config_group<'a>(example: &'a dyn Example, args: &'a CommonArgs) -> &'a str {
    args.application_id.as_deref().unwrap_or(example.name())
}

/// Starts the mock cluster when no servers are given, and creates the example's topics. The
/// mock cluster does not implement topic creation through the admin API, so the changelog
/// topics the runtime would create are made here too.
fn connect(example: &dyn Example, args: &CommonArgs, topology: &Topology) -> Result<Cluster> {
    let topics: Vec<String> = example
        .input_topics()
        .into_iter()
        .chain(example.output_topics())
        .map(|t| args.topic(t))
        .collect();
    let settings = args.settings()?;
    match &args.bootstrap_servers {
        Some(b) => {
            let cluster = Cluster {
                bootstrap: b.clone(),
                settings,
                _mock: None,
            };
            create_topics(&cluster, &topics, args.partitions)?;
            Ok(cluster)
        }
        None => {
            if args.processing_guarantee != "at_least_once" {
                bail!(
                    "--processing-guarantee {} needs a real Kafka cluster: librdkafka's embedded \
                     mock cluster does not commit transactional offsets; pass \
                     --bootstrap-servers host:port, or use at_least_once",
                    args.processing_guarantee
                );
            }
            let mock = MockCluster::new(1).context("starting the embedded mock cluster")?;
            let app = config_group(example, args);
            let changelogs = topology
                .changelog_topics(app)
                .into_iter()
                .map(|(t, _, _)| t);
            for t in topics.iter().cloned().chain(changelogs) {
                mock.create_topic(&t, args.partitions, 1)?;
            }
            println!("no --bootstrap-servers given: running on librdkafka's embedded mock cluster");
            Ok(Cluster {
                bootstrap: mock.bootstrap_servers(),
                settings,
                _mock: Some(mock),
            })
        }
    }
}

/// Creates the topics that do not exist yet, without retention by time: the samples' event
/// times are fixed days in January 2026, and a broker's default retention (seven days, checked
/// every five minutes) would delete the records soon after they were written.
fn create_topics(cluster: &Cluster, topics: &[String], partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = cluster.client(ClientKind::Admin).create()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)).set("retention.ms", "-1"))
        .collect();
    let rt = tokio::runtime::Handle::current();
    let results = tokio::task::block_in_place(|| {
        rt.block_on(admin.create_topics(&new, &AdminOptions::new()))
    })?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => bail!("creating topic {t}: {e}"),
        }
    }
    Ok(())
}

/// Waits until the application's group has committed every record of `topics`, or until
/// `interrupt` says to stop.
fn wait_until_processed(
    streams: &KafkaStreams,
    cluster: &Cluster,
    group: &str,
    topics: &[String],
    interrupt: &Interrupt,
) -> Result<()> {
    let consumer: BaseConsumer = cluster
        .client(ClientKind::Consumer)
        .set("group.id", group)
        .create()?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let timeout = Duration::from_secs(10);
    let mut ends = TopicPartitionList::new();
    let mut unique: Vec<&String> = topics.iter().collect();
    unique.sort();
    unique.dedup();
    for topic in unique {
        let md = consumer.fetch_metadata(Some(topic), timeout)?;
        let partitions = md
            .topics()
            .first()
            .map(|t| t.partitions().len())
            .unwrap_or(0);
        for p in 0..partitions as i32 {
            let (_, high) = consumer.fetch_watermarks(topic, p, timeout)?;
            ends.add_partition_offset(topic, p, Offset::Offset(high))?;
        }
    }
    loop {
        interrupt.check()?;
        if let Some(e) = streams.error() {
            bail!("the application failed: {e}");
        }
        // The group coordinator may still be loading (NotCoordinator, CoordinatorLoadInProgress):
        // ask again until the deadline.
        let committed = match consumer.committed_offsets(ends.clone(), timeout) {
            Ok(c) => c,
            Err(e) if Instant::now() < deadline => {
                tracing::debug!(error = %e, "asking for committed offsets again");
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let done = ends.elements().iter().all(|end| {
            let Offset::Offset(high) = end.offset() else {
                return true;
            };
            high == 0
                || committed
                    .find_partition(end.topic(), end.partition())
                    .is_some_and(|c| matches!(c.offset(), Offset::Offset(o) if o >= high))
        });
        if done {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the application did not process its input within 120 s: committed {committed:?}, ends {ends:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A consumer context that does not log reaching the end of a partition as an error (the
/// results reader asks for those events).
struct EndOfPartitionIsNoError;

impl rdkafka::ClientContext for EndOfPartitionIsNoError {
    fn error(&self, error: KafkaError, reason: &str) {
        // librdkafka also reports the end of a partition as a global error event.
        if !matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        ) {
            tracing::error!(%error, reason, "librdkafka error");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for EndOfPartitionIsNoError {}

/// Reads every output topic to its end (committed records only) and describes each record,
/// unless `interrupt` says to stop.
fn read_outputs(
    example: &dyn Example,
    args: &CommonArgs,
    cluster: &Cluster,
    interrupt: &Interrupt,
) -> Result<Vec<String>> {
    let consumer: BaseConsumer<EndOfPartitionIsNoError> = cluster
        .client(ClientKind::Consumer)
        .set(
            "group.id",
            format!("{}-results", config_group(example, args)),
        )
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .create_with_context(EndOfPartitionIsNoError)?;
    let timeout = Duration::from_secs(10);
    let mut tpl = TopicPartitionList::new();
    let labels = example.output_topics();
    for label in &labels {
        let topic = args.topic(label);
        let md = consumer.fetch_metadata(Some(&topic), timeout)?;
        let n = md
            .topics()
            .first()
            .map(|t| t.partitions().len())
            .unwrap_or(0);
        for p in 0..n as i32 {
            tpl.add_partition_offset(&topic, p, Offset::Beginning)?;
        }
    }
    consumer.assign(&tpl)?;
    let mut remaining = tpl.count();
    // (label index, key, partition, offset) -> line
    let mut rows: Vec<(usize, Vec<u8>, i32, i64, String)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while remaining > 0 {
        interrupt.check()?;
        if Instant::now() > deadline {
            bail!("reading the output topics did not reach their end within 60 s");
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(_))) => remaining -= 1,
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(m)) => {
                let index = labels
                    .iter()
                    .position(|l| args.topic(l) == m.topic())
                    .context("a record of an unassigned topic")?;
                let line = example.describe(&output_record(labels[index], &m))?;
                rows.push((
                    index,
                    m.key().unwrap_or_default().to_vec(),
                    m.partition(),
                    m.offset(),
                    line,
                ));
            }
        }
    }
    rows.sort_by(|a, b| (a.0, &a.1, a.2, a.3).cmp(&(b.0, &b.1, b.2, b.3)));
    Ok(rows
        .into_iter()
        .map(|(i, _, _, _, line)| format!("{}: {line}", labels[i]))
        .collect())
}

/// Queues one generated record on `producer` (waiting while its queue is full).
fn enqueue(producer: &BaseProducer, args: &CommonArgs, r: &RawRecord) -> Result<()> {
    let topic = args.topic(r.topic);
    loop {
        let mut record = BaseRecord::to(&topic).timestamp(r.timestamp);
        if let Some(k) = &r.key {
            record = record.key(k);
        }
        if let Some(v) = &r.value {
            record = record.payload(v);
        }
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(10));
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

/// A consumed record as [`Example::describe`] takes it.
fn output_record<'a>(label: &'a str, m: &'a impl Message) -> OutputRecord<'a> {
    let mut headers = HashMap::new();
    if let Some(h) = m.headers() {
        for header in h.iter() {
            let value = header
                .value
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            headers.insert(header.key.to_owned(), value);
        }
    }
    OutputRecord {
        topic: label,
        key: m.key(),
        value: m.payload(),
        timestamp: m.timestamp().to_millis().unwrap_or(-1),
        headers,
    }
}

/// The longest a service takes to commit and close after Ctrl-C or SIGTERM: a container's
/// stop grace period must be longer (`deploy/kubernetes/statefulset.yaml`).
pub const SERVICE_CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs against a real cluster until Ctrl-C or SIGTERM, printing output records as they
/// arrive.
async fn serve(
    example: &dyn Example,
    args: &CommonArgs,
    cluster: &Cluster,
    topology: Topology,
    config: StreamsConfig,
    interrupt: &mut Interrupt,
) -> Result<Vec<String>> {
    let mut streams = KafkaStreams::new(topology, config)?;
    let _queries = crate::queries::start(example, args, &streams)?;
    streams.start()?;
    let consumer: BaseConsumer = cluster
        .client(ClientKind::Consumer)
        .set(
            "group.id",
            format!("{}-printer", config_group(example, args)),
        )
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "latest")
        .create()?;
    let topics: Vec<String> = example
        .output_topics()
        .iter()
        .map(|t| args.topic(t))
        .collect();
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names)?;
    println!(
        "running against {}; printing {} as results arrive; Ctrl-C stops",
        cluster.bootstrap,
        names.join(", ")
    );
    let labels = example.output_topics();
    // The live generator: the sample's tables once, then `rate` records a second, produced
    // from this loop as time passes.
    let generator: Option<BaseProducer> = if args.rate > 0 && example.live_record(0, 0).is_some() {
        let producer: BaseProducer = cluster
            .client(ClientKind::Producer)
            .set("linger.ms", "20")
            .create()?;
        let now = now_ms();
        if let Some(tables) = example.sample()?.into_iter().next() {
            for r in tables {
                // Stamped now, like the live records that join them.
                enqueue(
                    &producer,
                    args,
                    &RawRecord {
                        timestamp: now,
                        ..r
                    },
                )?;
            }
        }
        println!("producing {} generated records a second", args.rate);
        Some(producer)
    } else {
        None
    };
    let started = Instant::now();
    let mut generated: u64 = 0;
    let mut interrupted = std::pin::pin!(interrupt.wait());
    // SIGUSR1 pauses processing, the next one resumes it (to watch the lag metric move).
    let mut toggle = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())?;
    loop {
        if let Some(e) = streams.error() {
            bail!("the application failed: {e}");
        }
        tokio::select! {
            _ = &mut interrupted => break,
            _ = toggle.recv() => {
                if streams.is_paused() {
                    streams.resume();
                    println!("resumed");
                } else {
                    streams.pause();
                    println!("paused (SIGUSR1 again resumes)");
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
        if let Some(producer) = &generator {
            let due = (started.elapsed().as_secs_f64() * f64::from(args.rate)) as u64;
            let now = now_ms();
            while generated < due {
                if let Some(r) = example.live_record(generated, now) {
                    enqueue(producer, args, &r?)?;
                }
                generated += 1;
            }
            producer.poll(Duration::ZERO);
        }
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m?;
            let Some(label) = labels.iter().find(|l| args.topic(l) == m.topic()) else {
                continue;
            };
            let line = example.describe(&output_record(label, &m))?;
            println!("{label}: {line}");
        }
    }
    if let Some(producer) = &generator {
        let _ = producer.flush(Duration::from_secs(5));
    }
    streams.close(SERVICE_CLOSE_TIMEOUT)?;
    Ok(Vec::new())
}

/// Minutes and seconds of a timestamp within its day, `HH:MM:SS` (UTC).
pub fn clock(ms: i64) -> String {
    let s = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Cents as `12.34`.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// The sample data's day: 2026-01-05, midnight UTC, in ms.
pub const DAY: i64 = 1_767_571_200_000;

/// `DAY` plus `h:m:s`.
pub fn at(h: i64, m: i64, s: i64) -> i64 {
    DAY + ((h * 60 + m) * 60 + s) * 1000
}

/// The command line of an example with no options of its own.
#[derive(clap::Parser, Debug)]
struct OnlyCommonArgs {
    #[command(flatten)]
    common: CommonArgs,
}

/// The whole `main` of an example with no options of its own: parses the common options
/// (with `about` as the help text), builds the application with `make` and runs it.
pub async fn main_with_common_args<E: Example>(
    about: &'static str,
    make: impl FnOnce(&CommonArgs) -> E,
) -> Result<()> {
    use clap::{CommandFactory, FromArgMatches};
    let matches = OnlyCommonArgs::command().about(about).get_matches();
    let args = OnlyCommonArgs::from_arg_matches(&matches)?;
    main_with(&make(&args.common), &args.common).await
}

/// Prints the lines of a sample run, or nothing for a service, and sets up logging: the
/// shared `main` of the example binaries.
pub async fn main_with(example: &dyn Example, args: &CommonArgs) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Some(format) = args.describe {
        print!("{}", crate::picture::render(&example.topology()?, format));
        return Ok(());
    }
    let lines = run(example, args).await?;
    for line in &lines {
        println!("{line}");
    }
    Ok(())
}
