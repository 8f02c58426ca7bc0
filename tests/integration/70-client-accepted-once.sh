#!/usr/bin/env bash
# One ASYLINK_EVENT_ACCEPTED per message id, however often the message went out
# (DESIGN-CHANGES 59). A sender's outbox commit whose messages were published
# while its flush ran (DESIGN-CHANGES 43) fails (slowsync.c: its first flush
# EIO), and the application thread's second attempt at the write is held back
# 1.5 s before it begins (slowbegin.c), so that the library meanwhile records
# the broker's answers and scans its outbox again (a failed commit makes the
# pump start from the first pending entry).
#
#   1. One message: its Accepted answer comes before the second attempt has
#      stored it. DE gets one ACCEPTED event for it (before: two, the second
#      from the copy published again once the attempt stored it).
#   2. Both attempts fail: asylink_send() returns IO, and with it the
#      message id (before: none); the broker has the message all the same,
#      and DE gets one ACCEPTED event naming that id (asylink.h: the
#      application learns that the broker has it); asylink_sent_state_get()
#      answers NOT_FOUND for it (no outbox entry), as asylink.h says.
#   3. A stream of messages: each senders' group commit records the Accepted
#      answers that came meanwhile (DESIGN-CHANGES 34). The one that fails
#      held some; the scan after the failure does not publish their messages
#      again, and each message gets one ACCEPTED event.
#
#   70-client-accepted-once.sh ASYLINKD ASYLINK ASYLINK-PEER CLIENT_TEST CLIENT_TEST_SLOWBEGIN
source "$(dirname "$0")/client_lib.sh"
SLOW="$(cd "$(dirname "$5")" && pwd)/$(basename "$5")"
client_init "$@"
start_broker || exit 1
write_node_ini DE
write_node_ini FR
# The application's thread: client_test's main thread, whose name is the program's (15 bytes).
MAIN_THREAD=$(basename "$SLOW" | cut -c1-15)

# de_failing DELAY_MS FAILS ARGS...: DE's client_test_slowbegin; once connected each flush of its
# store takes DELAY_MS and the first FAILS of the listed threads' fail; after a failure the
# application thread's own write waits 1.5 s before it begins.
de_failing() {
  local delay=$1 fails=$2
  shift 2
  ASYLINK_TEST_SLOW_SYNC_PATH="$T/node-DE" ASYLINK_TEST_SLOW_SYNC_MS=$delay \
    ASYLINK_TEST_FAIL_SYNC=$fails ASYLINK_TEST_SLOW_BEGIN_THREAD="$MAIN_THREAD" \
    ASYLINK_TEST_SLOW_BEGIN_MS=1500 "$SLOW" --config "$T/DE.ini" --wait-connected "$@"
}

# accepted_once EVENTS IDS: every id of IDS has exactly one ACCEPTED line in EVENTS, and EVENTS
# names no other message, nor a REJECTED one.
accepted_once() {
  [[ -s $2 ]] || return 1
  ! grep -q '^REJECTED' "$1" || return 1
  diff <(awk '$1 == "ACCEPTED" {print $2}' "$1" | sort) <(sort "$2") >/dev/null
}

# Both nodes have their stores before the timed parts.
ct --config "$T/DE.ini" flush --timeout 30 >/dev/null
ct --config "$T/FR.ini" recv --count 1 --expect-none --timeout 2 >/dev/null

# 1. One message, the committer's flush failing once after it left.
ASYLINK_TEST_FAIL_SYNC_THREAD=asylink-commit de_failing 300 1 \
  send --to FR --count 1 --ids-out "$T/sent1.ids" --wait-accepted --events-out "$T/ev1" \
  --timeout 60 >"$T/de1.out" 2>"$T/de1.err"
check_eq "1: DE's send succeeded (its second attempt)" "$?" 0
check_eq "1: DE's first flush failed" "$(grep -c 'slowsync: failed' "$T/de1.err")" 1
check "1: ... and its second attempt waited" grep -q 'slowbegin: delayed' "$T/de1.err"
check "1: one ACCEPTED event for the message" accepted_once "$T/ev1" "$T/sent1.ids"
ct --config "$T/FR.ini" recv --count 2 --ids-out "$T/got1.ids" --timeout 4 >/dev/null
check_eq "1: FR received it once" "$(lines "$T/got1.ids")" 1
check "1: ... the message DE sent" same_ids "$T/got1.ids" "$T/sent1.ids"
# (FR's receipt taken now: arriving in the next run, its commit would take the failing flush.)
check "1: DE has FR's receipt" ct --config "$T/DE.ini" receipts --ids-in "$T/sent1.ids" --timeout 30

# 2. Both attempts fail (the committer's and the application thread's first flush). The
#    committer's failing flush waits until FR has received the copy that left early
#    (slowsync.c, ASYLINK_TEST_FAIL_SYNC_WAIT): the case needs the broker to have it before the
#    commit fails, which a fixed delay did not ensure on a loaded machine.
ASYLINK_TEST_FAIL_SYNC_THREAD="asylink-commit,$MAIN_THREAD" ASYLINK_TEST_FAIL_SYNC_EACH=1 \
  ASYLINK_TEST_FAIL_SYNC_WAIT="$T/release2" de_failing 300 1 \
  send --to FR --count 1 --ids-out "$T/sent2.ids" --events-out "$T/ev2" \
  --timeout 60 >"$T/de2.out" 2>"$T/de2.err" &
de_pid=$!
ct --config "$T/FR.ini" recv --count 1 --ids-out "$T/got2.ids" --timeout 30 >/dev/null
touch "$T/release2"
wait_pid "$de_pid" 60
check_eq "2: DE's send failed (both attempts)" "$?" 1
check "2: ... with IO" grep -q 'send: IO' "$T/de2.err"
check_eq "2: both flushes failed" "$(grep -c 'slowsync: failed' "$T/de2.err")" 2
check "2: ... the committer's once FR had the message" grep -q 'slowsync: released' "$T/de2.err"
check_eq "2: no id was returned" "$(lines "$T/sent2.ids")" 0
check_eq "2: FR received the message that left early" "$(lines "$T/got2.ids")" 1
check "2: ... once" ct --config "$T/FR.ini" recv --count 1 --expect-none --timeout 3
check "2: DE got one ACCEPTED event for it" accepted_once "$T/ev2" "$T/got2.ids"
sed -n 's/.*send: IO id=//p' "$T/de2.err" >"$T/io2.ids"
check "2: ... the id asylink_send() returned with IO" same_ids "$T/io2.ids" "$T/got2.ids"
# (asylink.h, asylink_sent_state_get: the outbox has no entry for it, so it answers NOT_FOUND
# although the broker has the message; the event above is what tells.)
printf '%s NOT_FOUND\n' "$(cat "$T/io2.ids")" >"$T/io2.want"
check "2: ... which DE's outbox does not hold: its state is NOT_FOUND" \
  ct --config "$T/DE.ini" state --ids-in "$T/io2.want" --timeout 20
check "2: DE's outbox is empty" ct --config "$T/DE.ini" flush --timeout 30

# 3. Four threads sending (each senders' group commit takes the Accepted answers that came while
#    the commit before it ran, DESIGN-CHANGES 34); each flush takes 5 ms and the committer's 11th
#    fails. (If that was a commit's second flush, its messages were stored: their call returned IO
#    all the same, asylink.h; so the events are checked against what FR received.)
ASYLINK_TEST_FAIL_SYNC_THREAD=asylink-commit ASYLINK_TEST_FAIL_SYNC_SKIP=10 de_failing 5 1 \
  send --to FR --count 40 --threads 4 --ids-out "$T/sent3.ids" --wait-accepted \
  --events-out "$T/ev3" --timeout 60 >"$T/de3.out" 2>"$T/de3.err"
check_eq "3: one flush failed" "$(grep -c 'slowsync: failed' "$T/de3.err")" 1
ct --config "$T/FR.ini" recv --count 41 --ids-out "$T/got3.ids" --timeout 5 >/dev/null
check_eq "3: FR received the 40 messages" "$(sort -u "$T/got3.ids" | wc -l)" 40
check "3: ... each once" bash -c "[[ \$(wc -l <'$T/got3.ids') == 40 ]]"
check "3: ... those DE was told of among them" subset "$T/sent3.ids" "$T/got3.ids"
check "3: one ACCEPTED event per message" accepted_once "$T/ev3" "$T/got3.ids"
check "3: DE's outbox is empty" ct --config "$T/DE.ini" flush --timeout 30
summary
