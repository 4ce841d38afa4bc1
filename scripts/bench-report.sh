#!/usr/bin/env bash
# Runs the benchmark suite and regenerates the generated part of docs/benchmarks.md (between
# its markers) and the chart docs/benchmarks/chart.png, from one command:
#
#   bash scripts/bench-report.sh
#
# It builds the release binaries and the Kafka Streams contestant, starts a local Kafka (unless
# KSTREAMS_BOOTSTRAP_SERVERS names one), runs `bench` for each variant, the fixed-rate latency
# mode and `store-bench recovery` for both frameworks, keeps the raw results in
# docs/benchmarks/ (results.jsonl, recovery.txt, meta.json), renders, and stops what it started.
# Settings (environment), with their defaults:
#   BENCH_VARIANTS="100:1:5000000:2 1024:1:1000000:1 100:4:2000000:1"
#                  value bytes:partitions:records:rounds, one `bench --cases all` run each
#   BENCH_LATENCY="5000:20"   input records/s:seconds of the latency mode ("" skips it)
#   BENCH_LATENCY_CASES=passthrough,count,stream-table-join   the latency mode's cases
#   BENCH_RECOVERY=1000000    keys in the store for the restart after kill -9 ("" skips it)
#   BENCH_FAILOVER="1000000 5000000"  keys for the failover of one of two instances, each run
#                             without and with a standby replica, ours and Kafka Streams
#                             ("" skips it)
#   BENCH_FAILOVER_STANDBYS="0 1"  the standby counts of the failover runs
#   BENCH_PROFILE=release     cargo profile of the binaries
#   BENCH_OUT=docs/benchmarks BENCH_DOC=docs/benchmarks.md   where results and the page go
#   BENCH_NO_CHART=           set to skip the chart (no matplotlib needed)
#   BENCH_RENDER_ONLY=        set to re-render the page from the results already in BENCH_OUT
#   BENCH_KEEP=               set to add to the results already in BENCH_OUT instead of starting
#                             over (e.g. to finish a run that stopped); the page lists every
#                             invocation that contributed
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/lib/local-cluster.sh
variants=${BENCH_VARIANTS-"100:1:5000000:2 1024:1:1000000:1 100:4:2000000:1"}
latency=${BENCH_LATENCY-"5000:20"}
latency_cases=${BENCH_LATENCY_CASES:-passthrough,count,stream-table-join}
recovery=${BENCH_RECOVERY-1000000}
failover=${BENCH_FAILOVER-"1000000 5000000"}
failover_standbys=${BENCH_FAILOVER_STANDBYS:-0 1}
profile=${BENCH_PROFILE:-release}
out=${BENCH_OUT:-docs/benchmarks}
doc=${BENCH_DOC:-docs/benchmarks.md}
render_flags=()
if [ -n "${BENCH_NO_CHART:-}" ]; then
  render_flags+=(--no-chart)
else
  python3 -c 'import matplotlib' 2>/dev/null || pip install -q matplotlib
fi
if [ -n "${BENCH_RENDER_ONLY:-}" ]; then
  exec python3 scripts/bench-report.py "$out" "$doc" "${render_flags[@]}"
fi

started=$(date +%s)
mkdir -p "$out"
if [ -z "${BENCH_KEEP:-}" ]; then
  : >"$out/results.jsonl"
  : >"$out/recovery.txt"
  : >"$out/failover.txt"
  : >"$out/runs.txt"
  : >"$out/invocations.txt"
fi
if [ "$profile" = release ]; then
  cargo build --release --locked -p streams-bench
  bin="$CARGO_TARGET_DIR/release"
else
  cargo build --locked -p streams-bench
  bin="$CARGO_TARGET_DIR/debug"
fi

# A broker of our own unless one was named; stopped on exit by its pid, its files removed.
cluster_pid=
envfile=
kafka_log=
cleanup() {
  if [ -n "$cluster_pid" ]; then
    kill -TERM "$cluster_pid" 2>/dev/null || true
    wait "$cluster_pid" 2>/dev/null || true
  fi
  rm -f ${envfile:+"$envfile"} ${kafka_log:+"$kafka_log"}
}
trap cleanup EXIT
if [ -z "${KSTREAMS_BOOTSTRAP_SERVERS:-}" ]; then
  cargo build --quiet --locked -p integration-tests --bin kafka-cluster
  envfile=$(mktemp)
  rm -f "$envfile"
  kafka_log=$(mktemp)
  start_local_cluster "$envfile" "$kafka_log" --brokers 1
  # shellcheck disable=SC1090
  source "$envfile"
  export KSTREAMS_BOOTSTRAP_SERVERS
  rm -f "$envfile"
fi
bootstrap=$KSTREAMS_BOOTSTRAP_SERVERS

runs=()
note() {
  runs+=("$*")
  echo "+ $*" >&2
}
run() {
  note "$@"
  "$@"
}
for v in $variants; do
  IFS=: read -r size partitions records rounds <<<"$v"
  run "$bin/bench" --cases all --value-size "$size" --partitions "$partitions" \
    --records "$records" --repeat "$rounds" --json "$out/results.jsonl" \
    --bootstrap-servers "$bootstrap" >/dev/null
done
if [ -n "$latency" ]; then
  IFS=: read -r rate seconds <<<"$latency"
  run "$bin/bench" --latency-rate "$rate" --seconds "$seconds" --repeat 1 \
    --cases "$latency_cases" --contestants raw,streams,kstreams \
    --json "$out/results.jsonl" --bootstrap-servers "$bootstrap" >/dev/null
fi
if [ -n "$recovery" ]; then
  for contestant in streams kstreams; do
    note "$bin/store-bench" recovery --records "$recovery" --contestant "$contestant" \
      --bootstrap-servers "$bootstrap"
    "$bin/store-bench" recovery --records "$recovery" --contestant "$contestant" \
      --bootstrap-servers "$bootstrap" | tail -n 1 >>"$out/recovery.txt"
  done
fi

for keys in $failover; do
  for contestant in streams kstreams; do
    for standbys in $failover_standbys; do
      note "$bin/failover-bench" --records "$keys" --standbys "$standbys" \
        --contestant "$contestant" --bootstrap-servers "$bootstrap"
      "$bin/failover-bench" --records "$keys" --standbys "$standbys" \
        --contestant "$contestant" --bootstrap-servers "$bootstrap" | tail -n 1 >>"$out/failover.txt"
    done
  done
done

elapsed=$(( $(date +%s) - started ))
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
os=$(. /etc/os-release && echo "$PRETTY_NAME")
rustc_v=$(rustc --version | cut -d' ' -f2)
librdkafka=$(grep -A1 '^name = "rdkafka-sys"' Cargo.lock | sed -n 's/version = "\(.*\)"/\1/p')
kafka=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' bench/kstreams-java/pom.xml)
java_v=$(java -XX:-UsePerfData -version 2>&1 | head -n 1 | sed 's/"//g')
settings="BENCH_VARIANTS=\"$variants\" BENCH_LATENCY=\"$latency\" BENCH_LATENCY_CASES=$latency_cases BENCH_RECOVERY=\"$recovery\" BENCH_FAILOVER=\"$failover\" BENCH_FAILOVER_STANDBYS=\"$failover_standbys\" BENCH_PROFILE=$profile${BENCH_KEEP:+ BENCH_KEEP=1}"
printf '%s\n' "${runs[@]}" | sed "s#$bin/#\$CARGO_TARGET_DIR/$profile/#; s#$bootstrap#<broker>#" >>"$out/runs.txt"
echo "$settings bash scripts/bench-report.sh ($((elapsed / 60)) min $((elapsed % 60)) s)" >>"$out/invocations.txt"
export BR_DATE BR_COMMAND BR_SETTINGS BR_MACHINE BR_VERSIONS BR_RUNS
BR_DATE=$(date -u +%Y-%m-%d)
BR_COMMAND="bash scripts/bench-report.sh"
BR_SETTINGS=$(paste -sd';' "$out/invocations.txt" | sed 's/;/; then /g')
BR_MACHINE="$(nproc) vCPUs ($cpu), $mem, $os; the broker (one, local) on the same machine"
BR_VERSIONS="rustc $rustc_v, rdkafka-sys $librdkafka (librdkafka), Kafka $kafka broker and Kafka Streams $kafka, $java_v (java -Xmx1g)"
BR_RUNS=$(cat "$out/runs.txt")
python3 - "$out/meta.json" <<'PY'
import json, os, sys
env = os.environ
meta = {k: env["BR_" + k.upper()] for k in ("date", "command", "settings", "machine", "versions")}
meta["runs"] = env["BR_RUNS"].splitlines()
json.dump(meta, open(sys.argv[1], "w"), indent=1)
PY
python3 scripts/bench-report.py "$out" "$doc" "${render_flags[@]}"
echo "wrote $doc and $out/" >&2
