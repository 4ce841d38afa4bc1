//! The uncaught-exception handler on a real broker, under exactly-once: a processor fails on
//! one record, once; the handler replaces the thread, which takes the work up from the last
//! commit; the counts come out exact (every key 1, 2, ..., n, nothing lost or twice) and the
//! client never leaves `Running`/`Rebalancing` for `Error`. Without a handler (or with
//! `ShutdownClient`) the same failure stops the client with the processor's error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use integration_tests::apps::CountPerKey;
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{
    counts_per_key, produce, read_committed, round_robin, wait_until_committed,
};
use integration_tests::kafka::{shared_cluster, unique_name};
use state_stores::KeyValueStoreBuilder;
use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::{I64Serde, StringSerde};
use streams_core::{
    KafkaStreams, Record, State, StreamThreadExceptionResponse, StreamsConfig, StreamsError,
    Topology,
};

const KEYS: usize = 6;
const RECORDS: usize = 120;

/// Forwards every record, but fails on the value `boom` the first time it sees one.
struct FailOnce(Arc<AtomicBool>);

impl Processor<String, String, String, String> for FailOnce {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        if r.value == "boom" && !self.0.swap(true, Ordering::SeqCst) {
            return Err("the scoring service is down".into());
        }
        ctx.forward(r)?;
        Ok(())
    }
}

fn topology(input: &str, output: &str, failed: &Arc<AtomicBool>) -> Result<Topology> {
    let failed = failed.clone();
    let mut t = Topology::new();
    t.add_source("src", &[input], StringSerde, StringSerde)?
        .add_processor("fail-once", move || FailOnce(failed.clone()), &["src"])?
        .add_processor("count", CountPerKey::supplier("counts"), &["fail-once"])?
        .add_state_store(
            KeyValueStoreBuilder::rocksdb("counts", StringSerde, I64Serde),
            &["count"],
        )?
        .add_sink("sink", output, StringSerde, I64Serde, &["count"])?;
    Ok(t)
}

/// Record `i` of key `k<i % KEYS>`; record 50 is the poisoned one.
fn records() -> Vec<(String, Vec<u8>, Option<i32>)> {
    let mut records = round_robin(0, RECORDS, KEYS);
    records[50].1 = b"boom".to_vec();
    records
}

struct App {
    streams: KafkaStreams,
    input: String,
    output: String,
    app: String,
    _state: ScratchDir,
}

fn app(prefix: &str, failed: &Arc<AtomicBool>) -> Result<App> {
    let cluster = shared_cluster()?;
    let (app, input, output) = (
        unique_name(prefix),
        unique_name(&format!("{prefix}-in")),
        unique_name(&format!("{prefix}-out")),
    );
    cluster.create_topic(&input, 2, 1, &[])?;
    cluster.create_topic(&output, 2, 1, &[])?;
    let state = ScratchDir::new()?;
    let config = StreamsConfig::new(&app, cluster.bootstrap_servers())
        .set("processing.guarantee", "exactly_once_v2")?
        .with_state_dir(state.path());
    let streams = KafkaStreams::new(topology(&input, &output, failed)?, config)?;
    Ok(App {
        streams,
        input,
        output,
        app,
        _state: state,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_thread_resumes_from_the_last_commit_exactly_once() -> Result<()> {
    let bootstrap = shared_cluster()?.bootstrap_servers().to_owned();
    let failed = Arc::new(AtomicBool::new(false));
    let mut a = app("replace", &failed)?;
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    a.streams.set_uncaught_exception_handler(move |e| {
        assert!(matches!(e, StreamsError::Processing { .. }), "{e}");
        seen.fetch_add(1, Ordering::SeqCst);
        StreamThreadExceptionResponse::ReplaceThread
    })?;
    let states = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let log = states.clone();
    a.streams
        .set_state_listener(move |c| log.lock().push(c.new));
    a.streams.start()?;
    produce(&bootstrap, &a.input, records()).await?;
    wait_until_committed(
        &bootstrap,
        &a.app,
        std::slice::from_ref(&a.input),
        Duration::from_secs(90),
    )?;

    assert!(
        failed.load(Ordering::SeqCst),
        "the poisoned record was never processed"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(a.streams.replaced_threads(), 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.streams.state() != State::Running {
        if Instant::now() > deadline {
            bail!("not running again: {:?}", a.streams.state());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !states
            .lock()
            .iter()
            .any(|s| matches!(s, State::PendingError | State::Error)),
        "{:?}",
        states.lock()
    );
    // Every key counted 1, 2, ..., n once each: the failed thread's uncommitted work was
    // aborted, and its replacement redid it.
    let out = read_committed(
        &bootstrap,
        &a.output,
        RECORDS,
        Duration::from_secs(2),
        Duration::from_secs(90),
    )?;
    let per_key = counts_per_key(&out)?;
    let expected: BTreeMap<String, Vec<i64>> = (0..KEYS)
        .map(|k| (format!("k{k}"), (1..=(RECORDS / KEYS) as i64).collect()))
        .collect();
    assert_eq!(per_key, expected);
    a.streams.close(Duration::from_secs(30))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_client_stops_with_the_processors_error() -> Result<()> {
    let bootstrap = shared_cluster()?.bootstrap_servers().to_owned();
    let failed = Arc::new(AtomicBool::new(false));
    let mut a = app("shutdown-client", &failed)?;
    a.streams
        .set_uncaught_exception_handler(|_| StreamThreadExceptionResponse::ShutdownClient)?;
    a.streams.start()?;
    produce(&bootstrap, &a.input, records()).await?;
    assert!(
        a.streams
            .wait_for_state(State::Error, Duration::from_secs(60)),
        "the client did not stop: {:?}",
        a.streams.state()
    );
    let error = a.streams.error().context("the thread's error")?;
    assert!(
        matches!(&*error, StreamsError::Processing { message, .. } if message.contains("scoring service is down")),
        "{error}"
    );
    assert_eq!(a.streams.replaced_threads(), 0);
    let e = a
        .streams
        .set_uncaught_exception_handler(|_| StreamThreadExceptionResponse::ReplaceThread)
        .expect_err("a handler after start");
    assert!(e.to_string().contains("before start()"), "{e}");
    a.streams.close(Duration::from_secs(30))?;
    Ok(())
}

/// `ShutdownApplication`: the client whose thread fails stops with the processor's error, and
/// every other client of the application stops too, with `ApplicationShutdown` naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_application_stops_every_instance() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers().to_owned();
    let failed = Arc::new(AtomicBool::new(false));
    let (app, input, output) = (
        unique_name("shutdown-app"),
        unique_name("shutdown-app-in"),
        unique_name("shutdown-app-out"),
    );
    cluster.create_topic(&input, 2, 1, &[])?;
    cluster.create_topic(&output, 2, 1, &[])?;
    let (state_a, state_b) = (ScratchDir::new()?, ScratchDir::new()?);
    let mut instances = Vec::new();
    for state in [&state_a, &state_b] {
        let config = StreamsConfig::new(&app, &bootstrap).with_state_dir(state.path());
        let mut streams = KafkaStreams::new(topology(&input, &output, &failed)?, config)?;
        streams.set_uncaught_exception_handler(|_| {
            StreamThreadExceptionResponse::ShutdownApplication
        })?;
        streams.start()?;
        instances.push(streams);
    }
    for streams in &instances {
        if !streams.wait_for_state(State::Running, Duration::from_secs(60)) {
            bail!("an instance did not start: {:?}", streams.state());
        }
    }
    // Each client's id, from its thread's name (`<client id>-StreamThread-1`).
    let client_ids: Vec<String> = instances
        .iter()
        .map(|s| {
            let thread = &s.metadata_for_local_threads()[0].thread_name;
            thread.trim_end_matches("-StreamThread-1").to_owned()
        })
        .collect();
    produce(&bootstrap, &input, records()).await?;
    for streams in &instances {
        if !streams.wait_for_state(State::Error, Duration::from_secs(60)) {
            bail!("an instance did not stop: {:?}", streams.state());
        }
    }
    let errors: Vec<Arc<StreamsError>> = instances
        .iter()
        .map(|s| s.error().context("an error"))
        .collect::<Result<_>>()?;
    let failing = errors
        .iter()
        .position(|e| matches!(&**e, StreamsError::Processing { message, .. } if message.contains("scoring service is down")))
        .context("the failing instance's error")?;
    let other = &errors[1 - failing];
    match &**other {
        StreamsError::ApplicationShutdown {
            requested_by,
            reason,
        } => {
            assert!(reason.contains("scoring service is down"), "{reason}");
            assert_eq!(requested_by, &client_ids[failing]);
        }
        e => bail!("the other instance stopped with {e}"),
    }
    for mut streams in instances {
        streams.close(Duration::from_secs(30))?;
    }
    Ok(())
}
