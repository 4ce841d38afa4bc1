# Sourced by the scripts that run a local Kafka of their own (test.sh, bench-report.sh,
# bench-tls.sh).
#
# start_local_cluster ENVFILE LOG [kafka-cluster options...]
#   Starts the debug build of kafka-cluster in the background (its pid in $cluster_pid, for
#   the caller's cleanup to stop with SIGTERM) and waits up to 120 s for it to write ENVFILE;
#   if it exits or does not start in time, prints its log and exits 1.
start_local_cluster() {
  local envfile=$1 log=$2
  shift 2
  "$CARGO_TARGET_DIR/debug/kafka-cluster" "$@" --env-file "$envfile" >"$log" 2>&1 &
  cluster_pid=$!
  for _ in $(seq 1 240); do
    [ -f "$envfile" ] && return 0
    kill -0 "$cluster_pid" 2>/dev/null || { echo "the broker failed to start:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.5
  done
  echo "Kafka did not start in 120 s" >&2
  cat "$log" >&2
  exit 1
}
