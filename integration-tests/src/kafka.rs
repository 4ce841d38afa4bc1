//! A real Apache Kafka cluster (KRaft, combined broker + controller nodes) on loopback.
//!
//! The broker jars come from Maven Central through `kafka/pom.xml` and are cached outside the
//! work tree (see [`kafka_libs`]); the nodes run on the machine's Java. Every node listens on
//! free loopback ports and keeps its data in a per-cluster temporary directory.
//!
//! Teardown is unconditional: dropping a [`KafkaCluster`] (also while a test panics) SIGKILLs
//! and reaps every node and removes the data directory; at exit or on SIGINT or SIGTERM, the
//! nodes and data of clusters never dropped (the shared one lives in a static) go too (see
//! [`crate::cleanup`]). Each JVM is started with `PR_SET_PDEATHSIG`, so it dies with the
//! process that started it even when that process is itself killed with SIGKILL.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

use crate::cleanup::{ScratchDir, TrackedChild, spawn_tied_to_process};

/// Partitions of `__consumer_offsets` in the clusters started here.
const OFFSETS_TOPIC_PARTITIONS: i32 = 5;

/// Environment variable naming an external cluster (`host:port[,host:port...]`). When set,
/// [`shared_cluster`] uses it instead of starting brokers; fault-injection tests still start
/// their own local nodes, since they must own the processes they kill.
pub const BOOTSTRAP_ENV: &str = "KSTREAMS_BOOTSTRAP_SERVERS";

pub use crate::distribution::{KAFKA_LIBS_ENV, cache_dir, kafka_libs, kafka_version};

/// One node of a local cluster.
#[derive(Debug)]
struct Node {
    id: u32,
    port: u16,
    controller_port: u16,
    dir: PathBuf,
    child: Option<TrackedChild>,
    /// The port of each of [`NodeExtras::listeners`], in order.
    extra_ports: Vec<u16>,
}

/// What a cluster adds to the plain one: more listeners (name and security protocol, on
/// free ports of their own), broker settings, and arguments to the storage format (SCRAM
/// credentials). See [`crate::secure`].
#[derive(Debug, Default, Clone)]
pub struct NodeExtras {
    /// Listener names (upper case) and their security protocols.
    pub listeners: Vec<(String, String)>,
    /// Lines appended to every node's `server.properties`.
    pub properties: String,
    /// Arguments appended to `kafka.tools.StorageTool format`.
    pub format_args: Vec<String>,
    /// Whether each node gets a rack of its own, `broker.rack=rack-<node id>`.
    pub racks: bool,
    /// Arguments for every node's JVM (system properties).
    pub jvm_args: Vec<String>,
}

/// A Kafka cluster on loopback, either started here ([`KafkaCluster::start`]) or external.
#[derive(Debug)]
pub struct KafkaCluster {
    nodes: Vec<Node>,
    bootstrap: String,
    root: Option<ScratchDir>,
    libs: PathBuf,
    extras: NodeExtras,
}

impl KafkaCluster {
    /// Starts `brokers` combined broker+controller nodes (1 to 5) and waits until the cluster
    /// answers metadata requests with every broker and can create a topic.
    pub fn start(brokers: usize) -> Result<Self> {
        Self::start_with(brokers, NodeExtras::default())
    }

    /// Starts a cluster as [`KafkaCluster::start`] does, with `extras` on every node. The
    /// PLAINTEXT listener of [`KafkaCluster::bootstrap_servers`] stays: the fixture's own
    /// requests (readiness, topics, ACLs) go through it.
    pub fn start_with(brokers: usize, extras: NodeExtras) -> Result<Self> {
        if !(1..=5).contains(&brokers) {
            bail!("a local cluster has 1 to 5 brokers, not {brokers}");
        }
        let libs = kafka_libs()?;
        let root = ScratchDir::with_prefix("kstreams-kafka-")
            .context("creating the cluster's data directory")?;
        let mut nodes = Vec::with_capacity(brokers);
        for i in 0..brokers {
            let (port, controller_port) = (free_port()?, free_port()?);
            let extra_ports = extras
                .listeners
                .iter()
                .map(|_| free_port())
                .collect::<Result<Vec<_>>>()?;
            let id = i as u32 + 1;
            let dir = root.path().join(format!("node-{id}"));
            fs::create_dir_all(dir.join("data"))?;
            fs::create_dir_all(dir.join("tmp"))?;
            nodes.push(Node {
                id,
                port,
                controller_port,
                dir,
                child: None,
                extra_ports,
            });
        }
        let bootstrap = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = KafkaCluster {
            nodes,
            bootstrap,
            root: Some(root),
            libs,
            extras,
        };
        let cluster_id = random_cluster_id();
        for i in 0..brokers {
            cluster.write_config(i)?;
            cluster.format(i, &cluster_id)?;
        }
        for i in 0..brokers {
            cluster.spawn(i)?;
        }
        cluster.wait_ready(Duration::from_secs(90))?;
        Ok(cluster)
    }

    /// A handle on an external cluster; it owns no process and cannot kill brokers.
    pub fn external(bootstrap: &str) -> Self {
        KafkaCluster {
            nodes: Vec::new(),
            bootstrap: bootstrap.to_owned(),
            root: None,
            libs: PathBuf::new(),
            extras: NodeExtras::default(),
        }
    }

    /// The `bootstrap.servers` string for clients.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// The `bootstrap.servers` string of the extra listener `name` (see [`NodeExtras`]).
    pub fn listener_bootstrap(&self, name: &str) -> Result<String> {
        let index = self
            .extras
            .listeners
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| anyhow!("the cluster has no listener {name}"))?;
        Ok(self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.extra_ports[index]))
            .collect::<Vec<_>>()
            .join(","))
    }

    /// True when this handle started and owns its brokers.
    pub fn is_local(&self) -> bool {
        self.root.is_some()
    }

    /// Node ids of the local brokers (1-based).
    pub fn node_ids(&self) -> Vec<u32> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// Process ids of the running local brokers.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .filter_map(|n| n.child.as_ref().map(TrackedChild::id))
            .collect()
    }

    /// SIGKILLs broker `id` and waits until the process is gone. Its data stays for a restart.
    pub fn kill(&mut self, id: u32) -> Result<()> {
        let node = self.node_mut(id)?;
        let mut child = node
            .child
            .take()
            .ok_or_else(|| anyhow!("broker {id} is not running"))?;
        child.kill().context("SIGKILL of a broker")?;
        Ok(())
    }

    /// Stops broker `id` with SIGSTOP: it keeps its connections open and answers nothing
    /// until [`Self::thaw`], like a broker in a long pause.
    pub fn freeze(&self, id: u32) -> Result<()> {
        self.signal(id, "-STOP")
    }

    /// Resumes broker `id` after [`Self::freeze`] (SIGCONT).
    pub fn thaw(&self, id: u32) -> Result<()> {
        self.signal(id, "-CONT")
    }

    /// Sends a signal to broker `id`'s process, by its pid.
    fn signal(&self, id: u32, signal: &str) -> Result<()> {
        let node = &self.nodes[self.index_of(id)?];
        let pid = node
            .child
            .as_ref()
            .map(TrackedChild::id)
            .ok_or_else(|| anyhow!("broker {id} is not running"))?;
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill {signal} {pid} failed: {status}");
        }
        Ok(())
    }

    /// The broker that coordinates consumer group `group`: the leader of the partition of
    /// `__consumer_offsets` the group hashes to (the absolute value of Java's
    /// `String.hashCode` of the group id, modulo the topic's partition count).
    pub fn group_coordinator(&self, group: &str) -> Result<u32> {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let hash = group
            .encode_utf16()
            .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
        let partition = if hash == i32::MIN { 0 } else { hash.abs() } % OFFSETS_TOPIC_PARTITIONS;
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()?;
        let metadata =
            consumer.fetch_metadata(Some("__consumer_offsets"), Duration::from_secs(10))?;
        let leader = metadata
            .topics()
            .first()
            .and_then(|t| t.partitions().iter().find(|p| p.id() == partition))
            .map(|p| p.leader())
            .ok_or_else(|| anyhow!("no metadata for __consumer_offsets-{partition}"))?;
        u32::try_from(leader).map_err(|_| anyhow!("__consumer_offsets-{partition} has no leader"))
    }

    /// Starts broker `id` again on its old ports and data, and waits until it is back in the
    /// cluster's metadata.
    pub fn restart(&mut self, id: u32) -> Result<()> {
        let index = self.index_of(id)?;
        if self.nodes[index].child.is_some() {
            bail!("broker {id} is already running");
        }
        self.spawn(index)?;
        self.wait_ready(Duration::from_secs(90))
    }

    /// Creates a topic and waits until its metadata is visible.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication: i32,
        configs: &[(&str, &str)],
    ) -> Result<()> {
        let admin = self.admin()?;
        let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(replication));
        for (k, v) in configs {
            topic = topic.set(k, v);
        }
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = futures::executor::block_on(admin.create_topics([&topic], &opts))?;
        for r in results {
            r.map_err(|(t, e)| anyhow!("creating topic {t}: {e}"))?;
        }
        Ok(())
    }

    /// An admin client on this cluster.
    pub fn admin(&self) -> Result<AdminClient<DefaultClientContext>> {
        Ok(ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()?)
    }

    /// Deletes `topics` and every topic whose name starts with one of `prefixes` (an
    /// application's internal topics: `<application id>-`). Topics already gone are fine.
    pub fn delete_topics(&self, topics: &[&str], prefixes: &[&str]) -> Result<()> {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()?;
        let metadata = consumer.fetch_metadata(None, Duration::from_secs(10))?;
        let mut doomed: Vec<&str> = topics.to_vec();
        doomed.extend(
            metadata
                .topics()
                .iter()
                .map(|t| t.name())
                .filter(|n| prefixes.iter().any(|p| n.starts_with(p))),
        );
        doomed.sort_unstable();
        doomed.dedup();
        if doomed.is_empty() {
            return Ok(());
        }
        let admin = self.admin()?;
        let results = futures::executor::block_on(admin.delete_topics(
            &doomed,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        ))?;
        for r in results {
            match r {
                Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                Err((t, e)) => return Err(anyhow!("deleting topic {t}: {e}")),
            }
        }
        Ok(())
    }

    /// The value of configuration `name` set on `topic` itself (`None`: not set on the topic,
    /// so a broker default or Kafka's default applies). A broker default never passes for a
    /// topic setting, so a test of what the library sets cannot pass by the broker's config.
    pub fn topic_config(&self, topic: &str, name: &str) -> Result<Option<String>> {
        let admin = self.admin()?;
        let configs = futures::executor::block_on(admin.describe_configs(
            &[rdkafka::admin::ResourceSpecifier::Topic(topic)],
            &AdminOptions::new(),
        ))?;
        let resource = configs
            .into_iter()
            .next()
            .context("one resource")?
            .map_err(|e| anyhow!("describing {topic}: {e:?}"))?;
        Ok(resource
            .get(name)
            .filter(|e| e.source == rdkafka::admin::ConfigSource::DynamicTopic)
            .and_then(|e| e.value.clone()))
    }

    /// Stops every node (SIGKILL, then reap) and removes the data directories.
    pub fn stop(mut self) {
        self.kill_all();
    }

    fn kill_all(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
            }
        }
    }

    fn node_mut(&mut self, id: u32) -> Result<&mut Node> {
        let index = self.index_of(id)?;
        Ok(&mut self.nodes[index])
    }

    fn index_of(&self, id: u32) -> Result<usize> {
        self.nodes
            .iter()
            .position(|n| n.id == id)
            .ok_or_else(|| anyhow!("no local broker with id {id} (ids: {:?})", self.node_ids()))
    }

    fn write_config(&self, index: usize) -> Result<()> {
        let node = &self.nodes[index];
        let n = self.nodes.len();
        let voters = self
            .nodes
            .iter()
            .map(|v| format!("{}@127.0.0.1:{}", v.id, v.controller_port))
            .collect::<Vec<_>>()
            .join(",");
        let isr = n.min(2);
        let mut listeners = format!(
            "PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
            node.port, node.controller_port
        );
        let mut advertised = format!("PLAINTEXT://127.0.0.1:{}", node.port);
        let mut protocols = String::from("PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        for ((name, protocol), port) in self.extras.listeners.iter().zip(&node.extra_ports) {
            listeners.push_str(&format!(",{name}://127.0.0.1:{port}"));
            advertised.push_str(&format!(",{name}://127.0.0.1:{port}"));
            protocols.push_str(&format!(",{name}:{protocol}"));
        }
        // No retention by time: the tests' records carry fixed event times long past (the
        // examples' samples are dated January 2026, many cases use times near 1970), and the
        // broker's retention check, every five minutes, would delete them between a test's
        // write and its read (a sigterm test failed so in CI). Topics that set their own
        // `retention.ms` (windowed changelogs) keep it.
        let mut props = format!(
            "process.roles=broker,controller\n\
             node.id={id}\n\
             controller.quorum.voters={voters}\n\
             listeners={listeners}\n\
             advertised.listeners={advertised}\n\
             controller.listener.names=CONTROLLER\n\
             listener.security.protocol.map={protocols}\n\
             inter.broker.listener.name=PLAINTEXT\n\
             log.dirs={data}\n\
             num.network.threads=2\n\
             num.io.threads=2\n\
             background.threads=2\n\
             offsets.topic.replication.factor={rf}\n\
             offsets.topic.num.partitions={OFFSETS_TOPIC_PARTITIONS}\n\
             transaction.state.log.replication.factor={rf}\n\
             transaction.state.log.min.isr={isr}\n\
             transaction.state.log.num.partitions=5\n\
             share.coordinator.state.topic.replication.factor={rf}\n\
             share.coordinator.state.topic.min.isr={isr}\n\
             group.initial.rebalance.delay.ms=0\n\
             auto.create.topics.enable=false\n\
             log.retention.ms=-1\n",
            id = node.id,
            data = node.dir.join("data").display(),
            rf = n.min(3),
        );
        if self.extras.racks {
            props.push_str(&format!("broker.rack=rack-{}\n", node.id));
        }
        props.push_str(&self.extras.properties);
        fs::write(node.dir.join("server.properties"), props)?;
        let log4j = format!(
            "rootLogger.level=WARN\n\
             rootLogger.appenderRef.file.ref=file\n\
             appender.file.type=File\n\
             appender.file.name=file\n\
             appender.file.fileName={}\n\
             appender.file.layout.type=PatternLayout\n\
             appender.file.layout.pattern=[%d] %p %m (%c)%n\n",
            node.dir.join("broker.log").display()
        );
        fs::write(node.dir.join("log4j2.properties"), log4j)?;
        Ok(())
    }

    fn java(&self, node: &Node, heap: &str) -> Command {
        let java = std::env::var_os("JAVA_HOME")
            .map(|h| PathBuf::from(h).join("bin/java"))
            .unwrap_or_else(|| PathBuf::from("java"));
        let mut cmd = Command::new(java);
        cmd.arg(format!("-Xmx{heap}"))
            .args(["-Xms128m", "-XX:+UseSerialGC", "-Djava.awt.headless=true"])
            .args(&self.extras.jvm_args)
            // Nothing outside the node's directory: no /tmp/hsperfdata_<user>/<pid> (left
            // behind by a JVM that is SIGKILLed), and the JVM's temporary files (native
            // libraries unpacked by compression codecs) in the node's own `tmp`.
            .arg("-XX:-UsePerfData")
            .arg(format!(
                "-Djava.io.tmpdir={}",
                node.dir.join("tmp").display()
            ))
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                node.dir.join("log4j2.properties").display()
            ))
            .arg("-cp")
            .arg(self.libs.join("*"))
            .current_dir(&node.dir);
        cmd
    }

    fn format(&self, index: usize, cluster_id: &str) -> Result<()> {
        let node = &self.nodes[index];
        let mut args = vec![
            "format".to_owned(),
            // `=`: an id may begin with '-', which would otherwise read as an option.
            format!("--cluster-id={cluster_id}"),
            "-c".to_owned(),
            node.dir.join("server.properties").display().to_string(),
        ];
        args.extend(self.extras.format_args.iter().cloned());
        self.run_tool(index, "kafka.tools.StorageTool", &args, "format")
            .with_context(|| format!("formatting storage of broker {}", node.id))
    }

    /// Runs a command-line tool of the Kafka distribution (`main_class` with `args`) in the
    /// directory of the node at `index`, its output in `<log>.log` there; an exit status
    /// other than 0 is an error with that output.
    fn run_tool(&self, index: usize, main_class: &str, args: &[String], log: &str) -> Result<()> {
        let node = &self.nodes[index];
        let log = node.dir.join(format!("{log}.log"));
        let out = fs::File::create(&log)?;
        let mut cmd = self.java(node, "256m");
        cmd.args(["-XX:TieredStopAtLevel=1", main_class])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let status = spawn_tied_to_process(cmd)
            .context("running java (is a JDK 17+ installed?)")?
            .wait()?;
        if !status.success() {
            bail!(
                "{main_class} failed ({status}): {}",
                fs::read_to_string(&log).unwrap_or_default()
            );
        }
        Ok(())
    }

    fn spawn(&mut self, index: usize) -> Result<()> {
        let node = &self.nodes[index];
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("stdout.log"))?;
        let mut cmd = self.java(node, "512m");
        cmd.arg("kafka.Kafka")
            .arg(node.dir.join("server.properties"))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let child = spawn_tied_to_process(cmd)?;
        self.nodes[index].child = Some(child);
        Ok(())
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let expected: Vec<i32> = self
            .nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.id as i32)
            .collect();
        let mut last_error = String::from("no answer yet");
        while Instant::now() < deadline {
            for node in &mut self.nodes {
                if let Some(child) = node.child.as_mut()
                    && let Some(status) = child.try_wait()?
                {
                    let log = fs::read_to_string(node.dir.join("stdout.log")).unwrap_or_default();
                    bail!(
                        "broker {} exited during start-up ({status}):\n{log}",
                        node.id
                    );
                }
            }
            match self.probe(&expected) {
                Ok(()) => return Ok(()),
                Err(e) => last_error = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        bail!(
            "the cluster at {} was not ready within {timeout:?}: {last_error}",
            self.bootstrap
        )
    }

    /// Ready means: metadata lists every running broker, and a topic replicated to all of them
    /// (up to 3) can be created and has a leader.
    fn probe(&self, expected: &[i32]) -> Result<()> {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("socket.connection.setup.timeout.ms", "2000")
            .create()?;
        let md = consumer.fetch_metadata(None, Duration::from_secs(3))?;
        let mut seen: Vec<i32> = md.brokers().iter().map(|b| b.id()).collect();
        seen.sort_unstable();
        if seen != expected {
            bail!("metadata lists brokers {seen:?}, waiting for {expected:?}");
        }
        let topic = "__kstreams_fixture_probe";
        if !md
            .topics()
            .iter()
            .any(|t| t.name() == topic && t.error().is_none())
        {
            let rf = (expected.len() as i32).min(3);
            match self.create_topic(topic, 1, rf, &[]) {
                Ok(()) => {}
                Err(e) if e.to_string().contains("already exists") => {}
                Err(e) => return Err(e),
            }
        }
        let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(3))?;
        let leader = md
            .topics()
            .first()
            .and_then(|t| t.partitions().first())
            .map(|p| p.leader());
        match leader {
            Some(l) if l >= 0 => Ok(()),
            _ => bail!("probe topic has no leader yet"),
        }
    }
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// The cluster shared by the tests of one test binary: the external cluster named by
/// [`BOOTSTRAP_ENV`] if set, else one local broker started on first use. Use unique topic
/// names per test. The local broker dies with the test process (parent-death signal).
pub fn shared_cluster() -> Result<&'static KafkaCluster> {
    static SHARED: OnceLock<std::result::Result<KafkaCluster, String>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| match std::env::var(BOOTSTRAP_ENV) {
        Ok(servers) if !servers.trim().is_empty() => Ok(KafkaCluster::external(servers.trim())),
        _ => KafkaCluster::start(1).map_err(|e| format!("{e:#}")),
    });
    shared
        .as_ref()
        .map_err(|e| anyhow!("the shared test cluster failed to start: {e}"))
}

/// A name no earlier run used: `<prefix>-<pid>-<nanos>`.
pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// A TCP port free on loopback now (for a listener a test starts next), never one this
/// process was given before: the kernel may hand the same port to two binds in a row once the
/// first is released, and a broker given one port for two listeners refuses to start (seen
/// in the benchmark smoke's secured broker).
pub fn free_port() -> Result<u16> {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for _ in 0..100 {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if given.insert(port) {
            return Ok(port);
        }
    }
    bail!("no loopback port free that this process was not given before, in 100 tries")
}

/// A Kafka cluster id: 16 random bytes in URL-safe base64 without padding (22 characters).
fn random_cluster_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = [0u8; 16];
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
        ^ (u128::from(std::process::id()) << 64);
    let mut x = seed as u64 | 1;
    for b in &mut bytes {
        // xorshift64: enough to keep ids of concurrent clusters apart.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let mut out = String::with_capacity(22);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
    }
    out
}

/// Writes `KEY=value` lines (for `scripts/kafka.sh` and the test command).
pub fn write_env_file(path: &Path, cluster: &KafkaCluster) -> Result<()> {
    write_env_file_with(path, cluster, "")
}

/// [`write_env_file`] with `extra` lines (`NAME=value\n` each) after the cluster's.
pub fn write_env_file_with(path: &Path, cluster: &KafkaCluster, extra: &str) -> Result<()> {
    let tmp = path.with_extension("partial");
    let mut f = fs::File::create(&tmp)?;
    writeln!(f, "{BOOTSTRAP_ENV}={}", cluster.bootstrap_servers())?;
    writeln!(
        f,
        "KSTREAMS_KAFKA_PIDS={}",
        cluster
            .pids()
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    )?;
    f.write_all(extra.as_bytes())?;
    drop(f);
    fs::rename(tmp, path)?;
    Ok(())
}
