#!/usr/bin/env bash
# 01-broker-exchange.sh — messages both ways through a real asylinkd: DE and
# FR each send 200 to the other while receiving in the same session; IT,
# connected all along, is no recipient and receives nothing; then one
# envelope to two recipients (FR,IT) reaches both, and PERSONAL and PUBLIC
# messages travel as well as LIMITED ones.
#
#   tests/integration/01-broker-exchange.sh ASYLINKD ASYLINK ASYLINK-PEER
#
# Prints one line per check and ends with "N passed, M failed".
# shellcheck disable=SC2119,SC2154 # helpers with optional arguments; PID_<name> set by peer_bg
source "$(dirname "$0")/lib.sh"
lib_init "$@"

N=200
make_federation || exit 1
write_broker_ini
start_broker || exit 1
echo "broker at $ENDPOINT"

echo "== DE <-> FR, $N each way, IT listening"
peer_bg it IT recv --count 1 --timeout 90 --ids-out "$T/it.ids"
peer_bg de DE exchange --to FR --count $N --recv-count $N --ids-out "$T/de.sent" \
  --recv-ids-out "$T/de.recv" --timeout 40
peer_bg fr FR exchange --to DE --count $N --recv-count $N --ids-out "$T/fr.sent" \
  --recv-ids-out "$T/fr.recv" --timeout 40
wait_pid "$PID_de" 50; de_rc=$?
wait_pid "$PID_fr" 10; fr_rc=$?
check_eq "DE exchange exits 0" "$de_rc" 0
check_eq "FR exchange exits 0" "$fr_rc" 0
for n in de fr; do
  check_eq "$n: all $N accepted" "$(field "$T/$n.out" accepted)" $N
  check_eq "$n: none rejected" "$(field "$T/$n.out" rejected)" 0
  check_eq "$n: $N distinct received" "$(field "$T/$n.out" distinct)" $N
  check_eq "$n: no bad deliveries" "$(field "$T/$n.out" bad)" 0
  check_eq "$n: received in order" "$(field "$T/$n.out" out_of_order)" 0
done
check "FR received exactly what DE got accepted" same_set "$T/de.sent" "$T/fr.recv"
check "DE received exactly what FR got accepted" same_set "$T/fr.sent" "$T/de.recv"
check_eq "DE's accepted ids are $N lines" "$(lines "$T/de.sent")" $N

sleep 0.5 # a stray delivery to IT would be on its way by now
# The broker's threads are named, for top -H, ps -L, perf and gdb (core/thread.h;
# 14-client-threads checks libasylink's).
for name in asylinkd-commit asylinkd-verify; do
  check "the broker has a thread named $name" grep -qw -- "$name" <<<"$(thread_names "$BROKER_PID")"
done
# The verify workers yield to the single threads when the cores are busy: nice 5 above the
# broker's (VERIFY_NICE_STEPS, at most 19); the committer keeps the broker's.
base_nice=$(thread_nice "$BROKER_PID" asylinkd | awk '{print $1}')
want_nice=$((base_nice + 5 > 19 ? 19 : base_nice + 5))
check_eq "the committer runs at the broker's nice value" \
  "$(thread_nice "$BROKER_PID" asylinkd-commit | tr -d ' ')" "$base_nice"
check_eq "every verify worker runs at nice $want_nice" \
  "$(thread_nice "$BROKER_PID" asylinkd-verify | tr ' ' '\n' | grep -c "^$want_nice\$")" \
  "$(thread_nice "$BROKER_PID" asylinkd-verify | wc -w)"
check "the broker has verify workers" test "$(thread_nice "$BROKER_PID" asylinkd-verify | wc -w)" -ge 1
kill -TERM "$PID_it" 2>/dev/null
wait_pid "$PID_it" 10; it_rc=$?
check_eq "IT (no recipient) received nothing" "$(field "$T/it.out" received)" 0
check_eq "IT was still waiting (stopped by SIGTERM, exit 1)" "$it_rc" 1
check "IT had a session meanwhile" grep -q 'event=welcome node=IT' "$T/it.out"

echo "== one envelope to FR and IT"
peer DE send --to FR,IT --count 50 --ids-out "$T/multi.sent" --timeout 20 >"$T/multi.out" 2>"$T/multi.err"
check_eq "DE -> FR,IT: 50 accepted" "$(field "$T/multi.out" accepted)" 50
peer FR recv --count 50 --ids-out "$T/multi.fr" --timeout 15 >"$T/mfr.out" 2>&1
peer IT recv --count 50 --ids-out "$T/multi.it" --timeout 15 >"$T/mit.out" 2>&1
check "FR got all 50" same_set "$T/multi.sent" "$T/multi.fr"
check "IT got all 50" same_set "$T/multi.sent" "$T/multi.it"
check_eq "FR: in order" "$(field "$T/mfr.out" out_of_order)" 0
check_eq "IT: in order" "$(field "$T/mit.out" out_of_order)" 0

echo "== classifications and sizes"
peer DE send --to FR --count 20 --class PERSONAL --ids-out "$T/pers.sent" >"$T/pers.out" 2>&1
check_eq "PERSONAL DE -> FR accepted" "$(field "$T/pers.out" accepted)" 20
peer DE send --to FR --count 20 --class PUBLIC --size 0 --ids-out "$T/pub.sent" >"$T/pub.out" 2>&1
check_eq "PUBLIC empty payloads accepted" "$(field "$T/pub.out" accepted)" 20
peer EUAA send --to FR --count 5 --size 200000 --ids-out "$T/big.sent" >"$T/big.out" 2>&1
check_eq "EUAA -> FR 200 kB messages accepted" "$(field "$T/big.out" accepted)" 5
cat "$T/pers.sent" "$T/pub.sent" "$T/big.sent" >"$T/mixed.sent"
peer FR recv --count 45 --ids-out "$T/mixed.fr" --timeout 15 >"$T/mixed.out" 2>&1
check "FR got every PERSONAL, PUBLIC and large message" same_set "$T/mixed.sent" "$T/mixed.fr"
check_eq "FR: no bad deliveries" "$(field "$T/mixed.out" bad)" 0

echo "== nothing left over"
peer FR recv --count 1 --timeout 3 >"$T/rest.out" 2>&1
check_eq "FR's queue is empty (everything was acknowledged)" "$(field "$T/rest.out" received)" 0

stop_broker; rc=$?
check_eq "broker stops cleanly on SIGTERM" "$rc" 0
check "broker logged no error" bash -c "! grep -q 'level=error' '$BROKER_LOG'"
if [[ $failed -gt 0 ]]; then
  for f in de fr it; do show "$T/$f.err" "$f stderr"; done
  show "$BROKER_LOG" "broker stderr"
fi
summary
