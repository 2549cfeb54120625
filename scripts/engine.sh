#!/usr/bin/env bash
# Real search engines for tests and for contributors without Docker: each one a multi-node
# cluster in one background JVM, built from Maven Central artifacts (see docs/engines.md).
#
#   scripts/engine.sh start <engine> [--nodes N] [--port P]   # waits for green; URL = last stdout line
#   scripts/engine.sh stop <engine>                           # whole process tree; never hangs
#   scripts/engine.sh status [<engine>]                       # engine, pid, url of what runs
#   scripts/engine.sh prepare <engine>|all                    # resolve + build only (CI warm-up)
#   scripts/engine.sh log <engine>                            # path of the engine's log file
#
# Engines (default port; node i serves HTTP on port+i-1 and transport on port+1000+i-1 for
# OpenSearch, port+100+i-1 for Elasticsearch; all on 127.0.0.1 only):
#   opensearch      OpenSearch 2.19 + k-NN, Java 17            9250
#   opensearch3     OpenSearch 3.x  + k-NN, JDK 21+            9260
#   elasticsearch   Elasticsearch 9.x, JDK 21+                 9270
#   elasticsearch8  Elasticsearch 8.x, Java 17+                9280
#
# State lives in ${ES_VISUAL_ENGINES_HOME:-<repo>/.engines}/<engine>/: pid, url, nodes, engine.log,
# home/ (the cluster's data, wiped at every start unless ES_VISUAL_ENGINE_KEEP_DATA=1).
#
# Environment:
#   ES_VISUAL_ENGINE_START_TIMEOUT    seconds from JVM start to green (default 180)
#   ES_VISUAL_ENGINE_PREPARE_TIMEOUT  seconds for the Maven resolve/build step (default 1200)
#   ES_VISUAL_ENGINE_STOP_TIMEOUT     seconds of SIGTERM before SIGKILL (default 30)
#   ES_VISUAL_ENGINE_KEEP_DATA=1      keep the previous cluster's data at start
#   plus the launchers' own: ES_VISUAL_OPENSEARCH_HEAP, ES_HEAP, MVN, MVN_ARGS, ...
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
engines_home=${ES_VISUAL_ENGINES_HOME:-$repo/.engines}
start_timeout=${ES_VISUAL_ENGINE_START_TIMEOUT:-180}
prepare_timeout=${ES_VISUAL_ENGINE_PREPARE_TIMEOUT:-1200}
stop_timeout=${ES_VISUAL_ENGINE_STOP_TIMEOUT:-30}
ENGINES="opensearch opensearch3 elasticsearch elasticsearch8"

say() { echo "engine.sh: $*" >&2; }
die() { say "$*"; exit 1; }
usage() { sed -n '2,25p' "$0" >&2; exit 2; }

engine_spec() {  # sets launcher, major, default_port, transport_offset for engine $1
  # transport_offset: node i's transport port is port + offset + i - 1 (the launchers' rule)
  case "$1" in
    opensearch)     launcher=$repo/engines/opensearch/launch.sh;    major=2; default_port=9250; transport_offset=1000 ;;
    opensearch3)    launcher=$repo/engines/opensearch/launch.sh;    major=3; default_port=9260; transport_offset=1000 ;;
    elasticsearch)  launcher=$repo/engines/elasticsearch/launch.sh; major=9; default_port=9270; transport_offset=100 ;;
    elasticsearch8) launcher=$repo/engines/elasticsearch/launch.sh; major=8; default_port=9280; transport_offset=100 ;;
    *) say "unknown engine '$1' (one of: $ENGINES)"; exit 2 ;;
  esac
}

# --- processes ---------------------------------------------------------------------------
start_time_of() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null || true; }  # guards against pid reuse

# alive <state dir>: the recorded process group leader still runs (same process, not a reused pid)
alive() {
  local d=$1 pid st
  [ -f "$d/pid" ] || return 1
  read -r pid st < "$d/pid" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -n "$st" ] && [ "$(start_time_of "$pid")" = "$st" ]
}

group_alive() { kill -0 -- "-$1" 2>/dev/null; }

# kill_group PGID: SIGTERM the whole group, wait, then SIGKILL; reaps it if it is our child
kill_group() {
  local pgid=$1 i
  group_alive "$pgid" || { wait "$pgid" 2>/dev/null || true; return 0; }
  kill -TERM -- "-$pgid" 2>/dev/null || true
  for ((i = 0; i < stop_timeout * 5; i++)); do
    group_alive "$pgid" || break
    sleep 0.2
  done
  if group_alive "$pgid"; then
    say "process group $pgid still alive after ${stop_timeout}s of SIGTERM: SIGKILL"
    kill -KILL -- "-$pgid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do group_alive "$pgid" || break; sleep 0.1; done
  fi
  wait "$pgid" 2>/dev/null || true
  ! group_alive "$pgid" || die "process group $pgid survived SIGKILL"
}

log_tail() {  # the last lines of the engine log, for a failure message
  local log=$1 n=${2:-60}
  [ -f "$log" ] || { echo "(no log at $log)"; return; }
  echo "----- last $n lines of $log -----"
  tail -n "$n" "$log" | cut -c1-400
  echo "----- end of log -----"
}

# --- http ----------------------------------------------------------------------------------
http_get() { curl -s -m "${2:-5}" "$1" 2>/dev/null; }

# healthy URL N: green, N nodes, not timed out
healthy() {
  local body
  body=$(http_get "$1/_cluster/health?wait_for_status=green&wait_for_nodes=$2&timeout=1s" 5) || return 1
  [[ "$body" == *'"status":"green"'* ]] && [[ "$body" == *"\"number_of_nodes\":$2,"* ]] \
    && [[ "$body" == *'"timed_out":false'* ]]
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- commands ------------------------------------------------------------------------------
cmd_start() {
  local engine=${1:-}; [ -n "$engine" ] || usage; shift
  engine_spec "$engine"
  local nodes=2 port=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --nodes) nodes=${2:-}; shift 2 ;;
      --port) port=${2:-}; shift 2 ;;
      *) say "unknown argument: $1"; usage ;;
    esac
  done
  port=${port:-$default_port}
  [[ "$nodes" =~ ^[1-9]$ ]] || die "--nodes must be 1..9 (got '$nodes')"
  [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1024 ] && [ "$port" -le 60000 ] || die "--port must be 1024..60000 (got '$port')"
  command -v curl >/dev/null || die "curl is needed to check cluster health"
  [ -x "$launcher" ] || die "no launcher for $engine: $launcher is missing or not executable"

  local d=$engines_home/$engine
  cur_engine=$engine
  mkdir -p "$d"
  # one start at a time per engine (two pytest sessions, a human and CI...)
  exec 9>"$d/lock"
  flock -w $((prepare_timeout + start_timeout + 60)) 9 || die "another 'engine.sh start $engine' holds $d/lock"

  if alive "$d"; then
    local url; url=$(cat "$d/url" 2>/dev/null || true)
    local want; want=$(cat "$d/nodes" 2>/dev/null || echo "$nodes")
    if [ -n "$url" ]; then
      local i
      for ((i = 0; i < 30; i++)); do
        if healthy "$url" "$want"; then
          [ "$want" = "$nodes" ] || say "$engine already runs with $want node(s) (asked: $nodes); stop it first to change that"
          say "$engine already runs (pid $(cut -d' ' -f1 "$d/pid"))"
          echo "$url"; return 0
        fi
        sleep 1
      done
    fi
    say "$engine has a process (pid $(cut -d' ' -f1 "$d/pid")) that is not healthy: stopping it and starting anew"
    stop_state "$d"
  fi
  rm -f "$d/pid" "$d/url" "$d/nodes"

  local p
  for ((p = port; p < port + nodes; p++)); do
    port_busy "$p" && die "HTTP port $p on 127.0.0.1 is already in use by a process that engine.sh did not start here (try --port)"
    port_busy $((p + transport_offset)) && die "transport port $((p + transport_offset)) on 127.0.0.1 (HTTP port + $transport_offset) is already in use by another process (try --port)"
  done

  local log=$d/engine.log
  [ -f "$log" ] && mv -f "$log" "$log.1"
  : > "$log"
  if [ "${ES_VISUAL_ENGINE_KEEP_DATA:-}" != 1 ]; then rm -rf "$d/home"; fi
  mkdir -p "$d/home"

  local t0=$SECONDS
  child=""  # global: the traps below read it
  # Whatever happens from here (failure, Ctrl-C, a killed pytest), leave no process behind.
  trap 'cleanup_child; exit 130' INT TERM HUP
  trap 'cleanup_child' EXIT

  # 1. resolve + build (cold: downloads from Maven Central; warm: a no-op)
  say "preparing $engine (log: $log)"
  # (9>&-: the lock must not be inherited, or the JVM would hold it for its whole life)
  ES_VISUAL_ENGINE_CDS_TRAIN=0 setsid "$launcher" --version-major "$major" --prepare-only \
    >>"$log" 2>&1 </dev/null 9>&- &
  child=$!
  local i rc
  for ((i = 0; i < prepare_timeout * 5; i++)); do
    kill -0 "$child" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$child" 2>/dev/null; then
    kill_group "$child"; child=""
    log_tail "$log" >&2
    die "$engine: the build did not finish within ${prepare_timeout}s (ES_VISUAL_ENGINE_PREPARE_TIMEOUT)"
  fi
  rc=0; wait "$child" || rc=$?; child=""
  if [ "$rc" != 0 ]; then
    log_tail "$log" >&2
    die "$engine: building the engine failed (exit $rc)"
  fi
  local t_prep=$((SECONDS - t0))

  # 2. the cluster, in its own session and process group (pgid = pid), in the background
  say "starting $engine: $nodes node(s) on 127.0.0.1:$port"
  setsid "$launcher" --version-major "$major" --nodes "$nodes" --port "$port" --home "$d/home" \
    >>"$log" 2>&1 </dev/null 9>&- &
  child=$!
  echo "$child $(start_time_of "$child")" > "$d/pid"
  local url="http://127.0.0.1:$port" t1=$SECONDS
  while :; do
    if ! kill -0 "$child" 2>/dev/null; then
      rc=0; wait "$child" || rc=$?; child=""
      rm -f "$d/pid"
      log_tail "$log" >&2
      die "$engine exited (code $rc) before its cluster was green"
    fi
    if healthy "$url" "$nodes"; then break; fi
    if ((SECONDS - t1 >= start_timeout)); then
      kill_group "$child"; child=""
      rm -f "$d/pid"
      log_tail "$log" >&2
      die "$engine: no green cluster of $nodes node(s) at $url within ${start_timeout}s (ES_VISUAL_ENGINE_START_TIMEOUT)"
    fi
    sleep 1
  done
  echo "$url" > "$d/url"
  echo "$nodes" > "$d/nodes"
  child=""
  trap - INT TERM HUP EXIT
  say "$engine is green: $nodes node(s), build ${t_prep}s + start $((SECONDS - t1))s"
  echo "$url"
}

cleanup_child() {
  if [ -n "${child:-}" ]; then
    local c=$child; child=""
    kill_group "$c"
    rm -f "$engines_home/${cur_engine:-none}/pid"
  fi
}

stop_state() {  # stop what the state dir $1 records
  local d=$1 pid
  if alive "$d"; then
    read -r pid _ < "$d/pid"
    kill_group "$pid"
  fi
  rm -f "$d/pid" "$d/url" "$d/nodes"
}

cmd_stop() {
  local engine=${1:-}; [ -n "$engine" ] || usage
  local targets=$engine
  [ "$engine" = all ] && targets=$ENGINES
  local e
  for e in $targets; do
    engine_spec "$e"
    local d=$engines_home/$e
    if alive "$d"; then
      say "stopping $e (pid $(cut -d' ' -f1 "$d/pid"))"
      stop_state "$d"
      say "$e stopped"
    else
      rm -f "$d/pid" "$d/url" "$d/nodes" 2>/dev/null || true
      [ "$engine" = all ] || say "$e is not running"
    fi
  done
}

cmd_status() {
  local only=${1:-} e d pid url nodes any=0
  [ -z "$only" ] || engine_spec "$only"
  printf '%-15s %-8s %-6s %s\n' ENGINE PID NODES URL
  for e in ${only:-$ENGINES}; do
    d=$engines_home/$e
    alive "$d" || continue
    read -r pid _ < "$d/pid"
    url=$(cat "$d/url" 2>/dev/null || echo "(starting)")
    nodes=$(cat "$d/nodes" 2>/dev/null || echo "?")
    printf '%-15s %-8s %-6s %s\n' "$e" "$pid" "$nodes" "$url"
    any=1
  done
  [ -z "$only" ] || [ "$any" = 1 ]  # `status ENGINE` exits 1 when it does not run
}

cmd_prepare() {
  local engine=${1:-}; [ -n "$engine" ] || usage
  local targets=$engine rc=0 e
  [ "$engine" = all ] && targets=$ENGINES
  for e in $targets; do
    engine_spec "$e"
    local d=$engines_home/$e
    mkdir -p "$d"
    if [ ! -x "$launcher" ]; then
      say "$e: no launcher at $launcher"; rc=1; continue
    fi
    (
      exec 9>"$d/lock"
      flock -w "$prepare_timeout" 9 || die "another engine.sh holds $d/lock"
      say "preparing $e"
      t0=$SECONDS
      if timeout -k 10 "$prepare_timeout" "$launcher" --version-major "$major" --prepare-only 9>&- >&2; then
        say "$e prepared in $((SECONDS - t0))s"
      else
        say "$e: prepare FAILED (exit $?)"; exit 1
      fi
    ) || rc=1
  done
  return "$rc"
}

cmd_log() {
  local engine=${1:-}; [ -n "$engine" ] || usage
  engine_spec "$engine"
  echo "$engines_home/$engine/engine.log"
}

cmd=${1:-}; [ $# -gt 0 ] && shift
case "$cmd" in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  prepare) cmd_prepare "$@" ;;
  log) cmd_log "$@" ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
