//! Secured clusters: SASL_SSL (SCRAM-SHA-512, PLAIN) and mutual TLS against the
//! StandardAuthorizer, with exact results, and the errors a wrong password or a missing ACL
//! gives. One broker for the whole file (see `integration_tests::secure`).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use integration_tests::apps::count_topology;
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce_timed, read_committed};
use integration_tests::kafka::unique_name;
use integration_tests::secure::{PREFIX, SecuredCluster, Settings, oidc_secret, password};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use streams_core::config::{OAuthToken, OAuthTokenProvider};
use streams_core::{KafkaStreams, State, StreamsConfig};

/// The secured broker of this test binary, started on first use.
fn secured() -> Result<&'static SecuredCluster> {
    static CLUSTER: OnceLock<std::result::Result<SecuredCluster, String>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| SecuredCluster::start().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("the secured cluster failed to start: {e}"))
}

fn client_config(settings: &Settings) -> ClientConfig {
    let mut cc = ClientConfig::new();
    for (k, v) in settings {
        cc.set(k, v);
    }
    cc
}

#[test]
fn each_secured_listener_admits_alice() -> Result<()> {
    integration_tests::log_to_stderr();
    let c = secured()?;
    let topic = unique_name(&format!("{PREFIX}probe"));
    c.cluster().create_topic(&topic, 1, 1, &[])?;
    for settings in [
        c.sasl_settings("SCRAM-SHA-512", "alice", &password("alice"))?,
        c.sasl_settings("PLAIN", "alice", &password("alice"))?,
        c.mtls_settings("alice")?,
    ] {
        let producer: BaseProducer = client_config(&settings).create()?;
        let md = producer
            .client()
            .fetch_metadata(Some(&topic), Duration::from_secs(20))?;
        assert_eq!(md.topics()[0].error(), None, "{settings:?}");
        assert_eq!(md.topics()[0].partitions().len(), 1);
    }
    Ok(())
}

/// Topics and names of one application run on the secured cluster.
struct Run {
    input: String,
    output: String,
    app: String,
    state: ScratchDir,
}

fn run_names(name: &str) -> Result<Run> {
    let c = secured()?;
    let run = Run {
        input: unique_name(&format!("{PREFIX}{name}-in")),
        output: unique_name(&format!("{PREFIX}{name}-out")),
        app: unique_name(&format!("{PREFIX}{name}-app")),
        state: ScratchDir::with_prefix("kstreams-test-security-")?,
    };
    c.cluster().create_topic(&run.input, 2, 1, &[])?;
    c.cluster().create_topic(&run.output, 2, 1, &[])?;
    Ok(run)
}

/// `settings` (the connection: bootstrap.servers and security) plus the application's own,
/// with `TOKENS` as the token provider when the settings ask for OAUTHBEARER without OIDC.
fn app_config(run: &Run, settings: &Settings, guarantee: &str) -> Result<StreamsConfig> {
    let bootstrap = &settings[0];
    assert_eq!(bootstrap.0, "bootstrap.servers");
    let mut config = StreamsConfig::new(&run.app, &bootstrap.1)
        .with_state_dir(run.state.path())
        .set("processing.guarantee", guarantee)?
        .set("commit.interval.ms", "200")?;
    for (k, v) in &settings[1..] {
        config = config.set(k, v)?;
    }
    let oauthbearer = settings
        .iter()
        .any(|(k, v)| k == "sasl.mechanism" && v == "OAUTHBEARER");
    let oidc = settings.iter().any(|(k, _)| k == "sasl.oauthbearer.method");
    if oauthbearer && !oidc {
        config = config.with_oauth_token_provider(MintedTokens);
    }
    Ok(config)
}

/// Tokens made in the application, as an MSK IAM signer would: signed by the test identity
/// provider's key for alice, counted.
struct MintedTokens;

static MINTED: AtomicU64 = AtomicU64::new(0);

impl OAuthTokenProvider for MintedTokens {
    fn token(
        &self,
        _: Option<&str>,
    ) -> std::result::Result<OAuthToken, Box<dyn std::error::Error + Send + Sync>> {
        let token = secured()
            .and_then(|c| c.mint_token("alice"))
            .map_err(|e| e.to_string())?;
        MINTED.fetch_add(1, Ordering::AcqRel);
        Ok(OAuthToken {
            token,
            principal_name: "alice".into(),
            lifetime_ms: streams_core::timestamp::now_ms() + 3_600_000,
        })
    }
}

/// Eight keys, each once, at timestamps `base + i`, written through the PLAINTEXT listener.
async fn produce_round(run: &Run, base: i64) -> Result<()> {
    let records = (0..8).map(|i| (format!("k{i}"), b"x".to_vec(), None, Some(base + i)));
    produce_timed(
        secured()?.cluster().bootstrap_servers(),
        &run.input,
        records,
    )
    .await?;
    Ok(())
}

/// The committed output as `(key, count, timestamp)`, sorted by key then count.
fn committed_counts(run: &Run, expected: usize) -> Result<Vec<(String, i64, i64)>> {
    let records = read_committed(
        secured()?.cluster().bootstrap_servers(),
        &run.output,
        expected,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )?;
    let mut out = records
        .into_iter()
        .map(|r| {
            let value: [u8; 8] = r
                .value
                .as_deref()
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| anyhow!("a count is 8 bytes, got {:?}", r.value))?;
            Ok((
                String::from_utf8(r.key)?,
                i64::from_be_bytes(value),
                r.timestamp,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    out.sort();
    Ok(out)
}

/// Two rounds of eight keys counted under exactly-once over the connection `settings`; the
/// application is closed between them and its local state deleted, so the second start
/// restores the counts from the changelog over the same connection.
async fn counts_survive_a_restart_over(name: &str, settings: Settings) -> Result<()> {
    integration_tests::log_to_stderr();
    let run = run_names(name)?;
    let base = streams_core::timestamp::now_ms() - 60_000;
    let mut streams = KafkaStreams::new(
        count_topology(&run.input, &run.output)?,
        app_config(&run, &settings, "exactly_once_v2")?,
    )?;
    streams.start()?;
    produce_round(&run, base).await?;
    let first = committed_counts(&run, 8)?;
    assert_eq!(streams.state(), State::Running, "{:?}", streams.error());
    streams.close(Duration::from_secs(30))?;
    let expected: Vec<_> = (0..8).map(|i| (format!("k{i}"), 1, base + i)).collect();
    assert_eq!(first, expected);

    std::fs::remove_dir_all(run.state.path())?;
    let mut streams = KafkaStreams::new(
        count_topology(&run.input, &run.output)?,
        app_config(&run, &settings, "exactly_once_v2")?,
    )?;
    streams.start()?;
    produce_round(&run, base + 100).await?;
    let both = committed_counts(&run, 16)?;
    assert_eq!(streams.state(), State::Running, "{:?}", streams.error());
    streams.close(Duration::from_secs(30))?;
    let mut expected: Vec<_> = (0..8)
        .flat_map(|i| {
            [
                (format!("k{i}"), 1, base + i),
                (format!("k{i}"), 2, base + 100 + i),
            ]
        })
        .collect();
    expected.sort();
    assert_eq!(both, expected);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_counts_over_sasl_ssl_scram_survive_a_restart() -> Result<()> {
    let c = secured()?;
    let settings = c.sasl_settings("SCRAM-SHA-512", "alice", &password("alice"))?;
    counts_survive_a_restart_over("scram", settings).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_counts_over_mutual_tls_survive_a_restart() -> Result<()> {
    let c = secured()?;
    counts_survive_a_restart_over("mtls", c.mtls_settings("alice")?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_counts_over_sasl_ssl_plain_survive_a_restart() -> Result<()> {
    let c = secured()?;
    let settings = c.sasl_settings("PLAIN", "alice", &password("alice"))?;
    counts_survive_a_restart_over("plain", settings).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_counts_over_sasl_ssl_oauthbearer_oidc_survive_a_restart() -> Result<()> {
    let c = secured()?;
    let before = c.tokens_issued();
    let settings = c.oidc_settings("alice", &oidc_secret("alice"))?;
    counts_survive_a_restart_over("oidc", settings).await?;
    assert!(
        c.tokens_issued() > before,
        "no token was fetched from the identity provider"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_counts_over_oauthbearer_with_tokens_from_the_application_survive_a_restart()
-> Result<()> {
    let c = secured()?;
    let before = MINTED.load(Ordering::Acquire);
    counts_survive_a_restart_over("minted", c.oauthbearer_settings()?).await?;
    assert!(
        MINTED.load(Ordering::Acquire) > before,
        "the provider was never asked"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_oidc_client_secret_is_a_fatal_authentication_error() -> Result<()> {
    let c = secured()?;
    let settings = c.oidc_settings("alice", "not-alices-secret")?;
    let error = fails_within_30s("oidcfail", settings, "at_least_once").await?;
    assert!(error.contains("authentication failed"), "{error}");
    assert!(error.contains("OAUTHBEARER"), "{error}");
    Ok(())
}

/// Starts the count application over `settings` and waits (at most 30 s) for it to fail;
/// returns the error it reports, after checking that it never processed anything.
async fn fails_within_30s(name: &str, settings: Settings, guarantee: &str) -> Result<String> {
    integration_tests::log_to_stderr();
    let run = run_names(name)?;
    produce_round(&run, 1_000).await?;
    let started = Instant::now();
    let mut streams = KafkaStreams::new(
        count_topology(&run.input, &run.output)?,
        app_config(&run, &settings, guarantee)?,
    )?;
    let error = match streams.start() {
        Err(e) => e.to_string(),
        Ok(()) => {
            while streams.state() != State::Error && started.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(100));
            }
            streams.error().map_or_else(
                || format!("still {:?} after 30 s", streams.state()),
                |e| e.to_string(),
            )
        }
    };
    let took = started.elapsed();
    eprintln!("{name} failed after {took:?}: {error}");
    let _ = streams.close(Duration::from_secs(30));
    assert!(
        took < Duration::from_secs(30),
        "the failure took {took:?}: {error}"
    );
    assert!(committed_counts(&run, 0)?.is_empty());
    for (_, secret) in settings
        .iter()
        .filter(|(k, _)| k.ends_with("password") || k.ends_with("secret"))
    {
        assert!(!error.contains(secret.as_str()), "{error}");
    }
    Ok(error)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_fatal_authentication_error() -> Result<()> {
    let c = secured()?;
    let settings = c.sasl_settings("SCRAM-SHA-512", "alice", "not-alices-password")?;
    let error = fails_within_30s("wrongpw", settings, "exactly_once_v2").await?;
    assert!(error.contains("authentication failed"), "{error}");
    assert!(error.contains("SCRAM-SHA-512"), "{error}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_certificate_from_an_unknown_ca_is_a_fatal_authentication_error() -> Result<()> {
    let c = secured()?;
    // Without ssl.ca.location the system's CA store is used, which does not know the test CA.
    let settings: Settings = c
        .sasl_settings("SCRAM-SHA-512", "alice", &password("alice"))?
        .into_iter()
        .filter(|(k, _)| k != "ssl.ca.location")
        .collect();
    let error = fails_within_30s("untrusted", settings, "at_least_once").await?;
    assert!(error.contains("authentication failed"), "{error}");
    assert!(error.contains("certificate"), "{error}");
    assert!(error.contains("ssl.ca.location"), "{error}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_without_topic_acls_is_told_so() -> Result<()> {
    let c = secured()?;
    let settings = c.sasl_settings("SCRAM-SHA-512", "bob", &password("bob"))?;
    let error = fails_within_30s("noacl", settings, "at_least_once").await?;
    assert!(
        error.contains("not authorized to describe topic"),
        "{error}"
    );
    assert!(error.contains(PREFIX), "{error}");
    assert!(!error.contains("do not exist"), "{error}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_that_may_not_create_the_changelog_is_told_so() -> Result<()> {
    let c = secured()?;
    let settings = c.sasl_settings("SCRAM-SHA-512", "erin", &password("erin"))?;
    let error = fails_within_30s("nocreate", settings, "at_least_once").await?;
    assert!(error.contains("not authorized to create topic"), "{error}");
    assert!(error.contains("-changelog"), "{error}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_without_a_group_acl_is_told_so() -> Result<()> {
    let c = secured()?;
    let settings = c.sasl_settings("SCRAM-SHA-512", "dave", &password("dave"))?;
    let error = fails_within_30s("nogroup", settings, "at_least_once").await?;
    assert!(error.contains("not authorized to read group"), "{error}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_without_a_transactional_id_acl_is_told_so() -> Result<()> {
    let c = secured()?;
    let settings = c.mtls_settings("carol")?;
    let error = fails_within_30s("notxn", settings, "exactly_once_v2").await?;
    assert!(
        error.contains("not authorized to write transactional id"),
        "{error}"
    );
    Ok(())
}
