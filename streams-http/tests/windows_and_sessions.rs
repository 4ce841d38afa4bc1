//! The query server's window and session routes on a real broker, one instance without
//! `application.server` (answered from its own stores): a key's windows and sessions as
//! JSON with their bounds, time ranges that select some of them, a global table's rows, and
//! the 400 that names the route a store of another kind answers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce_timed, wait_until_committed};
use integration_tests::http::get;
use integration_tests::kafka::{shared_cluster, unique_name};
use serde_json::{Value, json};
use streams_core::serde::StringSerde;
use streams_core::{KafkaStreams, StreamsConfig};
use streams_dsl::{Consumed, Materialized, SessionWindows, StreamsBuilder, TimeWindows};
use streams_http::QueryServer;

fn ask(server: SocketAddr, path: &str) -> Result<(u16, Value)> {
    let (status, body) = get(server, path)?;
    let code = status
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .parse()?;
    Ok((code, serde_json::from_str(&body)?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_windows_and_sessions_over_http() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (app, input, profiles) = (
        unique_name("http-windows"),
        unique_name("http-windows-in"),
        unique_name("http-windows-profiles"),
    );
    cluster.create_topic(&input, 1, 1, &[])?;
    cluster.create_topic(&profiles, 2, 1, &[])?;
    let hour = Duration::from_secs(3600);
    let b = StreamsBuilder::new();
    let global = b.global_table_with(&profiles, Consumed::with(StringSerde, StringSerde));
    let grouped = b
        .stream_with(&[input.as_str()], Consumed::with(StringSerde, StringSerde))
        .group_by_key();
    grouped
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_millis(
            100,
        )))
        .count_with(Materialized::as_store("windows").with_retention(hour));
    grouped
        .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(
            Duration::from_millis(10),
        ))
        .count_with(Materialized::as_store("sessions").with_retention(hour));
    let state = ScratchDir::new()?;
    let config = StreamsConfig::new(&app, bootstrap)
        .set("commit.interval.ms", "100")?
        .with_state_dir(state.path());
    let mut streams = KafkaStreams::new(b.build()?, config)?;
    let server = QueryServer::builder(streams.queries())
        .window::<String, i64>("windows", StringSerde)
        .session::<String, i64>("sessions", StringSerde)
        .key_value::<String, String>(global.store_name(), StringSerde)
        .start("127.0.0.1:0".parse()?)?;
    // The global table is filled before the threads start.
    let rows = [("ann", "Ann Lee"), ("bob", "Bob Ray")]
        .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec(), None));
    integration_tests::client::produce(bootstrap, &profiles, rows).await?;
    streams.start()?;
    integration_tests::wait_running(&[&streams])?;
    let records = [("a", 1_000), ("a", 1_005), ("b", 1_050), ("a", 2_000)]
        .map(|(k, t)| (k.to_owned(), b"x".to_vec(), None, Some(t)));
    produce_timed(bootstrap, &input, records).await?;
    wait_until_committed(
        bootstrap,
        &app,
        std::slice::from_ref(&input),
        Duration::from_secs(60),
    )?;

    let address = server.address();
    let deadline = Instant::now() + Duration::from_secs(30);
    let windows = loop {
        let (code, body) = ask(address, "/stores/windows/keys/a/windows")?;
        if code == 200 && body.as_array().is_some_and(|w| w.len() == 2) {
            break body;
        }
        if Instant::now() > deadline {
            bail!("a's windows never showed: {code} {body}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        windows,
        json!([
            {"start": 1_000, "end": 1_100, "value": 2},
            {"start": 2_000, "end": 2_100, "value": 1}
        ])
    );
    // Windows starting in [1500, 2000]; none in [1001, 1999].
    assert_eq!(
        ask(address, "/stores/windows/keys/a/windows?from=1500&to=2000")?,
        (200, json!([{"start": 2_000, "end": 2_100, "value": 1}]))
    );
    assert_eq!(
        ask(address, "/stores/windows/keys/a/windows?from=1001&to=1999")?,
        (200, json!([]))
    );

    // Sessions: [1000, 1005] with two records, [2000, 2000] with one.
    assert_eq!(
        ask(address, "/stores/sessions/keys/a/sessions")?,
        (
            200,
            json!([
                {"start": 1_000, "end": 1_005, "value": 2},
                {"start": 2_000, "end": 2_000, "value": 1}
            ])
        )
    );
    // Sessions ending at or after 1006 and starting at or before 2000: the second only.
    assert_eq!(
        ask(
            address,
            "/stores/sessions/keys/a/sessions?from=1006&to=2000"
        )?,
        (200, json!([{"start": 2_000, "end": 2_000, "value": 1}]))
    );
    assert_eq!(
        ask(address, "/stores/sessions/keys/b/sessions")?,
        (200, json!([{"start": 1_050, "end": 1_050, "value": 1}]))
    );

    // The global table, from this instance's full copy.
    let table = global.store_name();
    assert_eq!(
        ask(address, &format!("/stores/{table}/keys/bob"))?,
        (200, json!({"key": "bob", "value": "Bob Ray"}))
    );
    assert_eq!(
        ask(address, &format!("/stores/{table}/entries"))?,
        (
            200,
            json!([{"key": "ann", "value": "Ann Lee"}, {"key": "bob", "value": "Bob Ray"}])
        )
    );
    let (code, _) = ask(address, &format!("/stores/{table}/keys/zoe"))?;
    assert_eq!(code, 404);

    // A route of another kind names the one the store answers; a bad time is a 400.
    let (code, body) = ask(address, "/stores/sessions/keys/a/windows")?;
    assert_eq!(code, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("/keys/{key}/sessions"),
        "{body}"
    );
    let (code, body) = ask(address, "/stores/windows/keys/a")?;
    assert_eq!(code, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("is a window store"),
        "{body}"
    );
    let (code, body) = ask(address, "/stores/windows/keys/a/windows?from=soon")?;
    assert_eq!(code, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("epoch milliseconds"),
        "{body}"
    );

    streams.close(Duration::from_secs(30))?;
    server.shutdown();
    Ok(())
}
