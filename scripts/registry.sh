#!/usr/bin/env bash
# A local Confluent-compatible schema registry (Apicurio Registry 3.0.9, in-memory storage) on
# loopback and a free port, for people and tests. Its Confluent API is at /apis/ccompat/v7.
#   scripts/registry.sh fetch   download and build the registry (registry/pom.xml); done once
#   scripts/registry.sh start   start it in the background (fetching first if needed), wait until ready
#   scripts/registry.sh env     print export KSTREAMS_SCHEMA_REGISTRY_URL=http://127.0.0.1:PORT/apis/ccompat/v7
#   scripts/registry.sh stop    stop the registry this script started
# The build lives in $KSTREAMS_CACHE_DIR/apicurio-registry-3.0.9; the running registry's pid, env file
# and log in $KSTREAMS_CACHE_DIR/registry. Schemas are kept in memory only and are gone on stop.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

version=3.0.9
home="$KSTREAMS_CACHE_DIR/apicurio-registry-$version"
repo="$home/repo"       # a file:// Maven repository holding the shims (see registry/pom.xml)
build="$home/build"     # the Quarkus build: schema-registry-1-runner.jar and lib/
runner="$build/schema-registry-1-runner.jar"
run="$KSTREAMS_CACHE_DIR/registry"
mkdir -p "$run"

java_bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
mvn_() { mvn -q -B -Dstyle.color=never -s registry/settings.xml "$@"; }

stamp() { cat registry/pom.xml registry/settings.xml registry/shim/* | sha256sum | cut -d' ' -f1; }

# Copies one artifact from Maven Central into a folder.
get() { mvn_ org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy -Dartifact="$1" -DoutputDirectory="$2"; }

# Installs a file into the shim repository.
put() {
  mvn_ org.apache.maven.plugins:maven-install-plugin:2.5.2:install-file \
    -Dfile="$1" -DpomFile="$2" -DlocalRepositoryPath="$repo"
}

fetch() {
  if [ -f "$runner" ] && [ "$(cat "$home/stamp" 2>/dev/null)" = "$(stamp)" ]; then
    return 0
  fi
  local work="$home/shim-work"
  rm -rf "$work" "$repo" "$build" "$home/stamp"
  mkdir -p "$work/classes" "$repo"

  # The parent pom io.apicurio:apicurio-registry:3.0.9 is not served: 3.0.7's, renamed.
  get io.apicurio:apicurio-registry:3.0.7:pom "$work"
  sed '0,/<version>3.0.7<\/version>/s//<version>3.0.9<\/version>/' \
    "$work/apicurio-registry-3.0.7.pom" >"$work/apicurio-registry-3.0.9.pom"
  put "$work/apicurio-registry-3.0.9.pom" "$work/apicurio-registry-3.0.9.pom"

  # apicurio-registry-config-definitions:3.0.9: 3.0.6's classes with the 3.0.9 Info annotation. Its
  # Jandex index describes the old Info, so it is dropped and beans.xml makes Quarkus index the jar.
  get io.apicurio:apicurio-registry-config-definitions:3.0.6 "$work"
  get jakarta.enterprise:jakarta.enterprise.cdi-api:4.1.0 "$work"
  (cd "$work/classes" && unzip -q "../apicurio-registry-config-definitions-3.0.6.jar" -x 'META-INF/maven/*')
  rm -f "$work/classes/io/apicurio/common/apps/config/Info.class" "$work/classes/META-INF/jandex.idx"
  touch "$work/classes/META-INF/beans.xml"
  "${JAVA_HOME:+$JAVA_HOME/bin/}javac" --release 17 -nowarn \
    -cp "$work/jakarta.enterprise.cdi-api-4.1.0.jar:$work/classes" -d "$work/classes" registry/shim/*.java
  (cd "$work/classes" && "${JAVA_HOME:+$JAVA_HOME/bin/}jar" cf ../config-definitions-3.0.9.jar .)
  put "$work/config-definitions-3.0.9.jar" registry/shim/apicurio-registry-config-definitions-3.0.9.pom

  # apicurio-registry-config-index-deployment:3.0.9: 3.0.6's jar.
  get io.apicurio:apicurio-registry-config-index-deployment:3.0.6 "$work"
  put "$work/apicurio-registry-config-index-deployment-3.0.6.jar" \
    registry/shim/apicurio-registry-config-index-deployment-3.0.9.pom

  mvn_ -f registry/pom.xml package -Dshim.repo.url="file://$repo" -Dregistry.build.dir="$build"
  rm -rf "$work"
  stamp >"$home/stamp"
  echo "built $runner"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  if [ -f "$run/pid" ] && kill -0 "$(cat "$run/pid")" 2>/dev/null; then
    echo "a registry is already running (pid $(cat "$run/pid")); scripts/registry.sh stop first" >&2
    exit 1
  fi
  fetch
  rm -f "$run/registry.env"
  local port url
  port="$(free_port)"
  url="http://127.0.0.1:$port"
  # Its temporary files (Vert.x's vertx-cache) in the run directory, no perf data in /tmp:
  # nothing is left in /tmp when it is stopped with SIGKILL.
  mkdir -p "$run/tmp"
  nohup "$java_bin" -Xmx256m -XX:+UseSerialGC -XX:-UsePerfData -Djava.io.tmpdir="$run/tmp" \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$port" \
    -jar "$runner" >"$run/registry.log" 2>&1 &
  echo $! >"$run/pid"
  for _ in $(seq 1 240); do
    if curl -sf -o /dev/null "$url/health/ready" && curl -sf -o /dev/null "$url/apis/ccompat/v7/subjects"; then
      echo "export KSTREAMS_SCHEMA_REGISTRY_URL=$url/apis/ccompat/v7" >"$run/registry.env"
      cat "$run/registry.env"
      return 0
    fi
    if ! kill -0 "$(cat "$run/pid")" 2>/dev/null; then
      echo "the registry failed to start:" >&2
      cat "$run/registry.log" >&2
      rm -f "$run/pid"
      exit 1
    fi
    sleep 0.5
  done
  echo "the registry did not start within 120 s; see $run/registry.log" >&2
  stop
  exit 1
}

stop() { stop_pid_file "$run/pid" registry "$run/registry.env"; }

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  env) cat "$run/registry.env" ;;
  *) echo "usage: scripts/registry.sh fetch | start | env | stop" >&2; exit 2 ;;
esac
