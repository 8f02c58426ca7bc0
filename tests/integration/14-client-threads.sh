#!/usr/bin/env bash
# libasylink: asylink_send() from 8 threads at once, then asylink_send_many()
# from 4 threads with asylink_ack_many() at the receiver (run under ASan/UBSan
# by scripts/test.sh); every message arrives exactly once.
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
start_broker || exit 1
write_node_ini DE
write_node_ini FR

ct --config "$T/DE.ini" send --to FR --count 1000 --threads 8 --wait-accepted \
  --ids-out "$T/sent.ids" --timeout 120 >"$T/de.out"
check_eq "8 threads sent 1000 messages without an error" "$(field "$T/de.out" failures)" 0
check_eq "1000 distinct message ids" "$(sort -u "$T/sent.ids" | wc -l | tr -d ' ')" 1000
ct --config "$T/FR.ini" recv --count 1000 --ids-out "$T/got.ids" --timeout 120 >/dev/null
check_eq "FR received 1000 messages" "$(lines "$T/got.ids")" 1000
check "exactly once each" same_ids "$T/got.ids" "$T/sent.ids"

# Batches from 4 threads (asylink_send_many, 25 at a time) mixed with the
# group commit; FR acks in batches of 64 with asylink_ack_many.
ct --config "$T/DE.ini" send --to FR --count 1000 --threads 4 --batch 25 --wait-accepted \
  --ids-out "$T/sent2.ids" --timeout 120 >"$T/de2.out"
check_eq "4 threads sent 40 batches without an error" "$(field "$T/de2.out" failures)" 0
ct --config "$T/FR.ini" recv --count 1000 --ack-batch 64 --ids-out "$T/got2.ids" --timeout 120 >/dev/null
check "batches arrive exactly once each" same_ids "$T/got2.ids" "$T/sent2.ids"
# libasylink names its threads (core/thread.h), for top -H, ps -L, perf and gdb.
"$CLIENT_TEST" --config "$T/FR.ini" recv --count 1 --expect-none --timeout 3 >"$T/fr3.out" &
FR3=$!
PIDS+=("$FR3")
names=""
for _ in $(seq 1 50); do
  names=$(thread_names "$FR3")
  [[ $names == *asylink-commit* ]] && break
  sleep 0.05
done
check "the client has a thread named asylink-io" grep -qw asylink-io <<<"$names"
check "the client has a thread named asylink-commit" grep -qw asylink-commit <<<"$names"
wait_pid "$FR3" 20
check_eq "nothing handed over again after ack_many" "$(field "$T/fr3.out" received)" 0

# A client closed right after it opened (here: flush of an empty outbox, 0.5 to 100 ms after the
# open; the longer holds make sure some rounds open a session even on a loaded machine, where
# the handshake can take over 10 ms) may close before the broker's Welcome has come: it still
# says Bye, so the broker ends the session at once, not at its heartbeat timeout (10 s) while
# holding deliveries to it.
opened() { grep -c "session opened\" node=DE " "$BROKER_LOG"; }
closed() { grep -c "session closed\" node=DE " "$BROKER_LOG"; }
before=$(opened)
mark=$(wc -l <"$BROKER_LOG")
for hold in 500 1000 1500 2000 2500 3000 4000 5000 7000 10000 20000 50000 100000; do
  ct --config "$T/DE.ini" flush --hold-us "$hold" --timeout 5 >/dev/null 2>&1
done
for _ in $(seq 1 60); do
  [[ $(opened) -eq $(closed) ]] && break
  sleep 0.05
done
check "13 quick open-close rounds opened sessions" test "$(opened)" -gt "$before"
check_eq "each of them ended within 3 s (opened = closed)" "$(closed)" "$(opened)"
# (One left open is ended by the next round's Hello, "replaced by a newer session", if not by
# the heartbeat timeout: neither may happen.)
check_eq "none was left to be replaced by the next round's session" \
  "$(tail -n +"$((mark + 1))" "$BROKER_LOG" | grep -c 'node=DE reason="replaced by a newer')" 0
check "none waited for the heartbeat timeout" \
  bash -c "! grep -q 'session closed\" node=DE reason=\"heartbeat timeout' '$BROKER_LOG'"
summary
