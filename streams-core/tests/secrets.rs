//! Secret settings never show: every secret setting, for every client prefix, is given a
//! distinct marker value, and no marker may appear in the configuration's `Debug`, in the
//! errors of a mistyped or refused setting, in `describe()`, in the metrics or in the logs
//! (a tracing subscriber captures every event, librdkafka's log lines included).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use streams_core::config::{SECRET_SETTINGS, is_secret_setting};
use streams_core::serde::StringSerde;
use streams_core::{KafkaStreams, StreamsConfig, Topology};

/// Every marker value contains this, so one search finds any of them.
const STEM: &str = "s3cr3t";

/// The client prefixes: every client, then one kind of client.
const PREFIXES: [&str; 4] = ["", "consumer.", "producer.", "admin."];

/// A bootstrap address where no broker listens: creating clients needs none.
const NO_BROKER: &str = "127.0.0.1:1";

/// Everything logged by this test binary.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let writer = Buffer(logs.clone());
        use tracing_subscriber::util::SubscriberInitExt;
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish()
            .try_init()
            .expect("the only subscriber of this test binary");
        logs
    })
}

#[derive(Clone)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Fails when `text` (named `what`) contains a marker.
fn assert_hidden(what: &str, text: &str) {
    assert!(!text.contains(STEM), "{what} shows a secret:\n{text}");
}

/// Fails when anything logged so far contains a marker.
fn assert_logs_hidden() {
    let logs = String::from_utf8_lossy(&logs().lock().expect("not poisoned")).into_owned();
    assert_hidden("the logs", &logs);
}

/// A distinct marker for `key`.
fn marker(key: &str) -> String {
    format!("{STEM}-{key}-value")
}

fn topology() -> Topology {
    let mut t = Topology::new();
    t.add_source("src", &["in"], StringSerde, StringSerde)
        .expect("a source");
    t
}

/// `KafkaStreams::new` with `pairs` set: its error, or `None` when it was created (then its
/// `Debug`, metrics and `describe()` are checked).
fn new_streams(pairs: &[(String, String)]) -> Option<String> {
    let mut config = StreamsConfig::new("secrets", NO_BROKER);
    for (k, v) in pairs {
        config = match config.set(k, v) {
            Ok(c) => c,
            Err(e) => return Some(e.to_string()),
        };
    }
    assert_hidden("the configuration's Debug", &format!("{config:?}"));
    match KafkaStreams::new(topology(), config) {
        Ok(streams) => {
            assert_hidden("KafkaStreams' Debug", &format!("{streams:?}"));
            let metrics = streams_core::metrics::encode_text(&streams.metrics());
            assert_hidden("the metrics", &metrics);
            None
        }
        Err(e) => Some(format!("{e} / {e:?}")),
    }
}

/// `key` with one typing mistake: its second-to-last character dropped.
fn mistyped(key: &str) -> String {
    let mut k = key.to_owned();
    k.remove(key.len() - 2);
    k
}

#[test]
fn every_secret_for_every_client_is_redacted_in_the_configurations_debug() {
    logs();
    let mut config = StreamsConfig::new("secrets", NO_BROKER);
    let mut given = 0;
    for prefix in PREFIXES {
        for key in SECRET_SETTINGS {
            let key = format!("{prefix}{key}");
            assert!(is_secret_setting(&key), "{key}");
            // A mistyped secret is still a secret. librdkafka's settings are taken; the
            // others (a Java client's, a registry's, a typo) are refused when set, and the
            // refusal does not show the value either.
            for key in [key.clone(), mistyped(&key)] {
                match config.clone().set(&key, &marker(&key)) {
                    Ok(c) => {
                        config = c;
                        given += 1;
                    }
                    Err(e) => {
                        assert_hidden(&format!("the refusal of {key}"), &format!("{e} / {e:?}"))
                    }
                }
            }
        }
    }
    // Every librdkafka secret, under every prefix.
    assert!(given >= 3 * 10, "{given} taken");
    let debug = format!("{config:?}");
    assert_hidden("the configuration's Debug", &debug);
    assert_eq!(debug.matches("[redacted]").count(), given, "{debug}");
    assert!(
        debug.contains("\"producer.sasl.password\": [redacted]"),
        "{debug}"
    );
    // Secrets differing between clients are refused, naming the key only.
    let err = config.validate().expect_err("differing security settings");
    assert_hidden("the validation error", &format!("{err} / {err:?}"));
    assert_hidden("describe()", &topology().describe().to_string());
    assert_logs_hidden();
}

#[test]
fn mistyped_and_refused_secrets_are_named_without_their_values() {
    logs();
    for key in SECRET_SETTINGS {
        // The same value for every client, so that only librdkafka can refuse it.
        let same: Vec<(String, String)> = PREFIXES
            .iter()
            .map(|p| (format!("{p}{key}"), marker(key)))
            .collect();
        if let Some(err) = new_streams(&same) {
            assert_hidden(&format!("the error for {key}"), &err);
        }
        for prefix in PREFIXES {
            let typo = format!("{prefix}{}", mistyped(key));
            let err = new_streams(&[(typo.clone(), marker(&typo))])
                .unwrap_or_else(|| panic!("{typo} is refused"));
            assert_hidden(&format!("the error for {typo}"), &err);
            assert!(
                err.contains(&format!(
                    "`{typo}` is neither a Kafka Streams setting this library takes nor a \
                     librdkafka setting"
                )),
                "{err}"
            );
        }
    }
    let err = new_streams(&[("sasl.pasword".into(), marker("typo"))]).expect("refused");
    assert!(
        err.starts_with(
            "invalid configuration `sasl.pasword`: `sasl.pasword` is neither a Kafka Streams \
             setting this library takes nor a librdkafka setting; did you mean \
             `sasl.password`? (its value is not shown)"
        ),
        "{err}"
    );
    // A wrong mechanism, a wrong boolean and a wrong protocol beside secrets.
    for (key, value) in [
        ("sasl.mechanism", "NO-SUCH-MECHANISM"),
        ("enable.ssl.certificate.verification", "maybe"),
        ("security.protocol", "carrier-pigeon"),
    ] {
        let mut pairs: Vec<(String, String)> = vec![
            ("security.protocol".into(), "sasl_plaintext".into()),
            ("sasl.username".into(), "alice".into()),
            ("sasl.password".into(), marker("sasl.password")),
        ];
        pairs.push((key.into(), value.into()));
        let err = new_streams(&pairs).unwrap_or_else(|| panic!("{key}={value} is refused"));
        assert_hidden(&format!("the error for {key}"), &err);
        // What was wrong is still said.
        assert!(err.contains(key) || err.contains(value), "{err}");
    }
    assert_logs_hidden();
}

#[test]
fn a_running_configuration_with_secrets_shows_them_nowhere() {
    logs();
    let pairs: Vec<(String, String)> = ["security.protocol", "sasl.mechanism"]
        .into_iter()
        .zip(["sasl_plaintext", "PLAIN"])
        .chain([("sasl.username", "alice")])
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .chain(
            PREFIXES
                .iter()
                .map(|p| (format!("{p}sasl.password"), marker("sasl.password"))),
        )
        .collect();
    if let Some(err) = new_streams(&pairs) {
        panic!("SASL/PLAIN settings are accepted without a broker: {err}");
    }
    assert_logs_hidden();
}
