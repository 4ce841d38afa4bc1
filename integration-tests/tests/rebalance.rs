//! Scaling an exactly-once counting application 1 -> 2 -> 3 -> 2 -> 1 instances on a real
//! broker while input keeps arriving, under both rebalance protocols: the counts come out
//! exact, and a task that stays on an instance through a rebalance is neither closed nor
//! created again; only the tasks that move are closed and created. Under the classic
//! (eager) protocol the instance suspends its tasks when their partitions are revoked and
//! resumes those the assignment gives back; under the consumer protocol (KIP-848) only the
//! partitions that move are revoked at all.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use integration_tests::apps::{check_counts, count_topology};
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce, round_robin, wait_until_committed};
use integration_tests::kafka::{shared_cluster, unique_name};
use streams_core::{KafkaStreams, State, StreamsConfig, TaskId};

const PARTITIONS: i32 = 6;
const KEYS: usize = 30;

/// One instance with its state directory.
struct Instance {
    streams: KafkaStreams,
    _state: ScratchDir,
}

impl Instance {
    fn start(app: &str, bootstrap: &str, io: (&str, &str), protocol: &str) -> Result<Instance> {
        let state = ScratchDir::with_prefix("kstreams-rebalance-")?;
        let config = StreamsConfig::new(app, bootstrap)
            .set("processing.guarantee", "exactly_once_v2")?
            .set("group.protocol", protocol)?
            .with_state_dir(state.path());
        let mut streams = KafkaStreams::new(count_topology(io.0, io.1)?, config)?;
        streams.start()?;
        Ok(Instance {
            streams,
            _state: state,
        })
    }

    fn active(&self) -> BTreeSet<TaskId> {
        let threads = self.streams.metadata_for_local_threads();
        threads.into_iter().flat_map(|t| t.active_tasks).collect()
    }

    /// Tasks created and closed so far.
    fn lifecycle(&self) -> (f64, f64) {
        let m = self.streams.metrics();
        (
            m.sum("kstreams_thread_task_created", &[]),
            m.sum("kstreams_thread_task_closed", &[]),
        )
    }
}

/// Waits until every instance runs and the tasks are split among them, each exactly once,
/// and stay so for two seconds; returns each instance's tasks.
fn settled(instances: &[Instance]) -> Result<Vec<BTreeSet<TaskId>>> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut stable_since: Option<(Instant, Vec<BTreeSet<TaskId>>)> = None;
    loop {
        let sets: Vec<BTreeSet<TaskId>> = instances.iter().map(Instance::active).collect();
        let total: usize = sets.iter().map(BTreeSet::len).sum();
        let all: BTreeSet<TaskId> = sets.iter().flatten().copied().collect();
        let ok = instances
            .iter()
            .all(|i| i.streams.state() == State::Running)
            && total == PARTITIONS as usize
            && all.len() == PARTITIONS as usize
            && sets.iter().all(|s| !s.is_empty());
        match (&stable_since, ok) {
            (Some((since, seen)), true) if *seen == sets => {
                if since.elapsed() >= Duration::from_secs(2) {
                    return Ok(sets);
                }
            }
            (_, true) => stable_since = Some((Instant::now(), sets)),
            (_, false) => stable_since = None,
        }
        if Instant::now() > deadline {
            bail!("the group did not settle within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_out_and_in_keeps_the_tasks_that_stay_and_counts_exactly() -> Result<()> {
    scale("classic").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_protocol_moves_only_what_it_must_and_counts_exactly() -> Result<()> {
    scale("consumer").await
}

async fn scale(protocol: &str) -> Result<()> {
    integration_tests::log_to_stderr();
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers().to_owned();
    let app = unique_name(&format!("scale-{protocol}"));
    let (input, output) = (format!("{app}-in"), format!("{app}-out"));
    cluster.create_topic(&input, PARTITIONS, 1, &[])?;
    cluster.create_topic(&output, PARTITIONS, 1, &[])?;
    let io = (input.as_str(), output.as_str());

    // The driver: 12 records every 50 ms until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let driver = {
        let (stop, sent, bootstrap, input) =
            (stop.clone(), sent.clone(), bootstrap.clone(), input.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Acquire) {
                let from = sent.load(Ordering::Acquire);
                produce(&bootstrap, &input, round_robin(from, 12, KEYS)).await?;
                sent.store(from + 12, Ordering::Release);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            anyhow::Ok(())
        })
    };

    let mut instances = vec![Instance::start(&app, &bootstrap, io, protocol)?];
    let mut before = settled(&instances)?;
    let mut kept_total = 0;
    // Out to three, then back in to one (the newest instance leaves first).
    for step in ["join", "join", "leave", "leave"] {
        let lifecycle: Vec<(f64, f64)> = instances.iter().map(Instance::lifecycle).collect();
        if step == "join" {
            instances.push(Instance::start(&app, &bootstrap, io, protocol)?);
        } else if let Some(mut last) = instances.pop() {
            last.streams.close(Duration::from_secs(30))?;
        }
        let after = settled(&instances)?;
        for (i, instance) in instances.iter().enumerate() {
            let Some(had) = before.get(i) else { continue };
            let has = &after[i];
            let (created, closed) = instance.lifecycle();
            let kept = had.intersection(has).count();
            kept_total += kept;
            assert_eq!(
                (created - lifecycle[i].0, closed - lifecycle[i].1),
                (
                    has.difference(had).count() as f64,
                    had.difference(has).count() as f64
                ),
                "instance {i} on {step}: tasks {had:?} -> {has:?}; only those that moved may \
                 be created or closed"
            );
        }
        before = after;
    }
    assert!(
        kept_total > 0,
        "no task stayed on its instance through any step"
    );

    stop.store(true, Ordering::Release);
    driver.await??;
    let total = sent.load(Ordering::Acquire);
    wait_until_committed(
        &bootstrap,
        &app,
        std::slice::from_ref(&input),
        Duration::from_secs(60),
    )?;
    check_counts(&bootstrap, &output, total, KEYS)?;
    for mut instance in instances {
        instance.streams.close(Duration::from_secs(30))?;
    }
    Ok(())
}
