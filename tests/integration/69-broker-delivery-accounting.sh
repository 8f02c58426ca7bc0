#!/usr/bin/env bash
# 69-broker-delivery-accounting.sh — the broker's delivery accounting
# (DESIGN-CHANGES 58):
#   - asylink_acked_total / asylink_nacked_total count what happened, not
#     the sequences a node names: FR acknowledges a direct message twice in
#     one Ack and again in another, Acks and Nacks a sequence never queued,
#     Nacks a feed delivery twice (asylink-peer hostile --case ack-count):
#     3 acknowledgements and 2 Nacks took effect, and the audit trail holds
#     exactly those (ACKED / NACKED records of FR);
#   - a Nack's backoff follows PROTOCOL.md 11.6: redelivery_backoff x
#     2^(n-1) for attempt n (--case nack-backoff, three Nacks in a row),
#     also for a sequence refused twice before the first refusal's commit
#     (--case nack-twice: one Nack naming it twice takes the second step;
#     before, the first again);
#   - a large direct message waiting for room in the byte window gets its
#     turn while feed deliveries keep coming (--case direct-starve): feeds
#     stop taking new bytes until it has gone out.
#
#   tests/integration/69-broker-delivery-accounting.sh ASYLINKD ASYLINK ASYLINK-PEER
#
# Prints one line per check and ends with "N passed, M failed".
# shellcheck disable=SC2119,SC2154 # helpers with optional arguments; PID_<name> set by peer_bg
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || { echo "69-broker-delivery-accounting needs jq" >&2; exit 1; }
lib_init "$@"

BACKOFF_MS=500
make_federation || exit 1
write_broker_ini
sed -i "s/^heartbeat_timeout = 10s\$/heartbeat_timeout = 10s\nredelivery_backoff = ${BACKOFF_MS}ms/" \
  "$CONF"
sed -i 's/^listen =$/listen = 127.0.0.1:0/' "$CONF"
start_broker || exit 1
HTTP=$(sed -n 's/.*http on \([0-9.]*:[0-9]*\).*/\1/p' "$T/broker.$BROKER_N.out" | head -n 1)
echo "broker at $ENDPOINT, http on $HTTP"

metric() { http_metric "$HTTP" "$1" missing; }
# metric_is NAME WANT: NAME reads WANT within 5 s (snapshots every second); prints what it read.
metric_is() {
  local i=0 v
  while [[ $i -lt 50 ]]; do
    v=$(metric "$1")
    [[ $v == "$2" ]] && break
    sleep 0.1
    i=$((i + 1))
  done
  echo "$v"
}

echo "== acknowledgements and Nacks counted by what they did"
peer DE send --to FR --count 2 >"$T/de1.out" 2>&1
check_eq "DE: two messages for FR accepted" "$(field "$T/de1.out" accepted)" 2
peer EUAA publish --topic stats.monthly.DE --count 1 --class PUBLIC >"$T/pub1.out" 2>&1
check_eq "EUAA: one feed message accepted" "$(field "$T/pub1.out" accepted)" 1
got=$(peer FR hostile --case ack-count --timeout 30 2>"$T/count.err")
check_eq "FR: the Acks and Nacks went through" "$got" "DONE"
[[ $got == DONE ]] || show "$T/count.err" "asylink-peer stderr"
check_eq "asylink_acked_total: A, B and F acknowledged" "$(metric_is asylink_acked_total 3)" 3
check_eq "asylink_nacked_total: B and F Nacked once each" "$(metric_is asylink_nacked_total 2)" 2

echo "== the backoff doubles from redelivery_backoff (${BACKOFF_MS} ms) per attempt"
peer DE send --to FR --count 1 >"$T/de2.out" 2>&1
got=$(peer FR hostile --case nack-backoff --count 3 --timeout 30 2>"$T/backoff.err")
while IFS= read -r l; do echo "  $l"; done <<<"$got"
for n in 1 2 3; do
  line=$(echo "$got" | grep "^NACKED attempt=$n ")
  ms=$(echo "$line" | sed -n 's/.*after_ms=\([0-9]*\).*/\1/p')
  want=$((BACKOFF_MS << (n - 1)))
  check_eq "attempt $n: delivered again as attempt $((n + 1))" \
    "$(echo "$line" | sed -n 's/.*AGAIN attempt=\([0-9]*\).*/\1/p')" $((n + 1))
  check "attempt $n: again after ${want} ms or more (got ${ms:-none})" \
    test "${ms:-0}" -ge "$want"
  check "attempt $n: but before the next step, $((2 * want)) ms (got ${ms:-none})" \
    test "${ms:-999999}" -lt $((2 * want))
done

echo "== a sequence refused twice before the first refusal's commit: the second step"
peer DE send --to FR --count 1 >"$T/de4.out" 2>&1
got=$(peer FR hostile --case nack-twice --timeout 30 2>"$T/twice.err")
echo "  $got"
ms=$(echo "$got" | sed -n 's/.*after_ms=\([0-9]*\).*/\1/p')
check_eq "two failed attempts: delivered again as attempt 3" \
  "$(echo "$got" | sed -n 's/^AGAIN attempt=\([0-9]*\).*/\1/p')" 3
check "after the second step, $((2 * BACKOFF_MS)) ms or more (got ${ms:-none})" \
  test "${ms:-0}" -ge $((2 * BACKOFF_MS))
check "but before the third, $((4 * BACKOFF_MS)) ms (got ${ms:-none})" \
  test "${ms:-999999}" -lt $((4 * BACKOFF_MS))

echo "== a large direct message gets its turn beside a stream of feed deliveries"
N=300
peer EUAA publish --topic stats.monthly.FR --count $N --size 16000 --class PUBLIC \
  --timeout 60 >"$T/pub2.out" 2>&1
check_eq "EUAA: $N feed messages accepted" "$(field "$T/pub2.out" accepted)" $N
peer DE send --to FR --count 1 --size 100000 >"$T/de3.out" 2>&1
check_eq "DE: the large message accepted" "$(field "$T/de3.out" accepted)" 1
got=$(peer FR hostile --case direct-starve --topic stats.monthly.FR --timeout 60 2>"$T/starve.err")
echo "  $got"
feeds=$(echo "$got" | sed -n 's/^FEEDS_BEFORE \([0-9]*\)$/\1/p')
check "it came back while most of the $N feed messages still waited (${feeds:-none} went first)" \
  test "${feeds:-$N}" -lt $((N / 2))

check "the broker is still running" kill -0 "$BROKER_PID"
stop_broker
check_eq "the broker stops cleanly" "$?" 0

echo "== the audit trail"
"$ASYLINK" audit export --data "$T/data" --out "$T/audit.jsonl" </dev/null 2>"$T/export.err"
check_eq "audit export exits 0" "$?" 0
# fr_records KIND SUBSCRIPTION: FR's records of KIND ("" = direct), as "store_seq" lines, sorted.
fr_records() {
  jq -r "select(.type==\"record\" and .kind_name==\"$1\" and .actor==\"FR\" and
    .subscription==\"$2\") | .store_seq" "$T/audit.jsonl" | sort -n
}
direct=$(fr_records ACKED "" | tr '\n' ' ')
check_eq "ACKED records of FR's direct queue: its 5 messages, once each (not the repeated and \
unknown sequences)" "$(fr_records ACKED "" | sort -u | wc -l) $(fr_records ACKED "" | wc -l)" "5 5"
echo "  (direct ACKED store_seq: $direct)"
check_eq "ACKED records of the subscription 'count': F once" "$(fr_records ACKED count | wc -l)" 1
check_eq "NACKED records of the subscription 'count': F's first Nack only (the second found it \
waiting)" "$(fr_records NACKED count | wc -l)" 1
summary
