//! The query server on a real broker, three instances: every key of the output, asked of
//! every instance over HTTP, answers the count last written for it to the output topic
//! (from the instance's own store or forwarded to the one hosting it); every instance lists
//! every entry; while a third instance joins (a rebalance, then restoration), every answer
//! is that count or a 503 marked retriable, never another count.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use integration_tests::apps::count_topology;
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce, read_committed, round_robin, wait_until_committed};
use integration_tests::http::get;
use integration_tests::kafka::{shared_cluster, unique_name};
use integration_tests::wait_running;
use serde_json::Value;
use streams_core::serde::StringSerde;
use streams_core::{KafkaStreams, State, StreamsConfig};
use streams_http::QueryServer;

const PARTITIONS: i32 = 6;
const KEYS: usize = 12;
const RECORDS: usize = 360;

/// An instance and its query server.
struct Instance {
    streams: KafkaStreams,
    server: QueryServer,
    _state: ScratchDir,
}

impl Instance {
    fn start(app: &str, bootstrap: &str, input: &str, output: &str) -> Result<Self> {
        // The address goes into application.server before the server can start: take a
        // free port, then listen on it.
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let address: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let state = ScratchDir::new()?;
        let config = StreamsConfig::new(app, bootstrap)
            .set("commit.interval.ms", "100")?
            .set("application.server", &address.to_string())?
            .with_state_dir(state.path());
        let mut streams = KafkaStreams::new(count_topology(input, output)?, config)?;
        let server = QueryServer::builder(streams.queries())
            .key_value::<String, i64>("counts", StringSerde)
            .start(address)?;
        streams.start()?;
        Ok(Instance {
            streams,
            server,
            _state: state,
        })
    }

    fn ask(&self, path: &str) -> Result<(u16, Value)> {
        let (status, body) = get(self.server.address(), path)?;
        let code: u16 = status
            .split_whitespace()
            .nth(1)
            .context("a status code")?
            .parse()?;
        let body =
            serde_json::from_str(&body).with_context(|| format!("JSON from {path}: {body}"))?;
        Ok((code, body))
    }

    /// `key`'s count as the instance answers it: `Ok(Some)` for 200, `Ok(None)` for a 503
    /// marked retriable, an error for anything else.
    fn count(&self, key: &str) -> Result<Option<i64>> {
        match self.ask(&format!("/stores/counts/keys/{key}"))? {
            (200, body) => {
                assert_eq!(body["key"], key);
                Ok(Some(body["value"].as_i64().context("a count")?))
            }
            (503, body) if body["retriable"] == true => Ok(None),
            (code, body) => bail!("{key}: {code} {body}"),
        }
    }

    fn entries(&self) -> Result<Option<BTreeMap<String, i64>>> {
        match self.ask("/stores/counts/entries")? {
            (200, Value::Array(entries)) => Ok(Some(
                entries
                    .iter()
                    .map(|e| {
                        let key = e["key"].as_str().context("a key")?.to_owned();
                        Ok((key, e["value"].as_i64().context("a count")?))
                    })
                    .collect::<Result<_>>()?,
            )),
            (503, body) if body["retriable"] == true => Ok(None),
            (code, body) => bail!("entries: {code} {body}"),
        }
    }
}

/// Every key through every instance: each answers the output's count, retrying 503s until
/// `deadline`.
fn check_every_key(
    instances: &[&Instance],
    expected: &BTreeMap<String, i64>,
    deadline: Instant,
) -> Result<()> {
    for instance in instances {
        for (key, count) in expected {
            loop {
                match instance.count(key)? {
                    Some(n) => {
                        assert_eq!(n, *count, "{key} through {}", instance.server.address());
                        break;
                    }
                    None if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    None => bail!(
                        "{key} through {}: still retriable",
                        instance.server.address()
                    ),
                }
            }
        }
        loop {
            match instance.entries()? {
                Some(all) => {
                    assert_eq!(
                        &all,
                        expected,
                        "entries through {}",
                        instance.server.address()
                    );
                    break;
                }
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                None => bail!(
                    "entries through {}: still retriable",
                    instance.server.address()
                ),
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_instance_answers_any_key_over_http_through_a_scale_out() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (app, input, output) = (
        unique_name("http-queries"),
        unique_name("http-queries-in"),
        unique_name("http-queries-out"),
    );
    cluster.create_topic(&input, PARTITIONS, 1, &[])?;
    cluster.create_topic(&output, PARTITIONS, 1, &[])?;

    let a = Instance::start(&app, bootstrap, &input, &output)?;
    let b = Instance::start(&app, bootstrap, &input, &output)?;
    wait_running(&[&a.streams, &b.streams])?;
    produce(bootstrap, &input, round_robin(0, RECORDS, KEYS)).await?;
    wait_until_committed(
        bootstrap,
        &app,
        std::slice::from_ref(&input),
        Duration::from_secs(60),
    )?;
    let mut expected = BTreeMap::new();
    for r in read_committed(
        bootstrap,
        &output,
        RECORDS,
        Duration::from_secs(1),
        Duration::from_secs(90),
    )? {
        let n = i64::from_be_bytes(r.value.context("a count")?.as_slice().try_into()?);
        expected.insert(String::from_utf8(r.key)?, n);
    }
    assert_eq!(expected.len(), KEYS);
    check_every_key(
        &[&a, &b],
        &expected,
        Instant::now() + Duration::from_secs(30),
    )?;

    // A caller's own `local` and `partition` do not reach a forwarded query.
    for (key, count) in &expected {
        let (code, body) = a.ask(&format!(
            "/stores/counts/keys/{key}?local=false&partition=99"
        ))?;
        assert_eq!(
            (code, body["value"].as_i64()),
            (200, Some(*count)),
            "{key}: {body}"
        );
    }

    // The probes and the metrics on the same server; unknown stores and routes.
    assert_eq!(get(a.server.address(), "/ready")?.0, "HTTP/1.1 200 OK");
    assert_eq!(get(a.server.address(), "/health")?.0, "HTTP/1.1 200 OK");
    let (status, metrics) = get(a.server.address(), "/metrics")?;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(metrics.contains("kstreams_"), "{metrics:.300}");
    let (code, body) = a.ask("/stores/nope/keys/k1")?;
    assert_eq!(code, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("does not serve a store named `nope`")
    );
    let (code, body) = a.ask("/stores/counts/keys/k1/windows")?;
    assert_eq!(
        (code, body["retriable"].as_bool()),
        (400, Some(false)),
        "{body}"
    );

    // C joins while a thread asks every instance for every key.
    let c_slot = Arc::new(parking_lot::Mutex::new(None::<Instance>));
    let (a, b) = (Arc::new(a), Arc::new(b));
    let stop = Arc::new(AtomicBool::new(false));
    // Answers count once C is being created: the ones during the scale-out.
    let joining = Arc::new(AtomicBool::new(false));
    let checker = {
        let joining = joining.clone();
        let (a, b, c_slot, stop, expected) = (
            a.clone(),
            b.clone(),
            c_slot.clone(),
            stop.clone(),
            expected.clone(),
        );
        std::thread::spawn(move || -> Result<(usize, usize)> {
            let (mut right, mut retriable) = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                let c = c_slot.lock();
                let instances = [Some(&*a), Some(&*b), c.as_ref()];
                for instance in instances.into_iter().flatten() {
                    for (key, count) in &expected {
                        match instance.count(key)? {
                            Some(n) => {
                                assert_eq!(n, *count, "{key} answered a wrong count");
                                right += usize::from(joining.load(Ordering::Relaxed));
                            }
                            None => retriable += 1,
                        }
                    }
                    // Every entry, or a retriable 503: never a part of them.
                    if let Some(all) = instance.entries()? {
                        assert_eq!(all, expected, "entries during the scale-out");
                    }
                }
                drop(c);
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok((right, retriable))
        })
    };
    joining.store(true, Ordering::Relaxed);
    *c_slot.lock() = Some(Instance::start(&app, bootstrap, &input, &output)?);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let guard = c_slot.lock();
        let c = guard.as_ref().context("instance C")?;
        let running = [&*a, &*b, c]
            .iter()
            .all(|i| i.streams.state() == State::Running);
        if running && c.streams.all_metadata().is_ok_and(|m| m.len() == 3) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the third instance did not take its share within 60 s");
        }
        drop(guard);
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let (right, retriable) = checker.join().expect("the checking thread")?;
    assert!(right > 0, "no key was answered during the scale-out");
    eprintln!("during the scale-out: {right} right answers, {retriable} retriable 503s");

    let c = c_slot.lock().take().context("instance C")?;
    check_every_key(
        &[&a, &b, &c],
        &expected,
        Instant::now() + Duration::from_secs(30),
    )?;
    // Each instance hosts two of the six partitions.
    let metadata = a.streams.all_metadata()?;
    assert_eq!(metadata.len(), 3);
    assert!(
        metadata.iter().all(|m| m.topic_partitions.len() == 2),
        "{metadata:?}"
    );

    for instance in [Arc::try_unwrap(a), Arc::try_unwrap(b)] {
        let Ok(mut instance) = instance else {
            bail!("an instance still shared")
        };
        instance.streams.close(Duration::from_secs(30))?;
        instance.server.shutdown();
    }
    let mut c = c;
    c.streams.close(Duration::from_secs(30))?;
    c.server.shutdown();
    Ok(())
}
