//! Fallible stateless operations: `try_filter`, `try_map`, `try_map_values`, `try_flat_map`
//! and `try_flat_map_values`. Their closures return `Result`; an `Err` is a processing error
//! of the record, handed to the processing exception handler (`processing.exception.handler`)
//! with the record's topic, partition and offset, as Kafka Streams hands exceptions thrown by
//! user code to its `ProcessingExceptionHandler`. With `log-and-continue` the record is
//! skipped, with `dead-letter-queue` its source bytes go to the dead-letter topic, and with
//! `log-and-fail` (the default) the application stops with an error naming the record.
//!
//! A closure that panics is treated the same way (the panic is caught at the node), so these
//! operations are the way to fail on one record without a panic's cost and noise.

use streams_core::Record;
use streams_core::processor::ProcessorError;

use crate::stream::KStream;

impl<K, V> KStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// The records for which `predicate` returns `Ok(true)` (`KSTREAM-FILTER`); an `Err` goes
    /// to the processing exception handler.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let config = StreamsConfig::new("doc", "unused:9092").set("processing.exception.handler", "log-and-continue")?;
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .try_filter(|_, v| v.parse::<i64>().map(|n| n > 1))
    ///     .to("out");
    /// let d = TopologyTestDriver::new(b.build()?, config)?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("5"), 1)?;
    /// input.pipe(s("b"), s("x"), 2)?;
    /// input.pipe(s("c"), s("1"), 3)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("a"), s("5"), 1)]); // "x" failed: logged and skipped
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn try_filter<E>(
        &self,
        predicate: impl Fn(&K, &V) -> Result<bool, E> + Send + Sync + 'static,
    ) -> KStream<K, V>
    where
        E: Into<ProcessorError>,
    {
        self.stateless_try(
            "KSTREAM-FILTER",
            self.key_serde.clone(),
            self.value_serde.clone(),
            false,
            move |ctx, r| {
                if predicate(&r.key, &r.value).map_err(Into::into)? {
                    ctx.forward(r)?;
                }
                Ok(())
            },
        )
    }

    /// Each record turned into a new key and value, or an error for the processing exception
    /// handler (`KSTREAM-MAP`); a grouping after it repartitions.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let config = StreamsConfig::new("doc", "unused:9092").set("processing.exception.handler", "log-and-continue")?;
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .try_map(|k, v| v.parse::<i64>().map(|n| (k, n * 2)))
    ///     .to("out");
    /// let d = TopologyTestDriver::new(b.build()?, config)?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("5"), 1)?;
    /// input.pipe(s("b"), s("x"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, I64Serde).read_key_values_with_time()?, vec![(s("a"), 10, 1)]); // "x" failed: logged and skipped
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn try_map<K2, V2, E>(
        &self,
        mapper: impl Fn(K, V) -> Result<(K2, V2), E> + Send + Sync + 'static,
    ) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        E: Into<ProcessorError>,
    {
        self.stateless_try("KSTREAM-MAP", None, None, true, move |ctx, r| {
            let Record {
                key,
                value,
                timestamp,
                headers,
            } = r;
            let (key, value) = mapper(key, value).map_err(Into::into)?;
            ctx.forward(Record {
                key,
                value,
                timestamp,
                headers,
            })?;
            Ok(())
        })
    }

    /// Each value turned into a new value, or an error for the processing exception handler
    /// (`KSTREAM-MAPVALUES`). A failed parse is the usual case:
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
    ///     .try_map_values(|v: String| v.trim().parse::<i64>())
    ///     .to_with("parsed", Produced::with(StringSerde, I64Serde));
    /// let config = StreamsConfig::new("parse", "unused:9092")
    ///     .set("processing.exception.handler", "dead-letter-queue")?
    ///     .set("errors.dead.letter.queue.topic.name", "amounts-dlq")?;
    /// let driver = TopologyTestDriver::new(builder.build()?, config)?;
    /// let input = driver.input_topic("amounts", StringSerde, StringSerde);
    /// input.pipe("a".into(), "12".into(), 1)?;
    /// input.pipe("b".into(), "twelve".into(), 2)?; // to the dead-letter topic
    /// input.pipe("c".into(), " 7".into(), 3)?;
    /// let out = driver.output_topic("parsed", StringSerde, I64Serde);
    /// assert_eq!(
    ///     out.read_key_values_with_time()?,
    ///     vec![("a".to_owned(), 12, 1), ("c".to_owned(), 7, 3)]
    /// );
    /// let dlq = driver.produced("amounts-dlq");
    /// assert_eq!(dlq.len(), 1);
    /// assert_eq!(dlq[0].value.as_deref(), Some(&b"twelve"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_map_values<V2, E>(
        &self,
        mapper: impl Fn(V) -> Result<V2, E> + Send + Sync + 'static,
    ) -> KStream<K, V2>
    where
        V2: Clone + 'static,
        E: Into<ProcessorError>,
    {
        self.stateless_try(
            "KSTREAM-MAPVALUES",
            self.key_serde.clone(),
            None,
            false,
            move |ctx, r| {
                let Record {
                    key,
                    value,
                    timestamp,
                    headers,
                } = r;
                let value = mapper(value).map_err(Into::into)?;
                ctx.forward(Record {
                    key,
                    value,
                    timestamp,
                    headers,
                })?;
                Ok(())
            },
        )
    }

    /// Each record turned into zero or more records, or an error for the processing
    /// exception handler (`KSTREAM-FLATMAP`); keys may change. Nothing of a failed record is
    /// forwarded.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let config = StreamsConfig::new("doc", "unused:9092").set("processing.exception.handler", "log-and-continue")?;
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .try_flat_map(|k, v| v.parse::<usize>().map(|n| vec![(k, n as i64); n]))
    ///     .to("out");
    /// let d = TopologyTestDriver::new(b.build()?, config)?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("2"), 1)?;
    /// input.pipe(s("b"), s("x"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, I64Serde).read_key_values_with_time()?, vec![(s("a"), 2, 1), (s("a"), 2, 1)]); // "x" failed: logged and skipped
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn try_flat_map<K2, V2, I, E>(
        &self,
        mapper: impl Fn(K, V) -> Result<I, E> + Send + Sync + 'static,
    ) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        I: IntoIterator<Item = (K2, V2)>,
        E: Into<ProcessorError>,
    {
        self.stateless_try("KSTREAM-FLATMAP", None, None, true, move |ctx, r| {
            let Record {
                key,
                value,
                timestamp,
                headers,
            } = r;
            for (key, value) in mapper(key, value).map_err(Into::into)? {
                ctx.forward(Record {
                    key,
                    value,
                    timestamp,
                    headers: headers.clone(),
                })?;
            }
            Ok(())
        })
    }

    /// Each value turned into zero or more values under the same key, or an error for the
    /// processing exception handler (`KSTREAM-FLATMAPVALUES`).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let config = StreamsConfig::new("doc", "unused:9092").set("processing.exception.handler", "log-and-continue")?;
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .try_flat_map_values(|v| v.parse::<i64>().map(|n| vec![n, -n]))
    ///     .to("out");
    /// let d = TopologyTestDriver::new(b.build()?, config)?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("2"), 1)?;
    /// input.pipe(s("b"), s("x"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, I64Serde).read_key_values_with_time()?, vec![(s("a"), 2, 1), (s("a"), -2, 1)]); // "x" failed: logged and skipped
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn try_flat_map_values<V2, I, E>(
        &self,
        mapper: impl Fn(V) -> Result<I, E> + Send + Sync + 'static,
    ) -> KStream<K, V2>
    where
        V2: Clone + 'static,
        I: IntoIterator<Item = V2>,
        E: Into<ProcessorError>,
    {
        self.stateless_try(
            "KSTREAM-FLATMAPVALUES",
            self.key_serde.clone(),
            None,
            false,
            move |ctx, r| {
                let Record {
                    key,
                    value,
                    timestamp,
                    headers,
                } = r;
                for value in mapper(value).map_err(Into::into)? {
                    ctx.forward(Record {
                        key: key.clone(),
                        value,
                        timestamp,
                        headers: headers.clone(),
                    })?;
                }
                Ok(())
            },
        )
    }
}
