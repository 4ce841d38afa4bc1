//! Streams of optional values: `filter_map_values`, which maps and filters in one step, and
//! `non_null`, which drops the null values (tombstones) of a `KStream<K, Option<V>>`, the
//! type `to_stream()` gives a table's changes (a deleted key's change is `None`). Kafka
//! Streams writes the same as a `filter(v != null)` followed by a `mapValues`.

use std::sync::Arc;

use streams_core::SerdeError;
use streams_core::serde::{Serde, SharedSerde};

use crate::stream::KStream;

impl<K, V> KStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// Each value turned into `Some(new value)`, kept, or `None`, dropped; keys stay
    /// (`KSTREAM-FLATMAPVALUES`: one node, as Kafka Streams' `flatMapValues` with zero or one
    /// value). A value serde for the result is given where the stream is written.
    ///
    /// ```
    /// use streams_core::serde::{I64Serde, StringSerde};
    /// use streams_core::test_driver::TopologyTestDriver;
    /// use streams_core::StreamsConfig;
    /// use streams_dsl::{Consumed, Produced, StreamsBuilder};
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream_with(&["amounts"], Consumed::with(StringSerde, StringSerde))
    ///     .filter_map_values(|v: String| v.trim().parse::<i64>().ok().filter(|n| *n > 0))
    ///     .to_with("positive", Produced::with(StringSerde, I64Serde));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("f", "unused:9092"))?;
    /// let input = driver.input_topic("amounts", StringSerde, StringSerde);
    /// input.pipe("a".into(), "12".into(), 1)?;
    /// input.pipe("b".into(), "-3".into(), 2)?;
    /// input.pipe("c".into(), "n/a".into(), 3)?;
    /// input.pipe("d".into(), " 7".into(), 4)?;
    /// let out = driver.output_topic("positive", StringSerde, I64Serde);
    /// assert_eq!(
    ///     out.read_key_values_with_time()?,
    ///     vec![("a".to_owned(), 12, 1), ("d".to_owned(), 7, 4)]
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn filter_map_values<V2>(
        &self,
        mapper: impl Fn(V) -> Option<V2> + Send + Sync + 'static,
    ) -> KStream<K, V2>
    where
        V2: Clone + 'static,
    {
        self.flat_map_values(mapper)
    }
}

impl<K, V> KStream<K, Option<V>>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// The records whose value is not null, with the value unwrapped: the updates of a
    /// table's change stream without its deletes. A windowed count written with its plain
    /// serde instead of `Nullable(..)`:
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::serde::{I64Serde, StringSerde};
    /// use streams_core::test_driver::TopologyTestDriver;
    /// use streams_core::{StreamsConfig, TimeWindowedSerde};
    /// use streams_dsl::{Consumed, Materialized, Produced, StreamsBuilder, TimeWindows};
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream_with(&["clicks"], Consumed::with(StringSerde, StringSerde))
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
    ///     .count_with(Materialized::as_store("clicks-per-10s"))
    ///     .to_stream()
    ///     .non_null()
    ///     .to_with("counts", Produced::with(TimeWindowedSerde::new(StringSerde, 10_000), I64Serde));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("c", "unused:9092"))?;
    /// let input = driver.input_topic("clicks", StringSerde, StringSerde);
    /// input.pipe("ann".into(), "/".into(), 1_000)?;
    /// input.pipe("ann".into(), "/cart".into(), 4_000)?;
    /// input.pipe("ann".into(), "/".into(), 12_000)?;
    /// let out = driver.output_topic("counts", TimeWindowedSerde::new(StringSerde, 10_000), I64Serde);
    /// let counts: Vec<(i64, i64, i64)> = out
    ///     .read_key_values_with_time()?
    ///     .into_iter()
    ///     .map(|(w, n, ts)| (w.window.start, n, ts))
    ///     .collect();
    /// assert_eq!(counts, vec![(0, 1, 1_000), (0, 2, 4_000), (10_000, 1, 12_000)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn non_null(&self) -> KStream<K, V> {
        let mut stream = self.filter_map_values(|v| v);
        if stream.value_serde.is_none() {
            stream.value_serde = self
                .value_serde
                .clone()
                .map(|nullable| Arc::new(NonNull(nullable)) as SharedSerde<V>);
        }
        stream
    }
}

/// The values of a serde of `Option<V>` that are not null: what `non_null` leaves.
struct NonNull<V>(SharedSerde<Option<V>>);

impl<V: Clone + 'static> Serde<V> for NonNull<V> {
    fn serialize_into(
        &self,
        topic: &str,
        value: &V,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        // The inner serde takes an `Option<V>`; a value is cloned into one only here, where a
        // record is written.
        self.0.serialize_into(topic, &Some(value.clone()), buf)
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<V, SerdeError> {
        self.0
            .deserialize(topic, data)?
            .ok_or_else(|| SerdeError::new("null where a non-null value was expected"))
    }
}
