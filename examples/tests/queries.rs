//! The fraud-detection service answers "the current hourly spend of user X" over HTTP
//! (`--queries-address`), as the README shows with `curl`: after the sample's payments, Ann's
//! hour from 09:00 holds her four payments and their sum, over her limit, and an unknown
//! user has no windows.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use common::service::Service;
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce_timed, wait_until_committed};
use integration_tests::http::get;
use integration_tests::kafka::{shared_cluster, unique_name};
use serde_json::Value;
use streams_examples::fraud_detection::FraudDetectionApp;
use streams_examples::runner::{CommonArgs, Example, SERVICE_CLOSE_TIMEOUT, at};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_answers_a_users_hourly_spend_over_http() -> Result<()> {
    let bootstrap = shared_cluster()?.bootstrap_servers().to_owned();
    let app_id = unique_name("fraud-queries");
    let prefix = format!("{app_id}-");
    let scratch = ScratchDir::new()?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let address = format!("127.0.0.1:{port}");
    let command = vec![
        format!("--bootstrap-servers={bootstrap}"),
        format!("--application-id={app_id}"),
        format!("--topic-prefix={prefix}"),
        format!("--state-dir={}", scratch.path().join("state").display()),
        format!("--queries-address={address}"),
        "--config=commit.interval.ms=100".to_owned(),
    ];
    let service = Service::start(env!("CARGO_BIN_EXE_fraud-detection"), &command)?;

    // The sample's phases (profiles, then payments), as the sample run produces them.
    let app = FraudDetectionApp::new(
        &CommonArgs::sample_run(Some(&bootstrap), &app_id),
        3,
        Duration::from_secs(60),
    );
    for phase in app.sample()? {
        let topic = format!("{prefix}{}", phase[0].topic);
        let records = phase.into_iter().map(|r| {
            let key = String::from_utf8(r.key.unwrap_or_default()).unwrap_or_default();
            (key, r.value.unwrap_or_default(), None, Some(r.timestamp))
        });
        produce_timed(&bootstrap, &topic, records).await?;
        wait_until_committed(&bootstrap, &app_id, &[topic], Duration::from_secs(60))?;
    }

    let path = "/stores/hourly-spend/keys/ann/windows";
    let deadline = Instant::now() + Duration::from_secs(60);
    let windows = loop {
        let (status, body) = get(address.as_str(), path)?;
        let body: Value = serde_json::from_str(&body).with_context(|| body.clone())?;
        // The last payment committed shows as four payments.
        if status == "HTTP/1.1 200 OK" && body[0]["value"]["payments"] == 4 {
            break body;
        }
        if Instant::now() > deadline {
            bail!("{path} did not show Ann's four payments within 60 s: {status} {body}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let windows = windows.as_array().context("a list of windows")?;
    assert_eq!(windows.len(), 1, "{windows:?}");
    let hour = &windows[0];
    assert_eq!(hour["start"], at(9, 0, 0));
    assert_eq!(hour["end"], at(10, 0, 0));
    assert_eq!(hour["value"]["cents"], 58_000);
    assert_eq!(hour["value"]["over_limit"], true);
    assert_eq!(hour["value"]["last"]["payment"]["payment_id"], "p5");

    // A time range without Ann's hour, and a user without payments: no windows.
    let (status, body) = get(address.as_str(), &format!("{path}?from={}", at(10, 0, 0)))?;
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", "[]"));
    let (status, body) = get(address.as_str(), "/stores/hourly-spend/keys/zoe/windows")?;
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", "[]"));

    service.terminate(SERVICE_CLOSE_TIMEOUT + Duration::from_secs(15))?;
    Ok(())
}
