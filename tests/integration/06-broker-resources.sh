#!/usr/bin/env bash
# 06-broker-resources.sh — resource attacks do not take the broker down
# (issue 9: slowloris on HTTP, a flood of bare TCP connections):
#   - asylinkd started with a soft descriptor limit of 1024 raises it;
#   - 80 slowloris connections from 127.0.0.2: at most 16 are held (the
#     per-address limit), the rest refused, and /healthz from 127.0.0.1
#     answers 12 of 12 meanwhile;
#   - 80 slowloris connections from 127.0.0.1 itself (exempt from the
#     per-address limit): /healthz still answers 12 of 12, and every one of
#     them is cut by the request deadline (5 s) however it trickles;
#   - 1,100 bare TCP connections to the node endpoint (no greeting): a node
#     still opens a session and exchanges messages, /healthz answers, and
#     the broker closes them all after the handshake timeout;
#   - /metrics counts what was refused and cut.
#
#   tests/integration/06-broker-resources.sh ASYLINKD ASYLINK ASYLINK-PEER
# shellcheck disable=SC2119,SC2154
source "$(dirname "$0")/lib.sh"
lib_init "$@"
ATTACK="$LIB_DIR/attack.py"

make_federation || exit 1
write_broker_ini
sed -i 's/^listen =$/listen = 127.0.0.1:0/' "$CONF"
sed -i 's/^heartbeat_timeout = 10s$/heartbeat_timeout = 10s\nhandshake_timeout = 3s\nmax_session_output = 256KiB/' "$CONF"
# A login shell's soft limit: the broker must raise it itself.
hard=$(ulimit -Hn)
ulimit -Sn 1024
start_broker || exit 1
HTTP=$(sed -n 's/.*http on \([0-9.]*:[0-9]*\).*/\1/p' "$T/broker.1.out" | head -n 1)
HTTP_PORT=${HTTP##*:}
ZMQ_PORT=${ENDPOINT##*:}
echo "broker at $ENDPOINT, http on $HTTP (hard descriptor limit $hard)"

got=$(awk '{for(i=1;i<=NF;i++) if ($i ~ /^open_files=/) {sub("open_files=","",$i); print $i}}' \
      "$BROKER_LOG" | head -n 1)
want=65536
[[ $hard != unlimited && $hard -lt $want ]] && want=$hard
check_eq "descriptor limit raised from 1024" "${got:-none}" "$want"
check "limit raised in /proc" grep -q "Max open files *$want" "/proc/$BROKER_PID/limits"

metric() { http_metric "127.0.0.1:$HTTP_PORT" "$1"; }

echo "== slowloris from 127.0.0.2 (per-address limit)"
python3 "$ATTACK" slowloris 127.0.0.1 "$HTTP_PORT" --count 80 --source 127.0.0.2 \
  --seconds 14 --health-port "$HTTP_PORT" --health-times 12 >"$T/slow2.out" 2>&1
cat "$T/slow2.out"
check_eq "healthz answered during the attack" "$(field "$T/slow2.out" health_ok)" 12
check "at most 16 slow connections held at once" test "$(field "$T/slow2.out" opened)" -ge 80 -a \
  "$(field "$T/slow2.out" refused)" -ge 64
check "slow connections cut by the deadline" test "$(field "$T/slow2.out" cut)" -ge 1

echo "== slowloris from 127.0.0.1 itself (exempt: the deadline cuts them)"
python3 "$ATTACK" slowloris 127.0.0.1 "$HTTP_PORT" --count 80 --seconds 14 \
  --health-port "$HTTP_PORT" --health-times 12 >"$T/slow1.out" 2>&1
cat "$T/slow1.out"
check_eq "healthz answered during the attack" "$(field "$T/slow1.out" health_ok)" 12
check_eq "every slow connection cut" "$(field "$T/slow1.out" cut)" "$(field "$T/slow1.out" held)"
cut_s=$(field "$T/slow1.out" cut_within_s)
check "cut within the 5 s deadline (+2 s): ${cut_s}s" awk -v s="$cut_s" 'BEGIN{exit !(s > 0 && s <= 7.0)}'
check "refusals counted in /metrics" test "$(metric asylink_http_refused_per_address_total)" -ge 64
check "deadline cuts counted in /metrics" test "$(metric asylink_http_request_timeouts_total)" -ge 80

echo "== 1,100 bare TCP connections on the node endpoint"
python3 "$ATTACK" flood 127.0.0.1 "$ZMQ_PORT" --count 1100 --seconds 12 >"$T/flood.out" 2>&1 &
FLOOD_PID=$!; PIDS+=("$FLOOD_PID")
sleep 1
peer_bg fr FR recv --count 5 --timeout 20 --ids-out "$T/fr.ids"
peer DE send --to FR --count 5 --ids-out "$T/de.ids" --timeout 20 >"$T/de.out" 2>&1
check_eq "DE: 5 accepted during the flood" "$(field "$T/de.out" accepted)" 5
wait_pid "$PID_fr" 25
check "FR received them during the flood" same_set "$T/de.ids" "$T/fr.ids"
check "healthz during the flood" python3 -c "
import urllib.request; urllib.request.urlopen('http://127.0.0.1:$HTTP_PORT/healthz', timeout=3)"
wait_pid "$FLOOD_PID" 30
cat "$T/flood.out"
check_eq "all 1,100 connections opened" "$(field "$T/flood.out" opened)" 1100
check_eq "the broker closed every one (handshake timeout)" "$(field "$T/flood.out" cut)" 1100
check "closed within the 3 s handshake timeout (+3 s)" \
  awk -v s="$(field "$T/flood.out" cut_within_s)" -v n="$(field "$T/flood.out" cut)" \
  'BEGIN{exit !(n > 0 && s <= 6.0)}'
check "unfinished handshakes counted in /metrics" \
  test "$(metric asylink_handshakes_unfinished_total)" -ge 1100
echo "== Directory amplification (max_session_output = 256 KiB)"
out=$(peer DE hostile --case dir-toomany 2>&1)
check "4,096 node ids in one DirectoryRequest: BAD_FIELD" grep -q BAD_FIELD <<<"$out"
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$BROKER_PID/status")
peer DE hostile --case dir-flood --count 4000 --timeout 30 >"$T/dirflood.out" 2>&1
cat "$T/dirflood.out"
check "4,000 DirectoryRequests sent unread" grep -q 'SENT 4000' "$T/dirflood.out"
check "session ended: output bound passed" grep -q 'session output bound passed' "$BROKER_LOG"
check "overflow counted in /metrics" test "$(metric asylink_sessions_overflowed_total)" -ge 1
check "... and the connection dropped, with the answers left unsent" grep -q 'ENDED 1' "$T/dirflood.out"
rss_after=$(awk '/VmRSS/ {print $2}' "/proc/$BROKER_PID/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$BROKER_PID/status")
echo "broker RSS ${rss_before} -> ${rss_after} KiB, peak ${hwm} KiB"
# (not `ldd | grep -q`: with pipefail, grep's early exit can fail the pipe)
if [[ $(ldd "$ASYLINKD" 2>/dev/null) == *libasan* ]]; then
  echo "skip  broker peak RSS: not meaningful under AddressSanitizer (its quarantine holds freed memory)"
else
  check "broker peak RSS under 96 MiB (was 449+ MiB before the bound)" test "$hwm" -lt 98304
fi
peer_bg fr2 FR recv --count 3 --timeout 20 --ids-out "$T/fr2.ids"
peer DE send --to FR --count 3 --ids-out "$T/de2.ids" --timeout 20 >"$T/de2.out" 2>&1
wait_pid "$PID_fr2" 25
check "DE and FR still exchange after the attack" same_set "$T/de2.ids" "$T/fr2.ids"
check "the broker still runs" kill -0 "$BROKER_PID"
summary
