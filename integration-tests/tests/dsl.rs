//! The DSL on a real broker: repartitioning across instances, and a suppression buffer kept
//! through a restart by its changelog.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce, produce_timed, read_topic, wait_until_committed};
use integration_tests::kafka::{shared_cluster, unique_name};
use streams_core::serde::{I64Serde, Nullable, StringSerde};
use streams_core::{KafkaStreams, StreamsConfig, Topology};
use streams_dsl::suppress::{BufferConfig, Suppressed};
use streams_dsl::{
    Consumed, Grouped, Materialized, Produced, Repartitioned, StreamsBuilder, TimeWindows,
};

/// Counts words (the record values) after re-keying by word: a repartition topic sits
/// between the re-keying and the count.
fn word_count(input: &str, output: &str) -> streams_core::Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream_with(&[input], Consumed::with(StringSerde, StringSerde))
        .group_by_with(
            |_, word| word.clone(),
            Grouped::with(StringSerde, StringSerde).with_name("by-word"),
        )
        .count_with(Materialized::as_store("word-counts"))
        .to_stream()
        .to_with(output, Produced::with(StringSerde, Nullable(I64Serde)));
    b.build()
}

/// The last count per word in `output`, once `expected` updates arrived.
fn final_counts(bootstrap: &str, output: &str, expected: usize) -> Result<BTreeMap<String, i64>> {
    let out = read_topic(
        bootstrap,
        output,
        expected,
        Duration::from_secs(2),
        Duration::from_secs(120),
    )?;
    assert_eq!(out.len(), expected, "one update per input record");
    let mut last = BTreeMap::new();
    for r in out {
        let n = i64::from_be_bytes(r.value.as_bytes().try_into().context("8-byte count")?);
        last.insert(r.key, n);
    }
    Ok(last)
}

fn start(
    app: &str,
    bootstrap: &str,
    input: &str,
    output: &str,
) -> Result<(KafkaStreams, ScratchDir)> {
    let state = ScratchDir::new()?;
    Ok((
        start_in(app, bootstrap, word_count(input, output)?, &state)?,
        state,
    ))
}

/// Starts `topology` as application `app`, committing every 100 ms, with its state in `state`.
fn start_in(
    app: &str,
    bootstrap: &str,
    topology: Topology,
    state: &ScratchDir,
) -> Result<KafkaStreams> {
    let config = StreamsConfig::new(app, bootstrap)
        .set("commit.interval.ms", "100")?
        .set("repartition.purge.interval.ms", "100")?
        .with_state_dir(state.path());
    let mut streams = KafkaStreams::new(topology, config)?;
    streams.start()?;
    Ok(streams)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repartitioning_group_by_counts_the_same_on_two_instances_as_on_one() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let input = unique_name("sentences");
    cluster.create_topic(&input, 4, 1, &[])?;
    let words = ["kafka", "rust", "streams", "state", "window"];
    // 400 records over 400 keys (so over all 4 partitions), plus 13 more "kafka".
    let records: Vec<(String, Vec<u8>, Option<i32>)> = (0..413)
        .map(|i| {
            let word = if i < 400 {
                words[i % words.len()]
            } else {
                "kafka"
            };
            (format!("user-{i}"), word.as_bytes().to_vec(), None)
        })
        .collect();
    produce(bootstrap, &input, records).await?;
    let expected: BTreeMap<String, i64> = [
        ("kafka", 93),
        ("rust", 80),
        ("state", 80),
        ("streams", 80),
        ("window", 80),
    ]
    .into_iter()
    .map(|(w, n)| (w.to_owned(), n))
    .collect();

    // One instance.
    let (app, output) = (unique_name("wc-one"), unique_name("counts-one"));
    cluster.create_topic(&output, 4, 1, &[])?;
    let (mut one, _state) = start(&app, bootstrap, &input, &output)?;
    let single = final_counts(bootstrap, &output, 413)?;
    // Committed repartition records are purged: the low watermarks move up.
    let repartition = format!("{app}-by-word-repartition");
    let probe: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let purged = loop {
        let mut low = 0;
        for p in 0..4 {
            low += rdkafka::consumer::Consumer::fetch_watermarks(
                &probe,
                &repartition,
                p,
                Duration::from_secs(10),
            )?
            .0;
        }
        if low > 0 || std::time::Instant::now() > deadline {
            break low;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    one.close(Duration::from_secs(30))?;
    assert_eq!(single, expected);
    assert!(purged > 0, "no repartition record was purged");

    // The repartition topic: named after the grouping, as many partitions as the input,
    // deleted (never compacted), kept until purged.
    let md = cluster
        .admin()?
        .inner()
        .fetch_metadata(Some(&repartition), Duration::from_secs(10))?;
    assert_eq!(md.topics()[0].partitions().len(), 4);
    let config = |name: &str| cluster.topic_config(&repartition, name);
    assert_eq!(config("cleanup.policy")?.as_deref(), Some("delete"));
    assert_eq!(config("retention.ms")?.as_deref(), Some("-1"));

    // Two instances of another application share the partitions; the counts are the same.
    let (app, output) = (unique_name("wc-two"), unique_name("counts-two"));
    cluster.create_topic(&output, 4, 1, &[])?;
    let (mut a, _state_a) = start(&app, bootstrap, &input, &output)?;
    let (mut b, _state_b) = start(&app, bootstrap, &input, &output)?;
    let double = final_counts(bootstrap, &output, 413)?;
    a.close(Duration::from_secs(30))?;
    b.close(Duration::from_secs(30))?;
    assert_eq!(double, expected);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_with_latest_offset_reset_skips_what_was_there_before_it_started() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output, app) = (unique_name("in"), unique_name("out"), unique_name("latest"));
    cluster.create_topic(&input, 1, 1, &[])?;
    cluster.create_topic(&output, 1, 1, &[])?;
    let record = |k: &str| (k.to_owned(), b"v".to_vec(), None);
    produce(bootstrap, &input, ["old-1", "old-2"].map(record)).await?;

    let b = StreamsBuilder::new();
    b.stream_with(
        &[&input],
        Consumed::with(StringSerde, StringSerde)
            .with_offset_reset(streams_core::OffsetReset::Latest),
    )
    .to_with(&output, Produced::with(StringSerde, StringSerde));
    let state = ScratchDir::new()?;
    let config = StreamsConfig::new(&app, bootstrap)
        .set("commit.interval.ms", "100")?
        .with_state_dir(state.path());
    let mut streams = KafkaStreams::new(b.build()?, config)?;
    streams.start()?;
    assert!(
        streams.wait_for_state(streams_core::State::Running, Duration::from_secs(60)),
        "the application runs"
    );
    produce(bootstrap, &input, ["new-1", "new-2"].map(record)).await?;
    let out = read_topic(
        bootstrap,
        &output,
        2,
        Duration::from_secs(2),
        Duration::from_secs(60),
    )?;
    streams.close(Duration::from_secs(30))?;
    let keys: Vec<&str> = out.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, vec!["new-1", "new-2"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_are_enriched_with_customers_on_two_instances() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (customers, orders, output, app) = (
        unique_name("customers"),
        unique_name("orders"),
        unique_name("enriched"),
        unique_name("enrich"),
    );
    for topic in [&customers, &orders, &output] {
        cluster.create_topic(topic, 4, 1, &[])?;
    }
    let names: Vec<(String, Vec<u8>, Option<i32>)> = (0..20)
        .map(|i| (format!("c{i}"), format!("customer-{i}").into_bytes(), None))
        .collect();
    produce(bootstrap, &customers, names).await?;

    let topology = || -> streams_core::Result<Topology> {
        let b = StreamsBuilder::new();
        let table = b.table_with(
            &customers,
            Consumed::with(StringSerde, StringSerde),
            Materialized::as_store("customers"),
        );
        b.stream_with(&[&orders], Consumed::with(StringSerde, StringSerde))
            .join_table(&table, |order, customer| format!("{order} for {customer}"))
            .to_with(&output, Produced::with(StringSerde, StringSerde));
        b.build()
    };
    let start = |state: &std::path::Path| -> Result<KafkaStreams> {
        let config = StreamsConfig::new(&app, bootstrap)
            .set("commit.interval.ms", "100")?
            .with_state_dir(state);
        let mut streams = KafkaStreams::new(topology()?, config)?;
        streams.start()?;
        Ok(streams)
    };
    let (dir_a, dir_b) = (ScratchDir::new()?, ScratchDir::new()?);
    let mut a = start(dir_a.path())?;
    let mut b = start(dir_b.path())?;
    for s in [&a, &b] {
        assert!(s.wait_for_state(streams_core::State::Running, Duration::from_secs(60)));
    }
    // The table is loaded once its store has logged every customer.
    read_topic(
        bootstrap,
        &format!("{app}-customers-changelog"),
        20,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )?;
    let order_records: Vec<(String, Vec<u8>, Option<i32>)> = (0..100)
        .map(|i| {
            (
                format!("c{}", i % 25),
                format!("order-{i}").into_bytes(),
                None,
            )
        })
        .collect();
    produce(bootstrap, &orders, order_records).await?;
    let out = read_topic(
        bootstrap,
        &output,
        80,
        Duration::from_secs(2),
        Duration::from_secs(60),
    )?;
    a.close(Duration::from_secs(30))?;
    b.close(Duration::from_secs(30))?;
    // Customers c20-c24 do not exist: their 20 orders are dropped by the inner join.
    let mut got: Vec<(String, String)> = out.into_iter().map(|r| (r.key, r.value)).collect();
    got.sort();
    let mut expected: Vec<(String, String)> = (0..100)
        .filter(|i| i % 25 < 20)
        .map(|i| {
            (
                format!("c{}", i % 25),
                format!("order-{i} for customer-{}", i % 25),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(got, expected);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instance_joins_against_the_whole_global_table() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (products, orders, output, app) = (
        unique_name("products"),
        unique_name("orders"),
        unique_name("enriched"),
        unique_name("global"),
    );
    // The product topic has 2 partitions, the orders 4: no co-partitioning needed.
    cluster.create_topic(&products, 2, 1, &[])?;
    cluster.create_topic(&orders, 4, 1, &[])?;
    cluster.create_topic(&output, 4, 1, &[])?;
    let catalog: Vec<(String, Vec<u8>, Option<i32>)> = (0..10)
        .map(|i| (format!("p{i}"), format!("product-{i}").into_bytes(), None))
        .collect();
    produce(bootstrap, &products, catalog).await?;
    let start = |state: &std::path::Path| -> Result<KafkaStreams> {
        let b = StreamsBuilder::new();
        let table = b.global_table_with(&products, Consumed::with(StringSerde, StringSerde));
        b.stream_with(&[&orders], Consumed::with(StringSerde, StringSerde))
            .join_global(
                &table,
                |_order, product| product.clone(),
                |product, name| format!("{product}={name}"),
            )
            .to_with(&output, Produced::with(StringSerde, StringSerde));
        let config = StreamsConfig::new(&app, bootstrap)
            .set("commit.interval.ms", "100")?
            .with_state_dir(state);
        let mut streams = KafkaStreams::new(b.build()?, config)?;
        streams.start()?;
        Ok(streams)
    };
    let (dir_a, dir_b) = (ScratchDir::new()?, ScratchDir::new()?);
    let mut a = start(dir_a.path())?;
    let mut b = start(dir_b.path())?;
    let order_records: Vec<(String, Vec<u8>, Option<i32>)> = (0..40)
        .map(|i| (format!("o{i}"), format!("p{}", i % 10).into_bytes(), None))
        .collect();
    produce(bootstrap, &orders, order_records).await?;
    let out = read_topic(
        bootstrap,
        &output,
        40,
        Duration::from_secs(2),
        Duration::from_secs(60),
    )?;
    a.close(Duration::from_secs(30))?;
    b.close(Duration::from_secs(30))?;
    let mut got: Vec<(String, String)> = out.into_iter().map(|r| (r.key, r.value)).collect();
    got.sort();
    let mut expected: Vec<(String, String)> = (0..40)
        .map(|i| (format!("o{i}"), format!("p{0}=product-{0}", i % 10)))
        .collect();
    expected.sort();
    assert_eq!(got, expected);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_key_join_across_differently_partitioned_tables() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (products, categories, output, app) = (
        unique_name("products"),
        unique_name("categories"),
        unique_name("catalog"),
        unique_name("fk"),
    );
    cluster.create_topic(&products, 4, 1, &[])?;
    cluster.create_topic(&categories, 2, 1, &[])?;
    cluster.create_topic(&output, 4, 1, &[])?;
    let rows = |items: Vec<(String, String)>| -> Vec<(String, Vec<u8>, Option<i32>)> {
        items
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes(), None))
            .collect()
    };
    produce(
        bootstrap,
        &categories,
        rows(
            (0..5)
                .map(|i| (format!("c{i}"), format!("category-{i}")))
                .collect(),
        ),
    )
    .await?;
    let b = StreamsBuilder::new();
    let product_table = b.table_with(
        &products,
        Consumed::with(StringSerde, StringSerde),
        Materialized::as_store("products"),
    );
    let category_table = b.table_with(
        &categories,
        Consumed::with(StringSerde, StringSerde),
        Materialized::as_store("categories"),
    );
    product_table
        .join_on_foreign_key(
            &category_table,
            |p: &String| p.split('|').nth(1).unwrap_or_default().to_owned(),
            |p, c| format!("{} in {c}", p.split('|').next().unwrap_or_default()),
        )
        .to_stream()
        .to_with(&output, Produced::with(StringSerde, Nullable(StringSerde)));
    let state = ScratchDir::new()?;
    let config = StreamsConfig::new(&app, bootstrap)
        .set("commit.interval.ms", "100")?
        .with_state_dir(state.path());
    let mut streams = KafkaStreams::new(b.build()?, config)?;
    streams.start()?;
    assert!(streams.wait_for_state(streams_core::State::Running, Duration::from_secs(60)));
    // The categories are in the store once their changelog holds them all.
    read_topic(
        bootstrap,
        &format!("{app}-categories-changelog"),
        5,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )?;
    produce(
        bootstrap,
        &products,
        rows(
            (0..20)
                .map(|i| (format!("p{i}"), format!("product-{i}|c{}", i % 5)))
                .collect(),
        ),
    )
    .await?;
    read_topic(
        bootstrap,
        &output,
        20,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )?;
    // Renaming a category updates its four products.
    produce(
        bootstrap,
        &categories,
        rows(vec![("c0".to_owned(), "renamed".to_owned())]),
    )
    .await?;
    let out = read_topic(
        bootstrap,
        &output,
        24,
        Duration::from_secs(2),
        Duration::from_secs(60),
    )?;
    streams.close(Duration::from_secs(30))?;
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for r in &out {
        last.insert(r.key.clone(), r.value.clone());
    }
    let expected: BTreeMap<String, String> = (0..20)
        .map(|i| {
            let category = if i % 5 == 0 {
                "renamed".to_owned()
            } else {
                format!("category-{}", i % 5)
            };
            (format!("p{i}"), format!("product-{i} in {category}"))
        })
        .collect();
    assert_eq!(last, expected);
    assert_eq!(out.len(), 24, "20 joins and 4 updates");
    // The internal topics are partitioned like the tables they meet.
    let partitions = |topic: &str| -> Result<usize> {
        Ok(cluster
            .admin()?
            .inner()
            .fetch_metadata(Some(topic), Duration::from_secs(10))?
            .topics()[0]
            .partitions()
            .len())
    };
    assert_eq!(
        partitions(&format!(
            "{app}-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000004-topic"
        ))?,
        2
    );
    assert_eq!(
        partitions(&format!(
            "{app}-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000008-topic"
        ))?,
        4
    );
    Ok(())
}

/// Final counts per 10-second window, held back until the window closes, with keys written
/// as `key@start`.
fn final_window_counts(input: &str, output: &str) -> streams_core::Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream_with(&[input], Consumed::with(StringSerde, StringSerde))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
        .count_with(Materialized::as_store("window-counts"))
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()).with_name("finals"))
        .to_stream()
        .map(|w, n| (format!("{}@{}", w.key, w.window.start), n))
        .to_with(output, Produced::with(StringSerde, Nullable(I64Serde)));
    b.build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suppression_buffer_is_restored_from_its_changelog_after_a_restart() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output) = (unique_name("clicks"), unique_name("final-counts"));
    cluster.create_topic(&input, 1, 1, &[])?;
    cluster.create_topic(&output, 1, 1, &[])?;
    let app = unique_name("suppress-restart");
    let run = |state: &ScratchDir| {
        start_in(
            &app,
            bootstrap,
            final_window_counts(&input, &output)?,
            state,
        )
    };
    let at = |key: &str, t: i64| (key.to_owned(), b"/".to_vec(), Some(0), Some(t));

    // Three clicks in the window [0, 10 s): buffered, nothing out.
    let first_state = ScratchDir::new()?;
    let mut first = run(&first_state)?;
    produce_timed(
        bootstrap,
        &input,
        [at("a", 1_000), at("b", 3_000), at("a", 2_000)],
    )
    .await?;
    wait_until_committed(
        bootstrap,
        &app,
        std::slice::from_ref(&input),
        Duration::from_secs(60),
    )?;
    first.close(Duration::from_secs(30))?;
    drop(first_state);
    let changelog = format!("{app}-finals-store-changelog");
    let buffered = read_topic(
        bootstrap,
        &changelog,
        3,
        Duration::from_millis(500),
        Duration::from_secs(30),
    )?;
    assert_eq!(
        buffered.len(),
        3,
        "each update buffered through the changelog"
    );
    assert!(
        read_topic(
            bootstrap,
            &output,
            1,
            Duration::ZERO,
            Duration::from_secs(2)
        )?
        .is_empty(),
        "no window has closed"
    );

    // A new instance with empty state restores the buffer and closes the window at 10 s.
    let second_state = ScratchDir::new()?;
    let mut second = run(&second_state)?;
    produce_timed(bootstrap, &input, [at("c", 10_000)]).await?;
    let out = read_topic(
        bootstrap,
        &output,
        2,
        Duration::from_secs(2),
        Duration::from_secs(60),
    )?;
    second.close(Duration::from_secs(30))?;
    let finals: Vec<(String, i64, i64)> = out
        .iter()
        .map(|r| {
            let n = i64::from_be_bytes(r.value.as_bytes().try_into().expect("an 8-byte count"));
            (r.key.clone(), n, r.timestamp)
        })
        .collect();
    assert_eq!(
        finals,
        vec![("a@0".to_owned(), 2, 2_000), ("b@0".to_owned(), 1, 3_000)]
    );
    cluster.delete_topics(&[&input, &output], &[&app])?;
    Ok(())
}

/// The partition count of `topic`.
fn partitions(bootstrap: &str, topic: &str) -> Result<usize> {
    let probe: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let md =
        rdkafka::consumer::Consumer::fetch_metadata(&probe, Some(topic), Duration::from_secs(10))?;
    Ok(md.topics().first().context("the topic")?.partitions().len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repartition_topic_given_a_partition_count_has_it_and_one_breaking_a_join_is_refused()
-> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output, table) = (
        unique_name("spread-in"),
        unique_name("spread-out"),
        unique_name("spread-tbl"),
    );
    cluster.create_topic(&input, 1, 1, &[])?;
    cluster.create_topic(&output, 1, 1, &[])?;
    cluster.create_topic(&table, 1, 1, &[])?;
    let spread = || {
        Repartitioned::with(StringSerde, StringSerde)
            .with_name("spread")
            .with_number_of_partitions(3)
    };

    // Counted after a repartition topic of 3 partitions, from a topic of 1.
    let b = StreamsBuilder::new();
    b.stream_with(&[input.as_str()], Consumed::with(StringSerde, StringSerde))
        .repartition(spread())
        .group_by_key()
        .count_with(Materialized::as_store("spread-counts"))
        .to_stream()
        .to_with(&output, Produced::with(StringSerde, Nullable(I64Serde)));
    let app = unique_name("spread");
    let state = ScratchDir::new()?;
    let mut streams = start_in(&app, bootstrap, b.build()?, &state)?;
    let records = (0..30).map(|i| (format!("k{}", i % 10), b"x".to_vec(), None));
    produce(bootstrap, &input, records).await?;
    let counts = final_counts(bootstrap, &output, 30)?;
    let tasks: usize = streams
        .metadata_for_local_threads()
        .iter()
        .map(|t| t.active_tasks.len())
        .sum();
    streams.close(Duration::from_secs(30))?;
    assert_eq!(
        partitions(bootstrap, &format!("{app}-spread-repartition"))?,
        3
    );
    assert_eq!(
        tasks,
        1 + 3,
        "one task reading the input, three reading the repartition topic"
    );
    let expected: BTreeMap<String, i64> = (0..10).map(|i| (format!("k{i}"), 3)).collect();
    assert_eq!(counts, expected);

    // Joined with a table of 1 partition: not co-partitioned, refused at start.
    let b = StreamsBuilder::new();
    let lookup = b.table_with(
        &table,
        Consumed::with(StringSerde, StringSerde),
        Materialized::as_store("spread-lookup"),
    );
    b.stream_with(&[input.as_str()], Consumed::with(StringSerde, StringSerde))
        .repartition(spread())
        .join_table(&lookup, |v: &String, t: &String| format!("{v}{t}"))
        .to_with(&output, Produced::with(StringSerde, StringSerde));
    let refused_app = unique_name("spread-join");
    let state = ScratchDir::new()?;
    let config = StreamsConfig::new(&refused_app, bootstrap).with_state_dir(state.path());
    let mut refused = KafkaStreams::new(b.build()?, config)?;
    let error = refused.start().expect_err("not co-partitioned").to_string();
    let _ = refused.close(Duration::from_secs(10));
    assert!(
        error.contains(&format!(
            "repartition topic {refused_app}-spread-repartition is given 3 partitions but is read \
             together with {table}, which has 1"
        )),
        "{error}"
    );
    cluster.delete_topics(&[&input, &output, &table], &[&app, &refused_app])?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_go_to_the_topic_and_partition_the_application_chooses() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let input = unique_name("route-in");
    let (even, odd) = (format!("{input}-even"), format!("{input}-odd"));
    cluster.create_topic(&input, 1, 1, &[])?;
    cluster.create_topic(&even, 3, 1, &[])?;
    cluster.create_topic(&odd, 3, 1, &[])?;
    let number = |v: &String| v.parse::<i32>().unwrap_or(0);
    let (even_topic, odd_topic) = (even.clone(), odd.clone());
    let b = StreamsBuilder::new();
    b.stream_with(&[input.as_str()], Consumed::with(StringSerde, StringSerde))
        .to_dynamic_with(
            move |r| {
                if number(&r.value) % 2 == 0 {
                    even_topic.clone()
                } else {
                    odd_topic.clone()
                }
            },
            // The partition is the number divided by two, modulo the partition count.
            Produced::with(StringSerde, StringSerde)
                .with_stream_partitioner(move |_, _, v, count| Some(number(v) / 2 % count)),
        );
    let app = unique_name("route");
    let state = ScratchDir::new()?;
    let mut streams = start_in(&app, bootstrap, b.build()?, &state)?;
    let records = (0..8).map(|i| ("k".to_owned(), i.to_string().into_bytes(), None));
    produce(bootstrap, &input, records).await?;
    let placed = |topic: &str| -> Result<Vec<(String, i32)>> {
        let mut out: Vec<(String, i32)> = read_topic(
            bootstrap,
            topic,
            4,
            Duration::from_secs(1),
            Duration::from_secs(60),
        )?
        .into_iter()
        .map(|r| (r.value, r.partition))
        .collect();
        out.sort();
        Ok(out)
    };
    let (evens, odds) = (placed(&even)?, placed(&odd)?);
    streams.close(Duration::from_secs(30))?;
    let pairs = |v: &[(&str, i32)]| -> Vec<(String, i32)> {
        v.iter().map(|(s, p)| ((*s).to_owned(), *p)).collect()
    };
    assert_eq!(evens, pairs(&[("0", 0), ("2", 1), ("4", 2), ("6", 0)]));
    assert_eq!(odds, pairs(&[("1", 0), ("3", 1), ("5", 2), ("7", 0)]));
    cluster.delete_topics(&[&input, &even, &odd], &[&app])?;
    Ok(())
}
