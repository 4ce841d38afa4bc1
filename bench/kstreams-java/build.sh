#!/usr/bin/env bash
# Builds the Kafka Streams (Java) benchmark contestant into
# $KSTREAMS_CACHE_DIR/kstreams-java-<version> and prints that directory
# (see scripts/java-program.sh).
set -euo pipefail
cd "$(dirname "$0")"
exec bash ../../scripts/java-program.sh . kstreams-java
