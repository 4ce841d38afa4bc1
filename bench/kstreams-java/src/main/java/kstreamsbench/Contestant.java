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
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
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
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;

/**
 * The Kafka Streams (Java) contestant of the benchmarks: the cases of
 * bench/src/bin/contestant.rs with the same settings (one stream thread, linger.ms 100 under
 * at-least-once and 5 under exactly-once as the Rust library uses, RocksDB stores with
 * changelogs, every update emitted: the record cache is off).
 *
 * <pre>
 * Contestant kstreams CASE --bootstrap-servers B --input T --output T --group G [--side T]
 *     [--expect N] [--guarantee at_least_once|exactly_once_v2] [--commit-interval-ms MS]
 * Contestant java-raw consume|consume-produce --bootstrap-servers B --input T --output T
 *     --group G [--expect N]
 * Contestant recovery-child --phase load|restart --guarantee G --bootstrap-servers B --app A
 *     --input T --state-dir DIR
 * Contestant failover-child --bootstrap-servers B --app A --input T --output T --standbys N
 *     --state-dir DIR [--session-timeout-ms MS]
 * </pre>
 *
 * Runs until SIGTERM (then closes cleanly), or, for recovery-child --phase restart, until the
 * first record is processed: it then prints "restored | seconds |" as store-bench does.
 *
 * <p>The cases without output (consume, kv-store, window-store, restore) print "done" on
 * stdout once --expect records are through ("done SECONDS" for restore: from the first
 * restoration's start to the last one's end), as bench/src/bin/contestant.rs does. java-raw is
 * a plain Java-client program (KafkaConsumer, and KafkaProducer for consume-produce), the
 * limit Kafka Streams runs against, as the raw rdkafka program is ours.
 */
public final class Contestant {
    private Contestant() {}

    /** The {@code --config key=value} settings, given to every client. */
    private static final Properties EXTRA = new Properties();

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            usage("missing arguments");
        }
        boolean recovery = args[0].equals("recovery-child");
        boolean failover = args[0].equals("failover-child");
        Map<String, String> flags = new HashMap<>();
        for (int i = recovery || failover ? 1 : 2; i + 1 < args.length; i += 2) {
            if (args[i].equals("--config")) {
                // Client settings (security, ...), repeatable: key=value.
                String[] kv = args[i + 1].split("=", 2);
                EXTRA.put(kv[0], kv.length > 1 ? kv[1] : "");
            } else {
                flags.put(args[i], args[i + 1]);
            }
        }
        if (recovery) {
            recovery(flags);
            return;
        }
        if (failover) {
            failover(flags);
            return;
        }
        String kase = args[1];
        long expect = Long.parseLong(flags.getOrDefault("--expect", String.valueOf(Long.MAX_VALUE)));
        if (args[0].equals("java-raw")) {
            rawClients(kase, flags, expect);
            return;
        }
        if (!args[0].equals("kstreams")) {
            usage("unknown contestant " + args[0]);
        }
        String guarantee = flags.getOrDefault("--guarantee", "at_least_once");
        String commit = flags.getOrDefault("--commit-interval-ms", "30000");
        AtomicLong done = new AtomicLong();
        Topology topology = topology(kase, need(flags, "--input"), need(flags, "--output"),
                flags.get("--side"), done);
        Path state = Files.createTempDirectory("kstreams-java-bench");
        Properties props = config(need(flags, "--group"), need(flags, "--bootstrap-servers"),
                guarantee, commit, state.toString());
        KafkaStreams streams = new KafkaStreams(topology, props);
        switch (kase) {
            case "consume", "kv-store", "window-store" -> reportWhen(() -> done.get() >= expect, null);
            case "restore" -> {
                RestoreTiming timing = new RestoreTiming();
                streams.setGlobalStateRestoreListener(timing);
                reportWhen(() -> timing.restored() >= expect, timing);
            }
            default -> { }
        }
        runUntilTerminated(streams, state);
    }

    /** Prints "done" (with the restoration's seconds when timed) once {@code reached} holds. */
    private static void reportWhen(java.util.function.BooleanSupplier reached, RestoreTiming timing) {
        Thread t = new Thread(() -> {
            while (!reached.getAsBoolean()) {
                try {
                    Thread.sleep(5);
                } catch (InterruptedException e) {
                    return;
                }
            }
            System.out.println(timing == null ? "done" : String.format("done %.3f", timing.seconds()));
            System.out.flush();
        });
        t.setDaemon(true);
        t.start();
    }

    /** First restoration start to last restoration end, and the records restored. */
    static final class RestoreTiming implements StateRestoreListener {
        private long firstStart;
        private long lastEnd;
        private long restored;

        @Override
        public synchronized void onRestoreStart(TopicPartition tp, String store, long start, long end) {
            if (firstStart == 0) {
                firstStart = System.nanoTime();
            }
        }

        @Override
        public void onBatchRestored(TopicPartition tp, String store, long end, long n) {}

        @Override
        public synchronized void onRestoreEnd(TopicPartition tp, String store, long total) {
            lastEnd = System.nanoTime();
            restored += total;
        }

        synchronized long restored() {
            return restored;
        }

        synchronized double seconds() {
            return (lastEnd - firstStart) / 1e9;
        }
    }

    /**
     * The plain Java clients: poll, and for consume-produce send each record on, committing
     * every 30 s; linger.ms 100 as the other contestants.
     */
    static void rawClients(String kase, Map<String, String> flags, long expect) {
        if (!kase.equals("consume") && !kase.equals("consume-produce")) {
            usage("java-raw runs consume and consume-produce only, not " + kase);
        }
        Properties c = new Properties();
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, need(flags, "--bootstrap-servers"));
        c.put(ConsumerConfig.GROUP_ID_CONFIG, need(flags, "--group"));
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, need(flags, "--bootstrap-servers"));
        p.put(ProducerConfig.LINGER_MS_CONFIG, "100");
        String input = need(flags, "--input");
        String output = need(flags, "--output");
        boolean produce = kase.equals("consume-produce");
        KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(c, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        KafkaProducer<byte[], byte[]> producer =
                new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
        Thread main = Thread.currentThread();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            consumer.wakeup();
            try {
                main.join(60_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }));
        consumer.subscribe(java.util.List.of(input));
        long consumed = 0;
        long lastCommit = System.nanoTime();
        try {
            while (true) {
                ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(100));
                for (ConsumerRecord<byte[], byte[]> r : records) {
                    if (produce) {
                        producer.send(new ProducerRecord<>(output, null, r.timestamp(), r.key(),
                                r.value(), r.headers()));
                    } else if (++consumed == expect) {
                        System.out.println("done");
                        System.out.flush();
                    }
                }
                if (System.nanoTime() - lastCommit > 30_000_000_000L) {
                    producer.flush();
                    consumer.commitSync();
                    lastCommit = System.nanoTime();
                }
            }
        } catch (WakeupException e) {
            // SIGTERM
        } finally {
            producer.close(Duration.ofSeconds(60));
            consumer.close(org.apache.kafka.clients.consumer.CloseOptions.timeout(Duration.ofSeconds(60)));
        }
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
        p.putAll(EXTRA);
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

    static Topology topology(String kase, String input, String output, String side,
            AtomicLong done) {
        StreamsBuilder b = new StreamsBuilder();
        Consumed<byte[], byte[]> bytes = Consumed.with(Serdes.ByteArray(), Serdes.ByteArray());
        Produced<byte[], byte[]> out = Produced.with(Serdes.ByteArray(), Serdes.ByteArray());
        ValueJoiner<byte[], byte[], byte[]> joiner = Contestant::joined;
        switch (kase) {
            case "consume" -> b.stream(input, bytes).foreach((k, v) -> done.incrementAndGet());
            case "kv-store", "restore" -> {
                b.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore("kv"),
                        Serdes.ByteArray(), Serdes.ByteArray()));
                b.stream(input, bytes).process(() -> new GetPut(done), "kv");
            }
            case "window-store" -> {
                // Segments of 1 s (as the Rust contestant's), so that the 3 s retention drops
                // old windows: with the default (a minute) the store keeps the whole input and
                // each range scan grows with the run, the same way on both sides.
                b.addStateStore(Stores.windowStoreBuilder(
                        new org.apache.kafka.streams.state.internals.RocksDbWindowBytesStoreSupplier(
                                "windows", 3000, 1000, 1000, false, false),
                        Serdes.ByteArray(), Serdes.ByteArray()));
                b.stream(input, bytes).process(() -> new FetchPut(done), "windows");
            }
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

    /** kv-store: a get, then a put of the record's key. */
    static final class GetPut implements Processor<byte[], byte[], Void, Void> {
        private final AtomicLong done;
        private KeyValueStore<byte[], byte[]> store;

        GetPut(AtomicLong done) {
            this.done = done;
        }

        @Override
        public void init(ProcessorContext<Void, Void> context) {
            store = context.getStateStore("kv");
        }

        @Override
        public void process(Record<byte[], byte[]> r) {
            store.get(r.key());
            store.put(r.key(), r.value());
            done.incrementAndGet();
        }
    }

    /**
     * window-store: a fetch of the keys from the record's key to the next one (its last byte
     * incremented) over the last second, then a put.
     */
    static final class FetchPut implements Processor<byte[], byte[], Void, Void> {
        private final AtomicLong done;
        private WindowStore<byte[], byte[]> store;

        FetchPut(AtomicLong done) {
            this.done = done;
        }

        @Override
        public void init(ProcessorContext<Void, Void> context) {
            store = context.getStateStore("windows");
        }

        @Override
        public void process(Record<byte[], byte[]> r) {
            byte[] upper = Arrays.copyOf(r.key(), r.key().length);
            if (upper.length > 0 && upper[upper.length - 1] != (byte) 0xff) {
                upper[upper.length - 1]++;
            }
            long ts = r.timestamp();
            try (KeyValueIterator<Windowed<byte[]>, byte[]> it = store.fetch(r.key(), upper,
                    java.time.Instant.ofEpochMilli(ts - 1000), java.time.Instant.ofEpochMilli(ts))) {
                while (it.hasNext()) {
                    KeyValue<Windowed<byte[]>, byte[]> kv = it.next();
                    if (kv.value == null) {
                        throw new IllegalStateException("null value in the window store");
                    }
                }
            }
            store.put(r.key(), r.value(), ts);
            done.incrementAndGet();
        }
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
        AtomicLong restored = countRestored(streams);
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

    /**
     * The Kafka Streams side of failover-bench: the exactly-once count over distinct keys with
     * num.standby.replicas as given, printing "restored N" (records restored so far) whenever
     * it changes, until killed.
     */
    static void failover(Map<String, String> flags) throws Exception {
        StreamsBuilder b = new StreamsBuilder();
        b.stream(need(flags, "--input"), Consumed.with(Serdes.String(), Serdes.String()))
                .groupByKey()
                .count(Materialized.as("counts"))
                .toStream()
                .to(need(flags, "--output"), Produced.with(Serdes.String(), Serdes.Long()));
        Properties props = config(need(flags, "--app"), need(flags, "--bootstrap-servers"),
                "exactly_once_v2", "100", need(flags, "--state-dir"));
        props.put(StreamsConfig.NUM_STANDBY_REPLICAS_CONFIG, need(flags, "--standbys"));
        if (flags.containsKey("--session-timeout-ms")) {
            long session = Long.parseLong(flags.get("--session-timeout-ms"));
            props.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG),
                    Long.toString(session));
            props.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG),
                    Long.toString(Math.min(session / 3, 1000)));
        }
        KafkaStreams streams = new KafkaStreams(b.build(), props);
        AtomicLong restored = countRestored(streams);
        streams.start();
        long reported = -1;
        while (streams.state() != KafkaStreams.State.ERROR) {
            long now = restored.get();
            if (now != reported) {
                System.out.println("restored " + now);
                System.out.flush();
                reported = now;
            }
            Thread.sleep(100);
        }
        System.err.println("the application failed");
        System.exit(1);
    }

    /** The records restored by the restorations that ended so far, counted by a listener. */
    static AtomicLong countRestored(KafkaStreams streams) {
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
        return restored;
    }
}
