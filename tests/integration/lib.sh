# lib.sh — shared helpers of the broker integration tests (source it).
#
#   source "$(dirname "$0")/lib.sh"
#   lib_init "$@"            # ASYLINKD ASYLINK PEER; makes $T and the cleanup trap
#   make_federation          # CA, BROKER.EU, DE, FR, IT, EUAA, EUAA.ANALYSIS, OPS, outsider XX
#   write_broker_ini [PORT]  # $T/broker.ini; no PORT = ephemeral ("*")
#   start_broker             # background; sets BROKER_PID, ENDPOINT, BROKER_LOG
#   peer NODE MODE ARGS...   # runs asylink-peer as NODE against $ENDPOINT
#   peer_bg NAME NODE MODE ARGS...  # the same in the background: $T/NAME.out/.err, pid in PID_<NAME>
#   check / check_eq / summary ...
#
# Everything runs on 127.0.0.1 in a fresh temporary directory; every process
# started is recorded by PID and killed (by that PID only) on exit. Every
# wait is bounded. Set KEEP_TMP=1 to keep the directory for a post-mortem.

set -uo pipefail

LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SOURCE_ROOT="$(cd "$LIB_DIR/../.." && pwd)"

# shellcheck source=tests/checks.sh
source "$LIB_DIR/../checks.sh"
PIDS=()          # every background process we started
BROKER_PID=""    # the current broker
BROKER_N=0       # brokers started so far (log file names)
BROKER_LOG=""    # stderr of the current broker
ENDPOINT=""      # endpoint printed by the current broker

# lib_init ASYLINKD ASYLINK PEER
lib_init() {
  if [[ $# -ne 3 || ! -x "$1" || ! -x "$2" || ! -x "$3" ]]; then
    echo "usage: $0 path/to/asylinkd path/to/asylink path/to/asylink-peer" >&2
    exit 2
  fi
  ASYLINKD="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
  ASYLINK="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
  PEER="$(cd "$(dirname "$3")" && pwd)/$(basename "$3")"
  T="$(mktemp -d "${TMPDIR:-/tmp}/asylink-it.XXXXXX")"
  trap lib_cleanup EXIT
  trap 'exit 130' INT TERM
  cd "$T" || exit 1
  unset ASYLINK_PASSPHRASE
  umask 077
}

# Kills every process we started (by PID), then removes $T.
lib_cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${PIDS[@]}"; do
    wait_pid "$pid" 5 >/dev/null 2>&1
  done
  if [[ -n ${T-} && -d $T ]]; then
    if [[ ${KEEP_TMP-0} = 1 || $failed -gt 0 && ${KEEP_TMP_ON_FAIL-0} = 1 ]]; then
      echo "kept $T"
    else
      rm -rf "$T"
    fi
  fi
}

# ---- checks: pass, fail, check, check_eq, check_ge, summary (tests/checks.sh) ----

# show FILE [LABEL]: indented copy of a log (last 40 lines) for a failure report.
show() {
  [[ -f $1 ]] || return 0
  echo "      --- ${2:-$(basename "$1")} (last 40 lines)"
  tail -n 40 "$1" | sed 's/^/      | /'
}

# ---- processes ----

# wait_pid PID SECONDS: waits for PID (a child) at most SECONDS, then stops
# it with SIGTERM (so a peer still prints its summary) and, 3 s later,
# SIGKILL. Prints nothing; returns its exit status, 124 if it had to be stopped.
wait_pid() {
  local pid=$1 limit=$2 i=0
  while kill -0 "$pid" 2>/dev/null && [[ $i -lt $((limit * 10)) ]]; do
    sleep 0.1
    i=$((i + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    i=0
    while kill -0 "$pid" 2>/dev/null && [[ $i -lt 30 ]]; do
      sleep 0.1
      i=$((i + 1))
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 124
  fi
  wait "$pid" 2>/dev/null
}

# wait_for FILE PATTERN SECONDS: until grep -E PATTERN matches in FILE.
wait_for() {
  local file=$1 pat=$2 limit=$3 i=0
  while [[ $i -lt $((limit * 10)) ]]; do
    grep -qE -- "$pat" "$file" 2>/dev/null && return 0
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

# ---- several brokers on one data directory (the failover tests) ----

# with_http NAME: $T/NAME.ini also serves HTTP on a port of its own, in HTTP_NAME.
with_http() {
  local port
  port=$(free_port)
  sed -i "s|^listen =.*|listen = 127.0.0.1:$port|" "$T/$1.ini"
  printf -v "HTTP_$1" '%s' "$port"
}
# healthz NAME: "BODY CODE" of broker NAME's /healthz.
healthz() {
  local port_var="HTTP_$1"
  curl -s --max-time 3 -w ' %{http_code}' "http://127.0.0.1:${!port_var}/healthz" | tr -d '\n'
}
# healthz_is NAME WANT SECONDS: until /healthz says WANT.
healthz_is() {
  local i=0
  while [[ $i -lt $(($3 * 10)) ]]; do
    [[ $(healthz "$1") == "$2" ]] && return 0
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}
# named NAME [DATA_DIR]: $T/NAME.ini from $CONF, the broker on its own port, on $T/data or
# DATA_DIR.
named() {
  sed -e "s|^endpoint = .*|endpoint = tcp://127.0.0.1:$(free_port)|" \
    -e "s|^data_dir = .*|data_dir = ${2:-$T/data}|" "$CONF" >"$T/$1.ini"
}
# start_named NAME [--standby]: asylinkd with $T/NAME.ini (stdout $T/NAME.out, stderr
# $T/NAME.err); pid in PID_NAME.
start_named() {
  local name=$1
  shift
  "$ASYLINKD" --config "$T/$name.ini" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
  PIDS+=("$!")
  printf -v "PID_$name" '%s' "$!"
}
# endpoint_of NAME: the endpoint broker NAME printed.
endpoint_of() { sed -n 's/.*listening on \(tcp:[^ ]*\).*/\1/p' "$T/$1.out" | head -n 1; }
# on NAME NODE MODE ARGS...: asylink-peer against broker NAME.
on() {
  local name=$1
  shift
  ENDPOINT=$(endpoint_of "$name") peer "$@"
}

# http_metric HOST:PORT NAME [ABSENT]: the value of the series NAME (with its labels, e.g.
# 'asylink_rejected_total{code="UNAVAILABLE"}') on the broker's /metrics, or ABSENT
# ("missing" if not given) when it is not there.
http_metric() {
  python3 - "$1" "$2" "${3:-missing}" <<'PY'
import sys, urllib.request
body = urllib.request.urlopen(f"http://{sys.argv[1]}/metrics", timeout=5).read().decode()
for line in body.splitlines():
    if line.startswith(sys.argv[2] + " "):
        print(line.split()[1]); break
else:
    print(sys.argv[3])
PY
}

# lines FILE: number of lines (0 if missing).
lines() { if [[ -f $1 ]]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

# thread_names PID: the names of PID's threads (core/thread.h names ours), one line, sorted.
thread_names() { cat /proc/"$1"/task/*/comm 2>/dev/null | sort -u | tr '\n' ' '; }
# thread_nice PID NAME: the nice values of PID's threads named NAME, sorted, one line
# (field 19 of /proc/PID/task/TID/stat, counted after the name's closing parenthesis).
thread_nice() {
  local t
  for t in /proc/"$1"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = "$2" ] || continue
    sed 's/.*) //' "$t/stat" 2>/dev/null | awk '{print $17}'
  done | sort -n | tr '\n' ' '
}

# field FILE NAME: the value of NAME=... on the last line of FILE holding it.
field() {
  grep -oE "(^| )$2=[^ ]*" "$1" 2>/dev/null | tail -n 1 | sed "s/^ *$2=//"
}

# free_port: a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# stable_port: a free TCP port on 127.0.0.1 below the kernel's ephemeral
# range, for a broker restarted on the same port many times: while it is
# down, outgoing connections and bind(0) elsewhere on the machine cannot
# take it (they use the ephemeral range). Falls back to free_port.
stable_port() {
  python3 - <<'PY' 2>/dev/null || free_port
import random, socket
lo = 32768
try:
    lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    pass
for _ in range(200):
    p = random.randint(max(1024, lo - 12000), lo - 1)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
else:
    raise SystemExit(1)
PY
}

# ---- the federation ----

FED_NODES=(
  "BROKER.EU|broker|Test broker"
  "DE|member_state|Bundesamt für Migration und Flüchtlinge"
  "FR|member_state|Office français de protection des réfugiés et apatrides"
  "IT|member_state|Ministero dell'Interno"
  "EUAA|agency|European Union Agency for Asylum"
  "EUAA.ANALYSIS|analyst|EUAA Analysis"
  "OPS|operator|operations desk"
)

# make_federation: $T/fed with ca/, keys/, trust/ (ca.cert, nodes/, revoked.crl)
# and outsider/XX.cert: a certificate of our CA for XX that is NOT in trust/.
# The CA is valid FED_CA_DAYS (default 3650), the nodes FED_DAYS (default 365):
# under 30 days (90 for the CA) the broker and every client warn of the end.
make_federation() {
  local entry id roles name
  FED="$T/fed"
  mkdir -p "$FED/trust/nodes" "$FED/outsider" "$FED/certs"
  (
    cd "$FED" || exit 1
    "$ASYLINK" ca init --dir ca --id ASYLINK.CA --name "integration test CA" \
      --valid-days "${FED_CA_DAYS:-3650}" \
      </dev/null >/dev/null || exit 1
    for entry in "${FED_NODES[@]}" "XX|member_state|outsider"; do
      IFS='|' read -r id roles name <<<"$entry"
      "$ASYLINK" keygen --id "$id" --name "$name" --roles "$roles" --dir keys </dev/null >/dev/null &&
        "$ASYLINK" ca sign --dir ca --request "keys/$id.csr" --out "certs/$id.cert" \
          --valid-days "${FED_DAYS:-365}" </dev/null >/dev/null || exit 1
    done
    for entry in "${FED_NODES[@]}"; do
      IFS='|' read -r id _ _ <<<"$entry"
      cp "certs/$id.cert" trust/nodes/
    done
    cp certs/XX.cert outsider/
    cp ca/ca.cert ca/revoked.crl trust/
  ) || { echo "make_federation failed" >&2; return 1; }
}

# write_broker_ini [PORT]: $T/broker.ini for the federation, data in $T/data,
# the example policy; no admin endpoint, no HTTP; 1 MiB envelopes.
write_broker_ini() {
  local port=${1:-*}
  cp "$SOURCE_ROOT/certs-example/policy.ini" "$T/policy.ini"
  CONF="$T/broker.ini"
  cat >"$CONF" <<EOF
[broker]
node_id = BROKER.EU
cert = $FED/trust/nodes/BROKER.EU.cert
key = $FED/keys/BROKER.EU.key
trust_dir = $FED/trust
data_dir = $T/data
policy = $T/policy.ini
endpoint = tcp://127.0.0.1:$port
admin_endpoint =

[store]
map_size = 64MiB
durability = fsync

[limits]
max_envelope_bytes = 1MiB
heartbeat_interval = 1s
heartbeat_timeout = 10s

[http]
listen =

[log]
level = info
EOF
}

# start_broker [CONF]: starts asylinkd in the background and waits (10 s) for
# its "listening on" line. Sets BROKER_PID, BROKER_LOG, ENDPOINT. Returns 1
# if it did not come up (its stderr is shown).
start_broker() {
  local conf=${1:-$CONF} out
  BROKER_N=$((BROKER_N + 1))
  out="$T/broker.$BROKER_N.out"
  BROKER_LOG="$T/broker.$BROKER_N.err"
  "$ASYLINKD" --config "$conf" >"$out" 2>"$BROKER_LOG" </dev/null &
  BROKER_PID=$!
  PIDS+=("$BROKER_PID")
  local i=0
  while [[ $i -lt 100 ]]; do
    if grep -q 'listening on ' "$out" 2>/dev/null; then
      ENDPOINT=$(sed -n 's/.*listening on \(tcp:[^ ]*\).*/\1/p' "$out" | head -n 1)
      [[ -n $ENDPOINT ]] && return 0
    fi
    kill -0 "$BROKER_PID" 2>/dev/null || break
    sleep 0.1
    i=$((i + 1))
  done
  echo "asylinkd did not start (broker #$BROKER_N)" >&2
  show "$out" "broker stdout" >&2
  show "$BROKER_LOG" "broker stderr" >&2
  return 1
}

# stop_broker: SIGTERM and wait (15 s, then SIGKILL). Returns its exit status.
stop_broker() {
  [[ -n $BROKER_PID ]] || return 0
  kill -TERM "$BROKER_PID" 2>/dev/null
  wait_pid "$BROKER_PID" 15
  local rc=$?
  BROKER_PID=""
  return $rc
}

# kill9_broker: SIGKILL, as a crash.
kill9_broker() {
  [[ -n $BROKER_PID ]] || return 0
  kill -KILL "$BROKER_PID" 2>/dev/null
  wait "$BROKER_PID" 2>/dev/null
  BROKER_PID=""
  return 0
}

# ---- peers ----

# peer_args NODE: the common options for NODE (XX uses its outsider certificate).
peer_args() {
  local node=$1 cert="$FED/trust/nodes/$1.cert"
  [[ -f $cert ]] || cert="$FED/certs/$node.cert"
  printf '%s\n' --broker "$ENDPOINT" --broker-cert "$FED/trust/nodes/BROKER.EU.cert" \
    --key "$FED/keys/$node.key" --cert "$cert" --trust "$FED/trust"
}

# peer NODE MODE ARGS...: runs asylink-peer in the foreground.
peer() {
  local node=$1 mode=$2
  shift 2
  local common
  mapfile -t common < <(peer_args "$node")
  "$PEER" "$mode" "${common[@]}" "$@" </dev/null
}

# peer_bg NAME NODE MODE ARGS...: asylink-peer in the background; stdout in
# $T/NAME.out, stderr in $T/NAME.err, pid in the variable PID_NAME.
peer_bg() {
  local name=$1 node=$2 mode=$3
  shift 3
  local common
  mapfile -t common < <(peer_args "$node")
  "$PEER" "$mode" "${common[@]}" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
  PIDS+=("$!")
  printf -v "PID_$name" '%s' "$!"
}

# subset A B: every line of file A is in file B.
subset() {
  [[ -f $1 && -f $2 ]] || return 1
  [[ -z $(comm -23 <(sort -u "$1") <(sort -u "$2")) ]]
}

# same_set A B: files A and B hold the same lines (as sets).
same_set() {
  [[ -f $1 && -f $2 ]] || return 1
  [[ $(sort -u "$1") == "$(sort -u "$2")" ]]
}
