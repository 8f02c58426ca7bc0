#!/usr/bin/env bash
# The bytes in transit come back (DESIGN-CHANGES 48): every way a Publish's
# job ends gives its envelope bytes back to the broker-wide count, shown as
# the gauge asylink_transit_bytes on /metrics. A leak would leave the broker
# refusing every Publish UNAVAILABLE once it reached max_transit_bytes.
#   - refused Publishes of every kind (malformed, bad signature, unknown
#     recipient, expired, too large, no envelope), a replay and a packed one;
#   - 20 Publishes of 1 MiB under one message id (duplicates);
#   - sessions that say Bye right after 8 Publishes of 1 MiB (asylink-peer
#     hostile publish-bye): their answers find no session;
#   - raw nodes with 1 MiB Publishes unanswered killed (SIGKILL) mid-burst,
#     three times: their sessions end with Publishes being verified or
#     committed;
#   - libasylink sends two messages of 32 MiB (the largest payload) while a
#     raw node keeps 1 MiB Publishes coming: both arrive;
# after each, asylink_transit_bytes is back to 0, and a last message is
# still accepted.
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
sed -i 's/^max_envelope_bytes = 1MiB$/max_envelope_bytes = 33MiB\nmax_transit_bytes = 40MiB/' \
  "$CONF"
sed -i 's/^map_size = 64MiB$/map_size = 1GiB/' "$CONF"
sed -i 's/^listen =$/listen = 127.0.0.1:0/' "$CONF"
start_broker || exit 1
HTTP=$(sed -n 's/.*http on \([0-9.]*:[0-9]*\).*/\1/p' "$T/broker.1.out" | head -n 1)
write_node_ini DE
write_node_ini FR

metric() { http_metric "$HTTP" "$1" missing; }

# transit_zero WHAT: asylink_transit_bytes reads 0 within 10 s (snapshots every second).
transit_zero() {
  local i=0 v
  while [[ $i -lt 100 ]]; do
    v=$(metric asylink_transit_bytes)
    [[ $v == 0 ]] && { pass "$1: asylink_transit_bytes back to 0"; return 0; }
    sleep 0.1
    i=$((i + 1))
  done
  fail "$1: asylink_transit_bytes stays at $v"
  return 1
}

check_eq "the limit is shown (asylink_transit_limit_bytes)" \
  "$(metric asylink_transit_limit_bytes)" $((40 * 1024 * 1024))
transit_zero "at start"

echo "== refused, replayed and packed Publishes"
for c in garbage-envelope bad-signature unknown-recipient expired no-envelope forged-sender \
  replay packed-publish; do
  got=$(peer IT hostile --case "$c" --to EUAA --timeout 20 2>"$T/h-$c.err")
  echo "  $c -> $got"
done
transit_zero "after the hostile Publishes"

echo "== 20 x 1 MiB under one message id"
# (asylink-peer keeps resending what it sees answered under another of its ids: bounded)
peer DE send --to EUAA --count 20 --size 1000000 --window 100 \
  --message-id 3f6c2a1e-8b7d-4c5e-9a0b-1c2d3e4f5a6b --timeout 5 >"$T/dup.out" 2>"$T/dup.err"
check "duplicates answered" grep -q 'duplicates=[1-9]' "$T/dup.out"
transit_zero "after the duplicates"

echo "== sessions ended by Bye right after their Publishes"
for round in 1 2 3; do
  got=$(peer DE hostile --case publish-bye --to EUAA --count 8 --size 1000000 --timeout 20 \
    2>"$T/bye$round.err")
  echo "  round $round: $got"
done
transit_zero "after the sessions ended with Publishes unanswered"

echo "== raw nodes killed with 1 MiB Publishes unanswered"
for round in 1 2 3; do
  for n in DE IT FR; do
    peer_bg "k$round$n" "$n" send --to EUAA --count 200 --size 1000000 --window 100 --timeout 60
  done
  sleep 0.$((round + 2))
  for n in DE IT FR; do
    pid_var="PID_k$round$n"
    kill -KILL "${!pid_var}" 2>/dev/null
    wait "${!pid_var}" 2>/dev/null
  done
  transit_zero "round $round"
done
check "the broker still runs" kill -0 "$BROKER_PID"

echo "== libasylink: 2 x 32 MiB while a raw node keeps 1 MiB Publishes coming"
peer_bg flood IT send --to EUAA --count 60 --size 1000000 --window 100 --timeout 120
ct --config "$T/FR.ini" recv --count 2 --ids-out "$T/fr.ids" --timeout 150 >"$T/fr.out" 2>&1 &
FR_PID=$!
PIDS+=("$FR_PID")
ct --config "$T/DE.ini" send --to FR --count 2 --size 33554432 --wait-accepted \
  --ids-out "$T/de.ids" --timeout 150 >"$T/de.out" 2>"$T/de.err"
check_eq "DE: both 32 MiB messages accepted" "$?" 0
wait_pid "$FR_PID" 150
check_eq "FR received them" "$?" 0
check "FR received exactly what DE sent" same_ids "$T/de.ids" "$T/fr.ids"
wait_pid "$PID_flood" 120
transit_zero "after the large messages"

echo "== still accepting"
peer IT send --to EUAA --count 1 --size 1000 --timeout 20 >"$T/last.out" 2>"$T/last.err"
check_eq "a last Publish is accepted" "$?" 0
summary
