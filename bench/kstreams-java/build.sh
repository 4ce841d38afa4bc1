#!/usr/bin/env bash
# Builds the Kafka Streams (Java) benchmark contestant: Maven copies the jars pom.xml names
# from Maven Central into $KSTREAMS_CACHE_DIR/kstreams-java-<version>/libs (once), and the
# machine's javac compiles Contestant.java into .../classes. Prints the directory. The jars are
# fetched again when pom.xml changes.
set -euo pipefail
cd "$(dirname "$0")"
source ../../scripts/env.sh
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' pom.xml)
out="$KSTREAMS_CACHE_DIR/kstreams-java-$version"
pom=$(sha256sum pom.xml | cut -d' ' -f1)
if [ "$(cat "$out/libs/.complete" 2>/dev/null)" != "$pom" ]; then
  rm -rf "$out/libs.partial"
  mvn -q -B -f pom.xml dependency:copy-dependencies -DoutputDirectory="$out/libs.partial" >&2
  echo "$pom" > "$out/libs.partial/.complete"
  rm -rf "$out/libs"
  mv "$out/libs.partial" "$out/libs"
fi
rm -rf "$out/classes.partial"
mkdir -p "$out/classes.partial"
javac -J-XX:-UsePerfData -nowarn -d "$out/classes.partial" -cp "$out/libs/*" src/main/java/kstreamsbench/*.java >&2
rm -rf "$out/classes"
mv "$out/classes.partial" "$out/classes"
echo "$out"
