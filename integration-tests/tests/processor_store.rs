//! Processors use stores through the Processor API; the test driver shows their content.

use integration_tests::apps::{CountPerKey, Counts};
use state_stores::{KeyValueStoreBuilder, StoreKind};
use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::{I64Serde, StringSerde};
use streams_core::test_driver::TopologyTestDriver;
use streams_core::{Record, StreamsConfig, StreamsError, Topology};

fn run(kind: StoreKind) -> Result<(), StreamsError> {
    let builder = match kind {
        StoreKind::InMemory => KeyValueStoreBuilder::in_memory("counts", StringSerde, I64Serde),
        StoreKind::RocksDb => KeyValueStoreBuilder::rocksdb("counts", StringSerde, I64Serde),
    };
    let mut t = Topology::new();
    t.add_source("src", &["words"], StringSerde, StringSerde)?
        .add_processor("count", CountPerKey::supplier("counts"), &["src"])?
        .add_state_store(builder, &["count"])?
        .add_sink("sink", "counts", StringSerde, I64Serde, &["count"])?;
    assert!(
        t.describe()
            .to_string()
            .contains("Processor: count (stores: [counts])")
    );
    let driver = TopologyTestDriver::new(t, StreamsConfig::new("store-test", "unused:9092"))?;
    let input = driver.input_topic("words", StringSerde, StringSerde);
    for (i, word) in ["kafka", "streams", "kafka", "rust", "kafka"]
        .into_iter()
        .enumerate()
    {
        input.pipe(word.to_owned(), String::new(), 10 * i as i64)?;
    }
    let out = driver
        .output_topic("counts", StringSerde, I64Serde)
        .read_key_values_with_time()?;
    let s = |v: &str| v.to_owned();
    assert_eq!(
        out,
        vec![
            (s("kafka"), 1, 0),
            (s("streams"), 1, 10),
            (s("kafka"), 2, 20),
            (s("rust"), 1, 30),
            (s("kafka"), 3, 40)
        ]
    );
    let store = driver
        .state_store::<Counts>("counts")
        .expect("the store is exposed");
    assert_eq!(
        store
            .borrow()
            .all()?
            .collect::<streams_core::Result<Vec<_>>>()?,
        vec![(s("kafka"), 3), (s("rust"), 1), (s("streams"), 1)]
    );
    Ok(())
}

#[test]
fn count_per_key_in_memory() -> Result<(), StreamsError> {
    run(StoreKind::InMemory)
}

#[test]
fn count_per_key_in_rocksdb() -> Result<(), StreamsError> {
    run(StoreKind::RocksDb)
}

#[test]
fn a_store_without_logging_writes_no_changelog() -> Result<(), StreamsError> {
    let mut t = Topology::new();
    t.add_source("src", &["words"], StringSerde, StringSerde)?
        .add_processor("count", CountPerKey::supplier("counts"), &["src"])?
        .add_state_store(
            KeyValueStoreBuilder::in_memory("counts", StringSerde, I64Serde)
                .with_logging_disabled(),
            &["count"],
        )?
        .add_sink("sink", "counts", StringSerde, I64Serde, &["count"])?;
    assert_eq!(t.changelog_topics("store-test"), vec![]);
    let driver = TopologyTestDriver::new(t, StreamsConfig::new("store-test", "unused:9092"))?;
    driver
        .input_topic("words", StringSerde, StringSerde)
        .pipe("kafka".into(), String::new(), 1)?;
    assert_eq!(driver.produced("counts").len(), 1);
    assert_eq!(driver.produced("store-test-counts-changelog"), vec![]);
    Ok(())
}

/// Asks for a store that is not connected to it.
struct Nosy;

impl Processor<String, String, String, String> for Nosy {
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), ProcessorError> {
        ctx.state_store::<Counts>("counts")?;
        Ok(())
    }
    fn process(
        &mut self,
        _: &mut ProcessorContext<'_, String, String>,
        _: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        Ok(())
    }
}

#[test]
fn a_store_not_connected_to_the_processor_is_refused() -> Result<(), StreamsError> {
    let mut t = Topology::new();
    t.add_source("src", &["words"], StringSerde, StringSerde)?
        .add_processor("nosy", || Nosy, &["src"])?
        .add_processor("count", CountPerKey::supplier("counts"), &["src"])?
        .add_state_store(
            KeyValueStoreBuilder::in_memory("counts", StringSerde, I64Serde),
            &["count"],
        )?;
    let err = TopologyTestDriver::new(t, StreamsConfig::new("store-test", "unused:9092"))
        .expect_err("refused");
    assert_eq!(
        err.to_string(),
        "invalid topology: processor `nosy` asked for state store `counts`, which is not connected to it; connect it \
         with Topology::add_state_store or Topology::connect_processor_and_state_stores"
    );
    Ok(())
}
