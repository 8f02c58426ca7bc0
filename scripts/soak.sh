#!/usr/bin/env bash
# scripts/soak.sh — crash soak: producers and consumers on libasylink keep
# working while the broker, and separately one client process at a time,
# are killed with SIGKILL at random points, N times; then everything is
# drained and checked:
#   - every message whose asylink_send()/asylink_send_many() returned OK was
#     handed to its receiving application (each recipient) and acknowledged
#     exactly once: none missing, none handed over again after its
#     asylink_ack() returned, none twice in one process, every byte as sent;
#   - a message handed over but not acknowledged when its consumer was
#     killed is handed over again (the API's promise) and then acknowledged;
#   - every acknowledged message produced a receipt at its sender, from
#     every recipient;
#   - the broker's store ends empty: no queue entry, no dead letter, no
#     message left (mdb_stat, when lmdb-utils is installed).
#
#   scripts/soak.sh [--kills N] [--seed S] [--max-seconds T] [--rate R]
#                   [--clients-only] [ASYLINKD ASYLINK ASYLINK-PEER SOAK_CLIENT]
#
#   --kills N        SIGKILLs in all (default 100), about half of them the broker
#   --seed S         seed of the random choices (default: random; printed)
#   --max-seconds T  bound of the kill phase (default 60 + 4 s per kill);
#                    the run fails if the kills do not fit in it
#   --rate R         messages per second of each producer (default 40)
#   --clients-only   every SIGKILL hits a client process, never the broker
# Without the four programs they are taken from $BUILD_DIR (default build/).
#
# Everything runs on 127.0.0.1 (one ephemeral port) in a temporary
# directory; every process is started, killed and waited for by its PID;
# every wait is bounded. KEEP_TMP=1 keeps the directory. Ends with a
# "soak: ..." line of figures and "N passed, M failed"; exit 0 only if all
# checks passed.
#
# The topology: DE sends to FR; IT sends to FR and EUAA (two recipients);
# FR and EUAA consume. The broker runs with max_deliveries = 1000: a
# delivery interrupted by a consumer's crash counts as a failed attempt
# (by design), and with 10 attempts a message in flight during 10 consumer
# kills would go to the dead letters, which is policy, not loss. The run
# checks that no dead letter exists at the end.

set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

kills=100
seed=""
max_seconds=""
rate=40
clients_only=0
args=()
while [[ $# -gt 0 ]]; do
  case $1 in
  --kills) kills=$2; shift 2 ;;
  --seed) seed=$2; shift 2 ;;
  --max-seconds) max_seconds=$2; shift 2 ;;
  --rate) rate=$2; shift 2 ;;
  --clients-only) clients_only=1; shift ;;
  -h | --help) sed -n '2,40p' "$0"; exit 0 ;;
  -*) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
  *) args+=("$1"); shift ;;
  esac
done
for v in "$kills" "$rate" ${seed:+"$seed"} ${max_seconds:+"$max_seconds"}; do
  [[ $v =~ ^[0-9]+$ ]] || { echo "soak.sh: not a number: $v" >&2; exit 2; }
done
if [[ ${#args[@]} -eq 0 ]]; then
  b=${BUILD_DIR:-$root/build}
  args=("$b/broker/asylinkd" "$b/tools/asylink" "$b/tests/integration/asylink-peer"
        "$b/tests/integration/soak_client")
fi
if [[ ${#args[@]} -ne 4 || ! -x ${args[3]} ]]; then
  echo "usage: scripts/soak.sh [--kills N] [--seed S] [--max-seconds T] [--rate R] [--clients-only] [ASYLINKD ASYLINK ASYLINK-PEER SOAK_CLIENT]" >&2
  echo "(build first: cmake -S . -B build && cmake --build build)" >&2
  exit 2
fi
SOAK="$(cd "$(dirname "${args[3]}")" && pwd)/$(basename "${args[3]}")"
: "${seed:=$((RANDOM * 32768 + RANDOM))}"
: "${max_seconds:=$((60 + 4 * kills))}"
RANDOM=$seed

# shellcheck source=../tests/integration/client_lib.sh
source "$root/tests/integration/client_lib.sh"
lib_init "${args[0]}" "${args[1]}" "${args[2]}"
make_federation || exit 1
PORT=$(stable_port) || { echo "no free port" >&2; exit 1; }
write_broker_ini "$PORT"
sed -i 's/^max_envelope_bytes = .*/&\nmax_deliveries = 1000/' "$CONF"
for n in DE IT FR EUAA; do write_node_ini "$n"; done

echo "soak: kills=$kills seed=$seed max_seconds=$max_seconds rate=$rate/s per producer dir=$T"
t_start=$SECONDS

# forget_pid PID: PID was reaped; never signal it again (it may be reused).
forget_pid() {
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# Client processes: role by node, pid in CPID[node], instance in INST[node].
declare -A CPID INST ROLE TO
ROLE=([DE]=produce [IT]=produce [FR]=consume [EUAA]=consume)
TO=([DE]=FR [IT]=FR,EUAA)
declare -A NRCPT=([DE]=1 [IT]=2)
CLIENTS=(DE IT FR EUAA)

start_client() {
  local n=$1
  INST[$n]=$((${INST[$n]:-0} + 1))
  if [[ ${ROLE[$n]} == produce ]]; then
    "$SOAK" --config "$T/$n.ini" produce --to "${TO[$n]}" --tag "$n.${INST[$n]}" \
      --log "$T/$n.plog" --rate "$rate" --timeout 3600 >>"$T/$n.out" 2>>"$T/$n.err" </dev/null &
  else
    "$SOAK" --config "$T/$n.ini" consume --log "$T/$n.clog" --timeout 3600 \
      >>"$T/$n.out" 2>>"$T/$n.err" </dev/null &
  fi
  CPID[$n]=$!
  PIDS+=("$!")
}

# kill9 PID: SIGKILL, reap, forget.
kill9() {
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  forget_pid "$1"
}

# rsleep MIN_MS MAX_MS: a random pause.
rsleep() {
  local ms=$(($1 + RANDOM % ($2 - $1 + 1)))
  sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
}

start_broker || { fail "the broker starts"; summary; }
for n in "${CLIENTS[@]}"; do start_client "$n"; done

# ---- the kill phase ----
done_kills=0 broker_kills=0 client_kills=0 broker_fail=0 unexpected=0
declare -A node_kills
deadline=$((SECONDS + max_seconds))
while [[ $done_kills -lt $kills && $SECONDS -lt $deadline ]]; do
  # Mostly a while of traffic; one time in four soon after the last restart.
  if [[ $((RANDOM % 4)) -eq 0 ]]; then rsleep 20 300; else rsleep 300 1800; fi
  # A process that ended by itself is a failure (crash, or an error exit).
  for n in "${CLIENTS[@]}"; do
    if ! kill -0 "${CPID[$n]}" 2>/dev/null; then
      wait "${CPID[$n]}" 2>/dev/null
      rc=$?
      forget_pid "${CPID[$n]}"
      unexpected=$((unexpected + 1))
      fail "$n (${ROLE[$n]} #${INST[$n]}) ended by itself with status $rc"
      show "$T/$n.err" "$n stderr"
      start_client "$n"
    fi
  done
  if ! kill -0 "$BROKER_PID" 2>/dev/null; then
    wait "$BROKER_PID" 2>/dev/null
    rc=$?
    forget_pid "$BROKER_PID"
    unexpected=$((unexpected + 1))
    fail "the broker ended by itself with status $rc"
    show "$BROKER_LOG" "broker stderr"
    start_broker || { fail "the broker restarts"; summary; }
  fi
  if [[ $clients_only -eq 0 && $((RANDOM % 2)) -eq 0 ]]; then
    kill9 "$BROKER_PID"
    BROKER_PID=""
    broker_kills=$((broker_kills + 1))
    rsleep 0 500
    if ! start_broker; then
      broker_fail=$((broker_fail + 1))
      fail "the broker restarts after SIGKILL #$((done_kills + 1))"
      summary
    fi
  else
    n=${CLIENTS[$((RANDOM % ${#CLIENTS[@]}))]}
    kill9 "${CPID[$n]}"
    client_kills=$((client_kills + 1))
    node_kills[$n]=$((${node_kills[$n]:-0} + 1))
    rsleep 0 500
    start_client "$n"
  fi
  done_kills=$((done_kills + 1))
done
t_kills=$((SECONDS - t_start))
echo "kill phase: $done_kills kills in ${t_kills}s (broker $broker_kills; DE ${node_kills[DE]:-0}, IT ${node_kills[IT]:-0}, FR ${node_kills[FR]:-0}, EUAA ${node_kills[EUAA]:-0})"
check_eq "all $kills kills done within ${max_seconds}s" "$done_kills" "$kills"
check_eq "no process ended by itself" "$unexpected" 0

# ---- drain ----
# started NODE: its current process handles SIGTERM (logged "start PID").
started() {
  local log="$T/$1.plog"
  [[ ${ROLE[$1]} == consume ]] && log="$T/$1.clog"
  wait_for "$log" "^start ${CPID[$1]}\$" 10
}
# Producers stop (SIGTERM: a clean asylink_client_close) and their outboxes drain.
for n in DE IT; do
  started "$n"
  kill -TERM "${CPID[$n]}" 2>/dev/null
  wait_pid "${CPID[$n]}" 30
  check_eq "$n producer exits 0 on SIGTERM" "$?" 0
  forget_pid "${CPID[$n]}"
done
for n in DE IT; do
  check "$n: outbox drains (everything Accepted)" "$SOAK" --config "$T/$n.ini" flush --timeout 120
done

# The ids each consumer must end up with: ok lines of the producers sending to it.
expected() { # expected NODE: the message ids sent OK to NODE
  case $1 in
  FR) awk '$1 == "ok" { print $4 }' "$T/DE.plog" "$T/IT.plog" ;;
  EUAA) awk '$1 == "ok" { print $4 }' "$T/IT.plog" ;;
  esac
}
# outstanding NODE: expected ids not yet acknowledged (an "ackb" followed by
# no later hand-over counts: its ack may have committed before a kill).
outstanding() {
  expected "$1" | sort -u >"$T/$1.expect"
  awk '$1 == "got" { last[$2] = "got" } $1 == "ackb" { last[$2] = "ackb" } $1 == "ack" { acked[$2] = 1 }
       END { for (id in last) if (acked[id] || last[id] == "ackb") print id }' "$T/$1.clog" |
    sort -u >"$T/$1.done"
  comm -23 "$T/$1.expect" "$T/$1.done" | wc -l | tr -d ' '
}
for n in FR EUAA; do
  left=1
  for ((i = 0; i < 240; i++)); do
    left=$(outstanding "$n")
    [[ $left -eq 0 ]] && break
    sleep 0.5
  done
  check_eq "$n: every message sent OK to it acknowledged within 120 s" "$left" 0
done
for n in FR EUAA; do
  started "$n"
  kill -TERM "${CPID[$n]}" 2>/dev/null
  wait_pid "${CPID[$n]}" 30
  check_eq "$n consumer exits 0 on SIGTERM" "$?" 0
  forget_pid "${CPID[$n]}"
done
# One more consumer run each: hands over whatever is still handed-over-not-
# acknowledged (a kill between asylink_recv and the ack commit) and must
# find nothing new; then the consumers' receipts leave their outboxes.
for n in FR EUAA; do
  "$SOAK" --config "$T/$n.ini" consume --log "$T/$n.clog" --idle-exit 3000 --timeout 60 \
    >>"$T/$n.out" 2>>"$T/$n.err" </dev/null
  check_eq "$n: final consumer run exits 0" "$?" 0
  check "$n: outbox drains (receipts sent)" "$SOAK" --config "$T/$n.ini" flush --timeout 120
done

# ---- checks ----
# analyse NODE PRODUCER_LOGS...: per id, over the consumer's log in order:
#   missing       sent OK to NODE, never handed over
#   unfinished    handed over, never acknowledged (nor an ack in flight at a kill)
#   after_ack     handed over again after its asylink_ack returned OK
#   twice         handed over twice by one consumer process
#   bad           payload not as sent, or not the payload of the id's send
#   phantom       a payload no producer ever tried to send
#   unconfirmed   delivered, sent by a call whose OK the producer could not
#                 log before it was killed (allowed; exactly once as well)
analyse() {
  local node=$1
  shift
  awk -v node="$node" '
    FILENAME != CLOG && $1 == "ok" { okid[$4] = $2 " " $3; nok++ }
    FILENAME != CLOG && $1 == "try" { for (i = 0; i < $4; i++) tried[$2 " " ($3 + i)] = 1 }
    FILENAME == CLOG && $1 == "start" { inst++ }
    FILENAME == CLOG && $1 == "got" {
      id = $2; ts = $4 " " $5; handed++
      if (id in acked) after_ack++
      if (gotin[id] == inst) twice++
      gotin[id] = inst; seen[id] = 1
      if ($6 != "OK") bad++
      if (id in okid) { if (okid[id] != ts) bad++ }
      else if (ts in tried) { if (!(id in unconf)) { unconf[id] = 1; unconfirmed++ } }
      else phantom++
      last[id] = "got"
    }
    FILENAME == CLOG && $1 == "ackb" { last[$2] = "ackb" }
    FILENAME == CLOG && $1 == "ack" { acked[$2] = 1 }
    END {
      for (id in okid) {
        if (!(id in seen)) missing++
        else if (!(id in acked) && last[id] != "ackb") unfinished++
      }
      for (id in seen) if (!(id in acked) && last[id] != "ackb") { if (!(id in okid)) unfinished++ }
      for (id in seen) distinct++
      printf "sent_ok=%d distinct=%d handovers=%d missing=%d unfinished=%d after_ack=%d twice=%d bad=%d phantom=%d unconfirmed=%d\n",
        nok, distinct, handed, missing + 0, unfinished + 0, after_ack + 0, twice + 0, bad + 0, phantom + 0, unconfirmed + 0
    }' CLOG="$T/$node.clog" "$@" "$T/$node.clog"
}
total_ok=0 total_handed=0
for n in FR EUAA; do
  if [[ $n == FR ]]; then r=$(analyse FR "$T/DE.plog" "$T/IT.plog"); else r=$(analyse EUAA "$T/IT.plog"); fi
  echo "$n: $r"
  echo "$r" >"$T/$n.result"
  for k in missing unfinished after_ack twice bad phantom; do
    check_eq "$n: $k" "$(field "$T/$n.result" "$k")" 0
  done
  check_eq "$n: every message sent OK is among the distinct ones handed over" \
    "$(comm -23 "$T/$n.expect" <(awk '$1 == "got" { print $2 }' "$T/$n.clog" | sort -u) | wc -l | tr -d ' ')" 0
  total_ok=$((total_ok + $(field "$T/$n.result" sent_ok)))
  total_handed=$((total_handed + $(field "$T/$n.result" handovers)))
done
check "no failed send or ack was logged" \
  test -z "$(grep -hE '^(err|ackerr) ' "$T"/*.plog "$T"/*.clog 2>/dev/null)"

# Receipts: each sender holds one from every recipient of every message sent OK.
for n in DE IT; do
  awk '$1 == "ok" { print $4 }' "$T/$n.plog" >"$T/$n.okids"
  out=$("$SOAK" --config "$T/$n.ini" receipts --ids "$T/$n.okids" --recipients "${NRCPT[$n]}" \
    --timeout 120 2>>"$T/$n.err")
  echo "$n: $out"
  check_eq "$n: a receipt from each of ${NRCPT[$n]} recipient(s) for every message sent OK" \
    "$(sed -n 's/.*receipts_missing=\([0-9]*\).*/\1/p' <<<"$out")" 0
done

# The broker's store ends empty (its SIGTERM exit status too).
last_broker=$BROKER_PID
stop_broker
check_eq "the broker stops cleanly at the end" "$?" 0
forget_pid "$last_broker"
if command -v mdb_stat >/dev/null; then
  for db in queue dlq msgs; do
    entries=$(mdb_stat -s "$db" "$T/data" 2>/dev/null | sed -n 's/^ *Entries: *//p')
    check_eq "broker store: $db is empty at the end (mdb_stat)" "${entries:-?}" 0
  done
else
  echo "mdb_stat not installed (lmdb-utils): the store's emptiness is not checked"
fi

dur=$((SECONDS - t_start))
result=PASS
[[ $failed -eq 0 ]] || result=FAIL
echo "soak: duration=${dur}s kills=$done_kills broker_kills=$broker_kills client_kills=$client_kills messages_sent_ok=$total_ok handovers=$total_handed seed=$seed result=$result"
if [[ $failed -gt 0 ]]; then
  for n in DE IT FR EUAA; do show "$T/$n.err" "$n stderr"; done
  show "$BROKER_LOG" "last broker stderr"
fi
summary
