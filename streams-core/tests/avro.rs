//! Avro serdes in the Schema Registry wire format on the in-process (`mock://`) registry:
//! exact bytes, schema evolution, compatibility errors, and malformed input reaching the
//! error handler. `integration-tests/tests/schema_registry.rs` runs the client against a real
//! registry.

use serde::{Deserialize, Serialize};
use streams_core::avro::{AvroSerde, Compatibility, RegistryError, Schema, SchemaRegistryClient};
use streams_core::handlers::dlq_headers;
use streams_core::serde::{BytesSerde, Serde, StringSerde};
use streams_core::test_driver::TopologyTestDriver;
use streams_core::{StreamsConfig, Topology};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const V1: &str = r#"{"type": "record", "name": "Payment", "namespace": "test",
    "fields": [{"name": "user", "type": "string"}, {"name": "cents", "type": "long"}]}"#;

/// V1 plus a field with a default: a reader with V2 reads V1 data (backward compatible).
const V2: &str = r#"{"type": "record", "name": "Payment", "namespace": "test",
    "fields": [{"name": "user", "type": "string"}, {"name": "cents", "type": "long"},
               {"name": "currency", "type": "string", "default": "EUR"}]}"#;

/// V1 plus a field without a default: V3 cannot read V1 data.
const V3: &str = r#"{"type": "record", "name": "Payment", "namespace": "test",
    "fields": [{"name": "user", "type": "string"}, {"name": "cents", "type": "long"},
               {"name": "card", "type": "string"}]}"#;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PaymentV1 {
    user: String,
    cents: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PaymentV2 {
    user: String,
    cents: i64,
    currency: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PaymentV3 {
    user: String,
    cents: i64,
    card: String,
}

fn schema(text: &str) -> Schema {
    Schema::parse_str(text).expect("valid schema")
}

fn registry(scope: &str) -> SchemaRegistryClient {
    SchemaRegistryClient::new(&format!("mock://{scope}")).expect("mock URL")
}

#[test]
fn a_value_is_written_as_magic_byte_schema_id_and_avro_body() -> TestResult {
    let client = registry("wire-format");
    let serde = AvroSerde::<PaymentV1>::value(client.clone(), schema(V1));
    let payment = PaymentV1 {
        user: "ann".into(),
        cents: 1250,
    };
    let bytes = serde.serialize("payments", &payment)?.expect("not null");
    // 0x00, id 1 big-endian, then "ann" (zig-zag length 3 = 0x06) and 1250 (zig-zag 2500).
    assert_eq!(bytes, [0, 0, 0, 0, 1, 0x06, b'a', b'n', b'n', 0xc4, 0x13]);
    assert_eq!(serde.deserialize("payments", Some(&bytes))?, payment);
    let latest = client.latest("payments-value").expect("registered");
    assert_eq!((latest.id, latest.version), (1, 1));
    assert_eq!(latest.schema.canonical_form(), schema(V1).canonical_form());
    // A key serde registers under `<topic>-key`; the same schema keeps its global id.
    let key_serde = AvroSerde::<PaymentV1>::key(client.clone(), schema(V1));
    assert_eq!(key_serde.serialize("payments", &payment)?, Some(bytes));
    assert_eq!(client.latest("payments-key").expect("registered").id, 1);
    Ok(())
}

#[test]
fn a_reader_schema_with_a_new_defaulted_field_reads_old_records() -> TestResult {
    let client = registry("evolution");
    let writer = AvroSerde::<PaymentV1>::value(client.clone(), schema(V1));
    let old = writer
        .serialize(
            "payments",
            &PaymentV1 {
                user: "bob".into(),
                cents: 7,
            },
        )?
        .expect("not null");
    let reader = AvroSerde::<PaymentV2>::value(client.clone(), schema(V2));
    assert_eq!(
        reader.deserialize("payments", Some(&old))?,
        PaymentV2 {
            user: "bob".into(),
            cents: 7,
            currency: "EUR".into()
        }
    );
    // Writing with V2 registers it as version 2 (backward compatible with V1), id 2.
    let new = reader
        .serialize(
            "payments",
            &PaymentV2 {
                user: "cy".into(),
                cents: 9,
                currency: "USD".into(),
            },
        )?
        .expect("not null");
    assert_eq!(new[..5], [0, 0, 0, 0, 2]);
    let latest = client.latest("payments-value").expect("registered");
    assert_eq!((latest.id, latest.version), (2, 2));
    // The V1 reader reads V2 records too, ignoring the field it does not know.
    assert_eq!(
        writer.deserialize("payments", Some(&new))?,
        PaymentV1 {
            user: "cy".into(),
            cents: 9
        }
    );
    Ok(())
}

#[test]
fn an_incompatible_schema_is_refused_with_the_reason() {
    let client = registry("compatibility");
    client.register("payments-value", &schema(V1)).expect("v1");
    let err = client
        .register("payments-value", &schema(V3))
        .expect_err("V3 adds a field without a default");
    let RegistryError::Incompatible {
        subject,
        compatibility,
        message,
    } = &err
    else {
        panic!("expected Incompatible, got {err:?}");
    };
    assert_eq!(subject, "payments-value");
    assert_eq!(compatibility, "BACKWARD");
    assert!(
        message.starts_with("the new schema cannot read data written with an earlier one"),
        "{message}"
    );
    // Through a serde, the same refusal is a SerdeError naming the subject.
    let serde = AvroSerde::<PaymentV3>::value(client.clone(), schema(V3));
    let e = serde
        .serialize(
            "payments",
            &PaymentV3 {
                user: "a".into(),
                cents: 1,
                card: "visa".into(),
            },
        )
        .expect_err("incompatible");
    assert!(
        e.message().starts_with(
            "Avro schema for subject `payments-value`: schema is incompatible with subject \
             `payments-value` (BACKWARD): the new schema cannot read data written with an \
             earlier one"
        ),
        "{}",
        e.message()
    );
    // With compatibility NONE the registry takes it as version 2.
    client
        .set_compatibility("payments-value", Compatibility::None)
        .expect("config");
    assert_eq!(client.register("payments-value", &schema(V3)), Ok(2));
}

#[test]
fn without_auto_registration_an_unregistered_schema_is_an_error() {
    let client = registry("no-auto-register");
    let serde = AvroSerde::<PaymentV1>::value(client, schema(V1)).with_auto_register(false);
    let e = serde
        .serialize(
            "payments",
            &PaymentV1 {
                user: "a".into(),
                cents: 1,
            },
        )
        .expect_err("not registered");
    assert_eq!(
        e.message(),
        "Avro schema for subject `payments-value`: not found: subject `payments-value` not \
         found (registry error code 40401)"
    );
}

#[test]
fn malformed_records_are_errors_that_say_what_was_wrong() -> TestResult {
    let client = registry("malformed");
    let serde = AvroSerde::<PaymentV1>::value(client, schema(V1));
    let good = serde
        .serialize(
            "payments",
            &PaymentV1 {
                user: "ann".into(),
                cents: 1250,
            },
        )?
        .expect("not null");
    let msg = |data: &[u8]| {
        serde
            .deserialize("payments", Some(data))
            .expect_err("malformed")
            .message()
            .to_owned()
    };
    let mut wrong_magic = good.clone();
    wrong_magic[0] = 1;
    assert_eq!(
        msg(&wrong_magic),
        "unknown magic byte 0x01: the Schema Registry wire format starts with 0x00"
    );
    let mut unknown_id = good.clone();
    unknown_id[4] = 42;
    assert_eq!(
        msg(&unknown_id),
        "Avro schema id 42: not found: schema 42 not found (registry error code 40403)"
    );
    assert_eq!(
        msg(&good[..3]),
        "3 bytes is too short for the Schema Registry wire format: it needs a magic byte 0x00 \
         and a 4-byte schema id before the Avro body"
    );
    let truncated = msg(&good[..good.len() - 1]);
    assert!(
        truncated.starts_with("invalid Avro body (5 bytes) for schema id 1:"),
        "{truncated}"
    );
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(
        msg(&trailing),
        "1 bytes left over after the Avro body of schema id 1: the record was not written with \
         that schema"
    );
    assert_eq!(
        serde
            .deserialize("payments", None)
            .expect_err("null")
            .message(),
        "null where an Avro record was expected; use a Nullable serde (Option<_>) to accept nulls"
    );
    Ok(())
}

#[test]
fn malformed_avro_records_go_to_the_dead_letter_queue_and_good_ones_through() -> TestResult {
    let client = registry("driver");
    let mut topology = Topology::new();
    topology
        .add_source(
            "payments",
            &["payments"],
            StringSerde,
            AvroSerde::<PaymentV1>::value(client.clone(), schema(V1)),
        )?
        .add_sink(
            "copy",
            "payments-copy",
            StringSerde,
            AvroSerde::<PaymentV1>::value(client.clone(), schema(V1)),
            &["payments"],
        )?;
    let config = StreamsConfig::new("avro-dlq", "unused:9092")
        .set(
            "default.deserialization.exception.handler",
            "dead-letter-queue",
        )?
        .set("errors.dead.letter.queue.topic.name", "payments-dlq")?;
    let driver = TopologyTestDriver::new(topology, config)?;
    let serde = AvroSerde::<PaymentV1>::value(client, schema(V1));
    let good = |user: &str, cents| {
        serde
            .serialize(
                "payments",
                &PaymentV1 {
                    user: user.into(),
                    cents,
                },
            )
            .expect("serializes")
            .expect("not null")
    };
    let input = driver.input_topic("payments", BytesSerde, BytesSerde);
    let bad = [
        vec![1, 0, 0, 0, 1, 0x06],    // wrong magic byte
        vec![0, 0, 0, 0, 9, 0x06],    // unknown schema id
        good("zed", 5)[..7].to_vec(), // truncated body
    ];
    input.pipe_raw(Some(b"a".to_vec()), Some(good("ann", 10)), 1)?;
    for (i, b) in bad.iter().enumerate() {
        input.pipe_raw(Some(b"x".to_vec()), Some(b.clone()), 2 + i as i64)?;
    }
    input.pipe_raw(Some(b"b".to_vec()), Some(good("bob", 20)), 9)?;

    let out = driver
        .output_topic(
            "payments-copy",
            StringSerde,
            AvroSerde::<PaymentV1>::value(registry("driver"), schema(V1)),
        )
        .read_key_values_with_time()?;
    assert_eq!(
        out,
        vec![
            (
                "a".to_owned(),
                PaymentV1 {
                    user: "ann".into(),
                    cents: 10
                },
                1
            ),
            (
                "b".to_owned(),
                PaymentV1 {
                    user: "bob".into(),
                    cents: 20
                },
                9
            ),
        ]
    );
    let dlq = driver.produced("payments-dlq");
    let raw: Vec<(Option<Vec<u8>>, i64)> =
        dlq.iter().map(|r| (r.value.clone(), r.timestamp)).collect();
    assert_eq!(
        raw,
        vec![
            (Some(bad[0].clone()), 2),
            (Some(bad[1].clone()), 3),
            (Some(bad[2].clone()), 4)
        ]
    );
    let messages: Vec<String> = dlq
        .iter()
        .map(|r| {
            let h = r
                .headers
                .last(dlq_headers::MESSAGE)
                .expect("message header");
            String::from_utf8(h.value.clone().expect("value")).expect("utf8")
        })
        .collect();
    assert_eq!(
        messages[0],
        "unknown magic byte 0x01: the Schema Registry wire format starts with 0x00"
    );
    assert_eq!(
        messages[1],
        "Avro schema id 9: not found: schema 9 not found (registry error code 40403)"
    );
    assert!(
        messages[2].starts_with("invalid Avro body (2 bytes) for schema id 1:"),
        "{}",
        messages[2]
    );
    Ok(())
}
