#!/usr/bin/env bash
# libasylink batch signatures (PROTOCOL.md 4.10) in a mixed federation. DE
# sends batched envelopes (asylink_send_many: one signature per call;
# concurrent asylink_send calls meeting in one outbox commit) and single
# ones (one asylink_send at a time) to FR, a libasylink node, and IT, an
# asylink-peer that verifies every envelope on its own, without a
# verified-root cache. DE is killed -9 in the middle of publishing a batch
# of 1,000 and resends the rest after its restart; the broker is killed -9
# in the middle of two more; FR acknowledges with asylink_ack_many
# (batched receipts) and crashes once before an acknowledgement.
# Everything arrives exactly once at both.
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
# At most 50 unanswered Publishes per session: a batch of 1,000 is accepted
# in many group commits, so "the middle of a batch" exists for a while.
sed -i 's/^heartbeat_interval = 1s$/max_in_flight = 50\nheartbeat_interval = 1s/' "$CONF"
start_broker || exit 1
write_node_ini DE
write_node_ini FR

TOTAL=3540 # 300 + 40 + 200 + 1000 + 2000
peer_bg it IT recv --count "$TOTAL" --any-payload --window 500 --ids-out "$T/it.ids" --timeout 240

send() { ct --config "$T/DE.ini" send --to FR,IT --ids-out "$T/sent.ids" --timeout 120 "$@"; }

echo "== batched, single and concurrent sends"
send --count 300 --batch 100 --wait-accepted >"$T/de1.out" 2>"$T/de1.err"
check_eq "asylink_send_many: 300 sent in batches of 100" "$?" 0
send --count 40 --wait-accepted >"$T/de2.out" 2>"$T/de2.err"
check_eq "asylink_send one at a time: 40 single envelopes" "$?" 0
send --count 200 --threads 8 --wait-accepted >"$T/de3.out" 2>"$T/de3.err"
check_eq "8 threads of asylink_send sharing commits: 200 sent" "$?" 0

echo "== DE killed -9 in the middle of a batch of 1000"
send --count 1000 --batch 1000 --crash-after-accepted 200 >"$T/de4.out" 2>"$T/de4.err"
check_eq "DE was killed after 200 of the batch were accepted" "$?" 137
check "it died with part of the batch still pending" grep -qE 'killed after [0-9]+ accepted, [1-9][0-9]* pending' "$T/de4.err"
check_eq "every sent id was recorded" "$(lines "$T/sent.ids")" 1540
ct --config "$T/DE.ini" flush --timeout 120 >"$T/de5.out" 2>"$T/de5.err"
check_eq "DE restarted: the rest of the batch was resent and the outbox drained" "$?" 0

echo "== the broker killed -9 in the middle of a batch"
before=$(lines "$T/it.ids")
send --count 2000 --batch 1000 --wait-accepted >"$T/de6.out" 2>"$T/de6.err" &
DE_PID=$!
PIDS+=("$DE_PID")
i=0
while [[ $(lines "$T/it.ids") -lt $((before + 50)) && $i -lt 3000 ]]; do sleep 0.01; i=$((i + 1)); done
kill -STOP "$BROKER_PID" # freeze it where it is, to look, then crash it
check "IT had part of the batches when the broker died" test "$(lines "$T/it.ids")" -lt "$TOTAL"
kill9_broker
start_broker || exit 1
wait_pid "$DE_PID" 120
check_eq "DE's outbox drained after the broker came back" "$?" 0
check_eq "every sent id was recorded" "$(lines "$T/sent.ids")" "$TOTAL"
check_eq "DE's message ids are distinct" "$(sort -u "$T/sent.ids" | wc -l | tr -d ' ')" "$TOTAL"

echo "== IT: every envelope verified alone, each message once"
wait_pid "$PID_it" 240
check_eq "IT received everything" "$?" 0
check_eq "IT: $TOTAL distinct messages" "$(field "$T/it.out" distinct)" "$TOTAL"
check_eq "IT: no envelope failed verification on its own" "$(field "$T/it.out" bad)" 0
tr -d - <"$T/sent.ids" >"$T/sent.hex" # client_test writes UUID text, the peer hex
check "IT: exactly the messages DE sent" same_ids "$T/it.ids" "$T/sent.hex"
check "IT: at least 3,300 envelopes came in batches" test "$(field "$T/it.out" batched)" -ge 3300
check_eq "IT: the largest batch had 1000 envelopes" "$(field "$T/it.out" max_batch)" 1000
check "IT: the 40 single sends came without a batch proof" \
  test $(($(field "$T/it.out" received) - $(field "$T/it.out" batched))) -ge 40

echo "== FR: asylink_ack_many, one crash before an acknowledgement"
ct --config "$T/FR.ini" recv --count 500 --ack-batch 50 --ids-out "$T/fr1.ids" --timeout 120 >/dev/null
check_eq "FR acknowledged 500" "$(lines "$T/fr1.ids")" 500
ct --config "$T/FR.ini" recv --count 1 --crash-after-recv --ids-out "$T/fr-crash.ids" --timeout 60 >/dev/null 2>&1
check_eq "FR was killed after a message was handed over, before its ack" "$?" 137
ct --config "$T/FR.ini" recv --count $((TOTAL - 500)) --ack-batch 100 --ids-out "$T/fr2.ids" --timeout 120 >/dev/null
check_eq "FR received the other $((TOTAL - 500))" "$(lines "$T/fr2.ids")" $((TOTAL - 500))
cat "$T/fr1.ids" "$T/fr2.ids" >"$T/fr.ids"
check_eq "FR: no acknowledged message handed over twice" "$(sort -u "$T/fr.ids" | wc -l | tr -d ' ')" "$TOTAL"
check "FR: exactly the messages DE sent" same_ids "$T/fr.ids" "$T/sent.ids"
check "FR: the message of the crash came again, once" subset "$T/fr-crash.ids" "$T/fr2.ids"
ct --config "$T/FR.ini" recv --count 1 --expect-none --timeout 3 >/dev/null
check_eq "FR: nothing left" "$?" 0
# Both libasylink nodes published and received through Packed frames (protocol version 2)
# with the restarted broker too; only the asylink-peer IT speaks version 1.
check "DE's sessions opened with protocol version 2" grep -qE 'session opened" node=DE .*protocol=2' "$BROKER_LOG"
check "FR's sessions opened with protocol version 2" grep -qE 'session opened" node=FR .*protocol=2' "$BROKER_LOG"
check_eq "no libasylink session opened with version 1" "$(grep -cE 'session opened" node=(DE|FR) .*protocol=1' "$BROKER_LOG")" 0
summary
