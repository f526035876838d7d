#!/usr/bin/env bash
# Resolve the Apache Iceberg Java REST client (tests/java/pom.xml) and compile the test driver
# (tests/java/src) for tests/clients/test_iceberg_java.py.
#
#   scripts/setup-java.sh        (from any directory; non-interactive, safe with CI=true)
#
# Output in target/java/: lib/ (the jars, `mvn dependency:copy-dependencies`), classes/ (javac),
# `classpath` and `java` (what the tests run). Skipped when target/java/.inputs.sha256 records the
# same pom, sources and JDK. Needs a JDK 17+ (javac) and Maven 3.8+ on PATH, and Maven Central or a
# local Maven repository that already holds the jars (~/.m2/repository, or -Dmaven.repo.local in
# MAVEN_OPTS). FRAZIL_ICEBERG_JAVA_VERSION=1.12.0 tries another iceberg-core than the pom's.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/tests/java"
OUT="$ROOT/target/java"
STAMP="$OUT/.inputs.sha256"

die() {
    echo "setup-java: $*" >&2
    exit 1
}

JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
JAVAC="${JAVA_HOME:+$JAVA_HOME/bin/}javac"
command -v "$JAVAC" >/dev/null 2>&1 || die "no javac (JDK 17+) found; install one (Debian: apt-get install -y openjdk-17-jdk-headless) or set JAVA_HOME"
JAVA="$(command -v "$JAVA")" || die "no java next to javac ($JAVAC)"
command -v mvn >/dev/null 2>&1 || die "no mvn found; install Maven 3.8+ (Debian: apt-get install -y maven)"
version="$("$JAVAC" -version 2>&1)"
major="$(sed -E 's/^javac ([0-9]+).*/\1/' <<<"$version")"
[[ "$major" =~ ^[0-9]+$ && "$major" -ge 17 ]] || die "needs a JDK 17 or newer, found: $version (set JAVA_HOME)"

want="$( (cat "$SRC/pom.xml"; find "$SRC/src" -name '*.java' -print0 | sort -z | xargs -0 cat; echo "$version $JAVA ${FRAZIL_ICEBERG_JAVA_VERSION:-}") | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    echo "setup-java: $OUT is up to date" >&2
    exit 0
fi

echo "setup-java: resolving $SRC/pom.xml with $(mvn -v 2>/dev/null | head -1 | sed 's/\x1b\[[0-9;]*m//g')" >&2
rm -rf "$OUT/lib.new" "$OUT/classes.new"
mkdir -p "$OUT"
mvn -q -B -Dstyle.color=never -f "$SRC/pom.xml" dependency:copy-dependencies \
    ${FRAZIL_ICEBERG_JAVA_VERSION:+-Diceberg.version="$FRAZIL_ICEBERG_JAVA_VERSION"} \
    -DincludeScope=runtime -DoutputDirectory="$OUT/lib.new" </dev/null 2>&1 \
    | sed 's/\x1b\[[0-9;]*m//g' >&2 \
    || die "mvn could not resolve the jars of $SRC/pom.xml (is Maven Central reachable?)"
ls "$OUT/lib.new"/iceberg-core-*.jar >/dev/null 2>&1 || die "mvn left no iceberg-core jar in $OUT/lib.new"

echo "setup-java: compiling $SRC/src with $version" >&2
find "$SRC/src" -name '*.java' -print0 | xargs -0 "$JAVAC" --release 17 -Xlint:all \
    -encoding UTF-8 -d "$OUT/classes.new" -cp "$OUT/lib.new/*" \
    || die "javac failed on $SRC/src"

rm -rf "$OUT/lib" "$OUT/classes"
mv "$OUT/lib.new" "$OUT/lib"
mv "$OUT/classes.new" "$OUT/classes"
echo "$OUT/classes:$OUT/lib/*" >"$OUT/classpath"
echo "$JAVA" >"$OUT/java"
echo "$want" >"$STAMP"
echo "setup-java: done ($(find "$OUT/lib" -name '*.jar' | wc -l) jars in $OUT/lib)" >&2
