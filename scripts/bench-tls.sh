#!/usr/bin/env bash
# What TLS and SASL cost: passthrough and count, ours and Kafka Streams, over PLAINTEXT and
# over SASL_SSL (SCRAM-SHA-512) listeners of the same local broker, from one command:
#
#   bash scripts/bench-tls.sh
#
# It starts the secured broker of the test suite (`kafka-cluster --secured`: a CA made for the
# run, SASL_SSL beside PLAINTEXT), loads the input through PLAINTEXT, and runs `bench` twice:
# contestants on the PLAINTEXT listener, then on the SASL_SSL one as the broker's super user.
# The tables go to docs/benchmarks/tls-plaintext.md and tls-sasl-ssl.md (and the rows to
# tls.jsonl); docs/benchmarks.md quotes them. Settings (environment), with their defaults:
#   BENCH_TLS_RECORDS=1000000 BENCH_TLS_VALUE_SIZE=100 BENCH_TLS_REPEAT=3
#   BENCH_TLS_CASES=passthrough,count   BENCH_OUT=docs/benchmarks   BENCH_TLS_PROFILE=release
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/lib/local-cluster.sh
records=${BENCH_TLS_RECORDS:-1000000}
size=${BENCH_TLS_VALUE_SIZE:-100}
repeat=${BENCH_TLS_REPEAT:-3}
cases=${BENCH_TLS_CASES:-passthrough,count}
out=${BENCH_OUT:-docs/benchmarks}
mkdir -p "$out"

if [ "${BENCH_TLS_PROFILE:-release}" = release ]; then
  cargo build --release --locked -p streams-bench
  bin="$CARGO_TARGET_DIR/release"
else
  cargo build --locked -p streams-bench
  bin="$CARGO_TARGET_DIR/debug"
fi
cargo build --quiet --locked -p integration-tests --bin kafka-cluster

cluster_pid=
envfile=$(mktemp)
rm -f "$envfile"
kafka_log=$(mktemp)
cleanup() {
  if [ -n "$cluster_pid" ]; then
    kill -TERM "$cluster_pid" 2>/dev/null || true
    wait "$cluster_pid" 2>/dev/null || true
  fi
  rm -f "$envfile" "$kafka_log"
}
trap cleanup EXIT
start_local_cluster "$envfile" "$kafka_log" --secured
# shellcheck disable=SC1090
source "$envfile"
plain=$KSTREAMS_BOOTSTRAP_SERVERS

common=(--records "$records" --value-size "$size" --repeat "$repeat" --cases "$cases"
  --contestants streams,kstreams --bootstrap-servers "$plain" --json "$out/tls.jsonl")
: >"$out/tls.jsonl"
echo "+ bench ${common[*]}" >&2
"$bin/bench" "${common[@]}" | tee "$out/tls-plaintext.md"

ours=(--config security.protocol=SASL_SSL --config sasl.mechanism=SCRAM-SHA-512
  --config "sasl.username=$KSTREAMS_SUPER_USER" --config "sasl.password=$KSTREAMS_SUPER_PASSWORD"
  --config "ssl.ca.location=$KSTREAMS_TEST_CA")
jaas="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$KSTREAMS_SUPER_USER\" password=\"$KSTREAMS_SUPER_PASSWORD\";"
java=(--java-config security.protocol=SASL_SSL --java-config sasl.mechanism=SCRAM-SHA-512
  --java-config "sasl.jaas.config=$jaas" --java-config ssl.truststore.type=PEM
  --java-config "ssl.truststore.location=$KSTREAMS_TEST_CA")
echo "+ bench ${common[*]} --contestant-bootstrap $KSTREAMS_SASL_SSL_BOOTSTRAP (SASL_SSL settings, password not shown)" >&2
"$bin/bench" "${common[@]}" --contestant-bootstrap "$KSTREAMS_SASL_SSL_BOOTSTRAP" \
  "${ours[@]}" "${java[@]}" | tee "$out/tls-sasl-ssl.md"
