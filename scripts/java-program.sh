#!/usr/bin/env bash
# Builds one of the project's Java programs (the benchmark's Kafka Streams contestant, the
# differential suite's Kafka Streams driver). Usage: java-program.sh DIR NAME, where DIR holds a
# pom.xml naming the jars and src/main/java. Maven copies the jars from Maven Central into
# $KSTREAMS_CACHE_DIR/NAME-<kafka.version>/libs (once; again when pom.xml changes), and
# the machine's javac compiles the sources into .../classes. Prints that directory.
set -euo pipefail
dir=$(cd "$1" && pwd)
source "$(dirname "$0")/env.sh"
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$dir/pom.xml")
name="$2"
out="$KSTREAMS_CACHE_DIR/$name-$version"
pom=$(sha256sum "$dir/pom.xml" | cut -d' ' -f1)
if [ "$(cat "$out/libs/.complete" 2>/dev/null)" != "$pom" ]; then
  rm -rf "$out/libs.partial"
  mvn -q -B -f "$dir/pom.xml" dependency:copy-dependencies -DoutputDirectory="$out/libs.partial" >&2
  echo "$pom" > "$out/libs.partial/.complete"
  rm -rf "$out/libs"
  mv "$out/libs.partial" "$out/libs"
fi
rm -rf "$out/classes.partial"
mkdir -p "$out/classes.partial"
find "$dir/src/main/java" -name '*.java' -print0 |
  xargs -0 javac -J-XX:-UsePerfData -nowarn -d "$out/classes.partial" -cp "$out/libs/*" >&2
rm -rf "$out/classes"
mv "$out/classes.partial" "$out/classes"
echo "$out"
