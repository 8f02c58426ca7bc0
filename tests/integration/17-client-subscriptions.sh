#!/usr/bin/env bash
# Every durable subscription of a node gets every message under its prefix,
# independently of the node's other subscriptions (issue 9, item 1), and
# the client inbox tells messages apart by (sender, message id), not by the
# id alone (item 2). Through real processes: asylinkd, the asylink CLI (what
# an analyst runs), client_test and asylink-peer.
#
# The three ways the analyst lost messages, on one data directory:
#   fresh data dir      subscription "first" gets 3 of 3, then "second"
#                       must get the same 3 (it got 0, and the broker's
#                       cursor moved past them)
#   old name rerun      after 2 more, "second" again: it must end up with
#                       all 5 exactly once (it got only the newer 2)
#   new name, used inbox "third" (start earliest) must get all 5
# Then: acknowledging through one subscription does not acknowledge the
# other's copy; two subscriptions open in one client at once each get
# every message, also across a broker crash; and two senders using the
# same message id both arrive, are acknowledged one by one (asylink_ack by
# the id alone is AMBIGUOUS while both wait) and both get a receipt.
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
start_broker || exit 1
write_node_ini EUAA
write_node_ini EUAA.ANALYSIS
write_node_ini FR
A="$T/EUAA.ANALYSIS.ini"

# ids FILE.jsonl: the message ids of the JSON lines, one per line.
ids() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    print(json.loads(l)["message_id"])' "$1" 2>/dev/null; }

# sub NAME OUT [ARGS...]: the analyst runs asylink subscribe (JSON lines) to stats.
sub() {
  local name=$1 out=$2
  shift 2
  "$ASYLINK" subscribe --config "$A" --prefix stats --name "$name" "$@" \
    >"$T/$out.jsonl" 2>"$T/$out.err"
  local rc=$?
  ids "$T/$out.jsonl" >"$T/$out.ids"
  return $rc
}

# line_get FILE N EXPR: a Python expression over the N-th JSON line (j) of FILE.
line_get() {
  python3 -c "import json,sys; j=json.loads(open(sys.argv[1]).read().splitlines()[int(sys.argv[2])-1]); print($3)" \
    "$1" "$2" 2>/dev/null
}

# got_receipt NODE: NODE (an asylink-peer, which counts a receipt envelope as
# a delivery it cannot check) gets one delivery: FR's receipt, the only
# thing sent to it.
got_receipt() {
  peer "$1" recv --count 1 --timeout 10 >"$T/receipt-$1.out" 2>/dev/null
  grep -q "received=1 " "$T/receipt-$1.out"
}

# publish COUNT IDS: EUAA publishes COUNT PUBLIC statistics, all accepted.
publish() {
  ct --config "$T/EUAA.ini" publish --topic stats.monthly.DE --count "$1" --wait-accepted \
    --ids-out "$T/$2" --timeout 30 >"$T/$2.out" 2>&1
}

echo "== fresh data directory: two subscriptions over the same topic"
publish 3 pub1.ids
check_eq "EUAA published 3" "$(lines "$T/pub1.ids")" 3
sub first first --count 3 --timeout 20
check_eq "subscription first exits 0" "$?" 0
check "first got the 3 published" same_ids "$T/first.ids" "$T/pub1.ids"
sub second second --count 3 --timeout 20
check_eq "subscription second exits 0" "$?" 0
check_eq "second got 3 messages" "$(lines "$T/second.ids")" 3
check "second got the same 3" same_ids "$T/second.ids" "$T/pub1.ids"

echo "== the old name rerun later"
publish 2 pub2.ids
cat "$T/pub1.ids" "$T/pub2.ids" >"$T/pub.ids"
sub second second2 --timeout 4
check_eq "second again: only what it had not got yet" "$(lines "$T/second2.ids")" 2
cat "$T/second.ids" "$T/second2.ids" >"$T/second-all.ids"
check "second has all 5 now" same_ids "$T/second-all.ids" "$T/pub.ids"
check_eq "second got none of them twice" "$(sort "$T/second-all.ids" | uniq -d | wc -l | tr -d ' ')" 0
sub first first2 --timeout 4
check "first again: exactly the 2 new ones" same_ids "$T/first2.ids" "$T/pub2.ids"
check_eq "(and nothing else)" "$(lines "$T/first2.ids")" 2

echo "== a new name from a used inbox"
sub third third --count 5 --timeout 20
check_eq "third exits 0" "$?" 0
check "third got all 5" same_ids "$T/third.ids" "$T/pub.ids"
check_eq "(5 lines)" "$(lines "$T/third.ids")" 5

echo "== acknowledgements are per subscription"
sub lazy lazy1 --count 5 --timeout 20 --no-ack
check_eq "lazy (not acknowledging) got all 5" "$(lines "$T/lazy1.ids")" 5
sub eager eager --count 5 --timeout 20
check "eager got and acknowledged all 5" same_ids "$T/eager.ids" "$T/pub.ids"
sub lazy lazy2 --count 5 --timeout 20
check "lazy's 5 are still there after eager acknowledged its copies" \
  same_ids "$T/lazy2.ids" "$T/pub.ids"
sub lazy lazy3 --count 1 --timeout 3
check_eq "acknowledged now: lazy gets nothing more (exit 1)" "$?" 1
check_eq "(no line)" "$(lines "$T/lazy3.ids")" 0
sub eager eager2 --count 1 --timeout 3
check_eq "nor does eager" "$(lines "$T/eager2.ids")" 0

echo "== two subscriptions open at once in one client"
ct --config "$A" subscribe --prefix stats --name live-a,live-b --start new --count 8 \
  --ids-out "$T/live.ids" --timeout 60 >"$T/live.out" 2>"$T/live.err" &
LIVE_PID=$!
PIDS+=("$LIVE_PID")
check "both subscriptions are open" wait_for "$T/live.out" '^subscribed' 20
publish 4 pub3.ids
wait_pid "$LIVE_PID" 60
check_eq "the client got 8 deliveries (4 per subscription) and exits 0" "$?" 0
check_eq "live-a got each of the 4" "$(grep -c '^live-a ' "$T/live.ids")" 4
check_eq "live-b got each of the 4" "$(grep -c '^live-b ' "$T/live.ids")" 4
awk '$1 == "live-a" {print $2}' "$T/live.ids" >"$T/live-a.ids"
awk '$1 == "live-b" {print $2}' "$T/live.ids" >"$T/live-b.ids"
check "live-a: exactly the published ones" same_ids "$T/live-a.ids" "$T/pub3.ids"
check "live-b: exactly the published ones" same_ids "$T/live-b.ids" "$T/pub3.ids"

echo "== a broker crash: each subscription resumes where it acknowledged"
ct --config "$A" subscribe --prefix stats --name live-a --count 2 --ids-out "$T/crash-a.ids" \
  --timeout 5 >/dev/null 2>&1
check_eq "live-a: nothing left over" "$(lines "$T/crash-a.ids")" 0
kill9_broker
start_broker || exit 1
publish 2 pub4.ids
ct --config "$A" subscribe --prefix stats --name live-a,live-b --count 4 \
  --ids-out "$T/after.ids" --timeout 30 >"$T/after.out" 2>&1
check_eq "after the crash both subscriptions got the 2 new ones" "$?" 0
check_eq "(2 each)" "$(awk '{print $1}' "$T/after.ids" | sort | uniq -c | awk '{print $1}' | tr '\n' ' ')" "2 2 "

echo "== direct messages: two senders, one message id"
MID=01900000-0000-7000-8000-00000000abcd
peer DE send --to FR --count 1 --message-id "$MID" >"$T/de.out" 2>"$T/de.err"
check_eq "DE's message with id $MID is accepted" "$?" 0
peer IT send --to FR --count 1 --message-id "$MID" >"$T/it.out" 2>"$T/it.err"
check_eq "IT's message with the same id is accepted (the broker keys by sender and id)" "$?" 0
"$ASYLINK" recv --config "$T/FR.ini" --json --count 2 --timeout 20 --no-ack >"$T/fr.jsonl" 2>"$T/fr.err"
check_eq "FR's asylink recv gets 2 messages and exits 0" "$?" 0
check_eq "one from DE and one from IT, both with that id" \
  "$(python3 -c 'import json,sys
print(" ".join(sorted(j["sender"] + ":" + j["message_id"] for j in map(json.loads, open(sys.argv[1])))))' "$T/fr.jsonl")" \
  "DE:$MID IT:$MID"
ct --config "$T/FR.ini" ack --id "$MID" --timeout 10 >"$T/ack1.out" 2>&1
check_eq "asylink_ack by that id alone is AMBIGUOUS (two unacknowledged messages)" \
  "$(field "$T/ack1.out" ack)" AMBIGUOUS
ct --config "$T/FR.ini" ack --id "$MID" --sender IT --timeout 10 >"$T/ack2.out" 2>&1
check_eq "asylink_ack_keys acknowledges IT's" "$(field "$T/ack2.out" ack)" OK
"$ASYLINK" recv --config "$T/FR.ini" --json --count 2 --timeout 3 --no-ack >"$T/fr2.jsonl" 2>"$T/fr2.err"
check_eq "DE's is still there, and only DE's" \
  "$(line_get "$T/fr2.jsonl" 1 'j["sender"]') $(lines "$T/fr2.jsonl")" "DE 1"
ct --config "$T/FR.ini" ack --id "$MID" --timeout 10 >"$T/ack3.out" 2>&1
check_eq "now the id names one unacknowledged message: asylink_ack by id acks DE's" \
  "$(field "$T/ack3.out" ack)" OK
"$ASYLINK" recv --config "$T/FR.ini" --json --count 1 --timeout 3 >"$T/fr3.jsonl" 2>"$T/fr3.err"
check_eq "nothing more for FR" "$(lines "$T/fr3.jsonl")" 0
ct --config "$T/FR.ini" ack --id "$MID" --timeout 10 >"$T/ack5.out" 2>&1
check_eq "acking by that id again is OK" "$(field "$T/ack5.out" ack)" OK
ct --config "$T/FR.ini" ack --id 01900000-0000-7000-8000-00000000ffff --timeout 10 >"$T/ack4.out" 2>&1
check_eq "an id FR never received is NOT_FOUND" "$(field "$T/ack4.out" ack)" NOT_FOUND
check "DE got a receipt for its message" got_receipt DE
check "IT got a receipt for its message" got_receipt IT
peer DE send --to FR --count 1 --message-id "$MID" >"$T/de2.out" 2>&1
check "DE sending that id again is a duplicate at the broker" grep -q "duplicates=1" "$T/de2.out"

if [[ $failed -gt 0 ]]; then
  for f in second.err second2.err third.err lazy2.err live.err live.out fr.err; do
    show "$T/$f"
  done
  show "$BROKER_LOG" "broker stderr"
fi
summary
