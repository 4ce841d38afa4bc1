# Shared settings for the project's scripts: where build output and downloaded jars live.
# Sourced, not run. Both paths are outside the work tree and survive between runs, so only the
# first build on a machine compiles RocksDB and librdkafka.
export KSTREAMS_CACHE_DIR="${KSTREAMS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kstreams-rs}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KSTREAMS_CACHE_DIR/target}"
mkdir -p "$KSTREAMS_CACHE_DIR" "$CARGO_TARGET_DIR"
# Maven's JVM would otherwise leave /tmp/hsperfdata_<user> behind (its performance data).
case " ${MAVEN_OPTS:-} " in
  *" -XX:-UsePerfData "*) ;;
  *) export MAVEN_OPTS="${MAVEN_OPTS:+$MAVEN_OPTS }-XX:-UsePerfData" ;;
esac

# Stops the process whose pid is in the file $1 (TERM, then KILL after 10 s) and removes the
# file and the other files given; "$2" names it in messages. Never stops anything by name.
stop_pid_file() {
  local pid_file="$1" what="$2"
  shift 2
  [ -f "$pid_file" ] || { echo "no $what started by this script"; return 0; }
  local pid
  pid="$(cat "$pid_file")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$pid_file" "$@"
  echo "stopped"
}
