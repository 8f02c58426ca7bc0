#!/usr/bin/env bash
# libasylink honours Bye.reconnect_after_ms also when broker_endpoint lists
# several addresses (failover): a broker under overload that says "come
# back in N ms" gets no connection attempt from the client, to any of its
# addresses, before N ms (PROTOCOL.md 11.11; DESIGN-CHANGES 47). Before,
# the hint counted only with a single address: the client went to the
# standby's address at once. Two asylink-fakebroker processes (real CURVE)
# print every connection they accept with its time: A sends
# Bye{reconnect_after_ms = 3000} right after its Welcome, B is sane. The
# hint is bounded (60 s): a Bye asking for 46 days is waited 60 s.
#   47-client-bye-reconnect.sh ASYLINKD ASYLINK PEER CLIENT_TEST FAKEBROKER
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
FAKE="$(cd "$(dirname "$5")" && pwd)/$(basename "$5")"
PORT_A=$PORT
PORT_B=$(free_port)
write_node_ini DE
sed -i "s|^broker_endpoint = .*|broker_endpoint = tcp://127.0.0.1:$PORT_A, tcp://127.0.0.1:$PORT_B|" \
  "$T/DE.ini"

# fake NAME PORT ARGS...: starts asylink-fakebroker NAME on PORT ($T/NAME.out), pid in PID_NAME.
fake() {
  local name=$1 port=$2
  shift 2
  "$FAKE" --endpoint "tcp://127.0.0.1:$port" --key "$FED/keys/BROKER.EU.key" --run-s 60 "$@" \
    >"$T/$name.out" 2>"$T/$name.err" &
  eval "PID_$name=$!"
  PIDS+=("$!")
  wait_for "$T/$name.out" "event=listening" 10 || { cat "$T/$name.err"; exit 1; }
}

# at NAME EVENT [N]: the time (epoch ms) of NAME's N-th (default first) EVENT line, or "".
at() {
  grep " event=$2" "$T/$1.out" | sed -n "${3:-1}p" | sed 's/^at_ms=\([0-9]*\) .*/\1/'
}

echo "== 1. A says Bye{reconnect_after_ms = 3000}; the client also knows B"
fake A "$PORT_A" --bye-reconnect-ms 3000
fake B "$PORT_B"
ct --config "$T/DE.ini" send --to FR --count 1 --wait-accepted --timeout 30 --log-info \
  >"$T/de.out" 2>"$T/de.err"
check_eq "DE's message was accepted (by B, after the wait)" "$?" 0
BYE=$(at A bye)
B1=$(at B connection)
check "A sent its Bye" test -n "$BYE"
check "B accepted a connection" test -n "$B1"
check_ge "no connection to B before 3000 ms after A's Bye (waited ms)" "$((B1 - BYE))" 3000
check_eq "no second connection to A meanwhile" "$(grep -c 'event=connection' "$T/A.out")" 1
check "the library logged the broker's hint and its wait" \
  grep -q 'msg="broker asked to wait before reconnecting" asked_ms=3000 wait_ms=3000' "$T/de.err"
kill -TERM "$PID_A" "$PID_B"
wait_pid "$PID_A" 10
wait_pid "$PID_B" 10

echo "== 2. a hint of 46 days is bounded: 60 s"
fake A "$PORT_A" --bye-reconnect-ms 4000000000
fake B "$PORT_B"
ct --config "$T/DE.ini" send --to FR --count 1 --wait-accepted --timeout 3 --log-info \
  >"$T/de2.out" 2>"$T/de2.err"
check "the library waits 60 s, not 46 days" \
  grep -q 'msg="broker asked to wait before reconnecting" asked_ms=4000000000 wait_ms=60000' "$T/de2.err"
check_eq "... and meanwhile tried no address" "$(grep -c 'event=connection' "$T/B.out")" 0
summary
