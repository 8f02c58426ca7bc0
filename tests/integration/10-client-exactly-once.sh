#!/usr/bin/env bash
# libasylink: a received message is handed over until the application acks
# it — again after the application is killed (-9) between recv and ack —
# and never after the ack, not even after a broker crash.
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
start_broker || exit 1
write_node_ini DE
write_node_ini FR

ct --config "$T/DE.ini" send --to FR --count 1 --wait-accepted --ids-out "$T/sent.ids" --timeout 30 >/dev/null
check "DE sent one message and the broker accepted it" test "$(lines "$T/sent.ids")" = 1

ct --config "$T/FR.ini" recv --count 1 --crash-after-recv --ids-out "$T/got1.ids" --timeout 30 >/dev/null 2>&1
check "FR received it, then was killed before acking" same_ids "$T/got1.ids" "$T/sent.ids"

ct --config "$T/FR.ini" recv --count 1 --ids-out "$T/got2.ids" --timeout 30 >/dev/null
check "after the restart FR gets the same message again (and acks it)" same_ids "$T/got2.ids" "$T/sent.ids"

check "after the ack it is never handed over again" \
  ct --config "$T/FR.ini" recv --count 1 --expect-none --timeout 3

# libasylink speaks protocol version 2 (Packed frames, PROTOCOL.md 11.11):
# every session of both nodes with this broker opened with it.
check "DE's sessions opened with protocol version 2" grep -qE 'session opened" node=DE .*protocol=2' "$BROKER_LOG"
check "FR's sessions opened with protocol version 2" grep -qE 'session opened" node=FR .*protocol=2' "$BROKER_LOG"
check_eq "no session opened with version 1" "$(grep -c 'session opened" .*protocol=1' "$BROKER_LOG")" 0

kill9_broker
start_broker || exit 1
check "not even after a broker crash and restart" \
  ct --config "$T/FR.ini" recv --count 1 --expect-none --timeout 4
summary
