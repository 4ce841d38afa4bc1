//! Repartition topics: how a stream whose keys may have changed is written to
//! `<application.id>-<name>-repartition` and read back, so that every record of a key reaches
//! the same task (`KStream::repartition`, and before groupings, joins and `to_table`).

use streams_core::StreamsError;
use streams_core::serde::SharedSerde;

use crate::options::Repartitioned;
use crate::shared::Inner;
use crate::stream::{KStream, PassThrough};

impl<K, V> KStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// The node an operation that needs its input partitioned by key reads (a join, a
    /// grouping, `to_table`): this stream's own, or, after an operation that may have
    /// changed keys, the source of the repartition topic `<base>-repartition` (see
    /// [`Self::through_repartition`]).
    pub(crate) fn partitioned_by_key(
        &self,
        inner: &mut Inner,
        base: &str,
        key_serde: Option<SharedSerde<K>>,
        value_serde: Option<SharedSerde<V>>,
        hint: &str,
    ) -> String {
        if self.key_changed {
            self.through_repartition(inner, base, key_serde, value_serde, hint)
        } else {
            self.node.clone()
        }
    }

    /// Sends the stream through the repartition topic `<base>-repartition` (nodes
    /// `<topic>-filter`, `<topic>-sink`, `<topic>-source`, as Kafka Streams names them) and
    /// returns the source node's name. Without serdes the error says what to do (`hint`).
    pub(crate) fn through_repartition(
        &self,
        inner: &mut Inner,
        base: &str,
        key_serde: Option<SharedSerde<K>>,
        value_serde: Option<SharedSerde<V>>,
        hint: &str,
    ) -> String {
        let topic = format!("{base}-repartition");
        // As Kafka Streams: three names are taken from the counter in the order sink,
        // filter, source whatever the base (so the nodes after are numbered as there); a
        // generated base (`KSTREAM-...-<10 digits>`) uses them, any other (a user's name, or a
        // cogroup's store) gets `<topic>-sink` / `-filter` / `-source`.
        let sink = inner.new_name("KSTREAM-SINK");
        let filter = inner.new_name("KSTREAM-FILTER");
        let source = inner.new_name("KSTREAM-SOURCE");
        let (filter, sink, source) = if is_generated_name(base) {
            (filter, sink, source)
        } else {
            (
                format!("{topic}-filter"),
                format!("{topic}-sink"),
                format!("{topic}-source"),
            )
        };
        let (Some(k), Some(v)) = (key_serde, value_serde) else {
            inner.fail(StreamsError::Topology(format!(
                "repartition topic `{topic}` needs key and value serdes: {hint}"
            )));
            return source;
        };
        let parent = self.node.clone();
        inner.apply(|t| {
            t.add_repartition_topic(&topic)?
                .add_processor::<K, V, K, V, _, _>(&filter, || PassThrough, &[&parent])?
                .add_sink_with(
                    &sink,
                    streams_core::SinkOptions::topic(topic.as_str()),
                    k.clone(),
                    v.clone(),
                    &[&filter],
                )?
                .add_source_with(&source, &[&topic], k, v, Default::default())?;
            Ok(())
        });
        source
    }

    /// The stream written to and read back from a repartition topic
    /// `<application.id>-<name>-repartition` (`name` defaults to `KSTREAM-REPARTITION-<n>`),
    /// so that records are partitioned by their current key. Serdes default to the stream's.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .repartition(Repartitioned::default().with_name("spread").with_number_of_partitions(4))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x"), 1)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("a"), s("x"), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn repartition(&self, repartitioned: Repartitioned<K, V>) -> KStream<K, V> {
        let builder = self.builder.clone();
        let mut inner = builder.borrow_mut();
        let base = inner.name(repartitioned.name.as_deref(), "KSTREAM-REPARTITION");
        let key_serde = repartitioned.key_serde.or_else(|| self.key_serde.clone());
        let value_serde = repartitioned
            .value_serde
            .or_else(|| self.value_serde.clone());
        let source = self.through_repartition(
            &mut inner,
            &base,
            key_serde.clone(),
            value_serde.clone(),
            "give them with Repartitioned::with",
        );
        if let Some(n) = repartitioned.partitions {
            let topic = format!("{base}-repartition");
            inner.apply(|t| t.set_repartition_partitions(&topic, n).map(|_| ()));
        }
        drop(inner);
        KStream {
            builder,
            node: source,
            key_serde,
            value_serde,
            key_changed: false,
            next_name: None,
        }
    }
}

/// True for names the builder generates: `KSTREAM-...-` and ten digits.
fn is_generated_name(name: &str) -> bool {
    let Some((prefix, digits)) = name.rsplit_once('-') else {
        return false;
    };
    name.starts_with("KSTREAM")
        && !prefix.is_empty()
        && digits.len() == 10
        && digits.bytes().all(|b| b.is_ascii_digit())
}
