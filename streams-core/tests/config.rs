//! Configuration guards: exactly-once refuses the client settings that would break it, with
//! a message naming the setting, what was given and what is allowed.

use std::time::Duration;

use streams_core::{ProcessingGuarantee, StreamsConfig};

fn eos() -> StreamsConfig {
    StreamsConfig::new("app", "localhost:9092")
        .set("processing.guarantee", "exactly_once_v2")
        .expect("a valid guarantee")
}

/// The error `validate()` gives after `key=value` under exactly-once.
fn refused(key: &str, value: &str) -> String {
    eos()
        .set(key, value)
        .and_then(|c| c.validate())
        .expect_err("refused")
        .to_string()
}

#[test]
fn exactly_once_defaults_to_a_100_ms_commit_interval_and_at_least_once_to_30_s() {
    let alos = StreamsConfig::new("app", "localhost:9092");
    assert_eq!(
        alos.processing_guarantee(),
        ProcessingGuarantee::AtLeastOnce
    );
    assert_eq!(alos.commit_interval(), Duration::from_secs(30));
    let eos = eos();
    assert!(eos.exactly_once());
    assert_eq!(eos.commit_interval(), Duration::from_millis(100));
    let eos = eos.set("commit.interval.ms", "250").expect("valid");
    assert_eq!(eos.commit_interval(), Duration::from_millis(250));
    eos.validate().expect("the defaults are consistent");
}

#[test]
fn removed_and_unknown_guarantees_are_refused_with_what_is_allowed() {
    let err = |v: &str| {
        StreamsConfig::new("app", "localhost:9092")
            .set("processing.guarantee", v)
            .expect_err("refused")
            .to_string()
    };
    assert_eq!(
        err("exactly_once"),
        "invalid configuration `processing.guarantee`: \"exactly_once\" was removed in Kafka \
         Streams 4.0 and is not offered; allowed: at_least_once, exactly_once_v2"
    );
    assert_eq!(
        err("at-most-once"),
        "invalid configuration `processing.guarantee`: unknown guarantee \"at-most-once\"; \
         allowed: at_least_once, exactly_once_v2"
    );
}

#[test]
fn exactly_once_refuses_producer_settings_that_break_it() {
    assert_eq!(
        refused("producer.enable.idempotence", "false"),
        "invalid configuration `producer.enable.idempotence`: \"false\" would break \
         processing.guarantee=exactly_once_v2; allowed: true"
    );
    assert_eq!(
        refused("acks", "1"),
        "invalid configuration `acks`: \"1\" would break processing.guarantee=exactly_once_v2; \
         allowed: all, -1"
    );
    assert_eq!(
        refused("producer.max.in.flight.requests.per.connection", "6"),
        "invalid configuration `producer.max.in.flight.requests.per.connection`: \"6\" would \
         break processing.guarantee=exactly_once_v2; allowed: 1 to 5"
    );
    // What exactly-once needs anyway is accepted.
    eos()
        .set("producer.acks", "all")
        .and_then(|c| c.set("producer.enable.idempotence", "true"))
        .and_then(|c| c.set("producer.max.in.flight.requests.per.connection", "5"))
        .and_then(|c| c.validate())
        .expect("accepted");
}

#[test]
fn exactly_once_refuses_reading_uncommitted_data() {
    assert_eq!(
        refused("consumer.isolation.level", "read_uncommitted"),
        "invalid configuration `consumer.isolation.level`: \"read_uncommitted\" would break \
         processing.guarantee=exactly_once_v2; allowed: read_committed"
    );
    // The producer has no isolation level; at-least-once may read uncommitted data.
    StreamsConfig::new("app", "localhost:9092")
        .set("consumer.isolation.level", "read_uncommitted")
        .and_then(|c| c.validate())
        .expect("at-least-once accepts it");
}

#[test]
fn the_transaction_timeout_must_exceed_the_commit_interval() {
    let err = eos()
        .set("commit.interval.ms", "5000")
        .and_then(|c| c.set("producer.transaction.timeout.ms", "5000"))
        .and_then(|c| c.validate())
        .expect_err("refused")
        .to_string();
    assert_eq!(
        err,
        "invalid configuration `producer.transaction.timeout.ms`: \"5000\" would break \
         processing.guarantee=exactly_once_v2; allowed: a whole number of milliseconds above \
         commit.interval.ms (5000)"
    );
    eos()
        .set("commit.interval.ms", "5000")
        .and_then(|c| c.set("producer.transaction.timeout.ms", "5001"))
        .and_then(|c| c.validate())
        .expect("accepted");
}

#[test]
fn a_transactional_id_is_always_managed_by_the_library() {
    for (config, key) in [
        (
            StreamsConfig::new("app", "localhost:9092"),
            "transactional.id",
        ),
        (eos(), "producer.transactional.id"),
    ] {
        let err = config
            .set(key, "mine")
            .and_then(|c| c.validate())
            .expect_err("refused")
            .to_string();
        assert_eq!(
            err,
            format!(
                "invalid configuration `{key}`: is managed by the library: \
                 processing.guarantee=exactly_once_v2 sets <application.id>-<process id>-<thread> \
                 on each stream thread's producer"
            )
        );
    }
}

#[test]
fn bootstrap_servers_are_checked_when_set() {
    let refused = |value: &str| {
        StreamsConfig::new("app", "localhost:9092")
            .set("bootstrap.servers", value)
            .expect_err("refused")
            .to_string()
    };
    let prefix = "invalid configuration `bootstrap.servers`: ";
    assert_eq!(
        refused("localhost:99999"),
        format!("{prefix}\"localhost:99999\": the port must be 1 to 65535, got \"99999\"")
    );
    assert_eq!(
        refused("broker1"),
        format!("{prefix}\"broker1\" is not host:port (the port is required)")
    );
    assert_eq!(
        refused("http://broker1:9092"),
        format!(
            "{prefix}\"http://broker1:9092\": unknown protocol \"http\"; allowed: PLAINTEXT, SSL, \
             SASL_PLAINTEXT, SASL_SSL"
        )
    );
    assert_eq!(
        refused("a:b"),
        format!("{prefix}\"a:b\": the port must be 1 to 65535, got \"b\"")
    );
    assert_eq!(
        refused(":9092"),
        format!(
            "{prefix}\":9092\": invalid host \"\" (a name, an IPv4 address, or an IPv6 address \
             in brackets)"
        )
    );
    assert_eq!(
        refused(" , "),
        format!("{prefix}must list at least one host:port")
    );
    for ok in [
        "127.0.0.1:9092,[::1]:9092",
        "PLAINTEXT://broker-1.example.com:9092 sasl_ssl://b2:9093",
    ] {
        assert!(
            StreamsConfig::new("app", "localhost:9092")
                .set("bootstrap.servers", ok)
                .is_ok(),
            "{ok}"
        );
    }
    // A value given to `new` is checked by `validate`.
    assert!(StreamsConfig::new("app", "localhost:0").validate().is_err());
}

#[test]
fn security_settings_given_to_one_client_only_are_refused_without_their_values() {
    let refused = |pairs: &[(&str, &str)]| {
        let mut config = StreamsConfig::new("app", "localhost:9092");
        for (k, v) in pairs {
            config = config.set(k, v).expect("set");
        }
        config.validate().expect_err("refused").to_string()
    };
    assert_eq!(
        refused(&[("admin.sasl.mechanism", "PLAIN")]),
        "invalid configuration `admin.sasl.mechanism`: security settings must be the same for \
         every client (the consumers, producers and admin client connect to the same brokers), \
         but `sasl.mechanism` differs between them (set for: admin); set `sasl.mechanism` \
         without a client prefix"
    );
    let err = refused(&[
        ("sasl.password", "topsecret"),
        ("consumer.sasl.password", "othersecret"),
    ]);
    assert!(
        err.starts_with("invalid configuration `consumer.sasl.password`"),
        "{err}"
    );
    assert!(!err.contains("secret"), "{err}");
    // The same value everywhere, however given, is fine.
    StreamsConfig::new("app", "localhost:9092")
        .set("security.protocol", "sasl_plaintext")
        .and_then(|c| c.set("sasl.mechanism", "PLAIN"))
        .and_then(|c| c.set("producer.sasl.mechanism", "PLAIN"))
        .and_then(|c| c.validate())
        .expect("accepted");
}

#[test]
fn topic_settings_configure_the_internal_topics_and_librdkafka_topic_settings_stay_client_ones() {
    let config = StreamsConfig::new("app", "localhost:9092")
        .set("replication.factor", "3")
        .and_then(|c| c.set("topic.min.insync.replicas", "1"))
        .and_then(|c| c.set("topic.min.insync.replicas", "2"))
        .and_then(|c| c.set("topic.segment.bytes", "1048576"))
        .and_then(|c| c.set("topic.metadata.refresh.interval.ms", "1000"))
        .expect("valid settings");
    assert_eq!(config.replication_factor(), 3);
    assert_eq!(
        config.internal_topic_configs(),
        [
            ("min.insync.replicas".to_owned(), "2".to_owned()),
            ("segment.bytes".to_owned(), "1048576".to_owned())
        ],
        "the last value of a setting wins"
    );
    assert!(
        config
            .client_settings(streams_core::config::ClientKind::All)
            .any(|(k, v)| k == "topic.metadata.refresh.interval.ms" && v == "1000"),
        "librdkafka's topic.metadata.* settings go to the clients"
    );
    config.validate().expect("consistent");

    let refused = |key: &str| {
        StreamsConfig::new("app", "localhost:9092")
            .set(key, "delete")
            .expect_err("refused")
            .to_string()
    };
    let policy = refused("topic.cleanup.policy");
    assert!(
        policy.contains("topic.cleanup.policy") && policy.contains("compact for changelogs"),
        "{policy}"
    );
    assert!(refused("topic.").contains("needs a name after `topic.`"));
}
