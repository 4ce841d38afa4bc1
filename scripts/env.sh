# Shared settings for the project's scripts: where build output and downloaded jars live.
# Sourced, not run. Both paths are outside the work tree and survive between runs, so only the
# first build on a machine compiles RocksDB and librdkafka.
export KSTREAMS_CACHE_DIR="${KSTREAMS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kstreams-rs}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KSTREAMS_CACHE_DIR/target}"
mkdir -p "$KSTREAMS_CACHE_DIR" "$CARGO_TARGET_DIR"
