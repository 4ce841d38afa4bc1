package kstreamsbench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.ValueJoiner;
import org.apache.kafka.streams.kstream.WindowedSerdes;
import org.apache.kafka.streams.processor.StateRestoreListener;

/**
 * The Kafka Streams (Java) contestant of the benchmarks: the cases of
 * bench/src/bin/contestant.rs with the same settings (one stream thread, linger.ms 100 under
 * at-least-once and 5 under exactly-once as the Rust library uses, RocksDB stores with
 * changelogs, every update emitted: the record cache is off).
 *
 * <pre>
 * Contestant kstreams CASE --bootstrap-servers B --input T --output T --group G [--side T]
 *     [--guarantee at_least_once|exactly_once_v2] [--commit-interval-ms MS]
 * Contestant recovery-child --phase load|restart --guarantee G --bootstrap-servers B --app A
 *     --input T --state-dir DIR
 * </pre>
 *
 * Runs until SIGTERM (then closes cleanly), or, for recovery-child --phase restart, until the
 * first record is processed: it then prints "restored | seconds |" as store-bench does.
 */
public final class Contestant {
    private Contestant() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            usage("missing arguments");
        }
        boolean recovery = args[0].equals("recovery-child");
        Map<String, String> flags = new HashMap<>();
        for (int i = recovery ? 1 : 2; i + 1 < args.length; i += 2) {
            flags.put(args[i], args[i + 1]);
        }
        if (recovery) {
            recovery(flags);
            return;
        }
        if (!args[0].equals("kstreams")) {
            usage("unknown contestant " + args[0]);
        }
        String guarantee = flags.getOrDefault("--guarantee", "at_least_once");
        String commit = flags.getOrDefault("--commit-interval-ms", "30000");
        Topology topology = topology(args[1], need(flags, "--input"), need(flags, "--output"),
                flags.get("--side"));
        Path state = Files.createTempDirectory("kstreams-java-bench");
        Properties props = config(need(flags, "--group"), need(flags, "--bootstrap-servers"),
                guarantee, commit, state.toString());
        KafkaStreams streams = new KafkaStreams(topology, props);
        runUntilTerminated(streams, state);
    }

    private static void usage(String why) {
        System.err.println(why + "; usage: Contestant kstreams CASE --bootstrap-servers B"
                + " --input T --output T --group G [--side T] [--guarantee G]"
                + " [--commit-interval-ms MS] | Contestant recovery-child --phase P ...");
        System.exit(2);
    }

    private static String need(Map<String, String> flags, String name) {
        String v = flags.get(name);
        if (v == null) {
            usage(name + " is required");
        }
        return v;
    }

    static Properties config(String app, String bootstrap, String guarantee, String commitMs,
            String stateDir) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, app);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, commitMs);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.ByteArraySerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.ByteArraySerde.class);
        // Every update goes out, as in the Rust library (no record cache).
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG),
                guarantee.equals("exactly_once_v2") ? "5" : "100");
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), "6000");
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), "1000");
        return p;
    }

    static boolean keep(byte[] v) {
        return v != null && v.length > 0 && (v[v.length - 1] & 0xff) % 2 == 0;
    }

    static byte[] upper(byte[] v) {
        byte[] out = Arrays.copyOf(v, v.length);
        for (int i = 0; i < out.length; i++) {
            if (out[i] >= 'a' && out[i] <= 'z') {
                out[i] -= 32;
            }
        }
        return out;
    }

    /** The value followed by the first 4 bytes of the other side's value, or "-" without one. */
    static byte[] joined(byte[] v, byte[] other) {
        byte[] tail = other == null ? new byte[] {'-'} : Arrays.copyOf(other, Math.min(4, other.length));
        byte[] out = Arrays.copyOf(v, v.length + tail.length);
        System.arraycopy(tail, 0, out, v.length, tail.length);
        return out;
    }

    static Topology topology(String kase, String input, String output, String side) {
        StreamsBuilder b = new StreamsBuilder();
        Consumed<byte[], byte[]> bytes = Consumed.with(Serdes.ByteArray(), Serdes.ByteArray());
        Produced<byte[], byte[]> out = Produced.with(Serdes.ByteArray(), Serdes.ByteArray());
        ValueJoiner<byte[], byte[], byte[]> joiner = Contestant::joined;
        switch (kase) {
            case "passthrough" -> b.stream(input, bytes).to(output, out);
            case "filter-map" -> b.stream(input, bytes)
                    .filter((k, v) -> keep(v))
                    .mapValues(Contestant::upper)
                    .to(output, out);
            case "count" -> grouped(b, input)
                    .count(Materialized.as("counts"))
                    .toStream()
                    .to(output, Produced.with(Serdes.ByteArray(), Serdes.Long()));
            case "windowed-count" -> grouped(b, input)
                    .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(1), Duration.ofSeconds(60))
                            .advanceBy(Duration.ofMillis(500)))
                    .count(Materialized.as("counts"))
                    .toStream()
                    .to(output, Produced.with(
                            WindowedSerdes.timeWindowedSerdeFrom(byte[].class, 1000), Serdes.Long()));
            case "stream-table-join" -> {
                KTable<byte[], byte[]> profiles = b.table(side, bytes, Materialized.as("side"));
                b.stream(input, bytes).leftJoin(profiles, joiner).to(output, out);
            }
            case "table-table-join" -> {
                KTable<byte[], byte[]> profiles = b.table(side, bytes, Materialized.as("side"));
                b.table(input, bytes, Materialized.as("input"))
                        .leftJoin(profiles, joiner)
                        .toStream()
                        .to(output, out);
            }
            case "stream-stream-join" -> {
                KStream<byte[], byte[]> profiles = b.stream(side, bytes);
                b.stream(input, bytes)
                        .join(profiles, joiner,
                                JoinWindows.ofTimeDifferenceWithNoGrace(Duration.ofSeconds(600)),
                                StreamJoined.with(Serdes.ByteArray(), Serdes.ByteArray(),
                                        Serdes.ByteArray()))
                        .to(output, out);
            }
            default -> {
                usage("unknown case " + kase);
                return null;
            }
        }
        return b.build();
    }

    private static KGroupedStream<byte[], byte[]> grouped(StreamsBuilder b, String input) {
        return b.stream(input, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray())).groupByKey();
    }

    /**
     * Starts, then blocks until SIGTERM (closing cleanly, then deleting {@code scratch} if
     * given) or a fatal error (exit status 1).
     */
    static void runUntilTerminated(KafkaStreams streams, Path scratch) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(1);
        streams.setUncaughtExceptionHandler(e -> {
            System.err.println("the application failed: " + e);
            done.countDown();
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            streams.close(Duration.ofSeconds(60));
            if (scratch != null) {
                deleteTree(scratch);
            }
        }));
        streams.start();
        done.await();
        System.exit(1);
    }

    static void deleteTree(Path root) {
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            System.err.println("cannot delete " + root + ": " + e);
        }
    }

    /**
     * The Kafka Streams side of store-bench recovery: the count over distinct keys; in the
     * restart phase, times start() to the first record processed and counts restored records.
     */
    static void recovery(Map<String, String> flags) throws Exception {
        String phase = need(flags, "--phase");
        StreamsBuilder b = new StreamsBuilder();
        AtomicLong first = new AtomicLong(0);
        KStream<String, String> in = b.stream(need(flags, "--input"),
                Consumed.with(Serdes.String(), Serdes.String()));
        in.peek((k, v) -> first.compareAndSet(0, System.nanoTime()));
        in.groupByKey().count(Materialized.as("counts"));
        Properties props = config(need(flags, "--app"), need(flags, "--bootstrap-servers"),
                need(flags, "--guarantee"), "100", need(flags, "--state-dir"));
        KafkaStreams streams = new KafkaStreams(b.build(), props);
        AtomicLong restored = new AtomicLong(0);
        streams.setGlobalStateRestoreListener(new StateRestoreListener() {
            @Override
            public void onRestoreStart(TopicPartition tp, String store, long start, long end) {}

            @Override
            public void onBatchRestored(TopicPartition tp, String store, long end, long n) {}

            @Override
            public void onRestoreEnd(TopicPartition tp, String store, long total) {
                restored.addAndGet(total);
            }
        });
        if (!phase.equals("restart")) {
            runUntilTerminated(streams, null);
            return;
        }
        long started = System.nanoTime();
        streams.start();
        long deadline = started + Duration.ofMinutes(30).toNanos();
        while (first.get() == 0) {
            if (System.nanoTime() > deadline || streams.state() == KafkaStreams.State.ERROR) {
                System.err.println("no record processed; state " + streams.state());
                System.exit(1);
            }
            Thread.sleep(1);
        }
        System.out.printf("%d | %.3f |%n", restored.get(), (first.get() - started) / 1e9);
        streams.close(Duration.ofSeconds(60));
    }
}
