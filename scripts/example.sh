#!/usr/bin/env bash
# Runs an example application: `scripts/example.sh [NAME] [ARGS...]` (default: fraud-detection).
# With no --bootstrap-servers the example runs on librdkafka's embedded mock cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
name="${1:-fraud-detection}"
[ $# -gt 0 ] && shift
# Without the `http` feature (the query server of --queries-address): the sample run does not
# serve queries, and its first build stays free of an HTTP stack.
exec cargo run --quiet --locked --no-default-features -p streams-examples --bin "$name" -- "$@"
