#!/usr/bin/env bash
# libasylink against a broker whose Welcome announces a max_envelope_bytes
# below the protocol's floor (64 KiB, PROTOCOL.md 11.3; DESIGN-CHANGES 47):
# a hostile or broken broker (asylink-fakebroker, real CURVE) says 1 byte.
# The library must not fail the messages it told the application were
# durably queued: it logs the protocol error, drops the session, retries
# later and leaves the outbox alone, so that the message reaches FR once a
# sane broker (the real asylinkd, on the same address) takes over. A
# message larger than a sane broker's limit is still refused TOO_LARGE at
# once, and asylinkd itself refuses to start with a limit below the floor.
#   45-client-welcome-limits.sh ASYLINKD ASYLINK PEER CLIENT_TEST FAKEBROKER
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
FAKE="$(cd "$(dirname "$5")" && pwd)/$(basename "$5")"
write_node_ini DE
write_node_ini FR

echo "== 1. a Welcome with max_envelope_bytes = 1"
"$FAKE" --endpoint "tcp://127.0.0.1:$PORT" --key "$FED/keys/BROKER.EU.key" \
  --max-envelope-bytes 1 --run-s 60 >"$T/fake.out" 2>"$T/fake.err" &
FAKE_PID=$!
PIDS+=("$FAKE_PID")
wait_for "$T/fake.out" "event=listening" 10 || { cat "$T/fake.err"; exit 1; }
ct --config "$T/DE.ini" send --to FR --count 1 --wait-accepted --ids-out "$T/sent.ids" \
  --timeout 12 --log-info >"$T/de1.out" 2>"$T/de1.err"
check_eq "asylink_send() returned: the message is queued" "$(lines "$T/sent.ids")" 1
check "... and it is still pending after 12 s against that broker (not refused)" \
  grep -q "1 still pending" "$T/de1.err"
check "the library said why it dropped the session (PROTOCOL, the floor)" \
  grep -q 'msg="broker announced limits below the protocol.s floor" .*code=PROTOCOL' "$T/de1.err"
check_ge "... and tried again later, after the longest backoff (10 s at most)" \
  "$(grep -c 'event=hello' "$T/fake.out")" 2
check_eq "... without publishing to that broker" "$(grep -c 'event=publish' "$T/fake.out")" 0
check_eq "... logged once, not per attempt" \
  "$(grep -c 'below the protocol.s floor' "$T/de1.err")" 2
check "why no session is open: the broker broke the protocol, the outbox is kept" \
  grep -q 'msg="no session with the broker" .*code=PROTOCOL reason="the broker at .* broke the protocol: its Welcome announces max_envelope_bytes 1, below the protocol.s floor of 65536 bytes; the outbox is kept"' "$T/de1.err"
kill -TERM "$FAKE_PID"
wait_pid "$FAKE_PID" 10

echo "== 2. a sane broker on the same address takes the message"
start_broker || exit 1
ct --config "$T/DE.ini" flush --timeout 30 >/dev/null 2>"$T/de2.err"
check_eq "DE's outbox drained against asylinkd" "$?" 0
ct --config "$T/FR.ini" recv --count 1 --ids-out "$T/got.ids" --timeout 30 >/dev/null
check "FR received exactly the message queued during the bad Welcome" same_ids "$T/got.ids" "$T/sent.ids"
stop_broker

echo "== 3. a message larger than a sane limit (64 KiB) is still refused at once"
sed -i 's/^max_envelope_bytes = .*/max_envelope_bytes = 64KiB/' "$CONF"
start_broker || exit 1
head -c 100000 /dev/zero >"$T/big.bin"
"$ASYLINK" send --config "$T/DE.ini" --to FR --file "$T/big.bin" \
  --content-type application/octet-stream --wait 20 >"$T/big.out" 2>"$T/big.err"
check_eq "asylink send of 100,000 bytes: exit 1" "$?" 1
check "... refused TOO_LARGE for the broker's limit" \
  grep -q "TOO_LARGE: larger than the broker's max_envelope_bytes" "$T/big.err"
stop_broker

echo "== 4. asylinkd refuses a max_envelope_bytes below the floor"
sed -i 's/^max_envelope_bytes = .*/max_envelope_bytes = 63KiB/' "$CONF"
timeout 10 "$ASYLINKD" --config "$CONF" >/dev/null 2>"$T/low.err" </dev/null
check_eq "asylinkd with max_envelope_bytes = 63KiB: exit 2 (configuration)" "$?" 2
check "... naming the option and its range" grep -q "max_envelope_bytes.*64KiB" "$T/low.err"
summary
