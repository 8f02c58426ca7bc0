#!/usr/bin/env bash
# Failover: two asylinkd on one data directory, A active and B started with
# --standby (each with its own endpoint and HTTP port on 127.0.0.1), at the
# default heartbeat settings. Producers DE -> FR and IT -> EUAA send through
# libasylink with both addresses in broker_endpoint while the active broker
# is killed (-9) ROUNDS times, alternating A and B; each killed broker comes
# back as the standby. Checks: the standby answers /healthz "standby" and
# binds nothing until it takes over; every message whose asylink_send()
# returned OK is received exactly once; the clients moved between the two
# addresses and say so (events, asylink status --config); the audit trail
# both brokers wrote into the store still verifies. Reports the
# takeover time of each round: the last Accepted from the old broker to the
# first Accepted from the new one, as the producers saw them.
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
FAILOVER_CLIENT=$CLIENT_TEST
ROUNDS=${ROUNDS:-4}
command -v curl >/dev/null || { echo "curl is needed (scripts/test.sh installs it)"; exit 1; }

PA=$(free_port)
PB=$(free_port)
HA=$(free_port)
HB=$(free_port)
EP_A="tcp://127.0.0.1:$PA"
EP_B="tcp://127.0.0.1:$PB"

# broker_conf NAME PORT HTTP_PORT: $T/NAME.ini, write_broker_ini's broker at
# the default heartbeat settings, on the shared $T/data.
broker_conf() {
  sed -e "s|^endpoint = .*|endpoint = tcp://127.0.0.1:$2|" \
      -e "s|^listen =.*|listen = 127.0.0.1:$3|" \
      -e '/^heartbeat_/d' "$CONF" >"$T/$1.ini"
}
broker_conf A "$PA" "$HA"
broker_conf B "$PB" "$HB"

N=0
# start_named NAME [--standby]: asylinkd with $T/NAME.ini; sets PID_NAME, OUT_NAME, ERR_NAME.
start_named() {
  local name=$1
  shift
  N=$((N + 1))
  local out="$T/$name.$N.out" err="$T/$name.$N.err"
  "$ASYLINKD" --config "$T/$name.ini" "$@" >"$out" 2>"$err" </dev/null &
  PIDS+=("$!")
  printf -v "PID_$name" '%s' "$!"
  printf -v "OUT_$name" '%s' "$out"
  printf -v "ERR_$name" '%s' "$err"
}
var() { local v="$1_$2"; echo "${!v}"; }

# healthz HTTP_PORT: "CODE BODY" of /healthz.
healthz() {
  curl -s --max-time 3 -w ' %{http_code}' "http://127.0.0.1:$1/healthz" | tr -d '\n'
}
# wait_healthz HTTP_PORT WANT SECONDS: until healthz says WANT.
wait_healthz() {
  local i=0
  while [[ $i -lt $(($3 * 10)) ]]; do
    [[ $(healthz "$1") == "$2" ]] && return 0
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}
# refused PORT: nothing listens on 127.0.0.1:PORT.
refused() {
  python3 -c 'import socket,sys; s=socket.socket(); s.settimeout(2)
try:
    s.connect(("127.0.0.1", int(sys.argv[1]))); sys.exit(1)
except ConnectionRefusedError:
    sys.exit(0)' "$1"
}

start_named A
wait_for "$OUT_A" 'listening on' 10 || { show "$ERR_A"; exit 1; }
start_named B --standby
check "B stands by while A holds the data directory" wait_for "$OUT_B" 'standing by for ' 10
check "B logged that it stands by" grep -q 'msg="standing by' "$ERR_B"
check "A's /healthz says ok" wait_healthz "$HA" "ok 200" 5
check_eq "B's /healthz says standby (503)" "$(healthz "$HB")" "standby 503"
check "B's status.json says role standby" \
  bash -c "curl -s http://127.0.0.1:$HB/status.json | grep -q '\"role\": \"standby\"'"
check "the standby binds no endpoint" refused "$PB"
broker_conf C "$(free_port)" 0
sed -i 's|^listen = .*|listen =|' "$T/C.ini"
"$ASYLINKD" --config "$T/C.ini" >"$T/second.out" 2>"$T/second.err" </dev/null
check_eq "a second broker without --standby is still refused (exit 1)" "$?" 1
check "  and says the data directory is in use" grep -q 'in use by another asylinkd' "$T/second.err"

for id in DE IT FR EUAA; do
  write_node_ini "$id"
  sed -i "s|^broker_endpoint = .*|broker_endpoint = $EP_A, $EP_B|" "$T/$id.ini"
  # The clients' own fsyncs would bound the load; their durability is not under test.
  echo "durability = relaxed" >>"$T/$id.ini"
done
fc_bg() { # fc_bg NAME ARGS...: failover_client in the background, pid in PID_NAME
  local name=$1
  shift
  "$FAILOVER_CLIENT" --timeout 280 "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
  PIDS+=("$!")
  printf -v "PID_$name" '%s' "$!"
}
fc_bg FR --config "$T/FR.ini" consume --ids-out "$T/FR.got"
fc_bg EUAA --config "$T/EUAA.ini" consume --ids-out "$T/EUAA.got"
fc_bg DE --config "$T/DE.ini" produce --to FR --pause-ms 1 --ids-out "$T/DE.sent" \
  --events-out "$T/DE.events"
fc_bg IT --config "$T/IT.ini" produce --to EUAA --pause-ms 1 --ids-out "$T/IT.sent" \
  --events-out "$T/IT.events"

# accepted_via EP: Accepted events both producers got through EP so far.
accepted_via() { cat "$T/DE.events" "$T/IT.events" 2>/dev/null | grep -c " accepted $1\$"; }
# wait_accepted EP COUNT SECONDS: until both producers together have COUNT through EP.
wait_accepted() {
  local i=0
  while [[ $i -lt $(($3 * 10)) ]]; do
    [[ $(accepted_via "$1") -ge $2 ]] && return 0
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

active=A
standby=B
: >"$T/kills"
for round in $(seq 1 "$ROUNDS"); do
  ep_active=$EP_A
  [[ $active == B ]] && ep_active=$EP_B
  before=$(accepted_via "$ep_active")
  if ! wait_accepted "$ep_active" $((before + 200)) 30; then
    fail "round $round: messages flow through $active ($ep_active)"
    break
  fi
  echo "$(date +%s%3N) $active" >>"$T/kills"
  kill -KILL "$(var PID "$active")"
  wait "$(var PID "$active")" 2>/dev/null
  check "round $round: $standby takes over after $active is killed (-9)" \
    wait_for "$(var OUT "$standby")" 'listening on ' 15
  check "round $round: $standby logged the takeover" \
    grep -q 'msg="taking over the data directory"' "$(var ERR "$standby")"
  start_named "$active" --standby
  check "round $round: $active comes back as the standby" \
    wait_for "$(var OUT "$active")" 'standing by for ' 10
  h_new=$HB h_old=$HA
  [[ $standby == A ]] && h_new=$HA h_old=$HB
  check "round $round: $standby's /healthz says ok" wait_healthz "$h_new" "ok 200" 10
  check_eq "round $round: $active's /healthz says standby" "$(healthz "$h_old")" "standby 503"
  tmp=$active
  active=$standby
  standby=$tmp
done
ep_active=$EP_A
[[ $active == B ]] && ep_active=$EP_B
before=$(accepted_via "$ep_active")
check "after the last round messages flow through $active" \
  wait_accepted "$ep_active" $((before + 200)) 30

# Stop sending; each producer waits for its outbox to empty.
kill -TERM "$PID_DE" "$PID_IT"
wait_pid "$PID_DE" 90
check_eq "DE: everything sent was Accepted, nothing rejected or pending" "$?" 0
wait_pid "$PID_IT" 90
check_eq "IT: everything sent was Accepted, nothing rejected or pending" "$?" 0
cat "$T/DE.out" "$T/IT.out"

# Consumers: until they hold as many as were sent (bounded), then stop.
i=0
while [[ $i -lt 600 ]]; do
  [[ $(lines "$T/FR.got") -ge $(lines "$T/DE.sent") && $(lines "$T/EUAA.got") -ge $(lines "$T/IT.sent") ]] && break
  sleep 0.1
  i=$((i + 1))
done
sleep 1 # anything doubled would arrive now
kill -TERM "$PID_FR" "$PID_EUAA"
wait_pid "$PID_FR" 10
wait_pid "$PID_EUAA" 10

# Each round waited for 200 Accepted through the new broker, so together the
# producers sent at least 200 per round plus the first; each took part.
check_ge "the producers sent messages under failover" \
  "$(($(lines "$T/DE.sent") + $(lines "$T/IT.sent")))" $((200 * (ROUNDS + 1)))
for pair in DE:FR IT:EUAA; do
  s=${pair%%:*}
  r=${pair##*:}
  check_ge "$s sent messages under failover" "$(lines "$T/$s.sent")" 100
  check "every message $s sent (send returned OK) reached $r" subset "$T/$s.sent" "$T/$r.got"
  check "$r got nothing $s did not send" subset "$T/$r.got" "$T/$s.sent"
  check_eq "$r got each message exactly once (duplicates handed over)" \
    "$(sort "$T/$r.got" | uniq -d | wc -l | tr -d ' ')" 0
done
check_ge "the producers reconnected through A" "$(cat "$T"/DE.events "$T"/IT.events | grep -c " connected $EP_A\$")" 2
check_ge "the producers reconnected through B" "$(cat "$T"/DE.events "$T"/IT.events | grep -c " connected $EP_B\$")" 2
echo "      resent after a takeover and answered Accepted (duplicate):" \
  "$(cat "$T"/DE.events "$T"/IT.events | grep -c ' duplicate$')"

# Which address a node is on: asylink status --config (the client has closed: last session).
"$ASYLINK" status --config "$T/DE.ini" >"$T/status.out" 2>&1
check_eq "asylink status --config exits 0" "$?" 0
check "  and names the address of the last session ($active)" grep -q "address *$ep_active" "$T/status.out"
check "  and says no client runs now" grep -q "no client running" "$T/status.out"

# Takeover time of each round, from the producers' event logs.
python3 - "$T/kills" "$EP_A" "$EP_B" "$T/DE.events" "$T/IT.events" >"$T/takeover.txt" <<'EOF'
import sys
kills = [(int(l.split()[0]), l.split()[1]) for l in open(sys.argv[1]) if l.strip()]
ep = {"A": sys.argv[2], "B": sys.argv[3]}
acc = []
for f in sys.argv[4:]:
    for l in open(f):
        p = l.split()
        if len(p) >= 3 and p[1] == "accepted":
            acc.append((int(p[0]), p[2]))
times = []
for k, (t, old) in enumerate(kills):
    new = "B" if old == "A" else "A"
    prev = kills[k - 1][0] if k else 0
    nxt = kills[k + 1][0] if k + 1 < len(kills) else float("inf")
    last_old = max((m for m, e in acc if e == ep[old] and prev <= m <= nxt), default=None)
    first_new = min((m for m, e in acc if e == ep[new] and t <= m <= nxt), default=None)
    if last_old is None or first_new is None:
        print(f"round {k + 1}: not measured")
        continue
    times.append(first_new - last_old)
    print(f"round {k + 1}: kill {old} -> {new} takeover_ms={first_new - last_old}")
if times:
    print(f"takeover_ms max={max(times)} mean={sum(times) // len(times)} rounds={len(times)}")
EOF
sed 's/^/      /' "$T/takeover.txt"
check_eq "takeover measured in every round" \
  "$(grep -c 'takeover_ms=' "$T/takeover.txt")" "$ROUNDS"

# Stopping a standby is a clean stop; the active drains and exits 0.
kill -TERM "$(var PID "$standby")"
wait_pid "$(var PID "$standby")" 10
check_eq "a standby stops cleanly on SIGTERM (exit 0)" "$?" 0
check "  saying it was standing by" grep -q 'stopped while standing by' "$(var ERR "$standby")"
kill -TERM "$(var PID "$active")"
wait_pid "$(var PID "$active")" 30
check_eq "the active broker stops cleanly (exit 0)" "$?" 0
# Four kill -9 under load and four takeovers: the audit trail both brokers
# wrote into the one store still verifies (signed checkpoints included).
"$ASYLINK" audit verify --data "$T/data" --trust "$FED/trust" >"$T/audit.out" 2>&1
check_eq "the shared store's audit trail verifies after the failovers" "$?" 0
check "  (audit log OK)" grep -q 'audit log OK' "$T/audit.out"
if [[ $failed -gt 0 ]]; then
  for f in "$T"/A.*.err "$T"/B.*.err "$T"/DE.err "$T"/FR.err; do show "$f"; done
fi
summary
