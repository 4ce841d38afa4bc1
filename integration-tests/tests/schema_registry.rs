//! The Avro serde and the registry client against a real schema registry (Apicurio Registry's
//! Confluent-compatible API; see `integration_tests::registry`), and through real Kafka.

use std::time::Duration;

use integration_tests::client::{produce_timed, read_topic};
use integration_tests::kafka::{shared_cluster, unique_name};
use integration_tests::registry::shared_registry;
use serde::{Deserialize, Serialize};
use streams_core::avro::{AvroSerde, Compatibility, RegistryError, Schema, SchemaRegistryClient};
use streams_core::serde::{Serde, StringSerde};
use streams_core::{KafkaStreams, StreamsConfig};
use streams_dsl::{Consumed, Produced, StreamsBuilder};

fn schema(name: &str, extra_fields: &str) -> Schema {
    Schema::parse_str(&format!(
        r#"{{"type": "record", "name": "{name}", "namespace": "it",
            "fields": [{{"name": "user", "type": "string"}}, {{"name": "cents", "type": "long"}}{extra_fields}]}}"#
    ))
    .expect("valid schema")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct V1 {
    user: String,
    cents: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct V2 {
    user: String,
    cents: i64,
    currency: String,
}

const CURRENCY: &str = r#", {"name": "currency", "type": "string", "default": "EUR"}"#;
const CARD: &str = r#", {"name": "card", "type": "string"}"#;

fn client() -> SchemaRegistryClient {
    let url = shared_registry().expect("a schema registry");
    SchemaRegistryClient::new(url).expect("an http:// URL")
}

#[test]
fn registering_looking_up_and_fetching_schemas() {
    let c = client();
    let subject = unique_name("payments-value");
    let v1 = schema("Payment", "");
    let id = c.register(&subject, &v1).expect("registers");
    assert_eq!(
        c.register(&subject, &v1),
        Ok(id),
        "the same schema keeps its id"
    );
    assert_eq!(c.id_of(&subject, &v1), Ok(id));
    let fetched = SchemaRegistryClient::new(c.url())
        .expect("url")
        .schema_by_id(id)
        .expect("fetches by id");
    assert_eq!(fetched.canonical_form(), v1.canonical_form());
    let latest = c.latest(&subject).expect("latest");
    assert_eq!(
        (latest.id, latest.version, latest.subject.as_str()),
        (id, 1, subject.as_str())
    );

    let unknown = c.schema_by_id(987_654).expect_err("no such id");
    assert!(
        matches!(
            unknown,
            RegistryError::NotFound {
                error_code: 40403,
                ..
            }
        ),
        "{unknown:?}"
    );
    let missing = c
        .latest(&unique_name("nothing-value"))
        .expect_err("no such subject");
    assert!(
        matches!(
            missing,
            RegistryError::NotFound {
                error_code: 40401,
                ..
            }
        ),
        "{missing:?}"
    );
    let not_registered = c
        .id_of(&subject, &schema("Other", ""))
        .expect_err("not under this subject");
    assert!(
        matches!(not_registered, RegistryError::NotFound { .. }),
        "{not_registered:?}"
    );
}

#[test]
fn backward_compatibility_is_enforced_by_the_registry() {
    let c = client();
    let subject = unique_name("evolving-value");
    c.register(&subject, &schema("Payment", "")).expect("v1");
    c.set_compatibility(&subject, Compatibility::Backward)
        .expect("sets compatibility");
    let err = c
        .register(&subject, &schema("Payment", CARD))
        .expect_err("a new field without a default breaks BACKWARD");
    let RegistryError::Incompatible {
        subject: s,
        compatibility,
        message,
    } = &err
    else {
        panic!("expected Incompatible, got {err:?}");
    };
    assert_eq!((s, compatibility.as_str()), (&subject, "BACKWARD"));
    assert!(message.contains("Incompatible"), "{message}");
    assert!(
        err.to_string().starts_with(&format!(
            "schema is incompatible with subject `{subject}` (BACKWARD): "
        )),
        "{err}"
    );
    let v2 = c
        .register(&subject, &schema("Payment", CURRENCY))
        .expect("a field with a default is backward compatible");
    assert_eq!(c.latest(&subject).expect("latest").version, 2);
    assert_eq!(c.latest(&subject).expect("latest").id, v2);
}

#[test]
fn the_serde_round_trips_and_evolves_through_the_registry() {
    let topic = unique_name("avro-serde");
    let writer = AvroSerde::<V1>::value(client(), schema("Payment", ""));
    let old = writer
        .serialize(
            &topic,
            &V1 {
                user: "ann".into(),
                cents: 1250,
            },
        )
        .expect("serializes")
        .expect("not null");
    let id = u32::from_be_bytes([old[1], old[2], old[3], old[4]]);
    assert_eq!(old[0], 0);
    assert_eq!(old[5..], [0x06, b'a', b'n', b'n', 0xc4, 0x13]);
    assert_eq!(
        client()
            .latest(&format!("{topic}-value"))
            .expect("registered")
            .id,
        id
    );

    // A fresh client (empty caches) with the newer schema reads the old record.
    let reader = AvroSerde::<V2>::value(client(), schema("Payment", CURRENCY));
    assert_eq!(
        reader.deserialize(&topic, Some(&old)).expect("resolves"),
        V2 {
            user: "ann".into(),
            cents: 1250,
            currency: "EUR".into()
        }
    );
    let mut unknown = old.clone();
    unknown[1..5].copy_from_slice(&987_654u32.to_be_bytes());
    let e = reader
        .deserialize(&topic, Some(&unknown))
        .expect_err("unknown id");
    assert!(
        e.message().starts_with("Avro schema id 987654: not found:"),
        "{}",
        e.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_records_flow_through_kafka_and_bad_ones_are_dead_lettered() -> anyhow::Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let input = unique_name("avro-in");
    let output = unique_name("avro-out");
    let dlq = unique_name("avro-dlq");
    for t in [&input, &output, &dlq] {
        cluster.create_topic(t, 1, 1, &[])?;
    }
    let url = shared_registry()?;
    let serde = AvroSerde::<V1>::value(SchemaRegistryClient::new(url)?, schema("Payment", ""));
    let good = |user: &str, cents| -> anyhow::Result<Vec<u8>> {
        Ok(serde
            .serialize(
                &input,
                &V1 {
                    user: user.into(),
                    cents,
                },
            )?
            .expect("not null"))
    };
    // Schema id 0x0f423f = 999,999, which the registry does not have.
    let bad = vec![0u8, 0, 0x0f, 0x42, 0x3f, 0x06];
    let records = vec![
        ("a".to_owned(), good("ann", 10)?, Some(0), Some(1)),
        ("x".to_owned(), bad.clone(), Some(0), Some(2)),
        ("b".to_owned(), good("bob", 20)?, Some(0), Some(3)),
    ];
    produce_timed(bootstrap, &input, records).await?;

    let b = StreamsBuilder::new();
    b.stream_with(
        &[input.as_str()],
        Consumed::with(
            StringSerde,
            AvroSerde::<V1>::value(SchemaRegistryClient::new(url)?, schema("Payment", "")),
        ),
    )
    .map_values(|p| format!("{} paid {}", p.user, p.cents))
    .to_with(&output, Produced::with(StringSerde, StringSerde));
    let config = StreamsConfig::new(unique_name("avro-app"), bootstrap)
        .set("commit.interval.ms", "100")?
        .set(
            "default.deserialization.exception.handler",
            "dead-letter-queue",
        )?
        .set("errors.dead.letter.queue.topic.name", &dlq)?;
    let mut app = KafkaStreams::new(b.build()?, config)?;
    app.start()?;
    let out = read_topic(
        bootstrap,
        &output,
        2,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )?;
    let dead = read_topic(
        bootstrap,
        &dlq,
        1,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )?;
    app.close(Duration::from_secs(30))?;
    let out: Vec<(String, String, i64)> = out
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    assert_eq!(
        out,
        vec![
            ("a".to_owned(), "ann paid 10".to_owned(), 1),
            ("b".to_owned(), "bob paid 20".to_owned(), 3)
        ]
    );
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].key.as_str(), dead[0].timestamp), ("x", 2));
    assert_eq!(dead[0].value, String::from_utf8_lossy(&bad));
    let message = dead[0]
        .header("__streams.errors.message")
        .unwrap_or_default();
    assert!(
        message.starts_with("Avro schema id 999999: not found:"),
        "{message}"
    );
    Ok(())
}

#[test]
fn a_registry_behind_https_is_reached_with_its_ca_and_basic_or_bearer_credentials()
-> anyhow::Result<()> {
    use integration_tests::cleanup::ScratchDir;
    use integration_tests::pki::TestPki;
    use integration_tests::tls_proxy::TlsProxy;
    use streams_core::avro::RegistryConfig;

    let scratch = ScratchDir::with_prefix("kstreams-test-registry-tls-")?;
    let pki = TestPki::create(scratch.path(), &[])?;
    let (proxy, url) = TlsProxy::for_registry(&pki, shared_registry()?, "reg-user", "reg-pass")?;
    let subject = unique_name("tls-value");
    let v1 = schema("TlsPayment", "");

    let config = RegistryConfig::from_properties([
        ("schema.registry.url", url.as_str()),
        ("basic.auth.credentials.source", "USER_INFO"),
        ("basic.auth.user.info", "reg-user:reg-pass"),
        (
            "schema.registry.ssl.ca.location",
            &pki.ca().display().to_string(),
        ),
    ])?;
    let client = SchemaRegistryClient::with_config(&config)?;
    let id = client.register(&subject, &v1)?;
    let latest = client.latest(&subject)?;
    assert_eq!((latest.id, latest.version), (id, 1));
    // A second client, so that the fetch by id goes over the wire.
    let fresh = SchemaRegistryClient::with_config(&config)?;
    assert_eq!(*fresh.schema_by_id(id)?, v1);
    assert_eq!(proxy.refused(), 0);

    let wrong = RegistryConfig::new(&url)
        .basic_auth("reg-user", "not-the-password")
        .ca_location(pki.ca());
    let e = SchemaRegistryClient::with_config(&wrong)?
        .latest(&subject)
        .unwrap_err();
    assert!(
        matches!(e, RegistryError::Unauthorized { status: 401, .. }),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("schema registry at {url} answered HTTP 401")),
        "{text}"
    );
    assert!(
        !format!("{text} {e:?}").contains("not-the-password"),
        "{e:?}"
    );
    assert_eq!(proxy.refused(), 1);

    // Without the CA, the system's roots do not trust the test CA: no request is made.
    let untrusted = RegistryConfig::new(&url).basic_auth("reg-user", "reg-pass");
    let e = SchemaRegistryClient::with_config(&untrusted)?
        .latest(&subject)
        .unwrap_err();
    assert!(matches!(e, RegistryError::Transport { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("schema registry at {url}: GET")),
        "{text}"
    );
    assert!(text.contains("certificate"), "{text}");
    assert!(!text.contains("reg-pass"), "{text}");
    assert_eq!(proxy.refused(), 1);

    // A registry that takes bearer tokens, the token given as Confluent's settings name it.
    let (certificate, key) = pki.server_pem();
    let upstream = shared_registry()?
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .expect("an http:// registry URL");
    let bearer = TlsProxy::start(&certificate, &key, upstream, "Bearer reg-token")?;
    let bearer_url = bearer.url("/apis/ccompat/v7");
    let config = RegistryConfig::from_properties([
        ("schema.registry.url", bearer_url.as_str()),
        ("bearer.auth.credentials.source", "STATIC_TOKEN"),
        ("bearer.auth.token", "reg-token"),
        (
            "schema.registry.ssl.ca.location",
            &pki.ca().display().to_string(),
        ),
    ])?;
    let client = SchemaRegistryClient::with_config(&config)?;
    assert_eq!(*client.schema_by_id(id)?, v1);
    assert_eq!(bearer.refused(), 0);
    let wrong = RegistryConfig::new(&bearer_url)
        .bearer_token("not-the-token")
        .ca_location(pki.ca());
    let e = SchemaRegistryClient::with_config(&wrong)?
        .schema_by_id(id)
        .unwrap_err();
    assert!(
        matches!(e, RegistryError::Unauthorized { status: 401, .. }),
        "{e:?}"
    );
    assert!(!format!("{e} {e:?}").contains("not-the-token"), "{e:?}");
    assert_eq!(bearer.refused(), 1);
    Ok(())
}
