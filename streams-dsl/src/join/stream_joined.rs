//! The stream-stream join operators (`join`, `left_join`, `outer_join` and their `_with`
//! forms), `StreamJoined` (Kafka Streams' options of a stream-stream join: serdes, a name for its
//! nodes and repartition topics, a name for its stores, changelogs on or off) and the names
//! a stream-stream join takes, as Kafka Streams 4.1.1 gives them.

use std::sync::Arc;

use streams_core::serde::{Serde, SharedSerde};

use super::stream_stream::{JoinKind, StreamJoiner, unreachable_join};
use crate::shared::Inner;
use crate::stream::KStream;
use crate::windows::JoinWindows;

/// How a stream-stream join is named and stored. Without options the streams' own serdes are
/// used and the nodes, stores and repartition topics get generated names.
///
/// ```
/// use std::time::Duration;
/// use streams_core::serde::StringSerde;
/// use streams_dsl::{JoinWindows, StreamJoined, StreamsBuilder};
///
/// let b = StreamsBuilder::new();
/// let views = b.stream::<String, String>(&["views"]);
/// let buys = b.stream::<String, String>(&["buys"]);
/// views
///     .join_with(
///         &buys,
///         |view, buy| format!("{view}->{buy}"),
///         JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(60)),
///         StreamJoined::with(StringSerde, StringSerde, StringSerde)
///             .with_name("views-buys")
///             .with_store_name("view-buy-store"),
///     )
///     .to("out");
/// let description = b.build()?.describe().to_string();
/// assert!(description.contains("Processor: views-buys-this-join (stores: [view-buy-store-other-join-store])"));
/// # Ok::<(), streams_core::StreamsError>(())
/// ```
pub struct StreamJoined<K, V, VO> {
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) other_value_serde: Option<SharedSerde<VO>>,
    name: Option<String>,
    store_name: Option<String>,
    pub(crate) logging: bool,
}

impl<K, V, VO> Default for StreamJoined<K, V, VO> {
    fn default() -> Self {
        StreamJoined {
            key_serde: None,
            value_serde: None,
            other_value_serde: None,
            name: None,
            store_name: None,
            logging: true,
        }
    }
}

impl<K: 'static, V: 'static, VO: 'static> StreamJoined<K, V, VO> {
    /// Joins with these serdes for the keys and both sides' values (its window stores and
    /// repartition topics).
    pub fn with(
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
        other_value_serde: impl Serde<VO>,
    ) -> Self {
        StreamJoined {
            key_serde: Some(Arc::new(key_serde)),
            value_serde: Some(Arc::new(value_serde)),
            other_value_serde: Some(Arc::new(other_value_serde)),
            ..Self::default()
        }
    }

    /// Names the join's nodes `<name>-this-windowed`, `<name>-other-windowed`,
    /// `<name>-this-join` (`-outer-this-join` for an outer join), `<name>-other-join`
    /// (`-outer-other-join` for left and outer joins) and `<name>-merge`, and the repartition
    /// topics of key-changed sides `<name>-left` / `<name>-right`.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Names the window stores `<store name>-this-join-store` /
    /// `<store name>-other-join-store` (with the same `outer-` prefixes as the nodes), and a
    /// left or outer join's store of unmatched records `<store name>-left-shared-join-store` /
    /// `-outer-shared-join-store`; their changelogs are named after them.
    pub fn with_store_name(mut self, store_name: &str) -> Self {
        self.store_name = Some(store_name.to_owned());
        self
    }

    /// Keeps the join's stores without changelogs (a restart loses the records in their
    /// windows).
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }

    /// The bases of the repartition topics of a key-changed side: `<name>-left` and
    /// `<name>-right`, or the streams' own node names.
    pub(crate) fn repartition_bases(&self, this_node: &str, other_node: &str) -> (String, String) {
        match &self.name {
            Some(name) => (format!("{name}-left"), format!("{name}-right")),
            None => (this_node.to_owned(), other_node.to_owned()),
        }
    }

    /// The join's node and store names, taken from the counter in Kafka Streams' order;
    /// `left_outer` / `right_outer` as Kafka Streams' flags (left join: left only; outer join:
    /// both).
    pub(crate) fn names(
        &self,
        inner: &mut Inner,
        left_outer: bool,
        right_outer: bool,
    ) -> StreamJoinNames {
        let suffixed = |suffix: &str| self.name.as_ref().map(|n| format!("{n}{suffix}"));
        let this_window =
            inner.node_name(suffixed("-this-windowed").as_deref(), "KSTREAM-WINDOWED");
        let other_window =
            inner.node_name(suffixed("-other-windowed").as_deref(), "KSTREAM-WINDOWED");
        let this_generated = inner.new_name(if right_outer {
            "KSTREAM-OUTERTHIS"
        } else {
            "KSTREAM-JOINTHIS"
        });
        let other_generated = inner.new_name(if left_outer {
            "KSTREAM-OUTEROTHER"
        } else {
            "KSTREAM-JOINOTHER"
        });
        let this_suffix = if right_outer {
            "-outer-this-join"
        } else {
            "-this-join"
        };
        let other_suffix = if left_outer {
            "-outer-other-join"
        } else {
            "-other-join"
        };
        let this_join = suffixed(this_suffix).unwrap_or_else(|| this_generated.clone());
        let other_join = suffixed(other_suffix).unwrap_or_else(|| other_generated.clone());
        let merge = inner.node_name(suffixed("-merge").as_deref(), "KSTREAM-MERGE");
        let store = |suffix: &str, generated: &str| match &self.store_name {
            Some(s) => format!("{s}{suffix}-store"),
            None => format!("{generated}-store"),
        };
        let shared_store = left_outer.then(|| match &self.store_name {
            Some(s) if right_outer => format!("{s}-outer-shared-join-store"),
            Some(s) => format!("{s}-left-shared-join-store"),
            // `KSTREAM-OUTERSHARED-` with the number of the join's first node.
            None => format!(
                "KSTREAM-OUTERSHARED-{}-store",
                this_generated.rsplit('-').next().unwrap_or_default()
            ),
        });
        StreamJoinNames {
            this_store: store(this_suffix, &this_generated),
            other_store: store(other_suffix, &other_generated),
            this_window,
            other_window,
            this_join,
            other_join,
            merge,
            shared_store,
        }
    }
}

/// The names of a stream-stream join's nodes and stores.
pub(crate) struct StreamJoinNames {
    pub(crate) this_window: String,
    pub(crate) other_window: String,
    pub(crate) this_join: String,
    pub(crate) other_join: String,
    pub(crate) merge: String,
    pub(crate) this_store: String,
    pub(crate) other_store: String,
    pub(crate) shared_store: Option<String>,
}

impl<K, V> KStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// Inner stream-stream join: each record joins every record of `other` with the same
    /// key whose timestamp is within `windows` of its own, as soon as the second of the two
    /// arrives; the result's timestamp is the later of the two. Both sides are kept in window
    /// stores (duplicates retained, changelogged) for the window plus grace; both streams
    /// need known serdes and must be co-partitioned.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// let views = b.stream::<String, String>(&["views"]);
    /// let buys = b.stream::<String, String>(&["buys"]);
    /// views
    ///     .join(&buys, |view, buy| format!("{view}->{buy}"), JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(60)))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("views", StringSerde, StringSerde).pipe(s("ann"), s("shoes"), 1_000)?;
    /// d.input_topic("buys", StringSerde, StringSerde).pipe(s("ann"), s("b1"), 30_000)?;
    /// d.input_topic("buys", StringSerde, StringSerde).pipe(s("ann"), s("b2"), 90_000)?; // 89 s later: outside the window
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("ann"), s("shoes->b1"), 30_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn join<V2, VR>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(&V, &V2) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
    ) -> KStream<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        self.join_with(other, joiner, windows, StreamJoined::default())
    }

    /// As [`Self::join`], named, stored and with serdes as `joined` says (see
    /// [`StreamJoined`] for an example).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// let views = b.stream::<String, String>(&["views"]);
    /// let buys = b.stream::<String, String>(&["buys"]);
    /// views
    ///     .join_with(&buys, |view, buy| format!("{view}->{buy}"), JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(60)), StreamJoined::default().with_name("views-buys"))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("views", StringSerde, StringSerde).pipe(s("ann"), s("shoes"), 1_000)?;
    /// d.input_topic("buys", StringSerde, StringSerde).pipe(s("ann"), s("b1"), 30_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("ann"), s("shoes->b1"), 30_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn join_with<V2, VR>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(&V, &V2) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V, V2>,
    ) -> KStream<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        let joiner: Arc<StreamJoiner<V, V2, VR>> = Arc::new(move |a, b| match (a, b) {
            (Some(a), Some(b)) => joiner(a, b),
            // An inner join only ever joins two records.
            _ => unreachable_join(),
        });
        self.stream_join(other, joiner, windows, JoinKind::Inner, joined)
    }

    /// Left stream-stream join: as [`Self::join`], and each record of this stream that no
    /// record of `other` matched is emitted joined with `None` once its window plus grace has
    /// closed (never earlier), with its own timestamp.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// let views = b.stream::<String, String>(&["views"]);
    /// let buys = b.stream::<String, String>(&["buys"]);
    /// views
    ///     .left_join(&buys, |view, buy| format!("{view}->{}", buy.map_or("none", String::as_str)), JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(60)))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let views = d.input_topic("views", StringSerde, StringSerde);
    /// views.pipe(s("ann"), s("shoes"), 1_000)?;
    /// views.pipe(s("bob"), s("hats"), 100_000)?; // moves stream time past ann's window: unmatched, it is emitted
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("ann"), s("shoes->none"), 1_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn left_join<V2, VR>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(&V, Option<&V2>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
    ) -> KStream<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        self.left_join_with(other, joiner, windows, StreamJoined::default())
    }

    /// As [`Self::left_join`], named, stored and with serdes as `joined` says.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// let views = b.stream::<String, String>(&["views"]);
    /// let buys = b.stream::<String, String>(&["buys"]);
    /// views
    ///     .left_join_with(&buys, |view, buy| format!("{view}->{}", buy.map_or("none", String::as_str)), JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(60)), StreamJoined::default().with_store_name("views-buys"))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("views", StringSerde, StringSerde).pipe(s("ann"), s("shoes"), 1_000)?;
    /// d.input_topic("buys", StringSerde, StringSerde).pipe(s("ann"), s("b1"), 30_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("ann"), s("shoes->b1"), 30_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn left_join_with<V2, VR>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(&V, Option<&V2>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V, V2>,
    ) -> KStream<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        let joiner: Arc<StreamJoiner<V, V2, VR>> = Arc::new(move |a, b| match a {
            Some(a) => joiner(a, b),
            None => unreachable_join(),
        });
        self.stream_join(other, joiner, windows, JoinKind::Left, joined)
    }

    /// Outer stream-stream join: as [`Self::left_join`] for the records of both streams.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// let views = b.stream::<String, String>(&["views"]);
    /// let buys = b.stream::<String, String>(&["buys"]);
    /// views
    ///     .outer_join(&buys, |view, buy| format!("{}->{}", view.map_or("none", String::as_str), buy.map_or("none", String::as_str)), JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(60)))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let views = d.input_topic("views", StringSerde, StringSerde);
    /// views.pipe(s("ann"), s("shoes"), 1_000)?;
    /// views.pipe(s("bob"), s("hats"), 100_000)?; // moves stream time past ann's window: unmatched, it is emitted
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("ann"), s("shoes->none"), 1_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn outer_join<V2, VR>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(Option<&V>, Option<&V2>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
    ) -> KStream<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        self.outer_join_with(other, joiner, windows, StreamJoined::default())
    }

    /// As [`Self::outer_join`], named, stored and with serdes as `joined` says.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// let views = b.stream::<String, String>(&["views"]);
    /// let buys = b.stream::<String, String>(&["buys"]);
    /// views
    ///     .outer_join_with(&buys, |view, buy| format!("{}->{}", view.map_or("none", String::as_str), buy.map_or("none", String::as_str)), JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(60)), StreamJoined::default().with_logging_disabled())
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("views", StringSerde, StringSerde).pipe(s("ann"), s("shoes"), 1_000)?;
    /// d.input_topic("buys", StringSerde, StringSerde).pipe(s("ann"), s("b1"), 30_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("ann"), s("shoes->b1"), 30_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn outer_join_with<V2, VR>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(Option<&V>, Option<&V2>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V, V2>,
    ) -> KStream<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        self.stream_join(other, Arc::new(joiner), windows, JoinKind::Outer, joined)
    }
}
