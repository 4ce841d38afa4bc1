//! The Kafka clients' settings (Kafka Streams' `KafkaClientSupplier`): the one place where
//! the settings of every client the library creates are built (the main consumer, the
//! restore consumer, the watermark client, the global consumer, the producer and the admin
//! client), each with the settings the runtime needs and the user's pass-through settings
//! of its kind on top, and where a client librdkafka refuses to create becomes a
//! [`StreamsError`] that never shows a secret value or the value of an unknown setting.

use rdkafka::client::ClientContext;
use rdkafka::config::{
    ClientConfig, FromClientConfig, FromClientConfigAndContext, RDKafkaLogLevel,
};
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaConfRes;

use super::client_failure::{ClientFailure, WatchedContext};
pub(crate) use super::member_identity::Member;
use super::member_identity::{ENDPOINT_MARK, PROCESS_MARK};
use crate::config::{ClientKind, StreamsConfig, is_secret_setting, scrub, unknown_setting};
use crate::error::{Result, StreamsError};

/// Sets the pass-through settings of `kind` on top of `base`.
fn client_config(config: &StreamsConfig, kind: ClientKind, base: &[(&str, &str)]) -> ClientConfig {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", config.bootstrap_servers());
    for (k, v) in base {
        cc.set(*k, *v);
    }
    for (k, v) in config.client_settings(kind) {
        cc.set(k, v);
    }
    cc.set_log_level(RDKafkaLogLevel::Warning);
    cc
}

/// librdkafka stops fetching a partition for `fetch.queue.backoff.ms` (default 1000 ms) once
/// its local queue holds `queued.min.messages`. Reading a topic with a backlog, the fetcher
/// fills the queue faster than the thread drains it, so with the default the consumer idles
/// for a second after every 100,000 records; 10 ms keeps it fed. Users can still override it
/// with `consumer.fetch.queue.backoff.ms`.
const FETCH_QUEUE_BACKOFF: (&str, &str) = ("fetch.queue.backoff.ms", "10");

/// The stream thread's consumer: a member of the application's group, committing nothing by
/// itself, with `context` as its rebalance listener (see [`Member`] for who it is).
pub(crate) fn create_consumer<C: ConsumerContext>(
    config: &StreamsConfig,
    client_id: &str,
    member: &Member,
    context: C,
) -> Result<BaseConsumer<C>> {
    let settings = consumer_config(config, client_id, member);
    create_with_context(config, "consumer", ClientKind::Consumer, &settings, context)
}

/// The settings of the stream thread's consumer (see [`create_consumer`]).
pub(crate) fn consumer_config(
    config: &StreamsConfig,
    client_id: &str,
    member: &Member,
) -> ClientConfig {
    let mut cc = client_config(
        config,
        ClientKind::Consumer,
        &[
            ("client.id", client_id),
            ("auto.offset.reset", "earliest"),
            ("isolation.level", isolation(config)),
            ("enable.partition.eof", "false"),
            FETCH_QUEUE_BACKOFF,
            // End offsets for the lag metric; `consumer.statistics.interval.ms` overrides.
            ("statistics.interval.ms", "5000"),
        ],
    );
    cc.set("group.id", config.application_id())
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    // Partition p of every source topic on the same member: the range assignment, on the
    // client (classic protocol) or on the broker (KIP-848, which co-partitions topics of
    // equal size that every member subscribes to).
    if config.uses_consumer_protocol() {
        cc.set("group.protocol", "consumer")
            .set("group.remote.assignor", "range");
    } else if cc.get("partition.assignment.strategy").is_none() {
        cc.set("partition.assignment.strategy", "range");
    }
    if let Some(id) = &member.instance_id {
        cc.set("group.instance.id", id);
    }
    // Every member's description shows where it runs, for the standby assignor: appended
    // to whatever id the consumer ends up with, the user's `client.id` included.
    if let Some(process) = &member.process {
        let id = cc.get("client.id").unwrap_or(client_id).to_owned();
        let rack = cc.get("client.rack").filter(|r| !r.is_empty());
        let rack = rack
            .map(|r| format!("{PROCESS_MARK}{r}"))
            .unwrap_or_default();
        cc.set("client.id", format!("{id}{PROCESS_MARK}{process}{rack}"));
    }
    // The group's member descriptions carry the client id: with `application.server`, it
    // tells the other instances where this one answers queries (see `streams_metadata`).
    // Appended to whatever id the consumer ends up with, the user's `client.id` included.
    if let Some(host) = config.application_server() {
        let id = cc.get("client.id").unwrap_or(client_id).to_owned();
        cc.set("client.id", format!("{id}{ENDPOINT_MARK}{host}"));
    }
    cc
}

/// The restore consumer: reads changelogs by assignment. librdkafka's `assign` needs a
/// `group.id`, so it gets `<application.id>-restore-consumer`, but it never subscribes or
/// commits, so that group never has members or offsets. It reads what the main consumer
/// reads: under at-least-once, read_committed would stop at open transactions short of the
/// end offsets; under exactly-once, state must only ever hold committed changes.
pub(crate) fn create_restore_consumer(
    config: &StreamsConfig,
    client_id: &str,
    failure: &ClientFailure,
) -> Result<BaseConsumer<WatchedContext>> {
    create_unassigned(
        config,
        "restore consumer",
        &restore_consumer_config(config, client_id),
        failure,
    )
}

/// A consumer that reads by assignment (`what` in errors), its security failures recorded in
/// `failure`, with the events queued at its creation served.
fn create_unassigned(
    config: &StreamsConfig,
    what: &str,
    settings: &ClientConfig,
    failure: &ClientFailure,
) -> Result<BaseConsumer<WatchedContext>> {
    let context = WatchedContext::new(failure, config);
    let consumer: BaseConsumer<WatchedContext> =
        create_with_context(config, what, ClientKind::Consumer, settings, context)?;
    serve_initial_events(&consumer);
    Ok(consumer)
}

/// Serves the events librdkafka queued while creating a consumer that is not assigned
/// anything yet: with SASL/OAUTHBEARER and a token from the application, the request for the
/// first token, without which no blocking call (metadata, watermarks) can connect. A consumer
/// with nothing assigned has no record to hand out.
pub(crate) fn serve_initial_events<C: ConsumerContext>(consumer: &BaseConsumer<C>) {
    if consumer.poll(std::time::Duration::ZERO).is_some() {
        tracing::debug!("a record arrived at a consumer with no assignment");
    }
}

/// The settings of the restore consumer (see [`create_restore_consumer`]).
pub(crate) fn restore_consumer_config(config: &StreamsConfig, client_id: &str) -> ClientConfig {
    assignment_consumer_config(config, client_id, isolation(config))
}

/// The global thread's consumer: a restore consumer (see [`create_restore_consumer`]) with
/// client id `<client_id>-global`.
pub(crate) fn create_global_consumer(
    config: &StreamsConfig,
    client_id: &str,
    failure: &ClientFailure,
) -> Result<BaseConsumer<WatchedContext>> {
    create_unassigned(
        config,
        "global consumer",
        &global_consumer_config(config, client_id),
        failure,
    )
}

/// The settings of the global thread's consumer (see [`create_global_consumer`]).
pub(crate) fn global_consumer_config(config: &StreamsConfig, client_id: &str) -> ClientConfig {
    restore_consumer_config(config, &format!("{client_id}-global"))
}

/// A client that only reads high watermarks (`read_uncommitted`): beside the restore
/// consumer's last stable offsets, it shows open transactions on changelog partitions.
pub(crate) fn create_watermark_client(
    config: &StreamsConfig,
    client_id: &str,
    failure: &ClientFailure,
) -> Result<BaseConsumer<WatchedContext>> {
    create_unassigned(
        config,
        "watermark client",
        &watermark_config(config, client_id),
        failure,
    )
}

/// The settings of the watermark client (see [`create_watermark_client`]).
pub(crate) fn watermark_config(config: &StreamsConfig, client_id: &str) -> ClientConfig {
    assignment_consumer_config(config, client_id, "read_uncommitted")
}

/// The settings of a consumer that reads by assignment, in the restore consumer's group
/// (see [`create_restore_consumer`]), with the given `isolation.level`.
fn assignment_consumer_config(
    config: &StreamsConfig,
    client_id: &str,
    isolation_level: &str,
) -> ClientConfig {
    let mut cc = client_config(
        config,
        ClientKind::Consumer,
        &[
            ("client.id", client_id),
            ("auto.offset.reset", "earliest"),
            ("enable.partition.eof", "false"),
            ("isolation.level", isolation_level),
            FETCH_QUEUE_BACKOFF,
        ],
    );
    cc.set(
        "group.id",
        format!("{}-restore-consumer", config.application_id()),
    )
    .set("enable.auto.commit", "false");
    cc
}

/// The consumers' `isolation.level` for the processing guarantee.
fn isolation(config: &StreamsConfig) -> &'static str {
    if config.exactly_once() {
        "read_committed"
    } else {
        "read_uncommitted"
    }
}

/// The producer's settings; under exactly-once it is transactional with id
/// `transactional_id`.
pub(crate) fn producer_config(
    config: &StreamsConfig,
    client_id: &str,
    transactional_id: Option<&str>,
) -> ClientConfig {
    let timeout = config.transaction_timeout_ms().to_string();
    let mut base = vec![
        ("client.id", client_id),
        ("linger.ms", "100"),
        // The Java client's default partitioner: keys land where Java producers put them.
        ("partitioner", "murmur2_random"),
        ("enable.idempotence", "true"),
        // Request retries for the metrics; `producer.statistics.interval.ms` overrides.
        ("statistics.interval.ms", "5000"),
    ];
    if let Some(id) = transactional_id {
        base.push(("transactional.id", id));
        base.push(("transaction.timeout.ms", &timeout));
        // Under exactly-once the commit interval is short: waiting 100 ms to fill batches
        // would hold every commit up.
        base.push(("linger.ms", "5"));
    }
    client_config(config, ClientKind::Producer, &base)
}

/// The producer (see [`producer_config`]), with `context`.
pub(crate) fn create_producer<T, C>(
    config: &StreamsConfig,
    client_id: &str,
    transactional_id: Option<&str>,
    context: C,
) -> Result<T>
where
    T: FromClientConfigAndContext<C>,
    C: ClientContext,
{
    let settings = producer_config(config, client_id, transactional_id);
    create_with_context(config, "producer", ClientKind::Producer, &settings, context)
}

/// The admin client's settings.
pub(crate) fn admin_config(config: &StreamsConfig) -> ClientConfig {
    client_config(config, ClientKind::Admin, &[])
}

/// An admin client (an `AdminClient`, or a `BaseProducer` used for metadata requests).
pub(crate) fn create_admin<T: FromClientConfig>(config: &StreamsConfig) -> Result<T> {
    create(config, "admin", ClientKind::Admin, &admin_config(config))
}

/// An admin client with `context` (see [`create_admin`]).
pub(crate) fn create_admin_with_context<T, C>(config: &StreamsConfig, context: C) -> Result<T>
where
    T: FromClientConfigAndContext<C>,
    C: ClientContext,
{
    create_with_context(
        config,
        "admin",
        ClientKind::Admin,
        &admin_config(config),
        context,
    )
}

/// Creates the client `what` from `settings`; see [`refused`] for the error.
fn create<T: FromClientConfig>(
    config: &StreamsConfig,
    what: &str,
    kind: ClientKind,
    settings: &ClientConfig,
) -> Result<T> {
    settings
        .create()
        .map_err(|e| refused(config, what, kind, e))
}

/// Creates the client `what` from `settings` with `context`; see [`refused`] for the error.
fn create_with_context<T: FromClientConfigAndContext<C>, C: ClientContext>(
    config: &StreamsConfig,
    what: &str,
    kind: ClientKind,
    settings: &ClientConfig,
    context: C,
) -> Result<T> {
    settings
        .create_with_context(context)
        .map_err(|e| refused(config, what, kind, e))
}

/// The error for a client (`what`: "consumer", "producer", ...) that librdkafka refused to
/// create: `invalid configuration `<what>`: the <what> settings were refused: ...`.
///
/// rdkafka's own message for a refused setting ends with the setting's value, so it is never
/// shown as is. An unknown setting (perhaps a secret with a typing mistake) is named, with
/// the name the user gave and where the allowed ones are listed, never with its value; an
/// invalid value of a secret setting is not shown either; and the values of all secret
/// settings are scrubbed from any other message.
pub(crate) fn refused(
    config: &StreamsConfig,
    what: &str,
    kind: ClientKind,
    error: KafkaError,
) -> StreamsError {
    let secrets = || {
        config
            .client_settings(kind)
            .filter(|(k, _)| is_secret_setting(k))
            .map(|(_, v)| v)
    };
    let detail = match &error {
        KafkaError::ClientConfig(RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN, _, key, _) => {
            unknown_setting(&given_as(config, kind, key), key)
        }
        KafkaError::ClientConfig(_, description, key, value) => {
            let given = given_as(config, kind, key);
            let description = if is_secret_setting(key) {
                scrub(description, [value.as_str()])
            } else {
                description.clone()
            };
            format!("`{given}`: {}", scrub(&description, secrets()))
        }
        other => scrub(&other.to_string(), secrets()),
    };
    StreamsError::config(
        what_key(what),
        format!("the {what} settings were refused: {detail}"),
    )
}

/// The key a refused client's error names: its kind (`consumer`, `producer`, `admin`).
fn what_key(what: &str) -> &str {
    match what {
        "restore consumer" | "global consumer" | "watermark client" => "consumer",
        other => other,
    }
}

/// The name under which the user gave the client setting `key` to a client of `kind`:
/// with its prefix when it was given prefixed.
fn given_as(config: &StreamsConfig, kind: ClientKind, key: &str) -> String {
    let prefixed = config
        .client_settings_with_kind(kind)
        .filter(|(_, k, _)| *k == key)
        .last()
        .map_or(ClientKind::All, |(kind, _, _)| kind);
    format!("{}{key}", prefixed.prefix())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::member_identity::published_process;

    #[test]
    fn the_main_consumer_publishes_application_server_after_any_client_id() -> Result<()> {
        let plain = StreamsConfig::new("app", "localhost:9092");
        let id = |c: &StreamsConfig| {
            consumer_config(c, "app-1-StreamThread-1-consumer", &Member::default())
                .get("client.id")
                .map(str::to_owned)
        };
        assert_eq!(id(&plain).as_deref(), Some("app-1-StreamThread-1-consumer"));
        let served = plain.clone().set("application.server", "app-0.app:8080")?;
        assert_eq!(
            id(&served).as_deref(),
            Some("app-1-StreamThread-1-consumer@app-0.app:8080")
        );
        let named = served.set("client.id", "mine")?;
        assert_eq!(id(&named).as_deref(), Some("mine@app-0.app:8080"));
        Ok(())
    }

    #[test]
    fn librdkafka_is_built_with_tls_every_sasl_mechanism_and_every_codec() {
        let native = ClientConfig::new()
            .create_native_config()
            .expect("a default configuration");
        let features = native.get("builtin.features").expect("builtin.features");
        let features: Vec<&str> = features.split(',').collect();
        for wanted in [
            "gzip",
            "snappy",
            "lz4",
            "zstd",
            "ssl",
            "sasl_plain",
            "sasl_scram",
            "sasl_oauthbearer",
            "http",
            "oidc",
        ] {
            assert!(
                features.contains(&wanted),
                "{wanted} missing from {features:?}"
            );
        }
        // Kerberos only with the `gssapi` feature (Cyrus SASL).
        assert_eq!(
            features.contains(&"sasl_gssapi"),
            cfg!(feature = "gssapi"),
            "{features:?}"
        );
    }

    /// The security settings the tests give, as `(key, value)`.
    const SECURITY: [(&str, &str); 5] = [
        ("security.protocol", "sasl_ssl"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", "alice"),
        ("sasl.password", "alice-secret"),
        ("ssl.ca.location", "/etc/kafka/ca.pem"),
    ];

    /// Every client the library creates, by name, with its final librdkafka settings.
    fn every_client(config: &StreamsConfig) -> Vec<(&'static str, ClientConfig)> {
        vec![
            (
                "main consumer",
                consumer_config(config, "c", &Member::default()),
            ),
            ("restore consumer", restore_consumer_config(config, "c")),
            ("watermark client", watermark_config(config, "c")),
            ("global consumer", global_consumer_config(config, "c")),
            ("producer", producer_config(config, "c", None)),
            (
                "transactional producer",
                producer_config(config, "c", Some("app-0-1")),
            ),
            ("admin client", admin_config(config)),
        ]
    }

    fn configured(pairs: &[(&str, &str)]) -> StreamsConfig {
        pairs
            .iter()
            .fold(StreamsConfig::new("app", "localhost:9092"), |c, (k, v)| {
                c.set(k, v).expect("accepted")
            })
    }

    #[test]
    fn unprefixed_security_settings_reach_every_client() {
        let config = configured(&SECURITY);
        config.validate().expect("consistent");
        for (client, settings) in every_client(&config) {
            for (key, value) in SECURITY {
                assert_eq!(settings.get(key), Some(value), "{client}: {key}");
            }
        }
    }

    #[test]
    fn consumer_prefixed_settings_reach_exactly_the_consumers() {
        let prefixed: Vec<(String, &str)> = SECURITY
            .iter()
            .map(|(k, v)| (format!("consumer.{k}"), *v))
            .collect();
        let pairs: Vec<(&str, &str)> = prefixed.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        // `validate` refuses security settings for one kind of client only; what reaches
        // which client is decided before that, here.
        let config = configured(&pairs);
        for (client, settings) in every_client(&config) {
            let consumer = client.contains("consumer") || client == "watermark client";
            for (key, value) in SECURITY {
                let expected = consumer.then_some(value);
                assert_eq!(settings.get(key), expected, "{client}: {key}");
            }
        }
        // The same holds for any other client setting.
        let config = configured(&[("consumer.fetch.wait.max.ms", "50")]);
        for (client, settings) in every_client(&config) {
            let consumer = client.contains("consumer") || client == "watermark client";
            assert_eq!(
                settings.get("fetch.wait.max.ms"),
                consumer.then_some("50"),
                "{client}"
            );
        }
    }

    #[test]
    fn a_refused_client_names_the_setting_but_never_a_secret_or_unknown_value() {
        // An unknown setting is refused when set (see config::keys); a client refused for one
        // anyway (a setting of the library's own) names it the same way, without its value.
        let config = configured(&[("sasl.password", "topsecret-password")]);
        let err = refused(
            &config,
            "restore consumer",
            ClientKind::Consumer,
            KafkaError::ClientConfig(
                RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN,
                "No such configuration property: \"sasl.pasword\"".into(),
                "sasl.pasword".into(),
                "topsecret-typo".into(),
            ),
        )
        .to_string();
        assert!(
            err.starts_with(
                "invalid configuration `consumer`: the restore consumer settings were refused: \
                 `sasl.pasword` is neither a Kafka Streams setting this library takes nor a \
                 librdkafka setting; did you mean `sasl.password`? (its value is not shown)"
            ),
            "{err}"
        );
        assert!(!err.contains("topsecret"), "{err}");
        // A Java client's setting librdkafka knows only to refuse: refused when set, without
        // its value.
        let err = StreamsConfig::new("app", "localhost:9092")
            .set(
                "sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"x1\";",
            )
            .expect_err("a Java setting")
            .to_string();
        assert!(
            err.contains("`sasl.jaas.config`: Java JAAS configuration is not supported"),
            "{err}"
        );
        assert!(!err.contains("PlainLoginModule"), "{err}");
        // A refusal at creation (an unknown SASL mechanism) shows no secret either.
        let config = configured(&[
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanism", "NO-SUCH-MECHANISM"),
            ("sasl.username", "alice"),
            ("sasl.password", "topsecret-password"),
        ]);
        let err = create_admin::<rdkafka::producer::BaseProducer>(&config)
            .err()
            .expect("unknown mechanism")
            .to_string();
        assert!(
            err.starts_with("invalid configuration `admin`: the admin settings were refused: "),
            "{err}"
        );
        assert!(!err.contains("topsecret"), "{err}");
    }

    #[test]
    fn scrubbing_hides_secret_values_in_any_refusal() {
        let config = configured(&[("sasl.password", "topsecret-password")]);
        let err = refused(
            &config,
            "producer",
            ClientKind::Producer,
            KafkaError::ClientCreation("broker said topsecret-password is wrong".into()),
        );
        assert_eq!(
            err.to_string(),
            "invalid configuration `producer`: the producer settings were refused: Client \
             creation error: broker said [redacted] is wrong"
        );
        let err = refused(
            &config,
            "producer",
            ClientKind::Producer,
            KafkaError::ClientConfig(
                RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
                "Invalid value \"topsecret-password\" for configuration property \"sasl.password\""
                    .into(),
                "sasl.password".into(),
                "topsecret-password".into(),
            ),
        );
        assert_eq!(
            err.to_string(),
            "invalid configuration `producer`: the producer settings were refused: \
             `sasl.password`: Invalid value \"[redacted]\" for configuration property \
             \"sasl.password\""
        );
    }

    #[test]
    fn the_main_consumer_speaks_the_protocol_asked_for_and_publishes_its_process() {
        let classic = consumer_config(&configured(&[]), "c", &Member::default());
        assert_eq!(classic.get("partition.assignment.strategy"), Some("range"));
        assert_eq!(classic.get("group.protocol"), None);
        let config = configured(&[
            ("group.protocol", "consumer"),
            ("num.standby.replicas", "1"),
            ("client.rack", "eu-1a"),
            ("application.server", "h:1"),
        ]);
        let process = "0123456789abcdef0123456789abcdef";
        let main = consumer_config(&config, "c", &Member::of_thread(&config, 0, process));
        assert_eq!(main.get("group.protocol"), Some("consumer"));
        assert_eq!(main.get("group.remote.assignor"), Some("range"));
        assert_eq!(main.get("partition.assignment.strategy"), None);
        let id = main.get("client.id").expect("a client id");
        assert_eq!(id, format!("c~{process}~eu-1a@h:1"));
        assert_eq!(published_process(id), Some((process, Some("eu-1a"))));
        assert_eq!(published_process("c@h:1"), None);
        let err = configured(&[
            ("group.protocol", "consumer"),
            ("consumer.session.timeout.ms", "6000"),
        ])
        .validate()
        .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "invalid configuration `consumer.session.timeout.ms`: is decided by the broker under group.protocol=consumer"
            ),
            "{err}"
        );
    }

    #[test]
    fn only_the_main_consumer_is_a_static_member_one_id_per_thread() {
        for key in [
            "group.instance.id",
            "consumer.group.instance.id",
            "main.consumer.group.instance.id",
        ] {
            let config = configured(&[(key, "node-7"), ("num.stream.threads", "2")]);
            assert_eq!(config.group_instance_id(), Some("node-7"));
            let second = config.thread_instance_id(1);
            assert_eq!(second.as_deref(), Some("node-7-2"));
            let main = consumer_config(&config, "c", &Member::of_thread(&config, 1, ""));
            assert_eq!(main.get("group.instance.id"), Some("node-7-2"));
            for (client, settings) in every_client(&config) {
                assert_eq!(settings.get("group.instance.id"), None, "{client}");
            }
        }
        let unset = configured(&[("group.instance.id", "node-7"), ("group.instance.id", " ")]);
        assert_eq!(unset.group_instance_id(), None);
        assert_eq!(unset.thread_instance_id(0), None);
        let err = StreamsConfig::new("app", "localhost:9092")
            .set("group.instance.id", "node/7")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration `group.instance.id`: \"node/7\" is not allowed; use 1 to 240 \
             characters from [a-zA-Z0-9._-] (each stream thread joins as <id>-<thread number>), \
             or leave it empty for dynamic membership"
        );
    }
}
