package kstreamsdiff;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.CogroupedKStream;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.EmitStrategy;
import org.apache.kafka.streams.kstream.GlobalKTable;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.Joined;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.SlidingWindows;
import org.apache.kafka.streams.kstream.TimeWindowedKStream;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.Suppressed.BufferConfig;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.ValueTransformerWithKey;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.ProcessorContext;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.SessionStore;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;

/**
 * The Kafka Streams side of the differential suite (differential/src/variants.rs is the other):
 * each variant is the same topology, by name, written with Kafka Streams' DSL and run on its
 * TopologyTestDriver with the record cache off and the wall-clock emit throttles at zero.
 *
 * <p>Requests on standard input, one case after another:
 * <pre>
 * case VARIANT COUNT
 * TOPIC KEY VALUE TIMESTAMP      (COUNT lines; "~" is null)
 * </pre>
 * or {@code describe VARIANT}, answered with {@code ok COUNT} and the COUNT lines of the
 * variant's {@code Topology.describe()}.
 * Each answer on standard output: {@code ok COUNT} and COUNT lines {@code TOPIC KEY VALUE
 * TIMESTAMP} (every output topic of the variant in its order, each topic's records in order),
 * or {@code error MESSAGE} on one line.
 */
public final class DiffDriver {
    private static final String NULL = "~";

    private DiffDriver() {}

    public static void main(String[] args) throws IOException {
        String stateDir = args.length > 0 ? args[0] : System.getProperty("java.io.tmpdir");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        BufferedWriter out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) {
                continue;
            }
            String[] head = line.split(" ");
            if (head.length == 2 && head[0].equals("describe")) {
                StreamsBuilder b = new StreamsBuilder();
                build(head[1], b);
                String[] lines = b.build().describe().toString().split("\n");
                out.write("ok " + lines.length);
                out.newLine();
                for (String l : lines) {
                    out.write(l);
                    out.newLine();
                }
                out.flush();
                continue;
            }
            if (head.length != 3 || !head[0].equals("case")) {
                throw new IllegalArgumentException("expected `case VARIANT COUNT`, got: " + line);
            }
            int count = Integer.parseInt(head[2]);
            List<String[]> records = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                records.add(in.readLine().split(" "));
            }
            List<String> result;
            try {
                result = run(head[1], records, stateDir);
            } catch (RuntimeException e) {
                out.write("error " + String.valueOf(e).replace('\n', ' '));
                out.newLine();
                out.flush();
                continue;
            }
            out.write("ok " + result.size());
            out.newLine();
            for (String r : result) {
                out.write(r);
                out.newLine();
            }
            out.flush();
        }
    }

    private static String orNull(String s) {
        return s.equals(NULL) ? null : s;
    }

    private static String show(String s) {
        return s == null ? NULL : s;
    }

    private static List<String> run(String variant, List<String[]> records, String stateDir) {
        StreamsBuilder b = new StreamsBuilder();
        List<String> outputs = build(variant, b);
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "diff-" + variant);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        props.put("__emit.interval.ms.kstreams.outer.join.spurious.results.fix__", 0L);
        props.put("__emit.interval.ms.kstreams.windowed.aggregation__", 0L);
        Topology topology = b.build();
        List<String> result = new ArrayList<>();
        try (TopologyTestDriver driver = new TopologyTestDriver(topology, props)) {
            Map<String, TestInputTopic<String, String>> inputs = new TreeMap<>();
            for (String[] r : records) {
                TestInputTopic<String, String> topic = inputs.computeIfAbsent(
                    r[0], t -> driver.createInputTopic(t, new StringSerializer(), new StringSerializer()));
                topic.pipeInput(orNull(r[1]), orNull(r[2]), Long.parseLong(r[3]));
            }
            for (String name : outputs) {
                TestOutputTopic<String, String> topic =
                    driver.createOutputTopic(name, new StringDeserializer(), new StringDeserializer());
                topic.readRecordsToList().forEach(r -> result.add(
                    name + " " + show(r.key()) + " " + show(r.value()) + " " + r.timestamp()));
            }
        }
        return result;
    }

    private static long num(String v) {
        return Long.parseLong(v);
    }

    private static String joined(String a, String b) {
        return a + "|" + b;
    }

    private static String win(Windowed<String> w) {
        return w.key() + "@" + w.window().start() + "/" + w.window().end();
    }

    private static final Duration SIZE = Duration.ofMillis(10);
    private static final Duration ADVANCE = Duration.ofMillis(3);
    private static final Duration GRACE = Duration.ofMillis(5);
    private static final Duration GAP = Duration.ofMillis(5);
    private static final Duration RETENTION = Duration.ofDays(365);

    private static KStream<String, String> in(StreamsBuilder b) {
        return b.stream("in", Consumed.with(Serdes.String(), Serdes.String()));
    }

    private static KStream<String, String> in2(StreamsBuilder b) {
        return b.stream("in2", Consumed.with(Serdes.String(), Serdes.String()));
    }

    /** {@code t<value>}, nothing for multiples of 3, {@code none} for an absent row. */
    static final class Thirds implements ValueTransformerWithKey<String, String, String> {
        @Override public void init(ProcessorContext context) { }
        @Override public String transform(String key, String v) {
            if (v == null) return "none";
            return num(v) % 3 == 0 ? null : "t" + v;
        }
        @Override public void close() { }
    }

    /** Counts its calls per key in store {@code calls}: {@code <value>#<calls>}. */
    static final class CallCounter implements ValueTransformerWithKey<String, String, String> {
        private KeyValueStore<String, Long> calls;
        @Override public void init(ProcessorContext context) { calls = context.getStateStore("calls"); }
        @Override public String transform(String key, String v) {
            Long before = calls.get(key);
            long n = (before == null ? 0 : before) + 1;
            calls.put(key, n);
            return v == null ? null : v + "#" + n;
        }
        @Override public void close() { }
    }

    private static KTable<String, String> table(StreamsBuilder b, String topic) {
        return b.table(topic, Consumed.with(Serdes.String(), Serdes.String()),
            Materialized.<String, String, KeyValueStore<Bytes, byte[]>>as(topic + "-store"));
    }

    private static void windowedOut(KTable<Windowed<String>, Long> t) {
        t.toStream()
            .map((w, v) -> KeyValue.pair(win(w), v == null ? null : v.toString()))
            .to("out", Produced.with(Serdes.String(), Serdes.String()));
    }

    private static CogroupedKStream<String, String> twoCogrouped(StreamsBuilder b) {
        return in(b).groupByKey()
            .cogroup((String k, String v, String agg) -> agg + "+" + v)
            .cogroup(in2(b).groupByKey(), (k, v, agg) -> agg + "-" + v);
    }

    private static void tableOut(KTable<String, String> t) {
        t.toStream().to("out", Produced.with(Serdes.String(), Serdes.String()));
    }

    private static void countOut(KTable<String, Long> t) {
        t.toStream().mapValues(v -> v == null ? null : v.toString())
            .to("out", Produced.with(Serdes.String(), Serdes.String()));
    }

    private static Materialized<String, Long, WindowStore<Bytes, byte[]>> retained() {
        return Materialized.<String, Long, WindowStore<Bytes, byte[]>>as("window-counts")
            .withRetention(RETENTION);
    }

    private static String fk(String v) {
        return "f" + (num(v) % 4);
    }

    private static String sum(String a, String b) {
        return Long.toString(num(a) + num(b));
    }

    /** Builds `variant` on `b`; returns its output topics. */
    private static List<String> build(String variant, StreamsBuilder b) {
        switch (variant) {
            case "stateless":
                in(b).filter((k, v) -> num(v) % 3 != 0)
                    .mapValues(v -> Long.toString(num(v) * 2))
                    .flatMapValues(v -> num(v) % 5 == 0 ? List.of(v, v + "+1") : List.of(v))
                    .selectKey((k, v) -> k + "-" + (num(v.replace("+1", "")) % 2))
                    .to("out");
                return List.of("out");
            case "split-merge": {
                Map<String, KStream<String, String>> branches = in(b).split(Named.as("b-"))
                    .branch((k, v) -> num(v) < 30, Branched.as("lo"))
                    .branch((k, v) -> num(v) < 60, Branched.as("mid"))
                    .defaultBranch(Branched.as("hi"));
                branches.get("b-lo").mapValues(v -> "lo:" + v)
                    .merge(branches.get("b-mid").mapValues(v -> "mid:" + v))
                    .to("out");
                branches.get("b-hi").to("out2");
                return List.of("out", "out2");
            }
            case "count":
            case "count-nullable":
                countOut(in(b).groupByKey().count());
                return List.of("out");
            case "reduce-regroup":
                tableOut(in(b).groupBy((k, v) -> "g" + (num(v) % 3)).reduce(DiffDriver::sum));
                return List.of("out");
            case "aggregate":
                tableOut(in(b).groupByKey().aggregate(() -> "", (k, v, agg) -> agg + "," + v));
                return List.of("out");
            case "repartition-count":
                countOut(in(b).selectKey((k, v) -> "r" + (num(v) % 4))
                    .repartition(Repartitioned.as("spread")).groupByKey().count());
                return List.of("out");
            case "flat-map-count":
                countOut(in(b).flatMap((k, v) -> List.of(
                        KeyValue.pair("m" + (num(v) % 3), v), KeyValue.pair(k, v)))
                    .groupByKey().count());
                return List.of("out");
            case "tumbling-reduce":
                in(b).groupByKey().windowedBy(TimeWindows.ofSizeAndGrace(SIZE, GRACE))
                    .reduce(DiffDriver::sum)
                    .toStream()
                    .map((w, v) -> KeyValue.pair(win(w), v))
                    .to("out");
                return List.of("out");
            case "session-aggregate":
                in(b).groupByKey()
                    .windowedBy(SessionWindows.ofInactivityGapAndGrace(GAP, Duration.ofMillis(3)))
                    .aggregate(() -> "", (k, v, agg) -> agg + "," + v, (k, a, c) -> a + "+" + c)
                    .toStream()
                    .map((w, v) -> KeyValue.pair(win(w), v))
                    .to("out");
                return List.of("out");
            case "tumbling":
                windowedOut(in(b).groupByKey().windowedBy(TimeWindows.ofSizeAndGrace(SIZE, GRACE)).count());
                return List.of("out");
            case "tumbling-final":
                windowedOut(in(b).groupByKey().windowedBy(TimeWindows.ofSizeAndGrace(SIZE, GRACE))
                    .emitStrategy(EmitStrategy.onWindowClose()).count(retained()));
                return List.of("out");
            case "tumbling-final-default-retention":
                windowedOut(in(b).groupByKey().windowedBy(TimeWindows.ofSizeAndGrace(SIZE, GRACE))
                    .emitStrategy(EmitStrategy.onWindowClose()).count());
                return List.of("out");
            case "hopping":
                windowedOut(in(b).groupByKey()
                    .windowedBy(TimeWindows.ofSizeAndGrace(SIZE, GRACE).advanceBy(ADVANCE)).count());
                return List.of("out");
            case "hopping-final":
                windowedOut(in(b).groupByKey()
                    .windowedBy(TimeWindows.ofSizeAndGrace(SIZE, GRACE).advanceBy(ADVANCE))
                    .emitStrategy(EmitStrategy.onWindowClose()).count(retained()));
                return List.of("out");
            case "sliding":
                windowedOut(in(b).groupByKey()
                    .windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(SIZE, GRACE)).count());
                return List.of("out");
            case "sliding-final":
                windowedOut(in(b).groupByKey()
                    .windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(SIZE, GRACE))
                    .emitStrategy(EmitStrategy.onWindowClose()).count(retained()));
                return List.of("out");
            case "session":
                windowedOut(in(b).groupByKey()
                    .windowedBy(SessionWindows.ofInactivityGapAndGrace(GAP, Duration.ofMillis(3))).count());
                return List.of("out");
            case "session-final":
                windowedOut(in(b).groupByKey()
                    .windowedBy(SessionWindows.ofInactivityGapAndGrace(GAP, Duration.ofMillis(3)))
                    .emitStrategy(EmitStrategy.onWindowClose())
                    .count(Materialized.<String, Long, SessionStore<Bytes, byte[]>>as("session-counts")
                        .withRetention(RETENTION)));
                return List.of("out");
            case "session-final-default-retention":
                windowedOut(in(b).groupByKey()
                    .windowedBy(SessionWindows.ofInactivityGapAndGrace(GAP, Duration.ofMillis(3)))
                    .emitStrategy(EmitStrategy.onWindowClose()).count());
                return List.of("out");
            case "session-reduce":
                in(b).groupByKey()
                    .windowedBy(SessionWindows.ofInactivityGapAndGrace(GAP, Duration.ofMillis(3)))
                    .reduce(DiffDriver::sum)
                    .toStream()
                    .map((w, v) -> KeyValue.pair(win(w), v))
                    .to("out");
                return List.of("out");
            case "stream-stream-inner":
                in(b).join(in2(b), DiffDriver::joined, JoinWindows.ofTimeDifferenceAndGrace(SIZE, GRACE))
                    .to("out");
                return List.of("out");
            case "stream-stream-left":
                in(b).leftJoin(in2(b), DiffDriver::joined, JoinWindows.ofTimeDifferenceAndGrace(SIZE, GRACE))
                    .to("out");
                return List.of("out");
            case "stream-stream-left-named":
                in(b).leftJoin(in2(b).selectKey((k, v) -> k), DiffDriver::joined,
                        JoinWindows.ofTimeDifferenceAndGrace(SIZE, GRACE),
                        StreamJoined.with(Serdes.String(), Serdes.String(), Serdes.String())
                            .withName("vj").withStoreName("vjs"))
                    .to("out");
                return List.of("out");
            case "stream-stream-outer-stored":
                in(b).outerJoin(in2(b), DiffDriver::joined, JoinWindows.ofTimeDifferenceAndGrace(SIZE, GRACE),
                        StreamJoined.<String, String, String>as("oj").withLoggingDisabled())
                    .to("out");
                return List.of("out");
            case "stream-stream-outer":
                in(b).outerJoin(in2(b), DiffDriver::joined, JoinWindows.ofTimeDifferenceAndGrace(SIZE, GRACE))
                    .to("out");
                return List.of("out");
            case "stream-stream-inner-asymmetric":
                in(b).join(in2(b), DiffDriver::joined,
                        JoinWindows.ofTimeDifferenceAndGrace(SIZE, GRACE).after(Duration.ZERO))
                    .to("out");
                return List.of("out");
            case "stream-stream-left-asymmetric":
                in(b).leftJoin(in2(b), DiffDriver::joined,
                        JoinWindows.ofTimeDifferenceAndGrace(SIZE, GRACE).before(Duration.ofMillis(2)))
                    .to("out");
                return List.of("out");
            case "stream-stream-outer-asymmetric":
                in(b).outerJoin(in2(b), DiffDriver::joined,
                        JoinWindows.ofTimeDifferenceAndGrace(SIZE, GRACE).before(Duration.ofMillis(-3)))
                    .to("out");
                return List.of("out");
            case "stream-table-inner":
                in(b).join(table(b, "tbl"), DiffDriver::joined).to("out");
                return List.of("out");
            case "stream-table-left":
                in(b).leftJoin(table(b, "tbl"), DiffDriver::joined).to("out");
                return List.of("out");
            case "stream-table-named":
                in(b).selectKey((k, v) -> k)
                    .leftJoin(table(b, "tbl"), DiffDriver::joined,
                        Joined.<String, String, String>with(Serdes.String(), Serdes.String(), Serdes.String()).withName("enrich"))
                    .to("out");
                return List.of("out");
            case "stream-global-inner": {
                GlobalKTable<String, String> g = b.globalTable("fk", Consumed.with(Serdes.String(), Serdes.String()));
                in(b).join(g, (k, v) -> fk(v), DiffDriver::joined).to("out");
                return List.of("out");
            }
            case "stream-global-left": {
                GlobalKTable<String, String> g = b.globalTable("fk", Consumed.with(Serdes.String(), Serdes.String()));
                in(b).leftJoin(g, (k, v) -> fk(v), DiffDriver::joined).to("out");
                return List.of("out");
            }
            case "stream-table-filtered":
                in(b).leftJoin(table(b, "tbl").filter((k, v) -> num(v) % 2 == 0).mapValues(v -> "e" + v),
                        DiffDriver::joined)
                    .to("out");
                return List.of("out");
            case "stream-table-joined": {
                KStream<String, String> input = in(b);
                KTable<String, String> both = table(b, "tbl").outerJoin(table(b, "tbl2"), DiffDriver::joined);
                input.leftJoin(both, DiffDriver::joined).to("out", Produced.with(Serdes.String(), Serdes.String()));
                return List.of("out");
            }
            case "table-table-filtered":
                tableOut(table(b, "tbl").mapValues(v -> "m" + v)
                    .outerJoin(table(b, "tbl2").filter((k, v) -> num(v) < 50), DiffDriver::joined));
                return List.of("out");
            case "table-table-materialized":
                tableOut(table(b, "tbl").join(table(b, "tbl2"), DiffDriver::joined,
                    Materialized.<String, String, KeyValueStore<Bytes, byte[]>>as("tt-store")));
                return List.of("out");
            case "table-table-left-materialized":
                tableOut(table(b, "tbl").leftJoin(table(b, "tbl2"), DiffDriver::joined,
                    Materialized.with(Serdes.String(), Serdes.String())));
                return List.of("out");
            case "table-table-inner":
                tableOut(table(b, "tbl").join(table(b, "tbl2"), DiffDriver::joined));
                return List.of("out");
            case "table-table-left":
                tableOut(table(b, "tbl").leftJoin(table(b, "tbl2"), DiffDriver::joined));
                return List.of("out");
            case "table-table-outer":
                tableOut(table(b, "tbl").outerJoin(table(b, "tbl2"), DiffDriver::joined));
                return List.of("out");
            case "fk-inner":
                tableOut(table(b, "tbl").join(table(b, "fk"), DiffDriver::fk, DiffDriver::joined));
                return List.of("out");
            case "fk-left":
                tableOut(table(b, "tbl").leftJoin(table(b, "fk"), DiffDriver::fk, DiffDriver::joined));
                return List.of("out");
            case "table-filter-named":
                tableOut(table(b, "tbl").filter((k, v) -> num(v) % 2 == 0));
                return List.of("out");
            case "table-filter-unnamed":
                tableOut(b.table("tbl", Consumed.with(Serdes.String(), Serdes.String()))
                    .filter((k, v) -> num(v) % 2 == 0));
                return List.of("out");
            case "table-map-values":
                tableOut(table(b, "tbl").mapValues(v -> Long.toString(num(v) * 10)));
                return List.of("out");
            case "table-transform-values": {
                b.addStateStore(Stores.keyValueStoreBuilder(
                    Stores.inMemoryKeyValueStore("calls"), Serdes.String(), Serdes.Long()));
                KTable<String, String> counted = table(b, "tbl").transformValues(CallCounter::new, "calls");
                tableOut(counted.filter((k, v) -> num(v.split("#")[0]) % 2 == 0));
                return List.of("out");
            }
            case "table-transform-values-getter": {
                KStream<String, String> input = in(b);
                KTable<String, String> t = table(b, "tbl").transformValues(Thirds::new);
                input.leftJoin(t, DiffDriver::joined).to("out", Produced.with(Serdes.String(), Serdes.String()));
                return List.of("out");
            }
            case "table-transform-values-materialized":
                tableOut(table(b, "tbl").transformValues(Thirds::new,
                        Materialized.<String, String, KeyValueStore<Bytes, byte[]>>as("tv-store"))
                    .join(table(b, "tbl2"), DiffDriver::joined));
                return List.of("out");
            case "table-group-count":
                countOut(table(b, "tbl")
                    .groupBy((k, v) -> KeyValue.pair("g" + (num(v) % 3), v), Grouped.with(Serdes.String(), Serdes.String()))
                    .count());
                return List.of("out");
            case "table-group-reduce":
                tableOut(table(b, "tbl")
                    .groupBy((k, v) -> KeyValue.pair("g" + (num(v) % 3), v), Grouped.with(Serdes.String(), Serdes.String()))
                    .reduce(DiffDriver::sum, (agg, v) -> Long.toString(num(agg) - num(v))));
                return List.of("out");
            case "table-group-aggregate":
                tableOut(table(b, "tbl")
                    .groupBy((k, v) -> KeyValue.pair("g" + (num(v) % 3), k + "=" + v),
                        Grouped.with(Serdes.String(), Serdes.String()))
                    .aggregate(() -> "", (k, v, agg) -> agg + "+" + v, (k, v, agg) -> agg + "-" + v));
                return List.of("out");
            case "to-table":
                tableOut(in(b).selectKey((k, v) -> "t" + (num(v) % 4)).toTable());
                return List.of("out");
            case "cogroup": {
                KStream<String, String> in2 = in2(b);
                KGroupedStream<String, String> rekeyed = in2
                    .selectKey((k, v) -> "r" + (num(v) % 3))
                    .groupByKey(Grouped.with(Serdes.String(), Serdes.String()).withName("cg"));
                tableOut(in(b).groupByKey()
                    .cogroup((String k, String v, String agg) -> agg + "+" + v)
                    .cogroup(in2.groupByKey(), (k, v, agg) -> agg + "-" + v)
                    .cogroup(rekeyed, (k, v, agg) -> agg + "*" + k + v)
                    .aggregate(() -> "", Materialized.with(Serdes.String(), Serdes.String())));
                return List.of("out");
            }
            case "cogroup-tumbling":
                twoCogrouped(b).windowedBy(TimeWindows.ofSizeAndGrace(SIZE, GRACE))
                    .aggregate(() -> "", Materialized.with(Serdes.String(), Serdes.String()))
                    .toStream()
                    .map((w, v) -> KeyValue.pair(win(w), v))
                    .to("out");
                return List.of("out");
            case "cogroup-sliding":
                twoCogrouped(b).windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(SIZE, GRACE))
                    .aggregate(() -> "", Materialized.with(Serdes.String(), Serdes.String()))
                    .toStream()
                    .map((w, v) -> KeyValue.pair(win(w), v))
                    .to("out");
                return List.of("out");
            case "cogroup-session":
                twoCogrouped(b).windowedBy(SessionWindows.ofInactivityGapAndGrace(GAP, Duration.ofMillis(3)))
                    .aggregate(() -> "", (k, a, c) -> a + "&" + c,
                        Materialized.with(Serdes.String(), Serdes.String()))
                    .toStream()
                    .map((w, v) -> KeyValue.pair(win(w), v))
                    .to("out");
                return List.of("out");
            case "tumbling-suppress":
                windowedOut(in(b).groupByKey().windowedBy(TimeWindows.ofSizeAndGrace(SIZE, GRACE)).count()
                    .suppress(Suppressed.untilWindowCloses(BufferConfig.unbounded())));
                return List.of("out");
            case "session-suppress":
                windowedOut(in(b).groupByKey()
                    .windowedBy(SessionWindows.ofInactivityGapAndGrace(GAP, Duration.ofMillis(3))).count()
                    .suppress(Suppressed.untilWindowCloses(BufferConfig.unbounded())));
                return List.of("out");
            case "stream-table-suppressed": {
                KStream<String, String> input = in(b);
                KTable<String, String> held = table(b, "tbl")
                    .suppress(Suppressed.untilTimeLimit(Duration.ofMillis(5), BufferConfig.maxRecords(3)));
                input.leftJoin(held, DiffDriver::joined).to("out", Produced.with(Serdes.String(), Serdes.String()));
                return List.of("out");
            }
            case "table-suppress-limit":
                tableOut(table(b, "tbl")
                    .suppress(Suppressed.untilTimeLimit(Duration.ofMillis(5), BufferConfig.maxRecords(3))));
                return List.of("out");
            default:
                throw new IllegalArgumentException("unknown variant " + variant);
        }
    }
}
