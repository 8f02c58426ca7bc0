#!/usr/bin/env bash
# 36-bench-client-window.sh BENCH_CLIENT ASYLINKD SOURCE_DIR — bench_client's
# pipelined W1 (bench/README.md): with --in-flight M the producers never have
# more than M messages sent and not yet acknowledged (received, with
# --no-ack), and with --ack-threads K the receiving thread hands its batches
# to K acknowledging threads; either way every message is delivered once,
# Accepted and, with acks, receipted; w2's schedule sent from several threads
# (--w2-threads) hands every message over once. Nothing is timed: the figures of the
# result line are only read for counts. The program starts its own asylinkd
# on a loopback ephemeral port and stops it; each run is bounded by timeout.
set -uo pipefail
BENCH=${1:?usage: 36-bench-client-window.sh BENCH_CLIENT ASYLINKD SOURCE_DIR}
ASYLINKD=${2:?}
SRC=${3:?}
# shellcheck source=tests/checks.sh
source "$(dirname "$0")/../checks.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/asylink-36.XXXXXX")
trap 'rm -rf "$T"' EXIT
cp -r "$SRC/certs-example" "$T/certs"
chmod 600 "$T"/certs/keys/*.key

# field NAME FILE: the value of NAME= in the w1 result line of FILE.
field() { grep '^workload=w1-library' "$2" | grep -oE "(^| )$1=[^ ]*" | head -1 | cut -d= -f2; }

# run NAME ARGS...: bench_client w1 with ARGS, output in $T/NAME.out/.err.
run() {
  local name=$1
  shift
  timeout 180 "$BENCH" --asylinkd "$ASYLINKD" --certs "$T/certs" --workload w1 "$@" \
    >"$T/$name.out" 2>"$T/$name.err"
}

# Acks on two threads, at most 200 unacknowledged, three producers of batches of 50.
if run acked --messages 600 --batch 50 --threads 3 --ack-threads 2 --in-flight 200; then
  pass "pipelined run with acks ends (exit 0)"
else
  fail "pipelined run with acks: exit $?: $(tail -3 "$T/acked.err")"
fi
[[ $(field msgs "$T/acked.out") == 600 ]] && pass "600 messages delivered" ||
  fail "delivered: '$(field msgs "$T/acked.out")'"
for f in accepted_events receipt_events; do
  v=$(grep '^stages' "$T/acked.out" | grep -oE "$f=[0-9]+" | cut -d= -f2)
  [[ $v == 600 ]] && pass "$f=600" || fail "$f: '$v', wanted 600"
done
[[ $(field ack_threads "$T/acked.out") == 2 && $(field in_flight_limit "$T/acked.out") == 200 ]] &&
  pass "the result line names 2 ack threads and the limit 200" ||
  fail "ack_threads '$(field ack_threads "$T/acked.out")', limit '$(field in_flight_limit "$T/acked.out")'"
most=$(field in_flight_max "$T/acked.out")
if [[ $most =~ ^[0-9]+$ ]] && ((most > 0 && most <= 200)); then
  pass "at most 200 in flight (most seen: $most)"
else
  fail "in_flight_max '$most', wanted 1..200"
fi

# w2's one schedule from three application threads (--w2-threads): message k by thread k mod 3,
# each index handed over once (bench_client dies on a repeated index), all Accepted and receipted.
if timeout 180 "$BENCH" --asylinkd "$ASYLINKD" --certs "$T/certs" --workload w2 --rate 300 \
  --seconds 2 --batch 8 --w2-threads 3 >"$T/w2.out" 2>"$T/w2.err"; then
  pass "w2 from three threads ends (exit 0)"
else
  fail "w2 from three threads: exit $?: $(tail -3 "$T/w2.err")"
fi
w2line=$(grep '^workload=w2-library' "$T/w2.out")
[[ $w2line == *" msgs=600 "* && $w2line == *" producer_threads=3 "* ]] &&
  pass "w2: 600 messages handed over, sent by 3 threads" || fail "w2 result line: '$w2line'"
for f in accepted_events receipt_events; do
  v=$(grep '^stages workload=w2' "$T/w2.out" | grep -oE "$f=[0-9]+" | cut -d= -f2)
  [[ $v == 600 ]] && pass "w2 $f=600" || fail "w2 $f: '$v', wanted 600"
done

# Without acks the window counts deliveries: 100 at most.
if run noack --messages 500 --batch 50 --threads 2 --no-ack --in-flight 100; then
  pass "pipelined run without acks ends (exit 0)"
else
  fail "pipelined run without acks: exit $?: $(tail -3 "$T/noack.err")"
fi
[[ $(field msgs "$T/noack.out") == 500 ]] && pass "500 messages delivered without acks" ||
  fail "delivered without acks: '$(field msgs "$T/noack.out")'"
most=$(field in_flight_max "$T/noack.out")
if [[ $most =~ ^[0-9]+$ ]] && ((most > 0 && most <= 100)); then
  pass "at most 100 undelivered in flight (most seen: $most)"
else
  fail "in_flight_max without acks '$most', wanted 1..100"
fi

# Neither option: the result line is as before (no window fields).
if run plain --messages 200 --batch 50 --threads 1 && [[ $(field msgs "$T/plain.out") == 200 ]] &&
  ! grep -q 'in_flight_max=' "$T/plain.out"; then
  pass "without the options: 200 delivered, no window fields"
else
  fail "plain run: $(head -c 300 "$T/plain.out") $(tail -2 "$T/plain.err")"
fi

# Out of range: a command-line mistake (exit 2) before anything runs.
for bad in "--ack-threads 17" "--in-flight -1"; do
  # shellcheck disable=SC2086
  timeout 10 "$BENCH" --asylinkd /bin/true --certs "$T/certs" $bad >"$T/bad.out" 2>"$T/bad.err"
  rc=$?
  if [[ $rc -eq 2 && ! -s $T/bad.out ]] && grep -q -- "${bad%% *}" "$T/bad.err"; then
    pass "$bad refused (exit 2)"
  else
    fail "$bad: exit $rc, stderr: $(head -c 200 "$T/bad.err")"
  fi
done

echo "36-bench-client-window: $passed passed, $failed failed"
((failed == 0))
