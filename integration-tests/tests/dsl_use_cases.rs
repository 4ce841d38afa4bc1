//! The classic windowed use cases, written with the DSL and run on a real broker.

use std::time::Duration;

use anyhow::{Context, Result};
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{Outgoing, produce_timed, read_topic};
use integration_tests::kafka::{shared_cluster, unique_name};
use serde::{Deserialize, Serialize};
use streams_core::serde::{F64Serde, I64Serde, JsonSerde, StringSerde};
use streams_core::{KafkaStreams, StreamsConfig, Topology};
use streams_dsl::{
    Consumed, EmitStrategy, Grouped, Materialized, Produced, StreamsBuilder, TimeWindows,
};

/// The start of the hour two hours ago: aligned to whole hours (and so to 5 minutes), and
/// recent, so that the broker neither deletes changelog records for being older than their
/// topic's retention (a day plus the store's) nor refuses them for being in the future.
fn t0() -> i64 {
    static START: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *START.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        now - now % 3_600_000 - 2 * 3_600_000
    })
}
const MINUTE: i64 = 60_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Event {
    user: String,
    action: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    product: String,
    amount: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Totals {
    revenue: f64,
    orders: i64,
}

/// Runs `topology` until `expected` records are in `output`; returns them as
/// `(key, value bytes, timestamp)`.
async fn run(
    topology: Topology,
    input: &str,
    output: &str,
    records: Vec<Outgoing>,
    expected: usize,
) -> Result<Vec<(String, Vec<u8>, i64)>> {
    let state = ScratchDir::new()?;
    let app = unique_name("use-case");
    run_as(
        &app,
        state.path(),
        topology,
        input,
        output,
        records,
        expected,
    )
    .await
}

/// [`run`] as application `app` with state in `state`.
async fn run_as(
    app: &str,
    state: &std::path::Path,
    topology: Topology,
    input: &str,
    output: &str,
    records: Vec<Outgoing>,
    expected: usize,
) -> Result<Vec<(String, Vec<u8>, i64)>> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    produce_timed(bootstrap, input, records).await?;
    let config = StreamsConfig::new(app, bootstrap)
        .set("commit.interval.ms", "100")?
        .with_state_dir(state);
    let mut streams = KafkaStreams::new(topology, config)?;
    streams.start()?;
    let out = read_topic(
        bootstrap,
        output,
        expected,
        Duration::from_secs(2),
        Duration::from_secs(90),
    );
    streams.close(Duration::from_secs(30))?;
    Ok(out?
        .into_iter()
        .map(|r| (r.key, r.value.into_bytes(), r.timestamp))
        .collect())
}

fn topics() -> Result<(String, String)> {
    let cluster = shared_cluster()?;
    let (input, output) = (unique_name("in"), unique_name("out"));
    cluster.create_topic(&input, 1, 1, &[])?;
    cluster.create_topic(&output, 1, 1, &[])?;
    Ok((input, output))
}

fn json<T: Serialize>(key: &str, value: &T, at: i64) -> Result<Outgoing> {
    Ok((key.to_owned(), serde_json::to_vec(value)?, None, Some(at)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_per_user_in_five_minute_windows() -> Result<()> {
    let (input, output) = topics()?;
    let b = StreamsBuilder::new();
    b.stream_with(
        &[&input],
        Consumed::with(StringSerde, JsonSerde::<Event>::new()),
    )
    .filter(|_, e| e.action == "login")
    .group_by_key()
    .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(300)))
    .count_with(Materialized::as_store("logins"))
    .to_stream()
    .flat_map(|k, v| v.map(|n| (format!("{}@{}", k.key, k.window.start - t0()), n)))
    .to_with(&output, Produced::with(StringSerde, I64Serde));
    let event = |user: &str, action: &str, at: i64| {
        json(
            user,
            &Event {
                user: user.into(),
                action: action.into(),
            },
            at,
        )
    };
    let records = vec![
        event("alice", "login", t0() + 10_000)?,
        event("alice", "logout", t0() + 20_000)?,
        event("bob", "login", t0() + MINUTE)?,
        event("alice", "login", t0() + 4 * MINUTE)?,
        event("bob", "login", t0() + 5 * MINUTE)?, // exactly at the window's end: the next one
        event("alice", "login", t0() + 6 * MINUTE)?,
    ];
    let out = run(b.build()?, &input, &output, records, 5).await?;
    let counts: Vec<(String, i64, i64)> = out
        .into_iter()
        .map(|(k, v, t)| Ok((k, i64::from_be_bytes(v.as_slice().try_into()?), t - t0())))
        .collect::<Result<_>>()?;
    let s = |k: &str| k.to_owned();
    assert_eq!(
        counts,
        vec![
            (s("alice@0"), 1, 10_000),
            (s("bob@0"), 1, MINUTE),
            (s("alice@0"), 2, 4 * MINUTE),
            (s("bob@300000"), 1, 5 * MINUTE),
            (s("alice@300000"), 1, 6 * MINUTE),
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn average_order_value_per_product_in_five_minute_windows() -> Result<()> {
    let (input, output) = topics()?;
    let b = StreamsBuilder::new();
    b.stream_with(
        &[&input],
        Consumed::with(StringSerde, JsonSerde::<Order>::new()),
    )
    // Orders are keyed by order id: grouping by product repartitions.
    .group_by_with(
        |_, o| o.product.clone(),
        Grouped::with(StringSerde, JsonSerde::<Order>::new()),
    )
    .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(300)))
    .aggregate_with(
        Totals::default,
        |_, o, t| Totals {
            revenue: t.revenue + o.amount,
            orders: t.orders + 1,
        },
        Materialized::as_store("order-totals").with_value_serde(JsonSerde::<Totals>::new()),
    )
    .to_stream()
    .flat_map(|k, v| {
        v.map(|t| {
            (
                format!("{}@{}", k.key, k.window.start - t0()),
                t.revenue / t.orders as f64,
            )
        })
    })
    .to_with(&output, Produced::with(StringSerde, F64Serde));
    let order = |id: &str, product: &str, amount: f64, at: i64| {
        json(
            id,
            &Order {
                product: product.into(),
                amount,
            },
            at,
        )
    };
    let records = vec![
        order("o1", "p1", 10.0, t0() + 1_000)?,
        order("o2", "p2", 5.0, t0() + 2_000)?,
        order("o3", "p1", 20.0, t0() + 3_000)?,
        order("o4", "p1", 7.0, t0() + 301_000)?,
    ];
    let out = run(b.build()?, &input, &output, records, 4).await?;
    let averages: Vec<(String, f64, i64)> = out
        .into_iter()
        .map(|(k, v, t)| Ok((k, f64::from_be_bytes(v.as_slice().try_into()?), t - t0())))
        .collect::<Result<_>>()?;
    let s = |k: &str| k.to_owned();
    assert_eq!(
        averages,
        vec![
            (s("p1@0"), 10.0, 1_000),
            (s("p2@0"), 5.0, 2_000),
            (s("p1@0"), 15.0, 3_000),
            (s("p1@300000"), 7.0, 301_000),
        ]
    );
    Ok(())
}

/// Hourly totals per product, emitted once per hour when it closes; windows kept 3 hours.
fn hourly(input: &str, output: &str) -> streams_core::Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream_with(
        &[input],
        Consumed::with(StringSerde, JsonSerde::<Order>::new()),
    )
    .group_by_with(
        |_, o| o.product.clone(),
        Grouped::with(StringSerde, JsonSerde::<Order>::new()),
    )
    .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(
        3600,
    )))
    .emit_strategy(EmitStrategy::OnWindowClose)
    .aggregate_with(
        Totals::default,
        |_, o, t| Totals {
            revenue: t.revenue + o.amount,
            orders: t.orders + 1,
        },
        Materialized::as_store("hourly")
            .with_value_serde(JsonSerde::<Totals>::new())
            .with_retention(Duration::from_secs(3 * 3600)),
    )
    .to_stream()
    .flat_map(|k, v| v.map(|t| (format!("{}@{}", k.key, k.window.start - t0()), t)))
    .to_with(
        output,
        Produced::with(StringSerde, JsonSerde::<Totals>::new()),
    );
    b.build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hourly_revenue_and_order_count_per_product_emitted_once_when_the_hour_closes() -> Result<()>
{
    let (input, output) = topics()?;
    let order = |id: &str, product: &str, amount: f64, at: i64| {
        json(
            id,
            &Order {
                product: product.into(),
                amount,
            },
            at,
        )
    };
    let records = vec![
        order("o1", "p1", 10.0, t0() + 1_000)?,
        order("o2", "p1", 5.0, t0() + 30 * MINUTE)?,
        order("o3", "p2", 3.0, t0() + 33 * MINUTE)?,
        // The next hour: the first one closes and is emitted, once, per product.
        order("o4", "p2", 1.0, t0() + 60 * MINUTE + 1_000)?,
    ];
    let app = unique_name("hourly");
    let first = ScratchDir::new()?;
    let out = run_as(
        &app,
        first.path(),
        hourly(&input, &output)?,
        &input,
        &output,
        records,
        2,
    )
    .await?;
    let decode = |out: Vec<(String, Vec<u8>, i64)>| -> Result<Vec<(String, Totals, i64)>> {
        out.into_iter()
            .map(|(k, v, t)| Ok((k, serde_json::from_slice(&v).context("totals")?, t - t0())))
            .collect()
    };
    let s = |k: &str| k.to_owned();
    let hour_one = vec![
        (
            s("p1@0"),
            Totals {
                revenue: 15.0,
                orders: 2,
            },
            30 * MINUTE,
        ),
        (
            s("p2@0"),
            Totals {
                revenue: 3.0,
                orders: 1,
            },
            33 * MINUTE,
        ),
    ];
    assert_eq!(decode(out)?, hour_one);

    // Restarted on an empty state directory (everything restored from the changelogs), an
    // order in the third hour closes the second: only its window is emitted, not the first
    // hour's again, although those windows are still retained.
    let second = ScratchDir::new()?;
    let out = run_as(
        &app,
        second.path(),
        hourly(&input, &output)?,
        &input,
        &output,
        vec![order("o5", "p1", 2.0, t0() + 120 * MINUTE + 1_000)?],
        3,
    )
    .await?;
    let mut expected = hour_one;
    expected.push((
        s("p2@3600000"),
        Totals {
            revenue: 1.0,
            orders: 1,
        },
        60 * MINUTE + 1_000,
    ));
    assert_eq!(decode(out)?, expected);
    Ok(())
}
