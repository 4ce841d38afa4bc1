//! Interactive-query benchmarks.
//!
//! ```text
//! query-bench local [--keys N] [--lookups M] [--threads T]
//!     point lookups through a key-value query view over a committed RocksDB store of N keys
//!     (no broker): lookups per second and latency percentiles, T threads sharing one view
//! query-bench http [--keys N] [--requests M] [--bootstrap-servers HOST:PORT]
//!     key lookups over HTTP against two instances of a count application (4 partitions,
//!     N keys), each with its query server: keys the asked instance hosts (answered there)
//!     and keys the other hosts (forwarded), one client with a keep-alive connection
//! ```

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use integration_tests::apps::count_topology;
use integration_tests::client::{produce, wait_until_committed};
use integration_tests::kafka::{KafkaCluster, unique_name};
use state_stores::query::QueryableStoreTypes;
use state_stores::rocks::{RocksDbKeyValueStore, RocksDbMemory};
use state_stores::typed::TypedKeyValueStore;
use streams_bench::{flag, number};
use streams_core::query::{LocalStore, QueryableStoreType};
use streams_core::serde::{I64Serde, StringSerde};
use streams_core::store::StateStore;
use streams_core::{KafkaStreams, State, StreamsConfig};
use streams_http::QueryServer;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn key(i: u64) -> String {
    format!("user-{i:08}")
}

/// Percentile `p` (0-100) of sorted latencies, in microseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p / 100.0).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

/// A table row; the rate is per `wall` when given, else per the sum of the latencies (one
/// client asking one request after another).
fn report(what: &str, mut latencies: Vec<Duration>, wall: Option<Duration>) {
    let wall = wall.unwrap_or_else(|| latencies.iter().sum());
    latencies.sort();
    println!(
        "| {what} | {} | {:.0} | {:.1} | {:.1} | {:.1} |",
        latencies.len(),
        latencies.len() as f64 / wall.as_secs_f64(),
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 99.9),
    );
}

fn local(args: &[String]) -> Result<()> {
    let keys = number(args, "--keys", 1_000_000)?;
    let lookups = number(args, "--lookups", 1_000_000)?;
    let threads = number(args, "--threads", 1)?.max(1);
    let dir = tempfile::tempdir()?;
    let memory = RocksDbMemory::new(64 << 20);
    let rocks = RocksDbKeyValueStore::open("counts", dir.path(), &memory, None)?;
    let mut store = TypedKeyValueStore::<String, i64>::new(
        Box::new(rocks),
        Arc::new(StringSerde),
        Arc::new(I64Serde),
    );
    eprintln!("loading {keys} keys");
    for i in 0..keys {
        store.put(&key(i), &(i as i64))?;
        if i % 10_000 == 9_999 {
            store.commit(None)?;
        }
    }
    store.commit(None)?;
    let registered = store.queryable().context("a RocksDB store is queryable")?;
    let query = QueryableStoreTypes::key_value::<String, i64>();
    let view = Arc::new(query.create(
        "counts",
        vec![LocalStore {
            partition: 0,
            store: registered,
        }],
    ));
    println!("| lookups through a view | lookups | per second | p50 µs | p99 µs | p99.9 µs |");
    println!("|---|---|---|---|---|---|");
    let started = Instant::now();
    let per_thread = lookups / threads;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let view = view.clone();
            std::thread::spawn(move || -> Result<Vec<Duration>> {
                let mut latencies = Vec::with_capacity(per_thread as usize);
                for i in 0..per_thread {
                    let k = key((i + t * per_thread).wrapping_mul(0x9E37_79B9_7F4A_7C15) % keys);
                    let asked = Instant::now();
                    let found = view.get(&k)?;
                    latencies.push(asked.elapsed());
                    if found.is_none() {
                        bail!("{k} not found");
                    }
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(h.join().expect("a lookup thread")?);
    }
    report(
        &format!("{keys} keys, {threads} thread(s)"),
        latencies,
        Some(started.elapsed()),
    );
    Ok(())
}

/// An instance of the count application with its query server.
struct Instance {
    streams: KafkaStreams,
    server: QueryServer,
    _state: tempfile::TempDir,
}

fn instance(app: &str, bootstrap: &str, input: &str, output: &str) -> Result<Instance> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let address = format!("127.0.0.1:{port}");
    let state = tempfile::tempdir()?;
    let config = StreamsConfig::new(app, bootstrap)
        .set("commit.interval.ms", "100")?
        .set("application.server", &address)?
        .with_state_dir(state.path());
    let mut streams = KafkaStreams::new(count_topology(input, output)?, config)?;
    let server = QueryServer::builder(streams.queries())
        .key_value::<String, i64>("counts", StringSerde)
        .start(address.parse()?)?;
    streams.start()?;
    Ok(Instance {
        streams,
        server,
        _state: state,
    })
}

async fn http(args: &[String]) -> Result<()> {
    let keys = number(args, "--keys", 100_000)?;
    let requests = number(args, "--requests", 20_000)?;
    let bootstrap = streams_bench::bootstrap_servers(flag(args, "--bootstrap-servers"))?;
    let cluster = KafkaCluster::external(&bootstrap);
    let (app, input, output) = (
        unique_name("query-bench"),
        unique_name("query-bench-in"),
        unique_name("query-bench-out"),
    );
    cluster.create_topic(&input, 4, 1, &[])?;
    cluster.create_topic(&output, 4, 1, &[])?;
    let (a, b) = (
        instance(&app, &bootstrap, &input, &output)?,
        instance(&app, &bootstrap, &input, &output)?,
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while [&a, &b].iter().any(|i| i.streams.state() != State::Running)
        || a.streams.all_metadata().map_or(true, |m| m.len() < 2)
    {
        if Instant::now() > deadline {
            bail!("the two instances did not share the partitions within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("loading {keys} keys");
    produce(
        &bootstrap,
        &input,
        (0..keys).map(|i| (key(i), b"x".to_vec(), None)),
    )
    .await?;
    wait_until_committed(
        &bootstrap,
        &app,
        std::slice::from_ref(&input),
        Duration::from_secs(120),
    )?;
    // Let the last commit of the stores show.
    std::thread::sleep(Duration::from_secs(1));
    let own = a.streams.queries();
    let own_server = own
        .application_server()
        .context("application.server")?
        .clone();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let (mut local, mut forwarded) = (Vec::new(), Vec::new());
    for i in 0..requests {
        let k = key(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % keys);
        let here = own
            .query_metadata_for_key("counts", &k, &StringSerde)?
            .active_host
            == own_server;
        let url = format!("http://{}/stores/counts/keys/{k}", a.server.address());
        let asked = Instant::now();
        let mut response = agent.get(&url).call()?;
        let body = response.body_mut().read_to_string()?;
        let took = asked.elapsed();
        if response.status() != 200 {
            bail!("{url}: {} {body}", response.status());
        }
        if here {
            local.push(took);
        } else {
            forwarded.push(took);
        }
    }
    println!(
        "| HTTP lookups through one instance, one client | requests | per second | p50 µs | p99 µs | p99.9 µs |"
    );
    println!("|---|---|---|---|---|---|");
    report(&format!("{keys} keys, answered locally"), local, None);
    report(&format!("{keys} keys, forwarded"), forwarded, None);
    for mut i in [a, b] {
        i.streams.close(Duration::from_secs(30))?;
        i.server.shutdown();
    }
    cluster.delete_topics(&[&input, &output], &[&app])?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("local") => local(&args),
        Some("http") => http(&args).await,
        _ => bail!(
            "usage: query-bench local [--keys N] [--lookups M] [--threads T] | http [--keys N] [--requests M] [--bootstrap-servers HOST:PORT]"
        ),
    }
}
