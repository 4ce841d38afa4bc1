#!/usr/bin/env bash
# A local Apache Kafka (KRaft) cluster for people, on loopback and free ports.
#   scripts/kafka.sh start [BROKERS]   start 1 (default) to 5 brokers in the background
#   scripts/kafka.sh env               print KSTREAMS_BOOTSTRAP_SERVERS=... of the running cluster
#   scripts/kafka.sh stop              stop the cluster this script started
#   scripts/kafka.sh fetch             only download the broker jars
# The cluster's state lives in $KSTREAMS_CACHE_DIR/cluster (pid and env file); data directories
# are temporary and removed on stop.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
run="$KSTREAMS_CACHE_DIR/cluster"
mkdir -p "$run"

start() {
  local brokers="${1:-1}"
  if [ -f "$run/pid" ] && kill -0 "$(cat "$run/pid")" 2>/dev/null; then
    echo "a cluster is already running (pid $(cat "$run/pid")); scripts/kafka.sh stop first" >&2
    exit 1
  fi
  cargo build --quiet --locked -p integration-tests --bin kafka-cluster
  rm -f "$run/cluster.env"
  nohup "$CARGO_TARGET_DIR/debug/kafka-cluster" --brokers "$brokers" --env-file "$run/cluster.env" \
    >"$run/kafka-cluster.log" 2>&1 &
  echo $! >"$run/pid"
  for _ in $(seq 1 240); do
    if [ -f "$run/cluster.env" ]; then
      cat "$run/cluster.env" | grep BOOTSTRAP
      return 0
    fi
    if ! kill -0 "$(cat "$run/pid")" 2>/dev/null; then
      echo "the cluster failed to start:" >&2
      cat "$run/kafka-cluster.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "the cluster did not start within 120 s; see $run/kafka-cluster.log" >&2
  stop
  exit 1
}

stop() { stop_pid_file "$run/pid" cluster "$run/cluster.env"; }

case "${1:-}" in
  start) start "${2:-1}" ;;
  stop) stop ;;
  env) cat "$run/cluster.env" ;;
  fetch) mvn -q -B -f kafka/pom.xml dependency:copy-dependencies \
           -DoutputDirectory="$KSTREAMS_CACHE_DIR/kafka-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' kafka/pom.xml)/libs" ;;
  *) echo "usage: scripts/kafka.sh start [BROKERS] | env | stop | fetch" >&2; exit 2 ;;
esac
