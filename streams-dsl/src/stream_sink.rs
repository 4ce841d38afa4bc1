//! Writing a stream to topics: `to`, `to_dynamic` (a topic per record) and their `_with`
//! forms, the `KSTREAM-SINK` nodes.

use streams_core::serde::builtin_serde;
use streams_core::{Record, StreamsError};

use crate::options::Produced;
use crate::stream::KStream;

impl<K, V> KStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// Writes the stream to `topic` with the stream's own serdes (`KSTREAM-SINK`): those it
    /// was read or last given with, or its types' natural ones. Without one, `build()` says
    /// which is missing; give it with [`Self::to_with`].
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x"), 1)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("a"), s("x"), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn to(&self, topic: &str) {
        self.to_with(topic, Produced::default());
    }

    /// Writes the stream to `topic` with the serdes of `produced` (`KSTREAM-SINK`); a serde
    /// it leaves out is the stream's own.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .map_values(|v| v.len() as i64)
    ///     .to_with("out", Produced::with(StringSerde, I64Serde).with_name("lengths"));
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("xyz"), 1)?;
    /// assert_eq!(d.output_topic("out", StringSerde, I64Serde).read_key_values_with_time()?, vec![(s("a"), 3, 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn to_with(&self, topic: &str, produced: Produced<K, V>) {
        self.sink(streams_core::SinkOptions::topic(topic), produced);
    }

    /// Writes each record to the topic `extractor` names for it, with the stream's own serdes
    /// (Kafka Streams' `to(TopicNameExtractor)`, `KSTREAM-SINK`). The topics must exist; a
    /// record for a missing one fails as a production error.
    ///
    /// ```
    /// use streams_core::serde::StringSerde;
    /// use streams_core::test_driver::TopologyTestDriver;
    /// use streams_core::StreamsConfig;
    /// use streams_dsl::{Consumed, StreamsBuilder};
    ///
    /// let b = StreamsBuilder::new();
    /// b.stream_with(&["events"], Consumed::with(StringSerde, StringSerde))
    ///     .to_dynamic(|r| format!("events-{}", r.key));
    /// let driver = TopologyTestDriver::new(b.build()?, StreamsConfig::new("route", "unused:9092"))?;
    /// driver.input_topic("events", StringSerde, StringSerde).pipe("eu".into(), "login".into(), 1)?;
    /// let eu = driver.output_topic("events-eu", StringSerde, StringSerde).read_key_values()?;
    /// assert_eq!(eu, vec![("eu".to_owned(), "login".to_owned())]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn to_dynamic(&self, extractor: impl Fn(&Record<K, V>) -> String + Send + Sync + 'static) {
        self.to_dynamic_with(extractor, Produced::default());
    }

    /// As [`Self::to_dynamic`], with the serdes, name and partitioner of `produced`.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .to_dynamic_with(|r| format!("{}-events", r.key), Produced::with(StringSerde, StringSerde).with_name("route"));
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("out"), s("x"), 1)?;
    /// assert_eq!(d.output_topic("out-events", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("out"), s("x"), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn to_dynamic_with(
        &self,
        extractor: impl Fn(&Record<K, V>) -> String + Send + Sync + 'static,
        produced: Produced<K, V>,
    ) {
        self.sink(
            streams_core::SinkOptions::topic_chooser(extractor),
            produced,
        );
    }

    fn sink(&self, mut options: streams_core::SinkOptions<K, V>, produced: Produced<K, V>) {
        let mut inner = self.builder.borrow_mut();
        let name = inner.node_name(produced.name.as_deref(), "KSTREAM-SINK");
        let parent = self.node.clone();
        if let Some(partitioner) = produced.partitioner {
            options = options
                .partitioner(move |topic, r, count| partitioner(topic, &r.key, &r.value, count));
        }
        let key_serde = (produced.key_serde)
            .or_else(|| self.key_serde.clone())
            .or_else(builtin_serde);
        let value_serde = (produced.value_serde)
            .or_else(|| self.value_serde.clone())
            .or_else(builtin_serde);
        let key_missing = key_serde.is_none();
        let (Some(key_serde), Some(value_serde)) = (key_serde, value_serde) else {
            let (what, ty) = if key_missing {
                ("key", std::any::type_name::<K>())
            } else {
                ("value", std::any::type_name::<V>())
            };
            inner.fail(StreamsError::Topology(format!(
                "the sink `{name}` has no {what} serde: the stream's {what} type `{ty}` has no \
                 natural serde and no operation before gave one; give it with \
                 Produced::with(..) (to_with), or implement NaturalSerde (JsonValue for JSON) \
                 for the type"
            )));
            return;
        };
        inner.apply(|t| {
            t.add_sink_with(&name, options, key_serde, value_serde, &[&parent])
                .map(|_| ())
        });
    }
}
