//! `kstreams-reset` on real Kafka with the revenue-per-product example: the dry run changes
//! nothing; the reset is refused while an instance runs; after the reset (input to the
//! earliest offset, internal topics deleted, local state removed) a second run gives the
//! first run's output again, record for record.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Result, bail};
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce_timed, read_committed, wait_until_committed};
use integration_tests::kafka::{shared_cluster, unique_name};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use streams_core::{KafkaStreams, State, StreamsConfig};
use streams_examples::revenue_per_product::RevenuePerProductApp;
use streams_examples::runner::{CommonArgs, Example};

/// The revenue example as an in-process application with topics prefixed by `id-`.
fn start_app(
    app: &RevenuePerProductApp,
    id: &str,
    bootstrap: &str,
    state: &Path,
) -> Result<KafkaStreams> {
    let config = StreamsConfig::new(id, bootstrap)
        .set("commit.interval.ms", "100")?
        .set("processing.guarantee", "exactly_once_v2")?
        .with_state_dir(state);
    let mut streams = KafkaStreams::new(app.topology()?, app.configure(config)?)?;
    streams.start()?;
    if !streams.wait_for_state(State::Running, Duration::from_secs(60)) {
        bail!("the application did not start: {:?}", streams.error());
    }
    Ok(streams)
}

/// Runs `kstreams-reset` with `args`; returns (success, stdout + stderr).
fn reset(args: &[&str]) -> Result<(bool, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_kstreams-reset"))
        .args(args)
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

/// The group's committed offset of partition 0 of `topic`.
fn committed(bootstrap: &str, group: &str, topic: &str) -> Result<Option<i64>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()?;
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, 0);
    let c = consumer.committed_offsets(list, Duration::from_secs(10))?;
    Ok(c.find_partition(topic, 0).and_then(|p| match p.offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    }))
}

/// The names of the cluster's topics starting with `prefix`.
fn topics_with_prefix(bootstrap: &str, prefix: &str) -> Result<Vec<String>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let md = consumer.fetch_metadata(None, Duration::from_secs(10))?;
    let mut names: Vec<String> = md
        .topics()
        .iter()
        .map(|t| t.name().to_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    Ok(names)
}

/// An output record: key, value, timestamp.
type Row = (Vec<u8>, Option<Vec<u8>>, i64);

/// The output, in offset order (one partition).
fn output(bootstrap: &str, topic: &str, expected: usize) -> Result<Vec<Row>> {
    Ok(read_committed(
        bootstrap,
        topic,
        expected,
        Duration::from_secs(2),
        Duration::from_secs(60),
    )?
    .into_iter()
    .map(|r| (r.key, r.value, r.timestamp))
    .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_application_gives_the_same_output_again() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let id = unique_name("revenue-reset");
    let mut args = CommonArgs::sample_run(Some(bootstrap), &id);
    args.topic_prefix = format!("{id}-");
    let app = RevenuePerProductApp::new(&args);
    let (input, out_topic) = (args.topic("orders"), args.topic("revenue-per-product"));
    // One partition each: the output order is then the processing order, comparable whole.
    cluster.create_topic(&input, 1, 1, &[])?;
    cluster.create_topic(&out_topic, 1, 1, &[])?;
    let records: Vec<_> = app
        .sample()?
        .into_iter()
        .flatten()
        .map(|r| {
            let key = String::from_utf8(r.key.unwrap_or_default()).unwrap_or_default();
            (key, r.value.unwrap_or_default(), None, Some(r.timestamp))
        })
        .collect();
    let inputs = records.len() as i64;
    produce_timed(bootstrap, &input, records).await?;

    // The first run.
    let state = ScratchDir::new()?;
    let mut streams = start_app(&app, &id, bootstrap, state.path())?;
    wait_until_committed(
        bootstrap,
        &id,
        std::slice::from_ref(&input),
        Duration::from_secs(120),
    )?;
    let first = output(bootstrap, &out_topic, 1)?;
    assert!(!first.is_empty());

    // Refused while the instance runs, naming the group and what to do.
    let common = [
        "--application-id",
        id.as_str(),
        "--bootstrap-server",
        bootstrap,
        "--input-topics",
        input.as_str(),
    ];
    let (ok, text) = reset(&common)?;
    assert!(!ok, "{text}");
    assert!(
        text.contains("active member(s)") && text.contains("stop every instance"),
        "{text}"
    );
    streams.close(Duration::from_secs(30))?;

    let internal = topics_with_prefix(bootstrap, &format!("{id}-"))?
        .into_iter()
        .filter(|t| t.ends_with("-changelog") || t.ends_with("-repartition"))
        .collect::<Vec<_>>();
    assert!(!internal.is_empty(), "the example has a changelog");
    let app_state = state.path().join(&id);
    assert!(app_state.exists());
    let state_arg = state.path().to_string_lossy().into_owned();
    let with_state = [&common[..], &["--to-earliest", "--state-dir", &state_arg]].concat();

    // The dry run prints the plan and changes nothing.
    let (ok, text) = reset(&[&with_state[..], &["--dry-run"]].concat())?;
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("offset of {input}-0: {inputs} -> 0")),
        "{text}"
    );
    for t in &internal {
        assert!(
            text.contains(&format!("delete internal topic {t}")),
            "{text}"
        );
    }
    assert!(text.contains("Dry run: nothing was changed."), "{text}");
    assert_eq!(committed(bootstrap, &id, &input)?, Some(inputs));
    assert!(app_state.exists());
    assert!(internal.iter().all(|t| {
        topics_with_prefix(bootstrap, t)
            .map(|v| !v.is_empty())
            .unwrap_or(false)
    }));

    // The reset.
    let (ok, text) = reset(&with_state)?;
    assert!(ok, "{text}");
    assert_eq!(committed(bootstrap, &id, &input)?, Some(0));
    assert!(!app_state.exists(), "the local state is removed");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while internal.iter().any(|t| {
        topics_with_prefix(bootstrap, t)
            .map(|v| !v.is_empty())
            .unwrap_or(true)
    }) {
        if std::time::Instant::now() > deadline {
            bail!("the internal topics were not deleted");
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    // The second run processes the input again, from scratch: the same output again.
    let mut streams = start_app(&app, &id, bootstrap, state.path())?;
    wait_until_committed(
        bootstrap,
        &id,
        std::slice::from_ref(&input),
        Duration::from_secs(120),
    )?;
    let both = output(bootstrap, &out_topic, 2 * first.len())?;
    streams.close(Duration::from_secs(30))?;
    assert_eq!(both.len(), 2 * first.len(), "{both:?}");
    assert_eq!(both[first.len()..], first[..]);
    Ok(())
}
