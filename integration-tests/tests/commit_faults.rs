//! Commits through broker faults: a broker frozen (SIGSTOP) and thawed, and the group
//! coordinator's broker killed and restarted on a 3-broker cluster, each under at-least-once
//! and exactly-once, while the application commits every 100 ms. Offset commits that fail in
//! a way that passes (`COORDINATOR_LOAD_IN_PROGRESS`, `NOT_COORDINATOR`, waiting for the
//! coordinator, timeouts) are retried or deferred to the next commit: the client never
//! reaches `Error`, exactly-once results are exact and at-least-once loses nothing. Input
//! keeps arriving through each fault, so commits are due while it lasts.
//!
//! One test runs the four cases in turn: each starts its own cluster, and two at once would
//! crowd a 2-core machine.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use integration_tests::apps::count_topology;
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::read_committed;
use integration_tests::kafka::{KafkaCluster, unique_name};

use streams_core::{KafkaStreams, State, StateChange, StreamsConfig};

const KEYS: usize = 10;

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// The only broker is stopped for this long, then resumed.
    Freeze(Duration),
    /// The group coordinator's broker is killed, and restarted after this long.
    KillCoordinator(Duration),
}

/// Runs a count application through `fault` on `cluster`: one round of `KEYS` records before
/// it, one while it lasts, one after. Returns every count the application wrote per key.
async fn run(
    cluster: &mut KafkaCluster,
    fault: Fault,
    guarantee: &str,
) -> Result<(BTreeMap<String, Vec<i64>>, BTreeMap<String, i64>)> {
    let bootstrap = cluster.bootstrap_servers().to_owned();
    let replication = cluster.node_ids().len().min(3) as i32;
    let (input, output) = (unique_name("fault-in"), unique_name("fault-out"));
    cluster.create_topic(&input, 2, replication, &[])?;
    cluster.create_topic(&output, 1, replication, &[])?;
    let app = unique_name("fault-app");
    let state = ScratchDir::new()?;
    let t = count_topology(&input, &output)?;
    let config = StreamsConfig::new(&app, &bootstrap)
        .set("commit.interval.ms", "100")?
        .set("processing.guarantee", guarantee)?
        .set("replication.factor", &replication.to_string())?
        // A short session, as deployments that want fast failover run: librdkafka then waits
        // at most this long for a coordinator before a commit fails.
        .set("consumer.session.timeout.ms", "6000")?
        .set("consumer.heartbeat.interval.ms", "2000")?
        .with_state_dir(state.path());
    let mut streams = KafkaStreams::new(t, config)?;
    let failed = Arc::new(AtomicBool::new(false));
    let flag = failed.clone();
    streams.set_state_listener(move |StateChange { new, .. }| {
        if matches!(new, State::PendingError | State::Error) {
            flag.store(true, Ordering::SeqCst);
        }
    });
    streams.start()?;
    // Input keeps coming through the fault, so that commits are due while it lasts.
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = tokio::spawn(feed(bootstrap.clone(), input.clone(), stop.clone()));
    std::thread::sleep(Duration::from_secs(3));
    match fault {
        Fault::Freeze(pause) => {
            cluster.freeze(1)?;
            std::thread::sleep(pause);
            cluster.thaw(1)?;
        }
        Fault::KillCoordinator(down) => {
            let coordinator = cluster.group_coordinator(&app)?;
            println!("killing broker {coordinator}, the coordinator of {app}");
            cluster.kill(coordinator)?;
            std::thread::sleep(down);
            cluster.restart(coordinator)?;
        }
    }
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::SeqCst);
    let sent = feeder.await??;
    let total = usize::try_from(sent.values().sum::<i64>())?;
    let out = read_committed(
        &bootstrap,
        &output,
        total,
        Duration::from_secs(3),
        Duration::from_secs(120),
    )?;
    let state_now = streams.state();
    let error = streams.error();
    // After a fault a thread may be inside a call that waits for the cluster (a commit, a
    // rewind's committed-offsets request: up to 30 s each) when close comes.
    let closing = std::time::Instant::now();
    let closed = streams.close(Duration::from_secs(120));
    println!(
        "{guarantee} through {fault:?}: closed in {:?}",
        closing.elapsed()
    );
    closed?;
    cluster.delete_topics(&[&input, &output], &[&app])?;
    if failed.load(Ordering::SeqCst) || state_now != State::Running {
        bail!("{guarantee} through {fault:?}: the client left Running ({state_now:?}): {error:?}");
    }
    let mut counts: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in out {
        let value: [u8; 8] = r.value.as_deref().unwrap_or_default().try_into()?;
        counts
            .entry(String::from_utf8_lossy(&r.key).into_owned())
            .or_default()
            .push(i64::from_be_bytes(value));
    }
    Ok((counts, sent))
}

/// Produces a record every 20 ms, keys `k0`.. `k9` in turn, until `stop`; returns how many
/// of each key were written. Idempotent, with a delivery timeout longer than any fault, so
/// every record lands once.
async fn feed(
    bootstrap: String,
    topic: String,
    stop: Arc<AtomicBool>,
) -> Result<BTreeMap<String, i64>> {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "180000")
        .create()?;
    let mut pending = Vec::new();
    let mut i = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let key = format!("k{}", i % KEYS);
        let delivery = producer
            .send_result(FutureRecord::to(&topic).key(&key).payload("x"))
            .map_err(|(e, _)| e)?;
        pending.push((key, delivery));
        i += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut sent = BTreeMap::new();
    for (key, delivery) in pending {
        delivery.await?.map_err(|(e, _)| e)?;
        *sent.entry(key).or_insert(0) += 1;
    }
    Ok(sent)
}

fn check(
    (counts, sent): &(BTreeMap<String, Vec<i64>>, BTreeMap<String, i64>),
    guarantee: &str,
    fault: Fault,
) {
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        sent.keys().collect::<Vec<_>>(),
        "{guarantee} through {fault:?}"
    );
    for (key, seen) in counts {
        let n = sent[key];
        if guarantee == "exactly_once_v2" {
            assert_eq!(
                seen,
                &(1..=n).collect::<Vec<_>>(),
                "{key}: {guarantee} through {fault:?}"
            );
        } else {
            // At-least-once may count a record twice after a failure, never lose one.
            assert!(
                seen.iter().max().is_some_and(|m| *m >= n),
                "{key}: {seen:?}, {n} sent: {guarantee} through {fault:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_survive_a_frozen_broker_and_a_killed_coordinator() -> Result<()> {
    let mut single = KafkaCluster::start(1)?;
    for guarantee in ["at_least_once", "exactly_once_v2"] {
        // Longer than the session (6 s), so commits fail while it lasts.
        let fault = Fault::Freeze(Duration::from_secs(12));
        let counts = run(&mut single, fault, guarantee).await?;
        check(&counts, guarantee, fault);
    }
    single.stop();
    let mut three = KafkaCluster::start(3)?;
    for guarantee in ["at_least_once", "exactly_once_v2"] {
        let fault = Fault::KillCoordinator(Duration::from_secs(10));
        let counts = run(&mut three, fault, guarantee).await?;
        check(&counts, guarantee, fault);
    }
    three.stop();
    Ok(())
}
