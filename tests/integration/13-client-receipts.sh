#!/usr/bin/env bash
# libasylink: FR's application acks DE's message; DE gets FR's signed
# receipt and verifies it; a tampered or forged receipt is refused; a
# direct envelope with content type asylink.v1.Receipt (the name an older
# envelope.proto gave receipts) is refused, not handed over as data.
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
start_broker || exit 1
write_node_ini DE
write_node_ini FR

ct --config "$T/FR.ini" recv --count 1 --timeout 60 >"$T/fr.out" 2>&1 &
FR_PID=$!
PIDS+=("$FR_PID")
ct --config "$T/DE.ini" receipt --to FR --forge-key "$FED/keys/IT.key" \
  --forge-cert "$FED/trust/nodes/IT.cert" --timeout 60 >"$T/de.out" 2>"$T/de.err"
rc=$?
cat "$T/de.out"
check_eq "DE received and verified FR's receipt" "$(field "$T/de.out" verified)" yes
tampered=$(field "$T/de.out" tampered_receipt)
check "a receipt with a flipped bit is refused ($tampered)" test -n "$tampered" -a "$tampered" != OK
check_eq "a receipt IT forged in FR's name is refused" "$(field "$T/de.out" forged_receipt)" TAMPERED
check_eq "the evidence proves nothing about another message" \
  "$(field "$T/de.out" receipt_for_other_message)" NOT_FOUND
check_eq "receipt mode succeeded" "$rc" 0
wait_pid "$FR_PID" 30

# FR acknowledges 25 messages with one asylink_ack_many(): DE gets one signed
# receipt envelope (a ReceiptSet) proving all of them.
ct --config "$T/FR.ini" recv --count 25 --ack-batch 25 --timeout 60 >"$T/fr2.out" 2>&1 &
FR_PID=$!
PIDS+=("$FR_PID")
ct --config "$T/DE.ini" receipt --to FR --count 25 --forge-key "$FED/keys/IT.key" \
  --forge-cert "$FED/trust/nodes/IT.cert" --timeout 60 >"$T/de2.out" 2>"$T/de2.err"
rc=$?
cat "$T/de2.out"
check_eq "DE verified the receipts of all 25 messages" "$(field "$T/de2.out" receipts)" 25
check_eq "one receipt envelope proves the first and the last" "$(field "$T/de2.out" shared_evidence)" yes
check_eq "batched receipt mode succeeded" "$rc" 0
wait_pid "$FR_PID" 30
check_eq "FR handed over 25" "$(field "$T/fr2.out" received)" 25

# Receipts are owed in the acknowledging commit and sealed by the I/O thread
# a moment later: FR is killed -9 right after acknowledging 3 messages, with
# the receipts still owed in its store; the next FR client seals and sends them.
ct --config "$T/DE.ini" send --to FR --count 3 --wait-accepted --ids-out "$T/owed.ids" \
  --timeout 30 >"$T/owed-send.out" 2>&1
check_eq "DE sent 3 more" "$(wc -l <"$T/owed.ids")" 3
ct --config "$T/FR.ini" recv --count 3 --ack-batch 3 --crash-after-ack --timeout 60 \
  >"$T/owed-recv.out" 2>&1
check_eq "FR acknowledged them and was killed (SIGKILL)" "$?" 137
owed=$(mdb_stat -s receipts_owed "$T/node-FR" 2>/dev/null | awk '/Entries:/ {print $2}')
check_eq "FR's store holds the 3 receipts owed" "$owed" 3
ct --config "$T/FR.ini" flush --timeout 30 >"$T/owed-flush.out" 2>&1
check_eq "the next FR client sealed and sent them (outbox and owed receipts empty)" "$?" 0
ct --config "$T/DE.ini" receipts --ids-in "$T/owed.ids" --timeout 30 >"$T/owed-rcpt.out" 2>&1
check_eq "DE holds FR's receipts of all 3" "$(field "$T/owed-rcpt.out" receipts)" 3

# A node following the old envelope.proto comment sends its receipt as
# content type asylink.v1.Receipt. FR's library must not hand it to the
# application: it refuses it (Nack DEAD_LETTER, RECEIVE_FAILED BAD_FIELD)
# and goes on with the next message.
peer DE send --to FR --count 1 --content-type asylink.v1.Receipt --ids-out "$T/bare.ids" \
  --timeout 30 >"$T/bare.out" 2>"$T/bare.err"
check_eq "the broker accepted DE's asylink.v1.Receipt envelope" "$(field "$T/bare.out" accepted)" 1
peer DE send --to FR --count 1 --content-type asylink.v1.InformationRequest --class PERSONAL \
  --ids-out "$T/plain.ids" --timeout 30 >"$T/plain.out" 2>"$T/plain.err"
check_eq "and the ordinary message after it" "$(field "$T/plain.out" accepted)" 1
ct --config "$T/FR.ini" recv --count 1 --expect-refused 1 --ids-out "$T/fr3.ids" \
  --timeout 60 >"$T/fr3.out" 2>&1
rc=$?
cat "$T/fr3.out"
check_eq "FR's library refused the asylink.v1.Receipt envelope" "$(field "$T/fr3.out" refused_codes)" BAD_FIELD
tr -d - <"$T/fr3.ids" >"$T/fr3.hex" # client_test writes UUID text, the peer hex
check "FR handed over only the ordinary message" same_ids "$T/fr3.hex" "$T/plain.ids"
check "not the asylink.v1.Receipt one" test -s "$T/bare.ids" -a "$(cat "$T/fr3.hex")" != "$(cat "$T/bare.ids")"
check_eq "recv with --expect-refused succeeded" "$rc" 0
summary
