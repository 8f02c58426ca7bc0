#!/usr/bin/env bash
# 02-broker-offline.sh — a recipient that is offline loses nothing: DE sends
# 1,000 messages while FR is not connected; the broker is restarted
# (SIGTERM) in between; FR connects later, takes 300 without acknowledging
# them and disconnects, then connects again and gets all 1,000 in order;
# after that its queue is empty.
#
#   tests/integration/02-broker-offline.sh ASYLINKD ASYLINK ASYLINK-PEER
#
# Prints one line per check and ends with "N passed, M failed".
# shellcheck disable=SC2119,SC2154 # helpers with optional arguments; PID_<name> set by peer_bg
source "$(dirname "$0")/lib.sh"
lib_init "$@"

N=1000
make_federation || exit 1
write_broker_ini
start_broker || exit 1
echo "broker at $ENDPOINT"

echo "== DE sends $N while FR is offline"
peer DE send --to FR --count $N --window 200 --ids-out "$T/de.ids" --timeout 60 \
  >"$T/de.out" 2>"$T/de.err"
check_eq "DE send exits 0" "$?" 0
check_eq "all $N accepted" "$(field "$T/de.out" accepted)" $N
check_eq "accepted ids written" "$(lines "$T/de.ids")" $N

echo "== broker restart (SIGTERM) with FR's queue full"
stop_broker; rc=$?
check_eq "broker stops cleanly" "$rc" 0
start_broker || { fail "broker restarts on the same data directory"; summary; }
pass "broker restarts on the same data directory"

echo "== FR takes 300 without acknowledging, then goes away"
peer FR recv --count $N --no-ack --window 500 --exit-after-recv 300 --ids-out "$T/fr1.ids" \
  --timeout 30 >"$T/fr1.out" 2>"$T/fr1.err"
check_eq "first FR session received 300" "$(field "$T/fr1.out" received)" 300
check_eq "first FR session: in order" "$(field "$T/fr1.out" out_of_order)" 0
check "the 300 are the first 300 DE sent" cmp -s <(head -n 300 "$T/de.ids") "$T/fr1.ids"

echo "== FR connects again and gets everything"
peer FR recv --count $N --ids-out "$T/fr2.ids" --timeout 60 >"$T/fr2.out" 2>"$T/fr2.err"
check_eq "FR recv exits 0" "$?" 0
check_eq "FR: $N distinct" "$(field "$T/fr2.out" distinct)" $N
check_eq "FR: no duplicates within the session" "$(field "$T/fr2.out" duplicates)" 0
check_eq "FR: out_of_order=0" "$(field "$T/fr2.out" out_of_order)" 0
check_eq "FR: no bad deliveries" "$(field "$T/fr2.out" bad)" 0
check "FR received exactly DE's accepted ids, in DE's order" cmp -s "$T/de.ids" "$T/fr2.ids"
check_ge "the 300 unacknowledged ones came again as redeliveries" \
  "$(field "$T/fr2.out" redelivered)" 300

echo "== acknowledged means gone"
peer FR recv --count 1 --timeout 10 >"$T/fr3.out" 2>&1 # long enough for a session under ASan and load
check_eq "FR's queue is empty" "$(field "$T/fr3.out" received)" 0

stop_broker; rc=$?
check_eq "broker stops cleanly" "$rc" 0
if [[ $failed -gt 0 ]]; then
  for f in de fr1 fr2; do show "$T/$f.err" "$f stderr"; done
  show "$BROKER_LOG" "broker stderr"
fi
summary
