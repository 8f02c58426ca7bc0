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

# One round: FR receives COUNT (with RECV_ARGS) while DE sends them (with SEND_ARGS); each is
# accepted, handed over exactly once, and its receipt comes back; nothing is handed over again.
round() {
  local n=$1 count=$2 what=$3 send_args=$4 recv_args=$5
  # shellcheck disable=SC2086  # the argument lists are meant to split
  ctw_bg "fr$n" --config "$T/FR.ini" recv --count "$count" $recv_args --ids-out "$T/got$n.ids" \
    --timeout 60
  # shellcheck disable=SC2086
  ctw "de$n" 90 --config "$T/DE.ini" send --to FR --count "$count" $send_args --wait-accepted \
    --ids-out "$T/sent$n.ids" --timeout 60
  check_eq "DE sent $count $what, all accepted" "$?" 0
  ctw_wait "fr$n" 90
  check_eq "FR received and acked $count" "$?" 0
  check_eq "FR handed over $count" "$(field "$T/fr$n.out" received)" "$count"
  check_eq "$count distinct ids sent" "$(sort -u "$T/sent$n.ids" | wc -l | tr -d ' ')" "$count"
  check_eq "each handed over once ($count lines, $count distinct)" \
    "$(lines "$T/got$n.ids")/$(sort -u "$T/got$n.ids" | wc -l | tr -d ' ')" "$count/$count"
  check "the ones DE sent" same_ids "$T/got$n.ids" "$T/sent$n.ids"
  ctw "de${n}r" 90 --config "$T/DE.ini" receipts --ids-in "$T/sent$n.ids" --timeout 60
  check_eq "DE got FR's receipts of all $count" "$(field "$T/de${n}r.out" receipts)" "$count"
  ctw "fr${n}n" 30 --config "$T/FR.ini" recv --count 1 --expect-none --timeout 3
  check_eq "nothing is handed over again" "$?" 0
}

# --- fsync'd stores: FR receives and acks one by one while DE sends 200 from two threads.
round 1 200 "from two threads" "--threads 2" ""

# --- relaxed stores: signed batches of 10 sent, acked 10 at a time (asylink_ack_many).
for id in DE FR; do echo "durability = relaxed" >>"$T/$id.ini"; done
round 2 100 "in batches of 10" "--batch 10" "--ack-batch 10"

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
# ... and closed its sessions with Bye (a close that hung would have been stopped above). Not
# every session's end is named so: when the broker has something to send just as the client says
# Bye and disconnects, its send meets the closed connection first ("peer gone"), and a Bye can
# still be in flight when this looks; so at least one of each node's sessions ended with its Bye.
for id in DE FR; do
  check "a session of $id ended with its Bye" \
    grep -q "session closed\" node=$id reason=\"client said Bye\"" "$BROKER_LOG"
done
if [[ $failed -gt 0 ]]; then
  for name in "${NAMES[@]}"; do show "$T/$name.err" "$name stderr"; done
  show "$BROKER_LOG" "broker stderr"
fi
summary
