#!/usr/bin/env bash
# libasylink against a broker whose Welcome announces heartbeat values below
# the protocol's floors (PROTOCOL.md 4.8, DESIGN-CHANGES 50): an interval
# under 100 ms, a timeout under 1 s, or a timeout under twice the interval.
# asylinkd never announces them (its configuration refuses them); taken as
# given they would have the library ping every millisecond or drop and
# reopen its session constantly. Each is a protocol error, as a
# max_envelope_bytes under its floor is (test 45): logged once, the session
# dropped without publishing, the outbox kept, the next attempt after the
# longest backoff. A Welcome exactly at the floors opens a session that
# stays open. Three hostile brokers (asylink-fakebroker) run at once.
# Values above the ceilings (an interval over 60 s, a timeout over 300 s:
# here 1 h and 1 d) are used as the ceilings, with one WARN: taken as given,
# the library would not ping for an hour nor notice a dead connection for a
# day; it pings within the 60 s ceiling instead (DESIGN-CHANGES 55). That
# case runs in the background from the start (it waits about a minute).
#   61-client-welcome-heartbeat.sh ASYLINKD ASYLINK PEER CLIENT_TEST FAKEBROKER
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
FAKE="$(cd "$(dirname "$5")" && pwd)/$(basename "$5")"

# case NAME INTERVAL_MS TIMEOUT_MS: a fake broker with those limits on its own port,
# and a DE node ($T/NAME.ini, its own data directory) pointing at it.
fake() {
  local name=$1 port
  port=$(free_port)
  sed -e "s|^broker_endpoint = .*|broker_endpoint = tcp://127.0.0.1:$port|" \
    -e "s|^data_dir = .*|data_dir = $T/node-$name|" "$T/DE.ini" >"$T/$name.ini"
  "$FAKE" --endpoint "tcp://127.0.0.1:$port" --key "$FED/keys/BROKER.EU.key" \
    --heartbeat-interval-ms "$2" --heartbeat-timeout-ms "$3" --run-s 120 \
    >"$T/$name.fake" 2>"$T/$name.fakeerr" &
  PIDS+=("$!")
  printf -v "FAKE_$name" '%s' "$!"
  wait_for "$T/$name.fake" "event=listening" 10 || { cat "$T/$name.fakeerr"; exit 1; }
}
write_node_ini DE
fake interval 1 30000
fake timeout 5000 1
fake ratio 5000 2000
fake floors 100 1000
fake ceilings 3600000 86400000

# A client idle on the broker announcing 1 h and 1 d, for 70 s (checked in 3.).
ct --config "$T/ceilings.ini" recv --count 1 --expect-none --timeout 70 --log-info \
  >"$T/ceilings.out" 2>"$T/ceilings.err" &
PIDS+=("$!")
CT_ceilings=$!

echo "== 1. interval 1 ms, timeout 1 ms, timeout 2 s with an interval of 5 s: refused"
for name in interval timeout ratio; do
  ct --config "$T/$name.ini" send --to FR --count 1 --wait-accepted --ids-out "$T/$name.ids" \
    --timeout 12 --log-info >"$T/$name.out" 2>"$T/$name.err" &
  PIDS+=("$!")
  printf -v "CT_$name" '%s' "$!"
done
for name in interval timeout ratio; do
  pid_var="CT_$name"
  wait_pid "${!pid_var}" 30
done
# check_refused NAME FIELD VALUE FLOOR REASON_FLOOR
check_refused() {
  local name=$1 field=$2 value=$3 floor=$4 reason=$5
  check_eq "$name: asylink_send() returned: the message is queued" "$(lines "$T/$name.ids")" 1
  check "$name: ... and still pending after 12 s (not sent)" grep -q "1 still pending" "$T/$name.err"
  check "$name: the library logged the protocol error ($field=$value floor=$floor)" \
    grep -q "msg=\"broker announced limits below the protocol.s floor\" $field=$value floor=$floor .*code=PROTOCOL" "$T/$name.err"
  check_eq "$name: ... once, not per attempt" \
    "$(grep -c 'msg="broker announced limits below' "$T/$name.err")" 1
  check_eq "$name: nothing published to that broker" "$(grep -c 'event=publish' "$T/$name.fake")" 0
  local hellos
  hellos=$(grep -c 'event=hello' "$T/$name.fake")
  check_ge "$name: tried again later" "$hellos" 2
  check "$name: ... after the longest backoff, not constantly ($hellos Hellos in 12 s)" \
    test "$hellos" -le 3
  check "$name: why no session is open" \
    grep -q "msg=\"no session with the broker\" .*code=PROTOCOL reason=\"the broker at .* broke the protocol: its Welcome announces $field $value, below the protocol.s floor of $reason; the outbox is kept\"" "$T/$name.err"
}
check_refused interval heartbeat_interval_ms 1 100 "100 ms"
check_refused timeout heartbeat_timeout_ms 1 1000 "1000 ms"
check_refused ratio heartbeat_timeout_ms 2000 10000 "10000 ms (twice heartbeat_interval_ms)"

echo "== 2. a Welcome at the floors (100 ms, 1 s) opens a session that stays open"
ct --config "$T/floors.ini" send --to FR --count 1 --wait-accepted --ids-out "$T/floors.ids" \
  --timeout 20 --log-info >"$T/floors.out" 2>"$T/floors.err"
check_eq "the message is sent and accepted (exit 0)" "$?" 0
check_eq "  published once" "$(grep -c 'event=publish' "$T/floors.fake")" 1
# recv for 4 s with nothing to receive: the library pings every 100 ms and the
# fake answers; a session dropped for 1 s of silence would show a second Hello.
ct --config "$T/floors.ini" recv --count 1 --expect-none --timeout 4 --log-info \
  >"$T/floors2.out" 2>"$T/floors2.err"
check_eq "a client kept open 4 s gets nothing (exit 0)" "$?" 0
check_eq "  over one session each: no heartbeat timeout, no reconnect" \
  "$(grep -c 'event=hello' "$T/floors.fake")" 2
check "  nor a heartbeat timeout logged" \
  bash -c "! grep -q 'heartbeat timeout' '$T/floors.err' '$T/floors2.err'"
check "no protocol error" bash -c "! grep -q 'below the protocol.s floor' '$T/floors.err' '$T/floors2.err'"

echo "== 3. a Welcome above the ceilings (1 h, 1 d): used as 60 s and 300 s"
wait_pid "$CT_ceilings" 90
check_eq "an idle client kept open 70 s gets nothing (exit 0)" "$?" 0
check "the library logged the ceilings it uses" \
  grep -q 'level=warn .*msg="broker announced heartbeat values above the protocol.s ceilings; using the ceilings" heartbeat_interval_ms=3600000 heartbeat_timeout_ms=86400000 interval_used_ms=60000 timeout_used_ms=300000' "$T/ceilings.err"
check_eq "  once" "$(grep -c 'above the protocol.s ceilings' "$T/ceilings.err")" 1
check_eq "one session: Hello once" "$(grep -c 'event=hello' "$T/ceilings.fake")" 1
hello_ms=$(sed -n 's/^at_ms=\([0-9]*\) event=hello.*/\1/p' "$T/ceilings.fake" | head -n 1)
ping_ms=$(sed -n 's/^at_ms=\([0-9]*\) event=ping.*/\1/p' "$T/ceilings.fake" | head -n 1)
check "the library pinged (not after the announced hour)" test -n "$ping_ms"
if [[ -n $ping_ms && -n $hello_ms ]]; then
  gap=$((ping_ms - hello_ms))
  check "  after about the 60 s ceiling of idleness (${gap} ms after the Hello)" \
    test "$gap" -ge 59000 -a "$gap" -le 63000
fi
check "no protocol error, no heartbeat timeout" \
  bash -c "! grep -qE 'below the protocol.s floor|heartbeat timeout' '$T/ceilings.err'"

for name in interval timeout ratio floors ceilings; do
  pid_var="FAKE_$name"
  kill -TERM "${!pid_var}"
  wait_pid "${!pid_var}" 10
done
summary
