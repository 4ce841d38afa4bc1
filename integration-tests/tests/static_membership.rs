//! Static membership (`group.instance.id`) on a real broker: one of two exactly-once
//! instances closes and starts again within the session timeout while input keeps arriving,
//! first a follower, then the group's leader; the other instance sees no rebalance at all,
//! and the counts come out exact, one update per input record. Then one instance closes with
//! `leave_group(true)`, and the other takes its partitions over at once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use integration_tests::apps::{check_counts, count_topology};
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce, round_robin, wait_until_committed};
use integration_tests::kafka::{shared_cluster, unique_name};
use integration_tests::wait_running;
use streams_core::{CloseOptions, KafkaStreams, State, StreamsConfig};

const PARTITIONS: i32 = 4;
const KEYS: usize = 12;

/// A started instance whose state changes are recorded.
struct Instance {
    streams: KafkaStreams,
    changes: Arc<Mutex<Vec<(State, State)>>>,
}

impl Instance {
    fn start(
        app: &str,
        bootstrap: &str,
        io: (&str, &str),
        id: &str,
        state: &ScratchDir,
    ) -> Result<Self> {
        let config = StreamsConfig::new(app, bootstrap)
            .set("processing.guarantee", "exactly_once_v2")?
            .set("group.instance.id", id)?
            // Longer than any restart below, shorter than the test's patience.
            .set("consumer.session.timeout.ms", "30000")?
            .with_state_dir(state.path());
        let mut streams = KafkaStreams::new(count_topology(io.0, io.1)?, config)?;
        let changes = Arc::new(Mutex::new(Vec::new()));
        let seen = changes.clone();
        streams
            .set_state_listener(move |c| seen.lock().expect("listener lock").push((c.new, c.old)));
        streams.start()?;
        Ok(Instance { streams, changes })
    }

    fn changes(&self) -> Vec<(State, State)> {
        self.changes.lock().expect("listener lock").clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_restarts_without_a_rebalance_and_leaves_when_asked() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (app, input, output) = (
        unique_name("static"),
        unique_name("static-in"),
        unique_name("static-out"),
    );
    cluster.create_topic(&input, PARTITIONS, 1, &[])?;
    cluster.create_topic(&output, PARTITIONS, 1, &[])?;
    let io = (input.as_str(), output.as_str());
    let (state_a, state_b) = (ScratchDir::new()?, ScratchDir::new()?);
    let inputs = [input.clone()];

    let mut a = Instance::start(&app, bootstrap, io, "instance-a", &state_a)?;
    wait_running(&[&a.streams])?;
    let mut b = Instance::start(&app, bootstrap, io, "instance-b", &state_b)?;
    wait_running(&[&a.streams, &b.streams])?;
    produce(bootstrap, &input, round_robin(0, 120, KEYS)).await?;
    wait_until_committed(bootstrap, &app, &inputs, Duration::from_secs(60))?;

    // B (a follower) closes, staying in the group; input arrives while it is down, and it
    // comes back with the same instance id and state directory. Then the same for A, the
    // group's leader (the first to join).
    let mut sent = 120;
    for (restarted, stayed) in [("instance-b", "instance-a"), ("instance-a", "instance-b")] {
        let [(down, down_state), (up, _)] = if restarted == "instance-b" {
            [(&mut b, &state_b), (&mut a, &state_a)]
        } else {
            [(&mut a, &state_a), (&mut b, &state_b)]
        };
        let before = up.changes();
        down.streams.close(Duration::from_secs(30))?;
        produce(bootstrap, &input, round_robin(sent, 120, KEYS)).await?;
        *down = Instance::start(&app, bootstrap, io, restarted, down_state)?;
        wait_running(&[&down.streams, &up.streams])?;
        produce(bootstrap, &input, round_robin(sent + 120, 120, KEYS)).await?;
        sent += 240;
        wait_until_committed(bootstrap, &app, &inputs, Duration::from_secs(60))?;
        assert_eq!(
            up.changes(),
            before,
            "{stayed} saw a rebalance while {restarted} restarted"
        );
        assert_eq!(
            down.changes(),
            vec![
                (State::Rebalancing, State::Created),
                (State::Running, State::Rebalancing)
            ],
            "{restarted} took its partitions back in one step"
        );
        check_counts(bootstrap, &output, sent, KEYS)?;
    }

    // B goes away for good: it leaves, and A takes every partition over without waiting
    // for the session timeout.
    let before = a.changes();
    let left = Instant::now();
    b.streams.close_with(
        CloseOptions::default()
            .timeout(Duration::from_secs(30))
            .leave_group(true),
    )?;
    produce(bootstrap, &input, round_robin(sent, 120, KEYS)).await?;
    wait_until_committed(bootstrap, &app, &inputs, Duration::from_secs(60))?;
    assert!(
        left.elapsed() < Duration::from_secs(30),
        "the partitions waited for the session timeout: {:?}",
        left.elapsed()
    );
    assert!(
        a.changes().len() > before.len(),
        "the instance that stayed did not rebalance when the other left"
    );
    check_counts(bootstrap, &output, sent + 120, KEYS)?;
    a.streams.close(Duration::from_secs(30))?;
    Ok(())
}
