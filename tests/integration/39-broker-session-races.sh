#!/usr/bin/env bash
# 39-broker-session-races.sh — sessions that end at awkward moments:
#   - FR's connections say Hello and vanish at once, 300 times, while DE
#     streams to FR: the broker reads the Hello of a connection ZeroMQ has
#     already dropped, and a delivery to the new session fails (EHOSTUNREACH)
#     inside the Hello's own commit. The broker keeps serving (before the
#     fourteenth session it went on using the session it had just freed:
#     AddressSanitizer's heap-use-after-free, a SIGSEGV without it), DE's
#     stream completes, and FR, connecting properly, gets every message once.
#
#   tests/integration/39-broker-session-races.sh ASYLINKD ASYLINK ASYLINK-PEER
#
# Prints one line per check and ends with "N passed, M failed".
# shellcheck disable=SC2119,SC2154 # helpers with optional arguments; PID_<name> set by peer_bg
source "$(dirname "$0")/lib.sh"
lib_init "$@"

N=3000
make_federation || exit 1
write_broker_ini
# Each vanished session's deliveries count as a failed attempt (PROTOCOL.md 11.6): room for 300.
sed -i 's/^heartbeat_timeout = 10s$/heartbeat_timeout = 10s\nmax_deliveries = 1000/' "$CONF"
start_broker || exit 1
echo "broker at $ENDPOINT"

echo "== DE streams to FR while FR's connections say Hello and vanish"
peer_bg de DE send --to FR --count $N --window 50 --rate 1000 --ids-out "$T/de.ids" --timeout 120
wait_for "$T/de.out" 'event=welcome' 10 || fail "DE session opened"
for i in 1 2 3; do
  got=$(peer FR hostile --case hello-vanish --count 100 --timeout 60 2>"$T/vanish$i.err")
  check_eq "round $i: 100 of FR's connections said Hello and vanished" "$got" "VANISHED 100"
  check "round $i: the broker is still running" kill -0 "$BROKER_PID"
  kill -0 "$BROKER_PID" 2>/dev/null || { show "$BROKER_LOG" "broker log"; summary; exit 1; }
done
check_true() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }
check_true "no session was used after it ended (no AddressSanitizer report)" \
  bash -c "! grep -q 'AddressSanitizer' '$BROKER_LOG'"

echo "== the stream completes and FR gets everything once"
wait_pid "$PID_de" 120
check_eq "DE send exits 0" "$?" 0
check_eq "DE: all $N accepted" "$(field "$T/de.out" accepted)" $N
peer_bg fr FR recv --count $N --ids-out "$T/fr.ids" --timeout 120
wait_pid "$PID_fr" 120
check_eq "FR recv exits 0" "$?" 0
check_eq "FR: $N distinct" "$(field "$T/fr.out" distinct)" $N
check "FR received exactly what DE got accepted" same_set "$T/de.ids" "$T/fr.ids"
check "the broker is still running" kill -0 "$BROKER_PID"
summary
