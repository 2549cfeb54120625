#!/usr/bin/env bash
# Runs a real Elasticsearch cluster (N nodes in one JVM) built from the Maven
# Central artifacts, in the FOREGROUND; logs go to stdout/stderr; SIGTERM stops it.
#
#   launch.sh --version-major 9|8 --nodes N --port P --home DIR [options]
#   launch.sh --version-major 9|8 --prepare-only [--es-version X.Y.Z]
#
# --prepare-only resolves the artifacts (~/.m2), builds target/es<major>/ and
# trains a class-data-sharing archive (one short single-node start/stop) that
# makes later starts ~2x faster. Idempotent: a second call does nothing. A
# plain start builds what is missing too, but does not train the archive.
#
# Node i (0-based) serves HTTP on P+i and transport on T+i (T = P+100 unless
# --transport-port); data in DIR/data/node-i, config and log4j2.properties in
# DIR/config; security does not exist (no x-pack on the classpath).
#
# Options:
#   --es-version X.Y.Z   another release of that major (defaults: 9.5.3, 8.19.21); it
#                        needs transport-netty4 and test framework on Maven Central
#   --transport-port T   first transport port (default P+100)
#   --http-first-only    only node-0 serves HTTP on P (others on P+1000+i)
#   --cluster-name NAME  (default es-visual-test)
#   -E key=value         any extra node setting, repeatable
# Environment (names shared with engines/opensearch/launch.sh where they mean the same):
#   ES_VISUAL_ELASTICSEARCH_HEAP  max heap of the one JVM, all nodes together (default 1g)
#   ES_JAVA_OPTS                  extra JVM flags (appended)
#   ES_JAVA_HOME, or ES_VISUAL_JAVA21_HOME (9.x) / ES_VISUAL_JAVA17_HOME (8.x):
#                 the JDK (9.x needs 21+, 8.x 17+). Default: JAVA_HOME or the java on
#                 PATH if recent enough, else the newest fitting JDK under /usr/lib/jvm
#                 (on the project machines: Java 17 for 8.x, the Temurin 25 for 9.x)
#   ES_VISUAL_ENGINE_CDS=0        no class-data-sharing archive
#   ES_VISUAL_ENGINE_CDS_TRAIN=0  --prepare-only builds but trains no archive
#                                 (engine.sh start sets it; engine.sh prepare does not)
#   MVN (default mvn), MVN_ARGS (e.g. -o to stay offline, -Dmaven.repo.local=DIR)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
major="" nodes=2 port=9200 home="" prepare_only=0 es_version=""
runner_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --version-major) major="$2"; shift 2 ;;
    --nodes) nodes="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --home) home="$2"; shift 2 ;;
    --prepare-only) prepare_only=1; shift ;;
    --es-version) es_version="$2"; shift 2 ;;
    --transport-port|--cluster-name|-E|--setting) runner_args+=("$1" "$2"); shift 2 ;;
    --http-first-only) runner_args+=("$1"); shift ;;
    -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
    *) echo "launch.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$major" in
  9) min_java=21; profile=es9 ;;
  8) min_java=17; profile=es8 ;;
  *) echo "launch.sh: --version-major must be 9 or 8" >&2; exit 2 ;;
esac

java_feature() {  # feature release of the java binary $1 (25, 17, ...), or nothing
  local rel v
  rel="$(dirname "$(dirname "$1")")/release"   # the JDK's release file: no JVM start needed
  if [[ -f "$rel" ]]; then
    v="$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$rel" | head -1)"
    [[ -n "$v" ]] && { echo "$v"; return; }
  fi
  "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p' | head -1
}
pick_java_home() {
  local cand v
  local forced="${ES_JAVA_HOME:-}"
  if [[ -z "$forced" && $major == 9 ]]; then forced="${ES_VISUAL_JAVA21_HOME:-}"; fi
  if [[ -z "$forced" && $major == 8 ]]; then forced="${ES_VISUAL_JAVA17_HOME:-}"; fi
  if [[ -n "$forced" ]]; then echo "$forced"; return; fi
  for cand in "${JAVA_HOME:-}" \
      "$(command -v java >/dev/null && dirname "$(dirname "$(readlink -f "$(command -v java)")")")" \
      $(ls -d /usr/lib/jvm/*/ 2>/dev/null | sort -rV); do
    cand="${cand%/}"
    [[ -n "$cand" && -x "$cand/bin/java" && -x "$cand/bin/javac" ]] || continue
    v="$(java_feature "$cand/bin/java")"
    if [[ -n "$v" && "$v" -ge "$min_java" ]]; then echo "$cand"; return; fi
  done
  echo "launch.sh: no JDK >= $min_java found (set ES_JAVA_HOME)" >&2
  return 1
}
jhome="$(pick_java_home)"
jfeature="$(java_feature "$jhome/bin/java")"
[[ -n "$jfeature" && "$jfeature" -ge "$min_java" ]] \
  || { echo "launch.sh: $jhome is Java ${jfeature:-?}; Elasticsearch $major.x needs $min_java+" >&2; exit 2; }

# ---- build (idempotent) ------------------------------------------------------
target="$here/target/$profile"
stamp="$target/.prepared"
want="${es_version:-default}"
needs_build=1
if [[ -f "$stamp" && -f "$target/classpath.txt" && -f "$target/es-visual-engine.jar" ]] \
   && [[ "$(cat "$stamp")" == "$want" ]] \
   && [[ -z "$(find "$here/pom.xml" "$here/src" -newer "$stamp" -print -quit)" ]]; then
  needs_build=0
fi
if [[ $needs_build == 1 ]]; then
  echo "[es-visual] building engines/elasticsearch ($profile${es_version:+, $es_version}) with $jhome" >&2
  mvn_cmd=("${MVN:-mvn}" -q -B -Dstyle.color=never -f "$here/pom.xml" "-P$profile")
  # shellcheck disable=SC2206
  [[ -n "${MVN_ARGS:-}" ]] && mvn_cmd+=($MVN_ARGS)
  [[ -n "$es_version" ]] && mvn_cmd+=("-Des.version=$es_version")
  JAVA_HOME="$jhome" "${mvn_cmd[@]}" package >&2
  while IFS= read -r f; do  # fail now, not at class loading
    [[ -f "$f" ]] || { echo "launch.sh: missing $f" >&2; exit 1; }
  done < <(tr ':' '\n' < "$target/classpath.txt")
  rm -f "$target"/cds-*.jsa   # an archive of other jars is useless
  echo "$want" > "$stamp"
fi

# ---- JVM ---------------------------------------------------------------------
jvm=(
  "-Xmx${ES_VISUAL_ELASTICSEARCH_HEAP:-1g}" -Xss1m
  -XX:+UseG1GC -XX:-OmitStackTraceInFastThrow
  # the distribution's system properties (server-cli SystemJvmOptions)
  -Djava.awt.headless=true -Dfile.encoding=UTF-8 -Djna.nosys=true
  -Des.networkaddress.cache.ttl=60 -Des.networkaddress.cache.negative.ttl=10
  -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true -Dio.netty.recycler.maxCapacityPerThread=0
  -Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true -Dlog4j2.formatMsgNoLookups=true
  -Djava.locale.providers=CLDR
  # libvec (native SIMD vector scoring) ships only in the distribution's lib/platform,
  # not on Maven Central: don't try it; Lucene's Java (Panama) scorers are used.
  -Dorg.elasticsearch.nativeaccess.enableVectorLibrary=false
)
if [[ "$jfeature" -ge 21 ]]; then
  jvm+=(--enable-native-access=ALL-UNNAMED --add-modules=jdk.incubator.vector)
fi

# Native access (zstd for index.codec=best_compression / logsdb, mlockall and
# rlimit probes) wants lib/platform/<os>-<arch>/libzstd.so, which the distribution
# ships and Maven Central does not. Link the system's libzstd.so.1 (same C API);
# without one, 9.x logs "Unable to load native provider" and best_compression
# indexes fail on refresh (NPE on Zstd); everything else works.
case "$(uname -m)" in x86_64|amd64) arch=x64 ;; aarch64|arm64) arch=aarch64 ;; *) arch="$(uname -m)" ;; esac
platform="$target/platform/linux-$arch"
mkdir -p "$platform"
if [[ ! -e "$platform/libzstd.so" ]]; then
  zstd_so="$( (ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null || true) \
              | awk '/libzstd\.so\.1 / && /'"$( [[ $arch == x64 ]] && echo x86-64 || echo "$arch")"'/ {print $NF; exit}')"
  if [[ -z "$zstd_so" ]]; then
    for c in /usr/lib/*-linux-gnu/libzstd.so.1 /lib/*-linux-gnu/libzstd.so.1 /usr/lib64/libzstd.so.1 /usr/lib/libzstd.so.1; do
      [[ -e "$c" ]] && { zstd_so="$c"; break; }
    done
  fi
  if [[ -n "$zstd_so" ]]; then
    ln -sf "$zstd_so" "$platform/libzstd.so"
  else
    echo "[es-visual] warning: no system libzstd.so.1; native access off, index.codec=best_compression unusable" >&2
  fi
fi
jvm+=("-Des.nativelibs.path=$platform")

# Class-data sharing: an archive of the loaded classes, trained by --prepare-only,
# halves the start on a busy 2-core machine. Per JDK build, per classpath.
jdk_id="$(sed -n 's/^JAVA_RUNTIME_VERSION="\(.*\)"/\1/p' "$jhome/release" 2>/dev/null | tr -c 'A-Za-z0-9.\n' '_')"
cds="$target/cds-${jdk_id:-unknown}.jsa"

classpath="$target/es-visual-engine.jar:$(cat "$target/classpath.txt")"
run_java() {  # run_java <extra jvm flags...> -- <runner args...>
  local extra=()
  while [[ "$1" != "--" ]]; do extra+=("$1"); shift; done
  shift
  local opts=()
  # shellcheck disable=SC2206
  [[ -n "${ES_JAVA_OPTS:-}" ]] && opts=($ES_JAVA_OPTS)
  exec "$jhome/bin/java" "${jvm[@]}" "${extra[@]}" "${opts[@]}" \
    -cp "$classpath" esvisual.engine.ClusterRunner "$@"
}

if [[ $prepare_only == 1 ]]; then
  if [[ "${ES_VISUAL_ENGINE_CDS:-1}" != 0 && "${ES_VISUAL_ENGINE_CDS_TRAIN:-1}" != 0 && ! -f "$cds" ]]; then
    echo "[es-visual] training the class-data-sharing archive (one single-node start/stop)" >&2
    train="$(mktemp -d "${TMPDIR:-/tmp}/es-visual-cds.XXXXXX")"
    tport=$(( 40000 + RANDOM % 20000 ))
    ( run_java "-Djava.io.tmpdir=$train" "-XX:ArchiveClassesAtExit=$cds.tmp" -Xshare:auto -Xlog:cds=off -Xlog:cds+dynamic=off -- \
        --nodes 1 --port "$tport" --transport-port $((tport + 1)) --home "$train" --cluster-name es-visual-cds ) \
      > "$train/out.log" 2>&1 &
    tpid=$!
    ok=0
    for _ in $(seq 600); do
      grep -q "\[es-visual\] Elasticsearch .* started" "$train/out.log" 2>/dev/null && { ok=1; break; }
      kill -0 "$tpid" 2>/dev/null || break
      sleep 0.5
    done
    if [[ $ok == 1 ]]; then
      curl -s -o /dev/null "http://127.0.0.1:$tport/_cluster/health?wait_for_status=green&timeout=30s" || true
    fi
    kill -TERM "$tpid" 2>/dev/null || true
    wait "$tpid" 2>/dev/null || true
    if [[ $ok == 1 && -s "$cds.tmp" ]]; then
      mv -f "$cds.tmp" "$cds"
      echo "[es-visual] class-data-sharing archive: $cds" >&2
    else
      rm -f "$cds.tmp"
      echo "[es-visual] warning: no class-data-sharing archive (starts are just slower); training log:" >&2
      tail -20 "$train/out.log" >&2 || true
    fi
    rm -rf "$train"
  fi
  echo "[es-visual] prepared $target (java: $jhome)"
  exit 0
fi

[[ -n "$home" ]] || { echo "launch.sh: --home DIR is required" >&2; exit 2; }
mkdir -p "$home/tmp"
home="$(cd "$home" && pwd)"
cds_flags=()
if [[ "${ES_VISUAL_ENGINE_CDS:-1}" != 0 && -f "$cds" ]]; then
  cds_flags=("-XX:SharedArchiveFile=$cds" -Xshare:auto -Xlog:cds=off -Xlog:cds+dynamic=off)
fi
run_java "-Djava.io.tmpdir=$home/tmp" "${cds_flags[@]}" -- \
  --nodes "$nodes" --port "$port" --home "$home" "${runner_args[@]}"
