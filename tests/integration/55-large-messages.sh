#!/usr/bin/env bash
# Large messages and the broker's memory (DESIGN-CHANGES 48): the envelope
# bytes of unanswered Publishes are bounded per session
# (limits.max_in_flight_bytes, 16 MiB) and broker-wide
# (limits.max_transit_bytes, 48 MiB), and libasylink keeps at most 16 MiB
# unanswered itself.
#   - libasylink sends 12 messages of 3 MiB in one asylink_send_many (36 MiB):
#     the broker refuses none of them (the library's own window stops at
#     16 MiB), FR receives all 12;
#   - a raw node (asylink-peer, up to 100 Publishes unanswered) sends 24
#     envelopes of 1 MiB, with max_in_flight_bytes = 2 MiB: those past it
#     are refused UNAVAILABLE, retryable, naming max_in_flight_bytes;
#     resent, all 24 arrive;
#   - with max_transit_bytes = 4 MiB two such nodes at once are refused
#     past it (max_transit_bytes) and everything still arrives;
#   - the broker's peak RSS stays within 64 MiB (DESIGN issue 10) after the
#     library's 36 MiB (skipped under AddressSanitizer).
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
sed -i 's/^max_envelope_bytes = 1MiB$/max_envelope_bytes = 4MiB/' "$CONF"
sed -i 's/^map_size = 64MiB$/map_size = 512MiB/' "$CONF"
sed -i 's/^listen =$/listen = 127.0.0.1:0/' "$CONF"
start_broker || exit 1
HTTP=$(sed -n 's/.*http on \([0-9.]*:[0-9]*\).*/\1/p' "$T/broker.1.out" | head -n 1)
write_node_ini DE
write_node_ini FR

# metric NAME{LABELS}: its value on /metrics, 0 if absent.
metric() { http_metric "$HTTP" "$1" 0; }
unavailable='asylink_rejected_total{code="UNAVAILABLE"}'

echo "== libasylink: 12 x 3 MiB in one send_many"
ct --config "$T/FR.ini" recv --count 12 --ids-out "$T/fr.ids" --timeout 120 >"$T/fr.out" 2>&1 &
FR_PID=$!
PIDS+=("$FR_PID")
ct --config "$T/DE.ini" send --to FR --count 12 --batch 12 --size 3145728 --wait-accepted \
  --ids-out "$T/de.ids" --timeout 120 >"$T/de.out" 2>"$T/de.err"
check_eq "DE: 12 messages of 3 MiB accepted" "$?" 0
wait_pid "$FR_PID" 120
check_eq "FR received them" "$?" 0
check "FR received exactly what DE sent" same_ids "$T/de.ids" "$T/fr.ids"
sleep 1.2 # (/metrics is a snapshot taken every second)
check_eq "the broker refused none (the library keeps at most 16 MiB unanswered)" \
  "$(metric "$unavailable")" 0

if [[ $(ldd "$ASYLINKD" 2>/dev/null) == *libasan* ]]; then
  echo "skip  broker peak RSS: not meaningful under AddressSanitizer (its quarantine holds freed memory)"
else
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$BROKER_PID/status")
  # DESIGN issue 10: at most 64 MiB in every workload. Without the fixed mmap threshold
  # (broker/main.c) freed 3 MiB buffers stay in glibc's heap: 68-76 MiB here, 43-46 MiB with it.
  check "broker peak RSS at most 64 MiB after 36 MiB of large messages (${hwm} KiB)" \
    test "$hwm" -le 65536
fi

# The raw node seals each envelope as it sends it, about as fast as the broker answers:
# a smaller bound shows the refusal.
echo "== a raw node with 24 x 1 MiB unanswered, max_in_flight_bytes = 2 MiB"
stop_broker
sed -i 's/^max_envelope_bytes = 4MiB$/max_envelope_bytes = 4MiB\nmax_in_flight_bytes = 2MiB/' "$CONF"
start_broker || exit 1
HTTP=$(sed -n 's/.*http on \([0-9.]*:[0-9]*\).*/\1/p' "$T/broker.$BROKER_N.out" | head -n 1)
peer_bg fr FR recv --count 24 --any-payload --window 100 --ids-out "$T/fr2.ids" --timeout 60
peer DE send --to FR --count 24 --size 1000000 --window 100 --ids-out "$T/de2.ids" \
  --timeout 60 >"$T/de2.out" 2>"$T/de2.err"
check_eq "DE: every envelope accepted in the end" "$?" 0
check "the excess was refused UNAVAILABLE, retryable, naming max_in_flight_bytes" \
  grep -q 'Rejected UNAVAILABLE (retryable): too many bytes in flight for this session (max_in_flight_bytes)' "$T/de2.err"
# (/metrics is a snapshot taken every second)
i=0
while [[ $(metric "$unavailable") -lt 1 && $i -lt 30 ]]; do sleep 0.1; i=$((i + 1)); done
check "refusals counted in /metrics" test "$(metric "$unavailable")" -ge 1
wait_pid "$PID_fr" 60
check "FR received all 24" same_set "$T/de2.ids" "$T/fr2.ids"

# 1.5 MiB holds one 1 MB envelope: a second one arriving while the first is still in transit
# (verified, not yet committed) is refused. At 4 MiB the refusal needed five at once, which a
# loaded machine (ASan, four tests on two cores) sometimes never reached.
echo "== two raw nodes at once, max_transit_bytes = 1.5 MiB (max_in_flight_bytes 16 MiB)"
stop_broker
sed -i 's/^max_in_flight_bytes = 2MiB$/max_transit_bytes = 1536KiB/' "$CONF"
start_broker || exit 1
peer_bg fr3 FR recv --count 32 --any-payload --window 100 --ids-out "$T/fr3.ids" --timeout 90
peer DE send --to FR --count 16 --size 1000000 --window 100 --ids-out "$T/de3.ids" \
  --timeout 90 >"$T/de3.out" 2>"$T/de3.err" &
DE3_PID=$!
PIDS+=("$DE3_PID")
peer IT send --to FR --count 16 --size 1000000 --window 100 --ids-out "$T/it3.ids" \
  --timeout 90 >"$T/it3.out" 2>"$T/it3.err"
check_eq "IT: every envelope accepted in the end" "$?" 0
wait_pid "$DE3_PID" 90
check_eq "DE: every envelope accepted in the end" "$?" 0
check "the excess was refused UNAVAILABLE, retryable, naming max_transit_bytes" \
  grep -q 'too many bytes in transit (max_transit_bytes)' "$T/de3.err" "$T/it3.err"
wait_pid "$PID_fr3" 90
cat "$T/de3.ids" "$T/it3.ids" >"$T/all3.ids"
check "FR received all 32" same_set "$T/all3.ids" "$T/fr3.ids"
check "the broker still runs" kill -0 "$BROKER_PID"
summary
