#!/usr/bin/env bash
# libasylink publishes a new outbox entry while its commit's flush runs
# (DESIGN-CHANGES 43), not after it: once DE's session is open, each
# fdatasync of DE's data directory is made slow (client_test_slowsync,
# --wait-connected arms it), and FR receives DE's message long before DE's
# asylink_send() returns. FR's receipt, which comes back while DE's commit
# is still not visible, waits for it and is kept, not refused. Killed (-9)
# during that flush, DE comes back and its outbox drains; FR has the
# message once.
#
#   37-client-early-publish.sh ASYLINKD ASYLINK ASYLINK-PEER CLIENT_TEST CLIENT_TEST_SLOWSYNC
source "$(dirname "$0")/client_lib.sh"
SLOW="$(cd "$(dirname "$5")" && pwd)/$(basename "$5")"
client_init "$@"
start_broker || exit 1
write_node_ini DE
write_node_ini FR
DELAY=1500 # ms per flush of DE's store, once armed

# slow_de MS ARGS...: DE's client_test_slowsync, its flushes slowed by MS once connected.
slow_de() {
  local ms=$1
  shift
  ASYLINK_TEST_SLOW_SYNC_PATH="$T/node-DE" ASYLINK_TEST_SLOW_SYNC_MS=$ms \
    "$SLOW" --config "$T/DE.ini" --wait-connected "$@"
}

# Both nodes have their stores before the timed part.
ct --config "$T/DE.ini" flush --timeout 30 >/dev/null
ct --config "$T/FR.ini" recv --count 1 --expect-none --timeout 2 >/dev/null

# 1. FR waits (connected first); DE sends one message with its flushes slowed and prints when
#    asylink_send returned, FR when it had the message.
ct --config "$T/FR.ini" --wait-connected recv --count 1 --ids-out "$T/got.ids" --timeout 60 \
  >"$T/fr.out" 2>&1 &
FR_PID=$!
PIDS+=("$FR_PID")
sleep 1
slow_de $DELAY send --to FR --count 1 --ids-out "$T/sent.ids" --timeout 60 >"$T/de.out" 2>"$T/de.err"
check_eq "DE's slowed send succeeded" "$?" 0
wait "$FR_PID"
check "FR received DE's message" same_ids "$T/got.ids" "$T/sent.ids"
check "DE's store flushes were slowed" grep -q 'slowsync: delayed' "$T/de.err"
returned=$(grep -o 'returned_at_ms=[0-9]*' "$T/de.out" | cut -d= -f2)
received=$(grep -o 'first_at_ms=[0-9]*' "$T/fr.out" | cut -d= -f2)
check "both times were printed" test -n "$returned" -a -n "$received" -a "${received:-0}" != 0
ahead=$((${returned:-0} - ${received:-0}))
echo "FR had the message ${ahead} ms before DE's asylink_send returned (flushes slowed to ${DELAY} ms)"
# The send waits for two slowed flushes (the commit's data, then its meta page); a message
# published only after the first would reach FR at most one flush before the send returns.
check "FR had it more than one flush (${DELAY} ms) before the send returned" \
  test "$ahead" -gt $((DELAY * 4 / 3))
check "DE refused no receipt" bash -c "! grep -q 'receipt does not match' '$T/de.err'"
check "DE keeps FR's receipt, which came while its commit was not visible" \
  ct --config "$T/DE.ini" receipts --ids-in "$T/sent.ids" --timeout 30

# 2. DE is killed while its commit's flush runs (30 s per flush): the message left already.
: >"$T/got2.ids"
ct --config "$T/FR.ini" --wait-connected recv --count 1 --ids-out "$T/got2.ids" --timeout 20 \
  >/dev/null 2>&1 &
FR_PID=$!
PIDS+=("$FR_PID")
sleep 1
ASYLINK_TEST_SLOW_SYNC_PATH="$T/node-DE" ASYLINK_TEST_SLOW_SYNC_MS=30000 \
  "$SLOW" --config "$T/DE.ini" --wait-connected send --to FR --count 1 --ids-out "$T/sent2.ids" \
  --timeout 120 >/dev/null 2>"$T/de2.err" & # (not through slow_de: $! is then the program)
DE_PID=$!
PIDS+=("$DE_PID")
wait "$FR_PID"
check_eq "FR received the message of the DE still inside asylink_send" "$(lines "$T/got2.ids")" 1
kill -9 "$DE_PID" 2>/dev/null
wait "$DE_PID" 2>/dev/null
check_eq "DE was killed before asylink_send returned (no id written)" "$(lines "$T/sent2.ids")" 0
check "DE restarts and its outbox drains" ct --config "$T/DE.ini" flush --timeout 30
check "FR does not get the message twice" \
  ct --config "$T/FR.ini" recv --count 1 --expect-none --timeout 4
summary
