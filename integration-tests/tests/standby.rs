//! Standby replicas on a real broker (`num.standby.replicas`): two instances of an
//! exactly-once counting application, each keeping a warm copy of the other's tasks; one is
//! SIGKILLed and the survivor takes its tasks over restoring only the changelog's tail, with
//! exact counts after the failover. And the copies answer queries that enable stale stores,
//! named as standby hosts in the query metadata.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use integration_tests::apps::count_topology;
use integration_tests::child::ChildApp;
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce, read_committed, round_robin, wait_until_committed};
use integration_tests::kafka::{KafkaCluster, free_port, shared_cluster, unique_name};
use integration_tests::wait_running;
use state_stores::query::QueryableStoreTypes;
use streams_core::query::{StoreQueryParameters, Unavailable};
use streams_core::serde::StringSerde;
use streams_core::{KafkaStreams, StreamsConfig, StreamsError, TaskId};

/// Distinct keys counted before the failover: the state the standbys keep.
const KEYS: usize = 1_000_000;

/// Keys counted again after the failover.
const AGAIN: usize = 1_000;

/// Input partitions: four tasks, two on each instance.
const PARTITIONS: i32 = 4;

/// One `count-app` process with its metrics address.
struct Instance {
    app: ChildApp,
    metrics: String,
}

impl Instance {
    fn start(
        name: &str,
        dir: &ScratchDir,
        bootstrap: &str,
        app: &str,
        replication: i32,
    ) -> Result<Instance> {
        let metrics = format!("127.0.0.1:{}", free_port()?);
        let mut child = ChildApp::new(name, &dir.path().join(format!("{name}.log")));
        let mut command = Command::new(env!("CARGO_BIN_EXE_count-app"));
        command
            .args(["--bootstrap-servers", bootstrap, "--application-id", app])
            .args([
                "--input",
                &format!("{app}-in"),
                "--output",
                &format!("{app}-out"),
            ])
            .arg("--state-dir")
            .arg(dir.path().join(name))
            .args(["--metrics-address", &metrics, "--standbys", "1"])
            .args(["--replication-factor", &replication.to_string()])
            .args(["--instance", name]);
        child.start(command, "STANDBY_APP_LOG")?;
        Ok(Instance {
            app: child,
            metrics,
        })
    }

    /// The sum of a metric over all its label sets, from the instance's `/metrics` (a
    /// counter's series carry OpenMetrics' `_total` suffix). Fails for a metric not served.
    fn metric(&mut self, name: &str) -> Result<f64> {
        self.app.check_alive()?;
        let (status, body) = integration_tests::http::get(&self.metrics, "/metrics")
            .with_context(|| format!("scraping {}", self.app.name))?;
        if !status.contains("200") {
            bail!("{} answered {status}", self.app.name);
        }
        let (mut sum, mut found) = (0.0, false);
        for line in body.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap_or_default();
            let bare = series.split_once('{').map_or(series, |(n, _)| n);
            if bare == name || bare.strip_suffix("_total") == Some(name) {
                sum += value.parse::<f64>().unwrap_or(0.0);
                found = true;
            }
        }
        if !found {
            bail!("{} serves no metric {name}", self.app.name);
        }
        Ok(sum)
    }
}

/// Waits until `check` holds, failing after `timeout` with `what`.
fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !check()? {
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_standby_takes_over_a_killed_instance_s_tasks_restoring_only_the_tail() -> Result<()> {
    let cluster = shared_cluster()?;
    failover(cluster.bootstrap_servers(), KEYS, None, 2).await
}

/// Three instances, six tasks: the killed instance's tasks go to both survivors, each where
/// its standby copy is (the copies are placed where the range assignor moves a task when its
/// owner leaves), so neither restores more than the tail.
#[tokio::test(flavor = "multi_thread")]
async fn with_three_instances_each_task_moves_to_its_standby_copy() -> Result<()> {
    let cluster = shared_cluster()?;
    failover(cluster.bootstrap_servers(), 120_000, None, 3).await
}

/// The same on three brokers (every topic replicated three times), the broker coordinating
/// the application's group SIGKILLed together with the instance: the group coordinator, the
/// leaders of the partitions on that broker (changelogs included) and maybe the transaction
/// coordinator move to the other brokers, and the counts stay exact. (The survivor's
/// background reads of the group aborted the process here once when the coordinator's
/// broker died: librdkafka issue 4605, avoided in `group_description`. The failover takes
/// about 30 s on this machine: the survivor's own session times out with the coordinator,
/// the killed instance's open transaction must time out, and librdkafka may wait for the
/// dead coordinator until the producer is replaced, see `SEND_OFFSETS_WAIT`.)
#[tokio::test(flavor = "multi_thread")]
async fn a_standby_takes_over_while_a_broker_dies_too() -> Result<()> {
    let mut cluster = KafkaCluster::start(3)?;
    let bootstrap = cluster.bootstrap_servers().to_owned();
    let result = failover(&bootstrap, 200_000, Some(&mut cluster), 2).await;
    cluster.stop();
    result
}

/// `instances` instances (two tasks each) with one standby replica count `keys` keys; the
/// first is SIGKILLed (with, given `brokers`, the group coordinator's broker) and the others
/// take its tasks over: exact counts, and under 1% of the killed instance's share of the
/// changelog restored.
async fn failover(
    bootstrap: &str,
    keys: usize,
    brokers: Option<&mut KafkaCluster>,
    instances: usize,
) -> Result<()> {
    let replication = if brokers.is_some() { 3 } else { 1 };
    let partitions = 2 * instances as i32;
    let admin = KafkaCluster::external(bootstrap);
    let bootstrap = bootstrap.to_owned();
    let app = unique_name("standby");
    let (input, output) = (format!("{app}-in"), format!("{app}-out"));
    admin.create_topic(&input, partitions, replication, &[])?;
    admin.create_topic(&output, partitions, replication, &[])?;
    let dir = ScratchDir::with_prefix("kstreams-standby-")?;
    let mut all = Vec::new();
    for name in ["a", "b", "c"].into_iter().take(instances) {
        all.push(Instance::start(name, &dir, &bootstrap, &app, replication)?);
    }
    let logs = |all: &[Instance]| {
        all.iter()
            .map(|i| format!("{}'s log:\n{}", i.app.name, i.app.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    };

    // Every key once: each task's store and changelog hold its share of the keys.
    let first = (0..keys).map(|i| (format!("k{i}"), b"x".to_vec(), None));
    produce(&bootstrap, &input, first).await?;
    wait_until_committed(
        &bootstrap,
        &app,
        std::slice::from_ref(&input),
        Duration::from_secs(300),
    )?;
    // Every task has a standby copy on another instance, caught up.
    let mut seen = (0.0, 0.0);
    let caught_up = wait_for("caught-up standby tasks", Duration::from_secs(120), || {
        let (mut standbys, mut lag) = (0.0, 0.0);
        for i in all.iter_mut() {
            standbys += i.metric("kstreams_standby_tasks")?;
            lag += i.metric("kstreams_standby_lag_records")?;
        }
        seen = (standbys, lag);
        Ok(standbys == f64::from(partitions) && lag == 0.0)
    });
    if let Err(e) = caught_up {
        bail!(
            "{e}: {} standby tasks, lag {}; {}",
            seen.0,
            seen.1,
            logs(&all)
        );
    }
    let mut restored_before = 0.0;
    for i in &mut all[1..] {
        restored_before += i.metric("kstreams_restored_records")?;
    }

    // Kill the first (and a broker); then count the first AGAIN keys a second time: the
    // others run every task now.
    all[0].app.kill9()?;
    let killed = Instant::now();
    if let Some(cluster) = brokers {
        let coordinator = cluster.group_coordinator(&app)?;
        cluster.kill(coordinator)?;
    }
    let again = (0..AGAIN).map(|i| (format!("k{i}"), b"y".to_vec(), None));
    produce(&bootstrap, &input, again).await?;
    let committed = wait_until_committed(
        &bootstrap,
        &app,
        std::slice::from_ref(&input),
        Duration::from_secs(180),
    );
    if let Err(e) = committed {
        bail!("{e:#}; {}", logs(&all[1..]));
    }
    let failover = killed.elapsed();
    let mut restored = -restored_before;
    for i in &mut all[1..] {
        restored += i.metric("kstreams_restored_records")?;
    }
    for i in &mut all[1..] {
        i.app.stop()?;
    }

    // Exact counts: every key once with 1, the keys counted again once more with 2. The
    // running counts before the kill are in the changelog and output once each (a zombie's
    // open transaction aborted), so nothing is missing and nothing is doubled.
    let records = read_committed(
        &bootstrap,
        &output,
        keys + AGAIN,
        Duration::from_secs(2),
        Duration::from_secs(120),
    )?;
    let mut counts: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in &records {
        let value: [u8; 8] = r.value.as_deref().context("a count")?.try_into()?;
        counts
            .entry(String::from_utf8(r.key.clone())?)
            .or_default()
            .push(i64::from_be_bytes(value));
    }
    assert_eq!(counts.len(), keys, "every key counted");
    for (key, values) in &counts {
        let i: usize = key[1..].parse()?;
        let expected: &[i64] = if i < AGAIN { &[1, 2] } else { &[1] };
        assert_eq!(values, expected, "the counts of {key}");
    }
    assert_eq!(records.len(), keys + AGAIN);
    // The survivors restored only what their standby copies had not read: under 1% of the
    // killed instance's share of the changelog (the rest came warm).
    let killed_share = (keys / instances) as f64;
    println!(
        "standby failover ({instances} instances, {replication} replicas): {restored} \
         changelog records restored of about {killed_share} on the killed instance's tasks; \
         {:.1} s from SIGKILL until every input record was committed (session.timeout.ms 6 s)",
        failover.as_secs_f64()
    );
    assert!(
        restored < killed_share / 100.0,
        "the survivors restored {restored} records: the standby copies were not used"
    );
    Ok(())
}

/// An instance with standbys (whose background reads of the group wait for a coordinator
/// while the cluster is gone) closes on SIGTERM with the whole cluster stopped: it exits,
/// cleanly, instead of hanging on the reads outstanding in librdkafka.
#[tokio::test(flavor = "multi_thread")]
async fn an_instance_with_standbys_closes_while_the_cluster_is_gone() -> Result<()> {
    let cluster = KafkaCluster::start(1)?;
    let bootstrap = cluster.bootstrap_servers().to_owned();
    let app = unique_name("standby-close");
    cluster.create_topic(&format!("{app}-in"), PARTITIONS, 1, &[])?;
    cluster.create_topic(&format!("{app}-out"), PARTITIONS, 1, &[])?;
    let dir = ScratchDir::with_prefix("kstreams-standby-")?;
    let mut a = Instance::start("a", &dir, &bootstrap, &app, 1)?;
    // Running: a few records counted and committed.
    let input = format!("{app}-in");
    produce(&bootstrap, &input, round_robin(0, 8, 8)).await?;
    let committed = wait_until_committed(
        &bootstrap,
        &app,
        std::slice::from_ref(&input),
        Duration::from_secs(60),
    );
    if let Err(e) = committed {
        bail!("{e:#}; a's log:\n{}", a.app.log_tail());
    }
    cluster.stop();
    // Longer than a read of the group may wait (5 s): one is left outstanding.
    std::thread::sleep(Duration::from_secs(8));
    a.app.stop()
}

/// An in-process instance answering queries, with one standby replica.
fn query_instance(
    app: &str,
    bootstrap: &str,
    io: (&str, &str),
    state: &ScratchDir,
    server: &str,
    protocol: &str,
) -> Result<KafkaStreams> {
    let config = StreamsConfig::new(app, bootstrap)
        .set("group.protocol", protocol)?
        .set("num.standby.replicas", "1")?
        .set("commit.interval.ms", "100")?
        // Published to the other instance; nothing listens there in this test.
        .set("application.server", server)?
        .with_state_dir(state.path());
    let mut streams = KafkaStreams::new(count_topology(io.0, io.1)?, config)?;
    streams.start()?;
    Ok(streams)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_copy_answers_stale_queries_and_is_named_in_the_metadata() -> Result<()> {
    stale_queries("classic", ["127.0.0.1:18181", "127.0.0.1:18182"]).await
}

/// The same under the consumer rebalance protocol (KIP-848): the group's description shows
/// the members and their assignments alike, so standbys and metadata work the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standbys_and_metadata_work_under_the_consumer_protocol() -> Result<()> {
    stale_queries("consumer", ["127.0.0.1:18183", "127.0.0.1:18184"]).await
}

async fn stale_queries(protocol: &str, servers: [&'static str; 2]) -> Result<()> {
    #[allow(non_snake_case)]
    let SERVERS = servers;
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers().to_owned();
    let app = unique_name(&format!("standby-query-{protocol}"));
    let (input, output) = (format!("{app}-in"), format!("{app}-out"));
    cluster.create_topic(&input, PARTITIONS, 1, &[])?;
    cluster.create_topic(&output, PARTITIONS, 1, &[])?;
    let io = (input.as_str(), output.as_str());
    let (state_a, state_b) = (ScratchDir::new()?, ScratchDir::new()?);
    let mut a = query_instance(&app, &bootstrap, io, &state_a, SERVERS[0], protocol)?;
    let mut b = query_instance(&app, &bootstrap, io, &state_b, SERVERS[1], protocol)?;
    wait_running(&[&a, &b])?;
    // Eight keys five times each: every count is 5.
    produce(&bootstrap, &input, round_robin(0, 40, 8)).await?;
    wait_until_committed(
        &bootstrap,
        &app,
        std::slice::from_ref(&input),
        Duration::from_secs(60),
    )?;
    let standbys = |s: &KafkaStreams| -> BTreeSet<TaskId> {
        let threads = s.metadata_for_local_threads();
        threads.into_iter().flat_map(|t| t.standby_tasks).collect()
    };
    wait_for("caught-up standby copies", Duration::from_secs(60), || {
        let lag = a.metrics().sum("kstreams_standby_lag_records", &[])
            + b.metrics().sum("kstreams_standby_lag_records", &[]);
        Ok(standbys(&a).len() + standbys(&b).len() == PARTITIONS as usize && lag == 0.0)
    })?;

    let counts = |partition: i32, stale: bool| {
        let params = StoreQueryParameters::from_name_and_type(
            "counts",
            QueryableStoreTypes::key_value::<String, i64>(),
        )
        .with_partition(partition);
        if stale {
            params.enable_stale_stores()
        } else {
            params
        }
    };
    let clients = [&a, &b];
    for i in 0..8 {
        let key = format!("k{i}");
        let meta = a.query_metadata_for_key("counts", &key, &StringSerde)?;
        assert_eq!(
            meta,
            b.query_metadata_for_key("counts", &key, &StringSerde)?
        );
        let active = SERVERS
            .iter()
            .position(|s| meta.active_host.to_string() == *s)
            .context("the active host is one of the instances")?;
        let standby = 1 - active;
        assert_eq!(
            meta.standby_hosts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec![SERVERS[standby].to_owned()],
            "{key}: the other instance keeps the standby copy"
        );
        let task = TaskId {
            subtopology: 0,
            partition: meta.partition,
        };
        assert!(standbys(clients[standby]).contains(&task), "{key}");
        // The standby copy answers a stale query with the committed count once it has read
        // it (the lag metric is as of the last watermarks fetched)...
        wait_for(
            &format!("{key} in the standby copy"),
            Duration::from_secs(30),
            || {
                let stale = clients[standby].store(counts(meta.partition, true))?;
                Ok(stale.get(&key)? == Some(5))
            },
        )?;
        // ...and is not hosted as far as a query for current data goes.
        match clients[standby].store(counts(meta.partition, false)) {
            Err(StreamsError::StoreUnavailable {
                reason: Unavailable::NotHosted { partition },
                ..
            }) => assert_eq!(partition, Some(meta.partition)),
            other => bail!("{key}: expected not hosted, got {:?}", other.map(|_| ())),
        }
        let current = clients[active].store(counts(meta.partition, false))?;
        assert_eq!(current.get(&key)?, Some(5), "{key} from the active copy");
    }
    // Each instance's metadata lists the other's partitions as its standby ones.
    let all = a.all_metadata()?;
    assert_eq!(all.len(), 2);
    for m in &all {
        assert_eq!(m.topic_partitions.len(), 2, "{m:?}");
        assert!(
            m.topic_partitions.is_disjoint(&m.standby_topic_partitions),
            "{m:?}"
        );
        assert_eq!(m.standby_topic_partitions.len(), 2, "{m:?}");
        assert_eq!(
            m.standby_state_store_names,
            BTreeSet::from(["counts".to_owned()])
        );
    }
    a.close(Duration::from_secs(30))?;
    b.close(Duration::from_secs(30))?;
    Ok(())
}
