#!/usr/bin/env bash
# libasylink without its committer thread (DESIGN-CHANGES 37): when the I/O
# thread cannot create it, the I/O thread commits each turn itself. The
# client program here (client_test_nocommitter) is client_test linked with
# -Wl,--wrap=pthread_create so that exactly that pthread_create fails with
# EAGAIN (nocommitter.c); everything else is real: asylinkd, CURVE, fsync'd
# LMDB stores. Against that broker the clients still send (from two
# application threads, and in signed batches), receive, acknowledge (one
# by one and many at a time) and get every receipt back, each message
# handed over exactly once, and close cleanly (Bye, outbox and owed
# receipts empty). Each client process runs bounded by wait_pid: a fallback
# that commits nothing leaves asylink_send() waiting for good.
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
start_broker || exit 1
write_node_ini DE
write_node_ini FR

# ctw NAME LIMIT ARGS...: client_test_nocommitter ARGS in the background,
# $T/NAME.out/.err, stopped after LIMIT seconds; returns its exit status
# (124 if it had to be stopped). NAMES lists every run, for the checks below.
NAMES=()
ctw_bg() {
  local name=$1
  shift
  NAMES+=("$name")
  ct "$@" >"$T/$name.out" 2>"$T/$name.err" &
  eval "PID_$name=$!"
  PIDS+=("$!")
}
ctw_wait() {
  local name=$1 limit=$2 pid_var="PID_$1"
  wait_pid "${!pid_var}" "$limit"
}
ctw() {
  local name=$1 limit=$2
  shift 2
  ctw_bg "$name" "$@"
  ctw_wait "$name" "$limit"
}

# --- fsync'd stores: FR receives and acks one by one while DE sends 200 from two threads.
ctw_bg fr1 --config "$T/FR.ini" recv --count 200 --ids-out "$T/got1.ids" --timeout 60
ctw de1 90 --config "$T/DE.ini" send --to FR --count 200 --threads 2 --wait-accepted \
  --ids-out "$T/sent1.ids" --timeout 60
check_eq "DE sent 200 from two threads, all accepted" "$?" 0
ctw_wait fr1 90
check_eq "FR received and acked 200" "$?" 0
check_eq "FR handed over 200" "$(field "$T/fr1.out" received)" 200
check_eq "200 distinct ids sent" "$(sort -u "$T/sent1.ids" | wc -l | tr -d ' ')" 200
check_eq "each handed over once (200 lines, 200 distinct)" \
  "$(lines "$T/got1.ids")/$(sort -u "$T/got1.ids" | wc -l | tr -d ' ')" 200/200
check "the ones DE sent" same_ids "$T/got1.ids" "$T/sent1.ids"
ctw de1r 90 --config "$T/DE.ini" receipts --ids-in "$T/sent1.ids" --timeout 60
check_eq "DE got FR's receipts of all 200" "$(field "$T/de1r.out" receipts)" 200
ctw fr1n 30 --config "$T/FR.ini" recv --count 1 --expect-none --timeout 3
check_eq "nothing is handed over again" "$?" 0

# --- relaxed stores: signed batches of 10 sent, acked 10 at a time (asylink_ack_many).
for id in DE FR; do echo "durability = relaxed" >>"$T/$id.ini"; done
ctw_bg fr2 --config "$T/FR.ini" recv --count 100 --ack-batch 10 --ids-out "$T/got2.ids" \
  --timeout 60
ctw de2 90 --config "$T/DE.ini" send --to FR --count 100 --batch 10 --wait-accepted \
  --ids-out "$T/sent2.ids" --timeout 60
check_eq "DE sent 100 in batches of 10, all accepted" "$?" 0
ctw_wait fr2 90
check_eq "FR received and acked 100 (10 at a time)" "$?" 0
check_eq "each handed over once (100 lines, 100 distinct)" \
  "$(lines "$T/got2.ids")/$(sort -u "$T/got2.ids" | wc -l | tr -d ' ')" 100/100
check "the ones DE sent" same_ids "$T/got2.ids" "$T/sent2.ids"
ctw de2r 90 --config "$T/DE.ini" receipts --ids-in "$T/sent2.ids" --timeout 60
check_eq "DE got FR's receipts of all 100" "$(field "$T/de2r.out" receipts)" 100
ctw fr2n 30 --config "$T/FR.ini" recv --count 1 --expect-none --timeout 3
check_eq "nothing is handed over again" "$?" 0

# --- closing: nothing left to send or seal on either side.
ctw def 60 --config "$T/DE.ini" flush --timeout 30
check_eq "DE's outbox is empty" "$?" 0
ctw frf 60 --config "$T/FR.ini" flush --timeout 30
check_eq "FR's outbox and owed receipts are empty" "$?" 0

# Every run really had no committer: exactly one pthread_create refused to
# its I/O thread, and the library said it commits on the I/O thread (with
# pthread_create's error, EAGAIN).
eagain=$(python3 -c 'import errno; print(errno.EAGAIN)')
for name in "${NAMES[@]}"; do
  check_eq "$name: one pthread_create refused to the I/O thread" \
    "$(grep -c '^nocommitter: refused' "$T/$name.err")" 1
  check "$name: the I/O thread committed itself" \
    grep -qE "no committer thread: the I/O thread commits each turn.* errno=$eagain( |$)" \
    "$T/$name.err"
done
# ... and closed its session with Bye (a close that hung would have been stopped above).
check_eq "every session DE opened ended with its Bye" \
  "$(grep -c 'session closed" node=DE reason="client said Bye"' "$BROKER_LOG")" \
  "$(grep -c 'session opened" node=DE' "$BROKER_LOG")"
check_eq "every session FR opened ended with its Bye" \
  "$(grep -c 'session closed" node=FR reason="client said Bye"' "$BROKER_LOG")" \
  "$(grep -c 'session opened" node=FR' "$BROKER_LOG")"
if [[ $failed -gt 0 ]]; then
  for name in "${NAMES[@]}"; do show "$T/$name.err" "$name stderr"; done
  show "$BROKER_LOG" "broker stderr"
fi
summary
