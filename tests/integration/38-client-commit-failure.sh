#!/usr/bin/env bash
# A commit that fails after what it carried already left: the sender's
# outbox commit whose messages were published while its flush ran
# (DESIGN-CHANGES 43), and the recipient's inbox commit whose message was
# handed over while its flush ran (DESIGN-CHANGES 37). The flushes of one
# node's data directory are slowed and the first one or two of them fail
# with EIO (client_test_slowsync, slowsync.c), as a failing disk's would.
#
#   1. DE's commit fails once: the writer's second attempt stores the
#      message, asylink_send() succeeds; FR has it once; FR's receipt, which
#      comes while the failing commit or that attempt runs, is kept and
#      taken once the attempt ended, in the same session.
#   2. DE's commit fails twice (a batch of three): asylink_send_many()
#      fails, although the three left early (asylink.h: IO does not mean
#      "not sent"); FR has each once; DE's next message goes through and
#      FR's receipts for the three, which name nothing DE holds, are
#      dropped with a warning, not dead-lettered.
#   3. FR's inbox commit fails after the message was handed over: its
#      acknowledgement fails, the message is handed over again once
#      stored, acknowledged then, and DE gets exactly one receipt.
#   4. DE's commit is visible but its meta page's flush fails: asylink_send()
#      says IO and does not store the message a second time; it goes out
#      once, and DE's next commit writes a page of its own.
#   5. FR acknowledges two messages together, the first stored, the second
#      handed over while its inbox commit runs, which fails: nothing is
#      acknowledged, and both are handed over again (the first, stored all
#      along, too), so that acknowledging them again succeeds.
#
#   38-client-commit-failure.sh ASYLINKD ASYLINK ASYLINK-PEER CLIENT_TEST CLIENT_TEST_SLOWSYNC
source "$(dirname "$0")/client_lib.sh"
SLOW="$(cd "$(dirname "$5")" && pwd)/$(basename "$5")"
client_init "$@"
start_broker || exit 1
write_node_ini DE
write_node_ini FR
DELAY=800 # ms per flush of the failing node's store, once armed

# failing NODE FAILS ARGS...: NODE's client_test_slowsync; once connected its flushes take
# DELAY ms and the first FAILS of them fail.
failing() {
  local node=$1 fails=$2
  shift 2
  ASYLINK_TEST_SLOW_SYNC_PATH="$T/node-$node" ASYLINK_TEST_SLOW_SYNC_MS=$DELAY \
    ASYLINK_TEST_FAIL_SYNC=$fails "$SLOW" --config "$T/$node.ini" --wait-connected "$@"
}

# fr_recv N IDS OUT TIMEOUT: FR receives N messages in the background (FR_PID), from the same
# program without a failing flush, which says "slowsync: armed" once connected: returns then.
fr_recv() {
  "$SLOW" --config "$T/FR.ini" --wait-connected recv --count "$1" --ids-out "$2" --timeout "$4" \
    >"$3" 2>&1 &
  FR_PID=$!
  PIDS+=("$FR_PID")
  wait_for "$3" 'slowsync: armed' 20
}

# Both nodes have their stores before the timed parts.
ct --config "$T/DE.ini" flush --timeout 30 >/dev/null
ct --config "$T/FR.ini" recv --count 1 --expect-none --timeout 2 >/dev/null

# 1. One failed flush on DE: the second attempt stores the message.
fr_recv 1 "$T/got1.ids" "$T/fr1.out" 60
ASYLINK_TEST_FAIL_SYNC_THREAD=asylink-commit failing DE 1 send --to FR --count 1 --ids-out "$T/sent1.ids" --wait-receipts --timeout 60 \
  >"$T/de1.out" 2>"$T/de1.err"
check_eq "1: DE's send succeeded (its second attempt), and its receipt came" "$?" 0
check "1: DE's first flush failed" grep -q 'slowsync: failed' "$T/de1.err"
wait "$FR_PID"
check "1: FR received DE's message" same_ids "$T/got1.ids" "$T/sent1.ids"
returned=$(grep -o 'returned_at_ms=[0-9]*' "$T/de1.out" | cut -d= -f2)
received=$(grep -o 'first_at_ms=[0-9]*' "$T/fr1.out" | cut -d= -f2)
check "1: it left during the failing flush, before the send returned" \
  test -n "$returned" -a -n "$received" -a "${received:-0}" -lt "${returned:-0}"
check "1: FR's receipt, which came while the second attempt ran, was kept for it" \
  grep -q "kept until its writer's retry ended" "$T/de1.err"
check "1: ... and taken in the same session once it ended" grep -q 'receipts=1 of=1' "$T/de1.out"
check "1: DE has FR's receipt" ct --config "$T/DE.ini" receipts --ids-in "$T/sent1.ids" --timeout 30
check "1: DE's outbox drains" ct --config "$T/DE.ini" flush --timeout 30
check "1: FR does not get the message twice" \
  ct --config "$T/FR.ini" recv --count 1 --expect-none --timeout 3

# 2. Two failed flushes on DE: asylink_send_many fails, its three messages left already.
: >"$T/got2.ids"
# (The first attempt is the committer's, the second the application thread's: client_test's
# main thread, whose name is the program's, cut to 15 bytes. Each fails its first flush: the
# committer's commits after its failure write and flush too, and must not take the second.)
fr_recv 3 "$T/got2.ids" "$T/fr2.out" 60
main_thread=$(basename "$SLOW" | cut -c1-15)
ASYLINK_TEST_FAIL_SYNC_THREAD="asylink-commit,$main_thread" ASYLINK_TEST_FAIL_SYNC_EACH=1 \
  failing DE 1 send --to FR --count 3 --batch 3 --ids-out "$T/sent2.ids" --timeout 60 \
  >"$T/de2.out" 2>"$T/de2.err"
check_eq "2: DE's send_many failed (both attempts)" "$?" 1
check "2: ... with IO" grep -q 'send_many: IO' "$T/de2.err"
check_eq "2: no id was returned" "$(lines "$T/sent2.ids")" 0
check_eq "2: both flushes failed" "$(grep -c 'slowsync: failed' "$T/de2.err")" 2
wait "$FR_PID"
check_eq "2: FR received the three messages that left early" "$(sort -u "$T/got2.ids" | wc -l)" 3
ct --config "$T/DE.ini" send --to FR --count 1 --wait-accepted --ids-out "$T/sent3.ids" \
  --timeout 60 >/dev/null 2>"$T/de3.err"
check_eq "2: DE's next message is sent" "$(lines "$T/sent3.ids")" 1
check "2: FR receives it, and none of the three again" bash -c \
  "'$CLIENT_TEST' --config '$T/FR.ini' recv --count 2 --ids-out '$T/got3.ids' --timeout 5 >/dev/null 2>&1; cmp -s <(sort '$T/got3.ids') <(sort '$T/sent3.ids')"
check "2: DE has FR's receipt for it" \
  ct --config "$T/DE.ini" receipts --ids-in "$T/sent3.ids" --timeout 30 2>>"$T/de3.err"
check "2: FR's receipts for the three were dropped with a warning" \
  grep -q 'receipts for messages not held here dropped' "$T/de3.err" "$T/de2.err"
check "2: DE's outbox drains (nothing of the failed batch is left in it)" \
  ct --config "$T/DE.ini" flush --timeout 30

# 3. One failed flush on FR's committer after the message was handed over (not another
#    thread's: the library sweeps its store when it starts, in its I/O thread).
: >"$T/got4.ids"
ASYLINK_TEST_FAIL_SYNC_THREAD=asylink-commit \
  failing FR 1 recv --count 1 --ack-failures-ok --ids-out "$T/got4.ids" --timeout 60 \
  >"$T/fr4.out" 2>"$T/fr4.err" &
FR_PID=$!
PIDS+=("$FR_PID")
wait_for "$T/fr4.err" 'slowsync: armed' 20
ct --config "$T/DE.ini" send --to FR --count 1 --wait-accepted --ids-out "$T/sent4.ids" \
  --timeout 60 >/dev/null
wait "$FR_PID"
check_eq "3: FR received and acknowledged the message" "$?" 0
check "3: FR's flush failed" grep -q 'slowsync: failed' "$T/fr4.err"
check "3: its first acknowledgement failed" grep -q 'ack_failed=1' "$T/fr4.out"
check_eq "3: it was handed over again once stored (twice in all)" "$(lines "$T/got4.ids")" 2
check "3: ... the message DE sent" same_ids "$T/got4.ids" "$T/sent4.ids"
check "3: DE has FR's receipt" ct --config "$T/DE.ini" receipts --ids-in "$T/sent4.ids" --timeout 30
check "3: FR does not get it again" ct --config "$T/FR.ini" recv --count 1 --expect-none --timeout 3

# 4. DE's commit is visible but the flush of its meta page fails (the committer's second flush:
#    its data pages' passed): the message is in the outbox and goes out, asylink_send() says IO
#    ("stored and sent, perhaps not on disk") and does not add it a second time. (The second
#    flush is the meta page's as long as the first takes less than the broker's answer and the
#    10 ms the library lets Accepted answers wait before a commit of their own: ~0.2 ms here.)
: >"$T/got5.ids"
fr_recv 2 "$T/got5.ids" "$T/fr5.out" 15
ASYLINK_TEST_SLOW_SYNC_PATH="$T/node-DE" ASYLINK_TEST_FAIL_SYNC=1 ASYLINK_TEST_FAIL_SYNC_SKIP=1 \
  ASYLINK_TEST_FAIL_SYNC_THREAD=asylink-commit "$SLOW" --config "$T/DE.ini" --wait-connected \
  send --to FR --count 2 --ids-out "$T/sent5.ids" --timeout 60 >"$T/de5.out" 2>"$T/de5.err"
check_eq "4: DE's first send failed, its second did not" "$?" 1
check "4: ... the first with IO (not added again: EXISTS)" grep -q 'sent=1 failures=1' "$T/de5.out"
check_eq "4: ... IO" "$(grep -c 'send: IO' "$T/de5.err")" 1
check_eq "4: one flush failed" "$(grep -c 'slowsync: failed' "$T/de5.err")" 1
check "4: DE's outbox drains (the entry was stored and went out)" \
  ct --config "$T/DE.ini" flush --timeout 30
wait "$FR_PID"
check_eq "4: FR received both messages, once each" "$(sort -u "$T/got5.ids" | wc -l)" 2
check "4: ... the second the one DE was told of" grep -q -f "$T/sent5.ids" "$T/got5.ids"
# After the failed flush the store was written again whole (a new data file, from what the
# process maps), so that nothing the kernel may have dropped is missing on disk; it said so.
check "4: the store was written again whole after the failed flush" \
  grep -q 'the store was written again whole.*failures=1 rewrites=1' "$T/de5.err"
check "4: ... and the rewritten file opens in LMDB's own tools, its outbox not empty" \
  bash -c "mdb_stat -s outbox '$T/node-DE' | grep -q 'Entries: [1-9]'"

# 5. A is in FR's inbox, handed over once and not acknowledged (an earlier process). FR's next
#    process is given A, then B, whose inbox commit (that process's committer's first flush)
#    fails while B is handed over; FR acknowledges A and B in one asylink_ack_many(), which waits
#    for B's commit and fails with its IO (all or nothing). B comes again once stored; A, stored
#    all along, is handed over again too (before the fourteenth session it was not, in that
#    process, and an application acknowledging both again found B missing and was never given A
#    again).
ct --config "$T/DE.ini" send --to FR --count 1 --wait-accepted --ids-out "$T/sent6.ids" \
  --timeout 60 >/dev/null
check "5: FR has A, not acknowledged" \
  ct --config "$T/FR.ini" recv --count 1 --no-ack --ids-out "$T/got6a.ids" --timeout 30
: >"$T/got6.ids"
# (--settle-ms: the commits the library makes as it starts pass before the flushes are counted;
# under load one of them could otherwise take the failure meant for B's commit.)
ASYLINK_TEST_FAIL_SYNC_THREAD=asylink-commit \
  failing FR 1 --settle-ms 1500 recv --count 2 --ack-batch 2 --ack-failures-ok \
  --ids-out "$T/got6.ids" --timeout 30 >"$T/fr6.out" 2>"$T/fr6.err" &
FR_PID=$!
PIDS+=("$FR_PID")
wait_for "$T/fr6.err" 'slowsync: armed' 20
ct --config "$T/DE.ini" send --to FR --count 1 --wait-accepted --ids-out "$T/sent6b.ids" \
  --timeout 60 >/dev/null
cat "$T/sent6b.ids" >>"$T/sent6.ids"
wait "$FR_PID"
check_eq "5: FR received and acknowledged both" "$?" 0
check_eq "5: one of FR's flushes failed" "$(grep -c 'slowsync: failed' "$T/fr6.err")" 1
check "5: the acknowledgement of both failed once" grep -q 'ack_failed=2' "$T/fr6.out"
check_eq "5: each was handed over twice" "$(sort "$T/got6.ids" | uniq -c | awk '$1 == 2' | wc -l)" 2
check "5: ... the two DE sent" same_ids "$T/got6.ids" "$T/sent6.ids"
check "5: DE has FR's receipts for both" \
  ct --config "$T/DE.ini" receipts --ids-in "$T/sent6.ids" --timeout 30
check "5: FR does not get them again" ct --config "$T/FR.ini" recv --count 1 --expect-none --timeout 3
summary
