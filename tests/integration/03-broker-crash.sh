#!/usr/bin/env bash
# 03-broker-crash.sh — a broker crash loses nothing that was Accepted: DE
# streams 20,000 small messages to FR (who receives meanwhile); 1-3 s in (at
# random) the broker is killed with SIGKILL and restarted on the same data
# directory and port; both peers reconnect by themselves, DE resends what
# was not Accepted, and at the end
#   DE's accepted ids  ⊆  FR's distinct received ids  ⊆  ids DE sealed,
# every message accepted, FR in per-sender order. Then the same with a
# graceful restart (SIGTERM: drain, Bye SHUTDOWN) in the middle of a stream.
#
#   tests/integration/03-broker-crash.sh ASYLINKD ASYLINK ASYLINK-PEER
#
# Prints one line per check and ends with "N passed, M failed".
# shellcheck disable=SC2119,SC2154 # helpers with optional arguments; PID_<name> set by peer_bg
source "$(dirname "$0")/lib.sh"
lib_init "$@"

N=20000
make_federation || exit 1
port=$(free_port) || { echo "no free port" >&2; exit 1; }
write_broker_ini "$port"
start_broker || exit 1
first_endpoint=$ENDPOINT
echo "broker at $ENDPOINT"

# stream NAME COUNT RATE HOW: DE streams COUNT messages to FR at RATE/s
# while FR receives; 1-3 s in, the broker is stopped HOW (kill9 | term) and
# restarted on the same data directory and port; then every check.
stream() {
  local name=$1 count=$2 rate=$3 how=$4
  echo "== $name: DE streams $count to FR; $how the broker on the way"
  peer_bg "fr_$name" FR recv --count "$count" --window 500 --ids-out "$T/$name.fr" --timeout 240
  # --rate keeps the stream longer than the latest stop time on fast machines.
  peer_bg "de_$name" DE send --to FR --count "$count" --size 100 --window 200 --rate "$rate" \
    --ids-out "$T/$name.accepted" --sent-out "$T/$name.sent" --timeout 240
  local de_pid fr_pid
  de_pid=$(eval echo "\$PID_de_$name")
  fr_pid=$(eval echo "\$PID_fr_$name")
  local delay_ms=$((1000 + RANDOM % 2001))
  sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
  if [[ $how == kill9 ]]; then
    kill9_broker
  else
    stop_broker || fail "$name: broker stops cleanly on SIGTERM mid-stream"
  fi
  local before
  before=$(lines "$T/$name.accepted")
  echo "stopped the broker ($how) after ${delay_ms} ms: $before accepted, $(lines "$T/$name.fr") received so far"
  check "$name: the stop came mid-stream (DE still sending)" kill -0 "$de_pid"
  check "$name: the stop came mid-stream (not everything accepted yet)" test "$before" -lt "$count"
  cp "$T/$name.accepted" "$T/$name.accepted.before"

  sleep 0.3
  start_broker || { fail "$name: broker restarts on the same data directory"; summary; }
  pass "$name: broker restarts on the same data directory"
  check_eq "$name: same endpoint after the restart" "$ENDPOINT" "$first_endpoint"

  wait_pid "$de_pid" 200
  check_eq "$name: DE send exits 0" "$?" 0
  wait_pid "$fr_pid" 60
  check_eq "$name: FR recv exits 0" "$?" 0
  local de_out="$T/de_$name.out" fr_out="$T/fr_$name.out"
  echo "DE: $(grep '^sent=' "$de_out")"
  echo "FR: $(grep '^received=' "$fr_out")"
  check_eq "$name: DE: every message accepted" "$(field "$de_out" accepted)" "$count"
  check_eq "$name: DE: none rejected" "$(field "$de_out" rejected)" 0
  check_ge "$name: DE: opened a second session after the restart" "$(field "$de_out" sessions)" 2
  check_ge "$name: FR: opened a second session after the restart" "$(field "$fr_out" sessions)" 2
  check_eq "$name: FR: $count distinct received" "$(field "$fr_out" distinct)" "$count"
  check_eq "$name: FR: no bad deliveries" "$(field "$fr_out" bad)" 0
  check_eq "$name: FR: per-sender order kept across the restart" "$(field "$fr_out" out_of_order)" 0
  check "$name: accepted before the stop ⊆ received" subset "$T/$name.accepted.before" "$T/$name.fr"
  check "$name: accepted ⊆ received" subset "$T/$name.accepted" "$T/$name.fr"
  check "$name: received ⊆ sent" subset "$T/$name.fr" "$T/$name.sent"
  check_eq "$name: sent ids are distinct" "$(sort -u "$T/$name.sent" | wc -l | tr -d ' ')" \
    "$(lines "$T/$name.sent")"
  if [[ $failed -gt 0 ]]; then
    show "$T/de_$name.err" "DE stderr"
    show "$T/fr_$name.err" "FR stderr"
  fi
}

stream crash $N 5000 kill9
stream graceful 5000 1000 term

stop_broker; rc=$?
check_eq "restarted broker stops cleanly" "$rc" 0
check "restarted broker logged no error" bash -c "! grep -q 'level=error' '$BROKER_LOG'"
if [[ $failed -gt 0 ]]; then
  for ((i = 1; i <= BROKER_N; i++)); do show "$T/broker.$i.err" "broker #$i stderr"; done
fi
summary
