#!/usr/bin/env bash
# 39-broker-session-races.sh — sessions that end at awkward moments:
#   - FR's connections say Hello and vanish at once, 300 times, while DE
#     streams to FR: the broker reads the Hello of a connection ZeroMQ has
#     already dropped, and a delivery to the new session fails (EHOSTUNREACH)
#     inside the Hello's own commit. The broker keeps serving (before the
#     fourteenth session it went on using the session it had just freed:
#     AddressSanitizer's heap-use-after-free, a SIGSEGV without it), DE's
#     stream completes, and FR, connecting properly, gets every message once;
#   - a Hello from a connection with a routing id of its own is refused;
#     another node connecting under the routing id of FR's session (FR's
#     connection gone, its session not yet timed out) ends that session and
#     gets nothing of FR's;
#   - a node keeps at most 256 stored subscriptions;
#   - FR is rekeyed (SECURITY.md 5: a new key and certificate, the old one
#     revoked, SIGHUP) while a session with its old key is open: that session
#     ends with REVOKED although FR has a usable certificate, and FR's new
#     messages reach FR's new key.
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

echo "== routing ids chosen by the client"
# A client may choose its routing id (ZMQ_ROUTING_ID); another node's connection could then take
# it once the first is gone, while the broker still holds its session (until the heartbeat
# timeout). Such a Hello is refused (PROTOCOL.md 11.1); an id of ZeroMQ's own form (a zero byte,
# then four), which a client can still choose, is admitted, and then another node's connection
# under it ends that session at its first command and gets nothing of it (before the fourteenth
# session FR's session took DE's commands: DE received and acknowledged FR's messages).
got=$(ASYLINK_PEER_ROUTING_ID=fr-client peer FR connect-only --timeout 5 2>"$T/rid.err")
check_eq "a Hello from a connection with a routing id of its own is refused" "$got" \
  "ERROR PROTOCOL"
ASYLINK_PEER_ROUTING_ID=hex:0066726b31 peer_bg frk FR recv --count 1000000 --timeout 60
wait_for "$T/frk.out" 'event=welcome' 10 || fail "FR's session (routing id 00 66 72 6b 31) opened"
kill -KILL "$PID_frk"
sleep 0.5
ASYLINK_PEER_ROUTING_ID=hex:0066726b31 peer_bg hij DE hostile --case no-hello-credit --timeout 5
sleep 1
peer IT send --to FR --count 5 --ids-out "$T/it.ids" >"$T/it.out" 2>&1
check_eq "IT's 5 messages to FR are accepted" "$(field "$T/it.out" accepted)" 5
wait_pid "$PID_hij" 15
check_eq "DE, under the routing id of FR's session, gets none of them" "$(cat "$T/hij.out")" \
  "DELIVERIES 0"
check "the broker ended FR's session at DE's first command" \
  grep -q 'reason="another connection took its routing id"' "$BROKER_LOG"
peer FR recv --count 5 --ids-out "$T/fr5.ids" --timeout 30 >"$T/fr5.out" 2>&1
check "FR, connecting again, gets all 5" same_set "$T/it.ids" "$T/fr5.ids"

echo "== durable subscriptions one node may keep"
# Each stored cursor costs the router a walk of the feed log per metrics turn: one node opening
# and closing thousands of named subscriptions stalled the router (before the fourteenth session).
got=$(peer EUAA.ANALYSIS hostile --case sub-churn --count 260 --topic stats --timeout 60 \
  2>"$T/churn.err")
check_eq "260 named subscriptions, each closed again: 256 stored, then TOO_LARGE" "$got" \
  "SUBSCRIBED 256 REFUSED 4"
check "... saying how to free one" grep -q 'TOO_LARGE: .*delete one (Unsubscribe with delete_cursor)' \
  "$T/churn.err"

echo "== FR is rekeyed and its old certificate revoked while a session with the old key is open"
# SECURITY.md 5: a new key and certificate, the old serial revoked, SIGHUP. The session bound to
# the revoked certificate ends although FR has a usable certificate (before the fourteenth
# session it stayed, and took FR's new messages, which it cannot open).
peer_bg old FR recv --count 1000000 --ids-out "$T/old.ids" --timeout 60
wait_for "$T/old.out" 'event=welcome' 10 || fail "FR's session with its old key opened"
(cd "$FED" && "$ASYLINK" keygen --id FR --name "FR rekeyed" --roles member_state --dir keys2 &&
  "$ASYLINK" ca sign --dir ca --request keys2/FR.csr --out keys2/FR2.cert &&
  "$ASYLINK" ca revoke --dir ca --cert trust/nodes/FR.cert --reason "key compromise") \
  </dev/null >"$T/rekey.out" 2>&1
check_eq "FR has a new key and certificate, its old certificate is revoked" "$?" 0
cp "$FED/ca/revoked.crl" "$FED/trust/revoked.crl"
cp "$FED/keys2/FR2.cert" "$FED/trust/nodes/FR2.cert"
kill -HUP "$BROKER_PID"
wait_pid "$PID_old" 15
check_eq "the session with the old key ends for good (exit 3)" "$?" 3
check "... with REVOKED" grep -qE '^event=(error|bye) node=FR code=REVOKED' "$T/old.out"
peer DE send --to FR --count 5 --ids-out "$T/post.ids" >"$T/post.out" 2>&1
check_eq "DE's 5 messages to FR (its new certificate) are accepted" \
  "$(field "$T/post.out" accepted)" 5
"$PEER" recv --broker "$ENDPOINT" --broker-cert "$FED/trust/nodes/BROKER.EU.cert" \
  --key "$FED/keys2/FR.key" --cert "$FED/keys2/FR2.cert" --trust "$FED/trust" --count 5 \
  --ids-out "$T/new.ids" --timeout 30 >"$T/new.out" 2>"$T/new.err"
check_eq "FR with its new key gets them, and opens them" \
  "$(field "$T/new.out" distinct)/$(field "$T/new.out" bad)" "5/0"
check "... the five DE sent" same_set "$T/post.ids" "$T/new.ids"
summary
