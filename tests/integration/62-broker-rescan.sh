#!/usr/bin/env bash
# 62-broker-rescan.sh — the direct queue's rescan after a Nack's backoff
# (PROTOCOL.md 11.6) delivers the Nacked message again, and nothing that was
# acknowledged meanwhile:
#   - FR, with a window of two, gets A and B, Nacks A; A comes back once the
#     backoff is over and fills the window again (the broker stops its
#     rescan there); FR acknowledges B: B does not come again (before, the
#     rescan went on from A at FR's Ack, found B's queue entry, whose
#     removal was still waiting for its group commit, and delivered B
#     again, as if new: attempt 1);
#   - in FR's next session only A comes: B's acknowledgement was stored.
#
#   tests/integration/62-broker-rescan.sh ASYLINKD ASYLINK ASYLINK-PEER
#
# Prints one line per check and ends with "N passed, M failed".
# shellcheck disable=SC2119,SC2154 # helpers with optional arguments; PID_<name> set by peer_bg
source "$(dirname "$0")/lib.sh"
lib_init "$@"

make_federation || exit 1
write_broker_ini
sed -i 's/^heartbeat_timeout = 10s$/heartbeat_timeout = 10s\nredelivery_backoff = 300ms/' "$CONF"
start_broker || exit 1
echo "broker at $ENDPOINT"

echo "== DE sends FR two messages"
peer DE send --to FR --count 2 --ids-out "$T/de.ids" >"$T/de.out" 2>"$T/de.err"
check_eq "DE: both accepted" "$(field "$T/de.out" accepted)" 2

echo "== FR Nacks the first, acknowledges the second while the first comes back"
for round in 1 2 3; do
  got=$(peer FR hostile --case ack-rescan --timeout 20 2>"$T/rescan$round.err")
  check_eq "round $round: the acknowledged message is not delivered again" "$got" "REDELIVERED 0"
  [[ $got == "REDELIVERED 0" ]] || show "$T/rescan$round.err" "asylink-peer stderr"
  # the next round: DE's next two messages (the Nacked one of this round goes first)
  peer FR recv --count 1 --ids-out "$T/fr$round.ids" --timeout 10 >"$T/fr$round.out" 2>&1
  check_eq "round $round: FR's next session gets the Nacked message" \
    "$(field "$T/fr$round.out" distinct)" 1
  peer FR recv --count 1 --timeout 2 >"$T/none$round.out" 2>&1
  check_eq "round $round: and nothing else (the acknowledgement was stored)" \
    "$(field "$T/none$round.out" distinct)" 0
  peer DE send --to FR --count 2 >"$T/de$round.out" 2>&1
done

check "the broker is still running" kill -0 "$BROKER_PID"
stop_broker
check_eq "the broker stops cleanly" "$?" 0
summary
