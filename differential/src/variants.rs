//! The topologies compared, by name: each is written here with our DSL and in
//! `differential/java/src/main/java/kstreamsdiff/DiffDriver.java` with Kafka Streams' DSL, the
//! same operators with the same parameters. Keys and values are strings; values are decimal
//! numbers, numbers out are decimal strings, joined values `left|right` (`null` for a missing
//! side, as Java's string concatenation writes it), windowed keys `key@start/end`.

use std::time::Duration;

use state_stores::KeyValueStoreBuilder;
use state_stores::typed::TypedKeyValueStore;
use streams_core::processor::ProcessorError;
use streams_core::serde::{I64Serde, Nullable, StringSerde};
use streams_core::store::StoreHandle;
use streams_core::{StreamsError, Topology, Windowed};
use streams_dsl::suppress::{BufferConfig, Suppressed};
use streams_dsl::{
    Consumed, EmitStrategy, Grouped, JoinWindows, KStream, KTable, Materialized, Produced,
    Repartitioned, SessionWindows, SlidingWindows, StreamsBuilder, TimeWindows,
    ValueTransformerWithKey,
};
use streams_dsl::{Joined, StreamJoined};

/// How the outputs of a variant are expected to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expectation {
    /// Record for record the same.
    Same,
    /// A difference on purpose, named by its entry in `docs/architecture.md` ("Differences
    /// from Kafka Streams"): Kafka Streams' records must come out of ours in the same order,
    /// and ours may hold more (final results Kafka Streams drops).
    Superset(&'static str),
    /// A difference on purpose, named as above: the joined records are the same, in the same
    /// order, and so are the unmatched ones (`x|null`, `null|x`) once a last record far ahead
    /// has flushed both sides, except that ours may come earlier (so in another order among
    /// the unmatched ones), and ours may hold an unmatched record Kafka Streams never emits
    /// when a late record of the other side joined it after its window closed (we had emitted
    /// it by then, Kafka Streams had not).
    EarlierUnmatched(&'static str),
}

/// One topology of the suite.
pub struct Variant {
    /// Its name, the same on both sides.
    pub name: &'static str,
    /// The topics it reads: `in` and `in2` are streams, `tbl` and `tbl2` tables keyed like
    /// the streams, `fk` a table keyed by the foreign keys (`f0`..`f4`) values point at.
    pub inputs: &'static [&'static str],
    /// The topics it writes, compared one by one.
    pub outputs: &'static [&'static str],
    /// Whether its stream inputs may carry null values (tables always may): for operators
    /// Kafka Streams skips such records in (aggregations and joins). Our stream serdes refuse
    /// a null, and the suite's deserialization handler logs and skips the record.
    pub stream_nulls: bool,
    /// How its outputs compare.
    pub expect: Expectation,
    /// Builds it.
    pub build: fn(&StreamsBuilder),
}

const SIZE: Duration = Duration::from_millis(10);
const ADVANCE: Duration = Duration::from_millis(3);
const GRACE: Duration = Duration::from_millis(5);
const GAP: Duration = Duration::from_millis(5);
const SESSION_GRACE: Duration = Duration::from_millis(3);
/// How long `table-suppress-limit` holds an update back.
const SUPPRESS_LIMIT: Duration = Duration::from_millis(5);
/// Long enough that no window store segment is dropped before its final result.
const RETENTION: Duration = Duration::from_secs(365 * 24 * 3600);

fn num(v: &str) -> i64 {
    v.parse()
        .unwrap_or_else(|_| panic!("the suite's values are numbers, got {v:?}"))
}

fn joined(a: Option<&String>, b: Option<&String>) -> String {
    format!("{}|{}", a.map_or("null", |s| s), b.map_or("null", |s| s))
}

fn fk(v: &str) -> String {
    format!("f{}", num(v) % 4)
}

fn sum(a: String, b: String) -> String {
    (num(&a) + num(&b)).to_string()
}

/// A value transformer: `t<value>`, nothing for multiples of 3, `none` for an absent row.
fn thirds(_: &String, v: Option<&String>) -> Result<Option<String>, ProcessorError> {
    Ok(match v {
        None => Some("none".to_owned()),
        Some(v) if num(v) % 3 == 0 => None,
        Some(v) => Some(format!("t{v}")),
    })
}

/// A value transformer counting its calls per key in a store: `<value>#<calls>`.
struct CallCounter(StoreHandle<TypedKeyValueStore<String, i64>>);

impl ValueTransformerWithKey<String, String, String> for CallCounter {
    fn transform(
        &mut self,
        key: &String,
        v: Option<&String>,
    ) -> Result<Option<String>, ProcessorError> {
        let calls = self.0.borrow().get(key)?.unwrap_or(0) + 1;
        self.0.borrow_mut().put(key, &calls)?;
        Ok(v.map(|v| format!("{v}#{calls}")))
    }
}

fn strings() -> Consumed<String, String> {
    Consumed::with(StringSerde, StringSerde)
}

fn stream(b: &StreamsBuilder, topic: &str) -> KStream<String, String> {
    b.stream_with(&[topic], strings())
}

/// A stream whose null values are values (`None`): what windowed aggregations need, since
/// Kafka Streams' windowed aggregations aggregate records with null values too.
fn nullable_stream(b: &StreamsBuilder) -> KStream<String, Option<String>> {
    b.stream_with(&["in"], Consumed::with(StringSerde, Nullable(StringSerde)))
}

fn table(b: &StreamsBuilder, topic: &str) -> KTable<String, String> {
    b.table_with(
        topic,
        strings(),
        Materialized::as_store(&format!("{topic}-store")),
    )
}

fn out(s: &KStream<String, String>) {
    s.to_with("out", Produced::with(StringSerde, StringSerde));
}

fn table_out(t: &KTable<String, String>) {
    t.to_stream()
        .to_with("out", Produced::with(StringSerde, Nullable(StringSerde)));
}

fn count_out(t: &KTable<String, i64>) {
    t.to_stream()
        .map_values(|v| v.map(|n| n.to_string()))
        .to_with("out", Produced::with(StringSerde, Nullable(StringSerde)));
}

fn window_name(w: &Windowed<String>) -> String {
    format!("{}@{}/{}", w.key, w.window.start, w.window.end)
}

fn windowed_out<V: Clone + ToString + 'static>(t: &KTable<Windowed<String>, V>) {
    t.to_stream()
        .map(|w, v| (window_name(&w), v.map(|v| v.to_string())))
        .to_with("out", Produced::with(StringSerde, Nullable(StringSerde)));
}

fn retained() -> Materialized<String, i64> {
    Materialized::as_store("window-counts").with_retention(RETENTION)
}

fn time_windowed(b: &StreamsBuilder, windows: TimeWindows, emit: EmitStrategy) {
    let grouped = nullable_stream(b).group_by_key().windowed_by(windows);
    match emit {
        EmitStrategy::OnWindowUpdate => windowed_out(&grouped.count_with(Materialized::new())),
        EmitStrategy::OnWindowClose => {
            windowed_out(&grouped.emit_strategy(emit).count_with(retained()));
        }
    }
}

fn sliding(b: &StreamsBuilder, emit: EmitStrategy) {
    let grouped = nullable_stream(b)
        .group_by_key()
        .windowed_by_sliding(SlidingWindows::of_time_difference_and_grace(SIZE, GRACE));
    match emit {
        EmitStrategy::OnWindowUpdate => windowed_out(&grouped.count_with(Materialized::new())),
        EmitStrategy::OnWindowClose => {
            windowed_out(&grouped.emit_strategy(emit).count_with(retained()));
        }
    }
}

fn tumbling() -> TimeWindows {
    TimeWindows::of_size_and_grace(SIZE, GRACE)
}

fn hopping() -> TimeWindows {
    TimeWindows::of_size_and_grace(SIZE, GRACE).advance_by(ADVANCE)
}

fn sessions() -> SessionWindows {
    SessionWindows::of_inactivity_gap_and_grace(GAP, SESSION_GRACE)
}

fn join_windows() -> JoinWindows {
    JoinWindows::of_time_difference_and_grace(SIZE, GRACE)
}

fn by_value_mod_3() -> Grouped<String, String> {
    Grouped::with(StringSerde, StringSerde)
}

/// `in` and `in2` cogrouped by key: `+v` for the one, `-v` for the other.
fn two_cogrouped(b: &StreamsBuilder) -> streams_dsl::CogroupedKStream<String, String> {
    stream(b, "in")
        .group_by_key()
        .cogroup(|_, v, agg: String| format!("{agg}+{v}"))
        .cogroup(&stream(b, "in2").group_by_key(), |_, v, agg| {
            format!("{agg}-{v}")
        })
}

const IN: &[&str] = &["in"];
/// The entries of `docs/architecture.md`, "Differences from Kafka Streams".
const FINAL_RESULTS_KEPT: &str = "Emit-on-window-close keeps every final result";
const UNMATCHED_AT_EXPIRY: &str = "Left and outer stream-stream joins emit expired unmatched \
                                   records at the first record at stream time after they expire";
const OUT: &[&str] = &["out"];

macro_rules! variant {
    ($name:literal, $inputs:expr, nulls: $nulls:literal, $build:expr) => {
        variant!($name, $inputs, OUT, nulls: $nulls, Expectation::Same, $build)
    };
    ($name:literal, $inputs:expr, $outputs:expr, nulls: $nulls:literal, $expect:expr, $build:expr) => {
        Variant {
            name: $name,
            inputs: $inputs,
            outputs: $outputs,
            stream_nulls: $nulls,
            expect: $expect,
            build: $build,
        }
    };
}

/// Every variant, in the order the suite runs them.
pub fn all() -> Vec<Variant> {
    vec![
        variant!("stateless", IN, nulls: false, |b| {
            let s = stream(b, "in")
                .filter(|_, v| num(v) % 3 != 0)
                .map_values(|v| (num(&v) * 2).to_string())
                .flat_map_values(|v| {
                    if num(&v) % 5 == 0 {
                        vec![v.clone(), format!("{v}+1")]
                    } else {
                        vec![v]
                    }
                })
                .select_key(|k, v| format!("{k}-{}", num(v.trim_end_matches("+1")) % 2));
            out(&s);
        }),
        variant!("split-merge", IN, &["out", "out2"], nulls: false, Expectation::Same, |b| {
            let branches = stream(b, "in")
                .split(Some("b-"))
                .branch("lo", |_, v| num(v) < 30)
                .branch("mid", |_, v| num(v) < 60)
                .default_branch("hi");
            let lo = branches["b-lo"].map_values(|v| format!("lo:{v}"));
            out(&lo.merge(&branches["b-mid"].map_values(|v| format!("mid:{v}"))));
            branches["b-hi"].to_with("out2", Produced::with(StringSerde, StringSerde));
        }),
        variant!("count", IN, nulls: true, |b| {
            count_out(&stream(b, "in").group_by_key().count_with(Materialized::new()));
        }),
        variant!("count-nullable", IN, nulls: true, |b| {
            count_out(&nullable_stream(b).group_by_key().count_with(Materialized::new()));
        }),
        variant!("reduce-regroup", IN, nulls: false, |b| {
            table_out(
                &stream(b, "in")
                    .group_by_with(|_, v| format!("g{}", num(v) % 3), by_value_mod_3())
                    .reduce_with(sum, Materialized::new()),
            );
        }),
        variant!("aggregate", IN, nulls: true, |b| {
            table_out(&stream(b, "in").group_by_key().aggregate_with(
                String::new,
                |_, v, agg| format!("{agg},{v}"),
                Materialized::new().with_value_serde(StringSerde),
            ));
        }),
        variant!("repartition-count", IN, nulls: false, |b| {
            count_out(
                &stream(b, "in")
                    .select_key(|_, v| format!("r{}", num(v) % 4))
                    .repartition(Repartitioned::with(StringSerde, StringSerde).with_name("spread"))
                    .group_by_key()
                    .count_with(Materialized::new()),
            );
        }),
        variant!("flat-map-count", IN, nulls: false, |b| {
            let both = stream(b, "in")
                .flat_map(|k, v| [(format!("m{}", num(&v) % 3), v.clone()), (k, v)])
                .with_serdes(StringSerde, StringSerde);
            count_out(&both.group_by_key().count_with(Materialized::new()));
        }),
        // No nulls: Kafka Streams hands a null value to the reducer, and this one adds numbers.
        variant!("tumbling-reduce", IN, nulls: false, |b| {
            windowed_out(
                &stream(b, "in")
                    .group_by_key()
                    .windowed_by(tumbling())
                    .reduce_with(sum, Materialized::new()),
            );
        }),
        variant!("session-aggregate", IN, nulls: false, |b| {
            windowed_out(
                &stream(b, "in")
                    .group_by_key()
                    .windowed_by_session(sessions())
                    .aggregate_with(
                        String::new,
                        |_, v, agg| format!("{agg},{v}"),
                        |_, a, c| format!("{a}+{c}"),
                        Materialized::new().with_value_serde(StringSerde),
                    ),
            );
        }),
        variant!("tumbling", IN, nulls: true, |b| {
            time_windowed(b, tumbling(), EmitStrategy::OnWindowUpdate);
        }),
        variant!("tumbling-final", IN, nulls: true, |b| {
            time_windowed(b, tumbling(), EmitStrategy::OnWindowClose);
        }),
        variant!(
            "tumbling-final-default-retention",
            IN,
            OUT,
            nulls: false,
            Expectation::Superset(FINAL_RESULTS_KEPT),
            |b| {
                windowed_out(
                    &stream(b, "in")
                        .group_by_key()
                        .windowed_by(tumbling())
                        .emit_strategy(EmitStrategy::OnWindowClose)
                        .count_with(Materialized::new()),
                );
            }
        ),
        variant!("hopping", IN, nulls: true, |b| {
            time_windowed(b, hopping(), EmitStrategy::OnWindowUpdate);
        }),
        variant!("hopping-final", IN, nulls: true, |b| {
            time_windowed(b, hopping(), EmitStrategy::OnWindowClose);
        }),
        variant!("sliding", IN, nulls: true, |b| sliding(b, EmitStrategy::OnWindowUpdate)),
        variant!("sliding-final", IN, nulls: true, |b| {
            sliding(b, EmitStrategy::OnWindowClose);
        }),
        variant!("session", IN, nulls: true, |b| {
            windowed_out(
                &nullable_stream(b)
                    .group_by_key()
                    .windowed_by_session(sessions())
                    .count_with(Materialized::new()),
            );
        }),
        variant!("session-final", IN, nulls: true, |b| {
            windowed_out(
                &nullable_stream(b)
                    .group_by_key()
                    .windowed_by_session(sessions())
                    .emit_strategy(EmitStrategy::OnWindowClose)
                    .count_with(Materialized::as_store("session-counts").with_retention(RETENTION)),
            );
        }),
        variant!("session-final-default-retention", IN, nulls: true, |b| {
            windowed_out(
                &nullable_stream(b)
                    .group_by_key()
                    .windowed_by_session(sessions())
                    .emit_strategy(EmitStrategy::OnWindowClose)
                    .count_with(Materialized::new()),
            );
        }),
        // No nulls: Kafka Streams hands a null value to the reducer, and this one adds numbers.
        variant!("session-reduce", IN, nulls: false, |b| {
            windowed_out(
                &stream(b, "in")
                    .group_by_key()
                    .windowed_by_session(sessions())
                    .reduce_with(sum, Materialized::new()),
            );
        }),
        variant!("stream-stream-inner", &["in", "in2"], nulls: true, |b| {
            let joined = stream(b, "in").join(
                &stream(b, "in2"),
                |a, c| joined(Some(a), Some(c)),
                join_windows(),
            );
            out(&joined);
        }),
        variant!(
            "stream-stream-left",
            &["in", "in2"],
            OUT,
            nulls: true,
            Expectation::EarlierUnmatched(UNMATCHED_AT_EXPIRY),
            |b| {
            let joined =
                stream(b, "in").left_join(&stream(b, "in2"), |a, c| joined(Some(a), c), join_windows());
            out(&joined);
        }),
        variant!(
            "stream-stream-outer",
            &["in", "in2"],
            OUT,
            nulls: true,
            Expectation::EarlierUnmatched(UNMATCHED_AT_EXPIRY),
            |b| {
            out(&stream(b, "in").outer_join(&stream(b, "in2"), joined, join_windows()));
        }),
        variant!(
            "stream-stream-left-named",
            &["in", "in2"],
            OUT,
            nulls: true,
            Expectation::EarlierUnmatched(UNMATCHED_AT_EXPIRY),
            |b| {
                // The right side re-keyed (to the same keys): a repartition topic named
                // after the join.
                let left = stream(b, "in");
                let right = stream(b, "in2").select_key(|k, _| k.clone());
                let named = StreamJoined::with(StringSerde, StringSerde, StringSerde)
                    .with_name("vj")
                    .with_store_name("vjs");
                out(&left.left_join_with(&right, |a, c| joined(Some(a), c), join_windows(), named));
            }
        ),
        variant!(
            "stream-stream-outer-stored",
            &["in", "in2"],
            OUT,
            nulls: true,
            Expectation::EarlierUnmatched(UNMATCHED_AT_EXPIRY),
            |b| {
                let stored = StreamJoined::default().with_store_name("oj").with_logging_disabled();
                out(&stream(b, "in").outer_join_with(&stream(b, "in2"), joined, join_windows(), stored));
            }
        ),
        variant!("stream-stream-inner-asymmetric", &["in", "in2"], nulls: true, |b| {
            let windows = join_windows().after(Duration::ZERO);
            out(&stream(b, "in").join(&stream(b, "in2"), |a, c| joined(Some(a), Some(c)), windows));
        }),
        variant!(
            "stream-stream-left-asymmetric",
            &["in", "in2"],
            OUT,
            nulls: true,
            Expectation::EarlierUnmatched(UNMATCHED_AT_EXPIRY),
            |b| {
                let windows = join_windows().before(Duration::from_millis(2));
                out(&stream(b, "in").left_join(&stream(b, "in2"), |a, c| joined(Some(a), c), windows));
            }
        ),
        variant!(
            "stream-stream-outer-asymmetric",
            &["in", "in2"],
            OUT,
            nulls: true,
            Expectation::EarlierUnmatched(UNMATCHED_AT_EXPIRY),
            |b| {
                let windows = join_windows().before_ms(-3);
                out(&stream(b, "in").outer_join(&stream(b, "in2"), joined, windows));
            }
        ),
        variant!("stream-table-inner", &["in", "tbl"], nulls: true, |b| {
            out(&stream(b, "in").join_table(&table(b, "tbl"), |a, c| joined(Some(a), Some(c))));
        }),
        variant!("stream-table-left", &["in", "tbl"], nulls: true, |b| {
            out(&stream(b, "in").left_join_table(&table(b, "tbl"), |a, c| joined(Some(a), c)));
        }),
        variant!("stream-table-named", &["in", "tbl"], nulls: true, |b| {
            // Re-keyed (to the same keys) through a repartition topic named after the join.
            let input = stream(b, "in").select_key(|k, _| k.clone());
            let named = Joined::with(StringSerde, StringSerde, StringSerde).with_name("enrich");
            out(&input.left_join_table_with(&table(b, "tbl"), |a, c| joined(Some(a), c), named));
        }),
        variant!("stream-global-inner", &["in", "fk"], nulls: false, |b| {
            let g = b.global_table_with("fk", strings());
            out(&stream(b, "in").join_global(&g, |_, v| fk(v), |a, c| joined(Some(a), Some(c))));
        }),
        variant!("stream-global-left", &["in", "fk"], nulls: false, |b| {
            let g = b.global_table_with("fk", strings());
            out(&stream(b, "in").left_join_global(&g, |_, v| fk(v), |a, c| joined(Some(a), c)));
        }),
        variant!("table-table-inner", &["tbl", "tbl2"], nulls: false, |b| {
            table_out(&table(b, "tbl").join(&table(b, "tbl2"), |a, c| joined(Some(a), Some(c))));
        }),
        variant!("table-table-left", &["tbl", "tbl2"], nulls: false, |b| {
            table_out(&table(b, "tbl").left_join(&table(b, "tbl2"), |a, c| joined(Some(a), c)));
        }),
        variant!("table-table-outer", &["tbl", "tbl2"], nulls: false, |b| {
            table_out(&table(b, "tbl").outer_join(&table(b, "tbl2"), joined));
        }),
        variant!("stream-table-filtered", &["in", "tbl"], nulls: true, |b| {
            // The table's rows read through a filter and a mapping (a value getter).
            // Built in the order Kafka Streams' version evaluates it: the stream first.
            let input = stream(b, "in");
            let even = table(b, "tbl")
                .filter(|_, v| num(v) % 2 == 0)
                .map_values(|v| format!("e{v}"));
            out(&input.left_join_table(&even, |a, c| joined(Some(a), c)));
        }),
        variant!("stream-table-joined", &["in", "tbl", "tbl2"], nulls: true, |b| {
            // The table is a table-table join's result, read through both sides' rows.
            let input = stream(b, "in");
            let both = table(b, "tbl").outer_join(&table(b, "tbl2"), joined);
            out(&input.left_join_table(&both, |a, c| joined(Some(a), c)));
        }),
        variant!("table-table-filtered", &["tbl", "tbl2"], nulls: false, |b| {
            let mapped = table(b, "tbl").map_values(|v| format!("m{v}"));
            let small = table(b, "tbl2").filter(|_, v| num(v) < 50);
            table_out(&mapped.outer_join(&small, joined));
        }),
        variant!("table-table-materialized", &["tbl", "tbl2"], nulls: false, |b| {
            let stored = Materialized::as_store("tt-store");
            table_out(&table(b, "tbl").join_with(&table(b, "tbl2"), |a, c| joined(Some(a), Some(c)), stored));
        }),
        variant!("table-table-left-materialized", &["tbl", "tbl2"], nulls: false, |b| {
            let stored = Materialized::new().with_value_serde(StringSerde);
            table_out(&table(b, "tbl").left_join_with(&table(b, "tbl2"), |a, c| joined(Some(a), c), stored));
        }),
        variant!("fk-inner", &["tbl", "fk"], nulls: false, |b| {
            table_out(&table(b, "tbl").join_on_foreign_key(&table(b, "fk"), |v| fk(v), |a, c| {
                joined(Some(a), Some(c))
            }));
        }),
        variant!("fk-left", &["tbl", "fk"], nulls: false, |b| {
            table_out(&table(b, "tbl").left_join_on_foreign_key(&table(b, "fk"), |v| fk(v), |a, c| {
                joined(Some(a), c)
            }));
        }),
        variant!("table-filter-named", &["tbl"], nulls: false, |b| {
            table_out(&table(b, "tbl").filter(|_, v| num(v) % 2 == 0));
        }),
        variant!("table-filter-unnamed", &["tbl"], nulls: false, |b| {
            table_out(
                &b.table_with("tbl", strings(), Materialized::new())
                    .filter(|_, v| num(v) % 2 == 0),
            );
        }),
        variant!("table-map-values", &["tbl"], nulls: false, |b| {
            table_out(&table(b, "tbl").map_values(|v| (num(v) * 10).to_string()));
        }),
        variant!("table-transform-values", &["tbl"], nulls: false, |b| {
            // The filter of a stored table asks for previous values: the transformer is called
            // for them too, which its count of calls shows.
            b.add_state_store(KeyValueStoreBuilder::in_memory("calls", StringSerde, I64Serde));
            let counted = table(b, "tbl")
                .transform_values(|stores| Ok(CallCounter(stores.state_store("calls")?)), &["calls"]);
            table_out(&counted.filter(|_, v| num(v.split('#').next().unwrap_or_default()) % 2 == 0));
        }),
        variant!("table-transform-values-getter", &["in", "tbl"], nulls: true, |b| {
            // The join reads the rows through a transformer of its own, which also turns an
            // absent row into a value.
            let input = stream(b, "in");
            let t = table(b, "tbl").transform_values(|_| Ok(thirds), &[]);
            out(&input.left_join_table(&t, |a, c| joined(Some(a), c)));
        }),
        variant!("table-transform-values-materialized", &["tbl", "tbl2"], nulls: false, |b| {
            let stored = table(b, "tbl").transform_values_with(|_| Ok(thirds), Materialized::as_store("tv-store"), &[]);
            table_out(&stored.join(&table(b, "tbl2"), |a, c| joined(Some(a), Some(c))));
        }),
        variant!("table-group-count", &["tbl"], nulls: false, |b| {
            count_out(
                &table(b, "tbl")
                    .group_by_with(|_, v| (format!("g{}", num(v) % 3), v.clone()), by_value_mod_3())
                    .count_with(Materialized::new()),
            );
        }),
        variant!("table-group-reduce", &["tbl"], nulls: false, |b| {
            table_out(
                &table(b, "tbl")
                    .group_by_with(|_, v| (format!("g{}", num(v) % 3), v.clone()), by_value_mod_3())
                    .reduce_with(sum, |agg, v| (num(&agg) - num(&v)).to_string(), Materialized::new()),
            );
        }),
        variant!("table-group-aggregate", &["tbl"], nulls: false, |b| {
            table_out(
                &table(b, "tbl")
                    .group_by_with(|k, v| (format!("g{}", num(v) % 3), format!("{k}={v}")), by_value_mod_3())
                    .aggregate_with(
                        String::new,
                        |_, v, agg| format!("{agg}+{v}"),
                        |_, v, agg| format!("{agg}-{v}"),
                        Materialized::new().with_value_serde(StringSerde),
                    ),
            );
        }),
        variant!("to-table", IN, nulls: false, |b| {
            table_out(
                &stream(b, "in")
                    .select_key(|_, v| format!("t{}", num(v) % 4))
                    .with_serdes(StringSerde, StringSerde)
                    .to_table_with(Materialized::new()),
            );
        }),
        variant!("cogroup", &["in", "in2"], nulls: false, |b| {
            // Three inputs: two read as keyed, one re-keyed through its own repartition topic.
            let in2 = stream(b, "in2");
            let rekeyed = in2
                .select_key(|_, v| format!("r{}", num(v) % 3))
                .group_by_key_with(Grouped::with(StringSerde, StringSerde).with_name("cg"));
            table_out(
                &stream(b, "in")
                    .group_by_key()
                    .cogroup(|_, v, agg: String| format!("{agg}+{v}"))
                    .cogroup(&in2.group_by_key(), |_, v, agg| format!("{agg}-{v}"))
                    .cogroup(&rekeyed, |k, v, agg| format!("{agg}*{k}{v}"))
                    .aggregate(String::new),
            );
        }),
        variant!("cogroup-tumbling", &["in", "in2"], nulls: false, |b| {
            windowed_out(&two_cogrouped(b).windowed_by(tumbling()).aggregate(String::new));
        }),
        variant!("cogroup-sliding", &["in", "in2"], nulls: false, |b| {
            let sliding = SlidingWindows::of_time_difference_and_grace(SIZE, GRACE);
            windowed_out(&two_cogrouped(b).windowed_by_sliding(sliding).aggregate(String::new));
        }),
        variant!("cogroup-session", &["in", "in2"], nulls: false, |b| {
            windowed_out(
                &two_cogrouped(b)
                    .windowed_by_session(sessions())
                    .aggregate(String::new, |_, a, c| format!("{a}&{c}")),
            );
        }),
        variant!("tumbling-suppress", IN, nulls: true, |b| {
            windowed_out(
                &nullable_stream(b)
                    .group_by_key()
                    .windowed_by(tumbling())
                    .count_with(Materialized::new())
                    .suppress(Suppressed::until_window_closes(BufferConfig::unbounded())),
            );
        }),
        variant!("session-suppress", IN, nulls: true, |b| {
            windowed_out(
                &nullable_stream(b)
                    .group_by_key()
                    .windowed_by_session(sessions())
                    .count_with(Materialized::new())
                    .suppress(Suppressed::until_window_closes(BufferConfig::unbounded())),
            );
        }),
        variant!("stream-table-suppressed", &["in", "tbl"], nulls: true, |b| {
            // The join reads a buffered key's prior value, other keys' rows upstream.
            let input = stream(b, "in");
            let held = table(b, "tbl")
                .suppress(Suppressed::until_time_limit(SUPPRESS_LIMIT, BufferConfig::max_records(3)));
            out(&input.left_join_table(&held, |a, c| joined(Some(a), c)));
        }),
        variant!("table-suppress-limit", &["tbl"], nulls: false, |b| {
            table_out(&table(b, "tbl").suppress(Suppressed::until_time_limit(
                SUPPRESS_LIMIT,
                BufferConfig::max_records(3),
            )));
        }),
    ]
}

/// Builds `variant`'s topology.
pub fn topology(variant: &Variant) -> Result<Topology, StreamsError> {
    let b = StreamsBuilder::new();
    (variant.build)(&b);
    b.build()
}
