#!/usr/bin/env bash
# A standby binds its endpoint only when it takes over, maybe days after it
# started (DESIGN-CHANGES 56). At start it now checks that it could: with
# another process on its port it refuses to start, with an ERROR naming the
# endpoint, instead of standing by for a takeover that would fail. If
# another process takes the port while it stands by, the takeover does not
# end with no broker: it keeps the data directory (a third asylinkd is
# refused), logs an ERROR every second, /healthz answers 503
# "endpoint-busy", and it serves the moment the port is free, with the
# messages the old broker had queued. Stopped while waiting, it exits 0.
# The port is held by a plain python3 socket (bind and listen).
# A broker (no standby) that cannot bind one of its sockets exits 1 with an
# ERROR naming that socket (client endpoint, admin endpoint, HTTP listen
# address), the cause and what to do, and prints no ready line.
#   67-broker-standby-endpoint.sh ASYLINKD ASYLINK PEER
source "$(dirname "$0")/lib.sh"
lib_init "$@"
make_federation || exit 1
write_broker_ini

# port_of NAME: the port of broker NAME's endpoint in its ini.
port_of() { sed -n 's|^endpoint = tcp://127.0.0.1:\([0-9]*\)$|\1|p' "$T/$1.ini"; }
# hold PORT: a python3 process listening on 127.0.0.1:PORT (not ZeroMQ), pid in HOLDER,
# its output in $T/hold.N.out.
HOLDS=0
hold() {
  HOLDS=$((HOLDS + 1))
  python3 -c 'import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
print("held", flush=True)
time.sleep(600)' "$1" >"$T/hold.$HOLDS.out" 2>&1 &
  HOLDER=$!
  PIDS+=("$HOLDER")
  wait_for "$T/hold.$HOLDS.out" '^held' 10
}
release() {
  kill -TERM "$HOLDER"
  wait_pid "$HOLDER" 5
}
BUSY='level=error comp=main msg="took over the data directory but cannot bind the endpoint; holding the data directory and trying again every second"'

named A
named B
named C
with_http B
PB=$(port_of B)
start_named A
wait_for "$T/A.out" 'listening on' 10 || { show "$T/A.err"; exit 1; }
on A DE send --to IT --count 3 --timeout 10 >"$T/a1.out" 2>&1
check_eq "A serves: 3 accepted, queued for IT" "$(field "$T/a1.out" accepted)" 3

echo "== 1. a standby whose endpoint another process holds refuses to start"
check "a python3 process holds B's port" hold "$PB"
start_named B --standby
wait_pid "$PID_B" 10
check_eq "B exits 1 at once" "$?" 1
check "  with an ERROR naming the endpoint and why" \
  grep -q "level=error comp=main msg=\"standby refuses to start: its endpoint cannot be bound\" endpoint=tcp://127.0.0.1:$PB error=\"Address already in use\" code=IO hint=" "$T/B.err"
check "  without standing by" bash -c "! grep -q 'standing by' '$T/B.out' '$T/B.err'"
release

echo "== 2. the port taken while B stands by: the takeover waits for it"
start_named B --standby
check "B, its port free, stands by" wait_for "$T/B.out" 'standing by for ' 10
check "  /healthz: standby (503)" healthz_is B "standby 503" 5
check "a python3 process takes B's port" hold "$PB"
kill -TERM "$PID_A"
wait_pid "$PID_A" 15
check_eq "A stops (exit 0)" "$?" 0
check "B takes over the data directory" \
  wait_for "$T/B.err" 'msg="taking over the data directory"' 10
check "  but cannot bind: ERROR naming the endpoint" \
  wait_for "$T/B.err" "$BUSY endpoint=tcp://127.0.0.1:$PB error=\"Address already in use\" code=IO" 5
check "  /healthz: endpoint-busy (503)" healthz_is B "endpoint-busy 503" 5
check_eq "  /metrics: asylink_failover_blocked 1" "$(http_metric "127.0.0.1:$HTTP_B" asylink_failover_blocked)" 1
sleep 2.5
check_ge "  the ERROR again every second" "$(grep -c 'cannot bind the endpoint' "$T/B.err")" 3
check "  B keeps running" kill -0 "$PID_B"
check "  and serves nothing yet" bash -c "! grep -q 'listening on' '$T/B.out'"
start_named C
wait_pid "$PID_C" 10
check_eq "  a third asylinkd is refused: B holds the data directory (exit 1)" "$?" 1
check "  ... 'in use by another asylinkd'" grep -q 'data directory is in use by another asylinkd' "$T/C.err"
release
check "the port released: B serves on it" wait_for "$T/B.out" "listening on tcp://127.0.0.1:$PB" 5
check "  logging that it waited" grep -q 'msg="the endpoint can be bound again; serving" waited_ms=' "$T/B.err"
check "  /healthz: ok (200)" healthz_is B "ok 200" 5
on B IT recv --count 3 --timeout 10 >"$T/it.out" 2>&1
check_eq "IT receives the 3 messages A had queued, from B" "$(field "$T/it.out" distinct)" 3

echo "== 3. stopped while waiting for its endpoint"
named D
with_http D
PD=$(port_of D)
start_named D --standby
check "D stands by for B" wait_for "$T/D.out" 'standing by for ' 10
check "a python3 process takes D's port" hold "$PD"
kill -TERM "$PID_B"
wait_pid "$PID_B" 15
check_eq "B stops (exit 0)" "$?" 0
check "D takes over and waits for its endpoint" healthz_is D "endpoint-busy 503" 10
kill -TERM "$PID_D"
wait_pid "$PID_D" 10
check_eq "D stops cleanly on SIGTERM (exit 0)" "$?" 0
check "  saying so" grep -q 'msg="stopped while waiting for the endpoint"' "$T/D.err"
release

echo "== 4. a broker whose socket another process holds names that socket"
# busy NAME OPTION_LINE KEY MSG PORT: broker NAME with OPTION_LINE (sed) and PORT held exits 1
# with the ERROR MSG naming KEY=ADDRESS, the cause and a hint, and prints nothing on stdout.
busy() {
  local name=$1 port=${5-} pid_var="PID_$1"
  named "$name" "$T/data-$name"
  [[ -n $2 ]] && sed -i "$2" "$T/$name.ini"
  [[ -n $port ]] || port=$(port_of "$name")
  check "a python3 process holds $name's port" hold "$port"
  start_named "$name"
  wait_pid "${!pid_var}" 10
  check_eq "$name exits 1" "$?" 1
  check "  ERROR: $4, the cause and a hint" grep -qE \
    "level=error comp=[a-z]+ msg=\"$4\" $3=(tcp://)?127.0.0.1:$port error=\"Address already in use\" code=IO hint=\"another process holds this address and port, maybe another asylinkd still running \(ss -ltnp shows which\): stop it, or choose another port" \
    "$T/$name.err"
  check "  no ready line" test ! -s "$T/$name.out"
  release
}
busy E "" endpoint "cannot bind the client endpoint"
PX=$(free_port)
busy F "s|^admin_endpoint =.*|admin_endpoint = tcp://127.0.0.1:$PX|" admin_endpoint \
  "cannot bind the admin endpoint" "$PX"
PX=$(free_port)
busy G "s|^listen =.*|listen = 127.0.0.1:$PX|" listen "cannot bind the HTTP listen address" "$PX"

if [[ $failed -gt 0 ]]; then
  for f in A B C D E F G; do show "$T/$f.err"; done
  for f in "$T"/hold.*.out; do show "$f"; done
fi
summary
