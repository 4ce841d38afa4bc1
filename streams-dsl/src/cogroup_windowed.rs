//! Windowed cogroups (Kafka Streams' `TimeWindowedCogroupedKStream`): the inputs of a
//! cogroup folded into one aggregate per key and time window (tumbling, hopping or sliding),
//! kept in one window store. As in Kafka Streams, every update is emitted (no emit-on-close),
//! and each input's processor keeps its own stream time, so a record is late by the
//! records of its own input.

use std::sync::Arc;
use std::time::Duration;

use state_stores::{SessionStoreBuilder, WindowStoreBuilder};
use streams_core::serde::NaturalSerde;
use streams_core::{SessionWindowedSerde, StreamsError, TimeWindowedSerde, Windowed};

use crate::cogroup::{CogroupedKStream, Folding};
use crate::options::Materialized;
use crate::shared::Inner;
use crate::table::KTable;
use crate::timestamped::ValueAndTimestampSerde;
use crate::windowed::{Checked, Windowing};
use crate::windows::{SessionWindows, SlidingWindows, TimeWindows};

/// A cogroup cut into time windows, ready for [`Self::aggregate`]: made by
/// [`CogroupedKStream::windowed_by`] or [`CogroupedKStream::windowed_by_sliding`].
///
/// ```
/// use std::time::Duration;
/// use streams_core::serde::{I64Serde, Nullable, StringSerde};
/// use streams_core::test_driver::TopologyTestDriver;
/// use streams_core::{StreamsConfig, TimeWindowedSerde};
/// use streams_dsl::{StreamsBuilder, TimeWindows};
///
/// // Per user and 10-second window: a view adds 1, a purchase adds 100.
/// let b = StreamsBuilder::new();
/// let views = b.stream::<String, String>(&["views"]).group_by_key();
/// let purchases = b.stream::<String, String>(&["purchases"]).group_by_key();
/// views
///     .cogroup(|_, _, n: i64| n + 1)
///     .cogroup(&purchases, |_, _, n| n + 100)
///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
///     .aggregate(|| 0)
///     .to_stream()
///     .map(|w, n| (format!("{}@{}", w.key, w.window.start), n))
///     .to("scores");
/// let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("scores", "unused:9092"))?;
/// d.input_topic("views", StringSerde, StringSerde).pipe("ann".into(), "/".into(), 1_000)?;
/// d.input_topic("purchases", StringSerde, StringSerde).pipe("ann".into(), "p1".into(), 2_000)?;
/// d.input_topic("views", StringSerde, StringSerde).pipe("ann".into(), "/".into(), 12_000)?;
/// let scores = d.output_topic("scores", StringSerde, Nullable(I64Serde));
/// assert_eq!(
///     scores.read_key_values_with_time()?,
///     vec![
///         ("ann@0".into(), Some(1), 1_000),
///         ("ann@0".into(), Some(101), 2_000),
///         ("ann@10000".into(), Some(1), 12_000),
///     ]
/// );
/// # Ok::<(), streams_core::StreamsError>(())
/// ```
pub struct TimeWindowedCogroupedKStream<K, A> {
    cogrouped: CogroupedKStream<K, A>,
    windowing: Windowing,
}

impl<K, A> CogroupedKStream<K, A>
where
    K: Clone + 'static,
    A: Clone + 'static,
{
    /// The cogroup cut into tumbling or hopping windows.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// let clicks = b.stream::<String, String>(&["clicks"]).group_by_key();
    /// let buys = b.stream::<String, String>(&["buys"]).group_by_key();
    /// clicks
    ///     .cogroup(|_, _, n: i64| n + 1)
    ///     .cogroup(&buys, |_, _, n| n + 10)
    ///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
    ///     .aggregate(|| 0)
    ///     .to_stream()
    ///     .map(|w, n| (format!("{}@{}", w.key, w.window.start), n))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("clicks", StringSerde, StringSerde).pipe(s("ann"), s("/"), 1_000)?;
    /// d.input_topic("buys", StringSerde, StringSerde).pipe(s("ann"), s("b1"), 2_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann@0"), Some(1), 1_000), (s("ann@0"), Some(11), 2_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn windowed_by(self, windows: TimeWindows) -> TimeWindowedCogroupedKStream<K, A> {
        TimeWindowedCogroupedKStream {
            cogrouped: self,
            windowing: Windowing::Time(windows),
        }
    }

    /// The cogroup cut into session windows.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// let clicks = b.stream::<String, String>(&["clicks"]).group_by_key();
    /// let buys = b.stream::<String, String>(&["buys"]).group_by_key();
    /// clicks
    ///     .cogroup(|_, _, n: i64| n + 1)
    ///     .cogroup(&buys, |_, _, n| n + 10)
    ///     .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(5)))
    ///     .aggregate(|| 0, |_, a, c| a + c)
    ///     .to_stream()
    ///     .map(|w, n| (format!("{}@{}-{}", w.key, w.window.start, w.window.end), n))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("clicks", StringSerde, StringSerde).pipe(s("ann"), s("/"), 1_000)?;
    /// d.input_topic("buys", StringSerde, StringSerde).pipe(s("ann"), s("b1"), 2_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann@1000-1000"), Some(1), 1_000), (s("ann@1000-1000"), None, 1_000), (s("ann@1000-2000"), Some(11), 2_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn windowed_by_session(
        self,
        windows: SessionWindows,
    ) -> SessionWindowedCogroupedKStream<K, A> {
        SessionWindowedCogroupedKStream {
            cogrouped: self,
            windows,
        }
    }

    /// The cogroup cut into sliding windows.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// let clicks = b.stream::<String, String>(&["clicks"]).group_by_key();
    /// let buys = b.stream::<String, String>(&["buys"]).group_by_key();
    /// clicks
    ///     .cogroup(|_, _, n: i64| n + 1)
    ///     .cogroup(&buys, |_, _, n| n + 10)
    ///     .windowed_by_sliding(SlidingWindows::of_time_difference_with_no_grace(Duration::from_secs(10)))
    ///     .aggregate(|| 0)
    ///     .to_stream()
    ///     .map(|w, n| (format!("{}@{}-{}", w.key, w.window.start, w.window.end), n))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("clicks", StringSerde, StringSerde).pipe(s("ann"), s("/"), 1_000)?;
    /// d.input_topic("buys", StringSerde, StringSerde).pipe(s("ann"), s("b1"), 2_000)?;
    /// // Early records (within one time difference of 0) share a window starting at 0.
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann@0-10000"), Some(1), 1_000), (s("ann@1001-11001"), Some(10), 2_000), (s("ann@0-10000"), Some(11), 2_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn windowed_by_sliding(
        self,
        windows: SlidingWindows,
    ) -> TimeWindowedCogroupedKStream<K, A> {
        TimeWindowedCogroupedKStream {
            cogrouped: self,
            windowing: Windowing::Sliding(windows),
        }
    }
}

impl<K, A> TimeWindowedCogroupedKStream<K, A>
where
    K: Clone + 'static,
    A: Clone + 'static,
{
    /// The aggregates per key and window, from `initializer()` for a new window, in a store
    /// with a generated name; the aggregate with its natural serde.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// let clicks = b.stream::<String, String>(&["clicks"]).group_by_key();
    /// let buys = b.stream::<String, String>(&["buys"]).group_by_key();
    /// clicks
    ///     .cogroup(|_, _, n: i64| n + 1)
    ///     .cogroup(&buys, |_, _, n| n + 10)
    ///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
    ///     .aggregate(|| 0)
    ///     .to_stream()
    ///     .map(|w, n| (format!("{}@{}", w.key, w.window.start), n))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("clicks", StringSerde, StringSerde).pipe(s("ann"), s("/"), 1_000)?;
    /// d.input_topic("buys", StringSerde, StringSerde).pipe(s("ann"), s("b1"), 2_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann@0"), Some(1), 1_000), (s("ann@0"), Some(11), 2_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn aggregate(
        &self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
    ) -> KTable<Windowed<K>, A>
    where
        A: NaturalSerde,
    {
        let materialized = Materialized::new().or_value_serde(Some(A::natural_serde()));
        self.aggregate_with(initializer, materialized)
    }

    /// The aggregates per key and window, from `initializer()` for a new window, kept as
    /// `materialized` says (retention at least the window size plus grace, twice the time
    /// difference plus grace for sliding windows; that minimum by default).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// let clicks = b.stream::<String, String>(&["clicks"]).group_by_key();
    /// let buys = b.stream::<String, String>(&["buys"]).group_by_key();
    /// clicks
    ///     .cogroup(|_, _, n: i64| n + 1)
    ///     .cogroup(&buys, |_, _, n| n + 10)
    ///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
    ///     .aggregate_with(|| 0, Materialized::as_store("per-10s").with_value_serde(I64Serde).with_retention(Duration::from_secs(3600)))
    ///     .to_stream()
    ///     .map(|w, n| (format!("{}@{}", w.key, w.window.start), n))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("clicks", StringSerde, StringSerde).pipe(s("ann"), s("/"), 1_000)?;
    /// d.input_topic("buys", StringSerde, StringSerde).pipe(s("ann"), s("b1"), 2_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann@0"), Some(1), 1_000), (s("ann@0"), Some(11), 2_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn aggregate_with(
        &self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        materialized: Materialized<K, A>,
    ) -> KTable<Windowed<K>, A> {
        let windows = match self.windowing.check() {
            Ok(windows) => windows,
            Err(e) => {
                self.cogrouped.builder.borrow_mut().fail(e);
                // Never run: `build()` returns the error recorded above.
                Checked::Sliding {
                    difference: 1,
                    grace: 0,
                }
            }
        };
        let mut table = self.cogrouped.lower(
            Arc::new(initializer),
            &materialized,
            Folding::Windows(windows),
            |inner, store, k, a| {
                let retention = retention(
                    inner,
                    store,
                    materialized.retention,
                    windows.minimum_retention(),
                    "the window size plus the grace period; twice the time difference plus the \
                     grace period for sliding windows",
                )?;
                let builder = WindowStoreBuilder::new(
                    store,
                    materialized.kind,
                    Duration::from_millis(retention.max(0) as u64),
                    Duration::from_millis(windows.size() as u64),
                    false,
                    k.clone(),
                    ValueAndTimestampSerde(a.clone()),
                );
                builder
                    .map(|b| materialized.changelog(b))
                    .map_err(|e| inner.fail(e))
                    .ok()
            },
            |k| Arc::new(TimeWindowedSerde::shared(k.clone(), windows.size())),
        );
        table.window_grace = Some(windows.grace());
        table
    }
}

/// A cogroup cut into session windows, ready for [`Self::aggregate`]: made by
/// [`CogroupedKStream::windowed_by_session`].
pub struct SessionWindowedCogroupedKStream<K, A> {
    cogrouped: CogroupedKStream<K, A>,
    windows: SessionWindows,
}

impl<K, A> SessionWindowedCogroupedKStream<K, A>
where
    K: Clone + 'static,
    A: Clone + 'static,
{
    /// The aggregates per key and session, from `initializer()` for a new session; when a
    /// record joins sessions, their aggregates combine with `merger(key, a, b)`. In a store
    /// with a generated name; the aggregate with its natural serde.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// let clicks = b.stream::<String, String>(&["clicks"]).group_by_key();
    /// let buys = b.stream::<String, String>(&["buys"]).group_by_key();
    /// clicks
    ///     .cogroup(|_, _, n: i64| n + 1)
    ///     .cogroup(&buys, |_, _, n| n + 10)
    ///     .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(5)))
    ///     .aggregate(|| 0, |_, a, c| a + c)
    ///     .to_stream()
    ///     .map(|w, n| (format!("{}@{}-{}", w.key, w.window.start, w.window.end), n))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("clicks", StringSerde, StringSerde).pipe(s("ann"), s("/"), 1_000)?;
    /// d.input_topic("buys", StringSerde, StringSerde).pipe(s("ann"), s("b1"), 2_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann@1000-1000"), Some(1), 1_000), (s("ann@1000-1000"), None, 1_000), (s("ann@1000-2000"), Some(11), 2_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn aggregate(
        &self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        merger: impl Fn(&K, A, A) -> A + Send + Sync + 'static,
    ) -> KTable<Windowed<K>, A>
    where
        A: NaturalSerde,
    {
        let materialized = Materialized::new().or_value_serde(Some(A::natural_serde()));
        self.aggregate_with(initializer, merger, materialized)
    }

    /// As [`Self::aggregate`], kept as `materialized` says (retention at least the
    /// inactivity gap plus the grace period; that minimum by default).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// let clicks = b.stream::<String, String>(&["clicks"]).group_by_key();
    /// let buys = b.stream::<String, String>(&["buys"]).group_by_key();
    /// clicks
    ///     .cogroup(|_, _, n: i64| n + 1)
    ///     .cogroup(&buys, |_, _, n| n + 10)
    ///     .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(5)))
    ///     .aggregate_with(|| 0, |_, a, c| a + c, Materialized::as_store("visits").with_value_serde(I64Serde))
    ///     .to_stream()
    ///     .map(|w, n| (format!("{}@{}-{}", w.key, w.window.start, w.window.end), n))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("clicks", StringSerde, StringSerde).pipe(s("ann"), s("/"), 1_000)?;
    /// d.input_topic("buys", StringSerde, StringSerde).pipe(s("ann"), s("b1"), 2_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann@1000-1000"), Some(1), 1_000), (s("ann@1000-1000"), None, 1_000), (s("ann@1000-2000"), Some(11), 2_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn aggregate_with(
        &self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        merger: impl Fn(&K, A, A) -> A + Send + Sync + 'static,
        materialized: Materialized<K, A>,
    ) -> KTable<Windowed<K>, A> {
        let (gap, grace) = self.windows.check().unwrap_or_else(|e| {
            self.cogrouped.builder.borrow_mut().fail(e);
            (1, 0) // never run: `build()` returns the error recorded above
        });
        let folding = Folding::Sessions {
            gap,
            grace,
            merger: Arc::new(merger),
        };
        let mut table = self.cogrouped.lower(
            Arc::new(initializer),
            &materialized,
            folding,
            |inner, store, k, a| {
                let retention = retention(
                    inner,
                    store,
                    materialized.retention,
                    gap.saturating_add(grace),
                    "the inactivity gap plus the grace period",
                )?;
                let builder = SessionStoreBuilder::new(
                    store,
                    materialized.kind,
                    Duration::from_millis(retention.max(0) as u64),
                    k.clone(),
                    a.clone(),
                );
                builder
                    .map(|b| materialized.changelog(b))
                    .map_err(|e| inner.fail(e))
                    .ok()
            },
            |k| Arc::new(SessionWindowedSerde::shared(k.clone())),
        );
        // A session can still grow by a gap after its end.
        table.window_grace = Some(grace.saturating_add(gap));
        table
    }
}

/// The retention of a windowed cogroup's store: the one given, checked to be at least
/// `minimum` (`what` says what that is made of), or the minimum; `None` after recording
/// the error.
fn retention(
    inner: &mut Inner,
    store: &str,
    given: Option<Duration>,
    minimum: i64,
    what: &str,
) -> Option<i64> {
    let retention = given.map_or(minimum, |r| {
        i64::try_from(r.as_millis()).unwrap_or(i64::MAX)
    });
    if retention < minimum {
        inner.fail(StreamsError::Topology(format!(
            "cogroup on store `{store}`: its retention ({retention} ms) must be at least \
             {minimum} ms ({what})"
        )));
        return None;
    }
    Some(retention)
}
