#!/usr/bin/env bash
# Run a real OpenSearch cluster (with the k-NN plugin) in the FOREGROUND until SIGTERM/SIGINT.
#
#   engines/opensearch/launch.sh --version-major 2|3 [--nodes N] [--port P] --home DIR
#   engines/opensearch/launch.sh --version-major 2|3 --prepare-only   # build + CDS archive only
#
#   2: OpenSearch 2.19.1 + k-NN 2.19.1.0 on Java 17
#   3: OpenSearch 3.5.0  + k-NN 3.5.0.0  on Java 21+ (the Temurin JDK 25 under /usr/lib/jvm)
#
# Builds the Maven module when needed (the first time: resolves from Maven Central into
# ~/.m2), then `exec`s one JVM holding all N nodes, so the caller's pid is the JVM's pid.
# Node i serves HTTP on P+i-1 and transport on P+1000+i-1, on 127.0.0.1 only.
# scripts/engine.sh runs this in the background and keeps pid/log/url files.
#
# Start-up is mostly class loading on a 2-core machine, so --prepare-only also records a
# class-data-sharing archive (a short training start of the cluster, once per build and JDK),
# kept with the jars it describes in a cache outside the checkout, so that fresh clones (CI)
# on the same machine reuse it. With the archive a start takes about half the time.
#
# Environment:
#   ES_VISUAL_OPENSEARCH_HEAP   heap of the cluster JVM (default 1g; all nodes share it)
#   ES_VISUAL_JAVA17_HOME       JDK for 2.x (default: /usr/lib/jvm/java-17-openjdk-amd64)
#   ES_VISUAL_JAVA21_HOME       JDK (21 or newer) for 3.x (default: the newest JDK >= 21 under /usr/lib/jvm)
#   ES_VISUAL_ENGINE_CACHE      cache folder (default ~/.cache/es-visual/engines)
#   ES_VISUAL_ENGINE_CDS=0      no class-data-sharing archive
#   ES_VISUAL_ENGINE_CDS_TRAIN=0  --prepare-only builds but records no archive (engine.sh start
#                               sets it: a start never spends time on training; `prepare` does)
#   MVN (default mvn), MVN_ARGS (e.g. -o for offline, -Dmaven.repo.local=DIR)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
major="" nodes=2 port="" home="" prepare_only=""
die() { echo "opensearch launch: $*" >&2; exit 2; }
say() { echo "opensearch launch: $*" >&2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --version-major) major=${2:?}; shift 2 ;;
    --nodes) nodes=${2:?}; shift 2 ;;
    --port) port=${2:?}; shift 2 ;;
    --home) home=${2:?}; shift 2 ;;
    --prepare-only) prepare_only=1; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
case "$major" in
  2) default_port=9250 ;;
  3) default_port=9260 ;;
  *) die "--version-major must be 2 or 3 (got '${major}')" ;;
esac
port=${port:-$default_port}
[[ "$nodes" =~ ^[1-9]$ ]] || die "--nodes must be 1..9 (got '$nodes')"
[[ "$port" =~ ^[0-9]+$ ]] || die "--port must be a number (got '$port')"
[ -n "$prepare_only" ] || [ -n "$home" ] || die "--home DIR is required"

# --- the JDK -------------------------------------------------------------------------------
java_major() { "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p' | head -1; }
pick_java() {  # $1 = minimum major, $2 = exact major wanted ("" = the newest >= minimum)
  local min=$1 want=$2 best="" bestv=0 j v
  for j in /usr/lib/jvm/*/ "$(dirname "$(dirname "$(readlink -f "$(command -v javac || echo /x/x/x)")")")/"; do
    j=${j%/}
    [ -x "$j/bin/java" ] && [ -x "$j/bin/javac" ] || continue
    v=$(java_major "$j"); [[ "$v" =~ ^[0-9]+$ ]] || continue
    if [ -n "$want" ]; then
      if [ "$v" = "$want" ]; then echo "$j"; return; fi
    elif [ "$v" -ge "$min" ] && [ "$v" -gt "$bestv" ]; then
      best=$j bestv=$v
    fi
  done
  [ -n "$best" ] || die "no JDK ${want:-$min or newer} found under /usr/lib/jvm or on PATH (set ES_VISUAL_JAVA${min}_HOME)"
  echo "$best"
}
if [ "$major" = 2 ]; then
  JAVA_HOME=${ES_VISUAL_JAVA17_HOME:-}
  [ -n "$JAVA_HOME" ] || { [ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/javac ] && JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64; } \
    || JAVA_HOME=$(pick_java 17 17)
else
  JAVA_HOME=${ES_VISUAL_JAVA21_HOME:-$(pick_java 21 "")}
fi
[ -x "$JAVA_HOME/bin/java" ] || die "no java at $JAVA_HOME/bin/java"
export JAVA_HOME
java="$JAVA_HOME/bin/java"

# --- the build ------------------------------------------------------------------------------
target="$here/target/os$major"
cpfile="$target/classpath.txt"
needs_build() {
  [ -s "$cpfile" ] && [ -s "$target/opensearch-engine.jar" ] && [ -d "$target/knn" ] || return 0
  # pom or sources newer than the last build
  [ -z "$(find "$here/pom.xml" "$here/src" -newer "$cpfile" -print -quit)" ] || return 0
  # every jar still in the Maven repository
  local f
  while IFS= read -r f; do [ -e "$f" ] || return 0; done < <(tr ':' '\n' < "$cpfile")
  [ "$(cat "$target/java-home" 2>/dev/null)" = "$JAVA_HOME" ] || return 0
  return 1
}
if needs_build; then
  say "building engines/opensearch (-P os$major, JAVA_HOME=$JAVA_HOME)"
  rm -f "$cpfile"
  # shellcheck disable=SC2086
  # (Maven 3.8 prints colour resets even in batch mode: strip them from the log)
  "${MVN:-mvn}" -B -q -Dstyle.color=never ${MVN_ARGS:-} -f "$here/pom.xml" -P "os$major" package 2>&1 \
    | sed -u 's/\x1b\[[0-9;]*m//g' >&2
  echo "$JAVA_HOME" > "$target/java-home"
  touch "$cpfile"
fi

# --- the class path, in a cache outside the checkout ----------------------------------------
# Class-data sharing checks every class-path entry by path, size and mtime, and refuses
# directories: so the class path is jars only, the Maven repository's (stable) and ours, copied
# to a fixed place only when their content changed (the engine jar is built reproducibly).
cache=${ES_VISUAL_ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/es-visual/engines}/opensearch-os$major
lib="$cache/lib"
mkdir -p "$lib"
sync_jar() {  # $1 = source jar; prints the cached path
  local dst="$lib/$(basename "$1")"
  if ! cmp -s "$1" "$dst"; then
    cp "$1" "$dst.tmp.$$" && mv -f "$dst.tmp.$$" "$dst"
  fi
  echo "$dst"
}
cp_="$(sync_jar "$target/opensearch-engine.jar"):$(cat "$cpfile")"
for j in "$target"/knn/*.jar; do cp_="$cp_:$(sync_jar "$j")"; done

jvm_base=(
  -Xss1m -XX:+UseG1GC -XX:-OmitStackTraceInFastThrow -XX:+ExitOnOutOfMemoryError
  -Djava.awt.headless=true -Dfile.encoding=UTF-8 -Djna.nosys=true
  -Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true
  "-Dlog4j2.configurationFile=$here/config/log4j2.properties"
  -Xlog:cds=off -Xlog:cds+dynamic=off
)
if [ "$major" = 3 ]; then
  # OpenSearch 3 on a JDK without the SecurityManager; the vector API for Lucene 10's k-NN
  jvm_base+=(--add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED
             --enable-native-access=ALL-UNNAMED --add-modules=jdk.incubator.vector)
fi

# the archive's name: what it depends on (class path, JDK, the line's module options), and
# nothing of this checkout's own path, so that every clone on this machine shares it
key=$(printf '%s\n' "$cp_" "$("$java" -version 2>&1)" "os$major" | sha1sum | cut -c1-16)
cds="$cache/cds-$key.jsa"
cds_ok() { [ -s "$1" ] && "$java" "${jvm_base[@]}" -Xshare:on "-XX:SharedArchiveFile=$1" -cp "$cp_" -version >/dev/null 2>&1; }

train_cds() {  # one short start of a 2-node cluster, dumping the classes it loaded
  local tport=$((default_port + 500)) p tmp home_t log_t rc
  for p in $tport $((tport + 1)) $((tport + 1000)) $((tport + 1001)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      say "port $p is busy: no class-data-sharing archive this time (starts are slower)"; return 0
    fi
  done
  tmp="$cds.tmp.$$"; home_t=$(mktemp -d); log_t="$home_t.log"
  say "recording a class-data-sharing archive (one training start, ports $tport/$((tport + 1000)))"
  rc=0
  timeout -k 10 600 "$java" -Xms256m -Xmx1g "${jvm_base[@]}" "-XX:ArchiveClassesAtExit=$tmp" \
    "-Djava.io.tmpdir=$home_t" -cp "$cp_" esvisual.engines.opensearch.ClusterMain \
    --nodes 2 --port "$tport" --home "$home_t/cluster" --cluster-name es-visual-cds-training \
    --exit-after-start >"$log_t" 2>&1 || rc=$?
  if [ "$rc" = 0 ] && cds_ok "$tmp"; then
    find "$cache" -maxdepth 1 -name 'cds-*.jsa' ! -name "$(basename "$cds")" -delete  # outdated builds
    mv -f "$tmp" "$cds"
    say "archive $cds ($(du -m "$cds" | cut -f1) MB)"
  else
    say "training start failed (exit $rc): no archive; its log:"; tail -n 30 "$log_t" >&2
    rm -f "$tmp"
  fi
  rm -rf "$home_t" "$log_t"
}

if [ "${ES_VISUAL_ENGINE_CDS:-1}" = 0 ]; then
  cds_opts=()
else
  if [ -e "$cds" ] && ! cds_ok "$cds"; then rm -f "$cds"; fi
  [ -e "$cds" ] || [ -z "$prepare_only" ] || [ "${ES_VISUAL_ENGINE_CDS_TRAIN:-1}" = 0 ] || train_cds
  cds_opts=(); [ -e "$cds" ] && cds_opts=("-XX:SharedArchiveFile=$cds")
fi
if [ -n "$prepare_only" ]; then say "prepared $target (java: $JAVA_HOME)"; exit 0; fi

# --- the cluster ----------------------------------------------------------------------------
mkdir -p "$home/tmp"
heap=${ES_VISUAL_OPENSEARCH_HEAP:-1g}
say "$("$java" -version 2>&1 | head -1); $nodes node(s) on 127.0.0.1:$port; home $home; cds: ${cds_opts[*]:-none}"
exec "$java" -Xms256m "-Xmx$heap" "${jvm_base[@]}" "${cds_opts[@]}" "-Djava.io.tmpdir=$home/tmp" \
  -cp "$cp_" esvisual.engines.opensearch.ClusterMain \
  --nodes "$nodes" --port "$port" --home "$home" --cluster-name "es-visual-opensearch$major"
