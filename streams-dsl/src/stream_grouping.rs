//! Grouping a stream for an aggregation: `group_by_key` and `group_by` (with `Grouped`).

use streams_core::serde::NaturalSerde;

use crate::grouped::KGroupedStream;
use crate::options::Grouped;
use crate::stream::KStream;

impl<K, V> KStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// Groups the records by their key, for an aggregation. With no [`Grouped`] serdes the
    /// stream's own serdes are used. After an operation that may have changed keys, the
    /// aggregation reads the records back from a repartition topic, so that every record of
    /// a key reaches the same task.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .group_by_key()
    ///     .count()
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x"), 1)?;
    /// input.pipe(s("a"), s("y"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("a"), Some(1), 1), (s("a"), Some(2), 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn group_by_key(&self) -> KGroupedStream<K, V> {
        self.group_by_key_with(Grouped::default())
    }

    /// Groups the records by their key with the serdes (and repartition name) of `grouped`.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .group_by_key_with(Grouped::with(StringSerde, StringSerde).with_name("by-user"))
    ///     .count()
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x"), 1)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("a"), Some(1), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn group_by_key_with(&self, grouped: Grouped<K, V>) -> KGroupedStream<K, V> {
        KGroupedStream::new(
            self.clone(),
            grouped.key_serde.or_else(|| self.key_serde.clone()),
            grouped.value_serde.or_else(|| self.value_serde.clone()),
            grouped.name,
        )
    }

    /// Groups the records by a new key chosen by `selector` (a `select_key` then a grouping),
    /// the new key with its natural serde and values with the stream's own.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .group_by(|_, v| v.clone())
    ///     .count()
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x"), 1)?;
    /// input.pipe(s("b"), s("x"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("x"), Some(1), 1), (s("x"), Some(2), 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn group_by<K2>(
        &self,
        selector: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
    ) -> KGroupedStream<K2, V>
    where
        K2: NaturalSerde + Clone,
    {
        self.group_by_with(
            selector,
            Grouped::default().or_key_serde(K2::natural_serde()),
        )
    }

    /// Groups the records by a new key chosen by `selector`, with the serdes (and repartition
    /// name) of `grouped`.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .group_by_with(|_, v| v.clone(), Grouped::with(StringSerde, StringSerde).with_name("by-page"))
    ///     .count()
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("/home"), 1)?;
    /// input.pipe(s("b"), s("/home"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("/home"), Some(1), 1), (s("/home"), Some(2), 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn group_by_with<K2>(
        &self,
        selector: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
        grouped: Grouped<K2, V>,
    ) -> KGroupedStream<K2, V>
    where
        K2: Clone + 'static,
    {
        self.select_key(selector).group_by_key_with(grouped)
    }
}
