#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing, builds, fetches Apache
# Kafka and builds a schema registry, starts a broker, runs every test (unit, doc, test-driver and
# real-Kafka suites; the Avro suites start their own registry), stops the broker, and exits
# non-zero on any failure. Also checks formatting and clippy.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
step() { echo "== $(( $(date +%s) - started ))s: $*"; }

step "setup"
bash scripts/setup.sh

# Scratch space on tmpfs when the machine has one (KSTREAMS_TEST_ON_DISK=1 keeps it on disk):
# the suites' RocksDB stores, brokers' logs and Kafka Streams' state directories are created,
# synced and deleted thousands of times, and on a disk the syncs are most of the wait (the
# differential suite takes 106 s on this machine's disk, 26 s on tmpfs). The crash tests kill
# processes, not the machine, so tmpfs keeps everything a disk would for them. Every temporary
# directory below (Rust's, Kafka's, the JVMs') follows TMPDIR; all of it goes on exit.
scratch_root=""
if [ -z "${KSTREAMS_TEST_ON_DISK:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  scratch_root=$(mktemp -d /dev/shm/kstreams-test.XXXXXX)
  export TMPDIR=$scratch_root
fi
trap 'rm -rf ${scratch_root:+"$scratch_root"}' EXIT
source scripts/env.sh
source scripts/lib/local-cluster.sh

step "format"
cargo fmt --all -- --check

step "build (target dir: $CARGO_TARGET_DIR)"
cargo build --locked --workspace --all-targets

step "clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
# The facade's optional re-exports, and the sample-run build of the examples (no HTTP).
cargo clippy --locked -p kstreams --features http,avro,test-util --all-targets -- -D warnings
cargo clippy --locked -p streams-examples --no-default-features --all-targets -- -D warnings

step "fetch Kafka"
bash scripts/kafka.sh fetch

step "fetch and build the schema registry"
bash scripts/registry.sh fetch

step "start a Kafka broker"
run=$(mktemp -d)
smoke=""
cluster_pid=
# On any exit, also a failure or SIGINT/SIGTERM: the broker stops (kafka-cluster removes its
# data on SIGTERM) and the scratch directories go.
cleanup() {
  if [ -n "$cluster_pid" ]; then
    kill -TERM "$cluster_pid" 2>/dev/null || true
    wait "$cluster_pid" 2>/dev/null || true
  fi
  rm -rf "$run" ${smoke:+"$smoke"} ${scratch_root:+"$scratch_root"}
}
trap cleanup EXIT
start_local_cluster "$run/cluster.env" "$run/kafka-cluster.log"
set -a; source "$run/cluster.env"; set +a
echo "Kafka at $KSTREAMS_BOOTSTRAP_SERVERS"

step "tests"
cargo test --locked --workspace --no-fail-fast

# A tiny benchmark run keeps the runners working; its figures mean nothing at this size.
step "benchmark smoke"
# The report command end to end, at smoke size, into a scratch copy of the page (no chart).
smoke=$(mktemp -d)
cp docs/benchmarks.md "$smoke/benchmarks.md"
# One latency case and the failover with a standby only: the other runs take the same paths.
BENCH_VARIANTS="100:1:2000:1" BENCH_LATENCY="200:2" BENCH_LATENCY_CASES=count \
  BENCH_RECOVERY=2000 BENCH_FAILOVER=2000 BENCH_FAILOVER_STANDBYS=1 \
  BENCH_PROFILE=debug BENCH_NO_CHART=1 BENCH_OUT="$smoke" BENCH_DOC="$smoke/benchmarks.md" \
  bash scripts/bench-report.sh >/dev/null
grep -q "^| restore | " "$smoke/benchmarks.md"
grep -q "^| Kafka Streams | 1 | 2,000 | " "$smoke/benchmarks.md"
rm -rf "$smoke"
# The TLS cost command too: both contestants over PLAINTEXT and SASL_SSL of the secured broker.
smoke=$(mktemp -d)
BENCH_TLS_RECORDS=2000 BENCH_TLS_REPEAT=1 BENCH_TLS_PROFILE=debug BENCH_OUT="$smoke" \
  bash scripts/bench-tls.sh >/dev/null
grep -q "^| count | 100 B | kstreams |" "$smoke/tls-sasl-ssl.md"
rm -rf "$smoke"
"$CARGO_TARGET_DIR/debug/store-bench" stores --records 2000 >/dev/null
"$CARGO_TARGET_DIR/debug/store-bench" restore --records 2000 --bootstrap-servers "$KSTREAMS_BOOTSTRAP_SERVERS" >/dev/null
"$CARGO_TARGET_DIR/debug/store-bench" recovery --records 2000 --bootstrap-servers "$KSTREAMS_BOOTSTRAP_SERVERS" >/dev/null
"$CARGO_TARGET_DIR/debug/query-bench" local --keys 2000 --lookups 2000 >/dev/null
"$CARGO_TARGET_DIR/debug/query-bench" http --keys 2000 --requests 200 --bootstrap-servers "$KSTREAMS_BOOTSTRAP_SERVERS" >/dev/null
step "done"
