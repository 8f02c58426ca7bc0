#!/usr/bin/env bash
# 05-broker-feeds.sh — topic feeds end to end: EUAA publishes 50 PUBLIC
# messages to coi.SY, then 100 to stats.monthly.DE and 10 LIMITED ones to
# analysis.trends (key wrapped to EUAA.ANALYSIS); the analyst subscribes by
# prefix and gets exactly the matching messages, in order; a durable cursor
# resumes after a disconnect and after a broker crash (kill -9); a NEW
# subscription sees only what is published after it; policy refuses a
# member state publishing to coi, a subscription to a prefix the analyst
# may not read, a PERSONAL envelope on a topic, and EUAA publishing on
# EUAA.ANALYSIS's bound topic (node ids that nest: the longer one's).
#
#   tests/integration/05-broker-feeds.sh ASYLINKD ASYLINK ASYLINK-PEER
#
# Prints one line per check and ends with "N passed, M failed".
# shellcheck disable=SC2119,SC2154 # helpers with optional arguments; PID_<name> set by peer_bg
source "$(dirname "$0")/lib.sh"
lib_init "$@"

make_federation || exit 1
port=$(free_port) || { echo "no free port" >&2; exit 1; }
write_broker_ini "$port"
# A topic bound to its publisher, for node ids that nest (EUAA, EUAA.ANALYSIS).
sed -i 's/^analysis = agency$/&\nnotes.{sender} = agency, analyst/' "$T/policy.ini"
start_broker || exit 1
echo "broker at $ENDPOINT"

# publish NAME TOPIC COUNT CLASS [READERS]: EUAA publishes; ids in $T/NAME.ids.
publish() {
  local name=$1 topic=$2 count=$3 class=$4 readers=${5-}
  local args=(--topic "$topic" --count "$count" --class "$class" --size 200
    --ids-out "$T/$name.ids" --timeout 60)
  [[ -n $readers ]] && args+=(--to "$readers")
  peer EUAA publish "${args[@]}" >"$T/$name.out" 2>"$T/$name.err"
  local rc=$?
  check_eq "publish $name: exits 0" "$rc" 0
  check_eq "publish $name: $count accepted" "$(field "$T/$name.out" accepted)" "$count"
}

# subscribe NAME SUBNAME PREFIX COUNT [ARGS...]: the analyst subscribes; ids in $T/NAME.ids.
subscribe() {
  local name=$1 sub=$2 prefix=$3 count=$4
  shift 4
  peer EUAA.ANALYSIS subscribe --prefix "$prefix" --name "$sub" --count "$count" \
    --ids-out "$T/$name.ids" --timeout 60 "$@" >"$T/$name.out" 2>"$T/$name.err"
}

echo "== EUAA publishes"
publish coi coi.SY 50 PUBLIC
publish stats stats.monthly.DE 100 PUBLIC
publish analysis analysis.trends 10 LIMITED EUAA.ANALYSIS

echo "== the analyst reads by prefix"
subscribe stats_all stats-all stats 100 --start earliest
check_eq "stats: subscribe exits 0" "$?" 0
check_eq "stats: 100 distinct" "$(field "$T/stats_all.out" distinct)" 100
check "stats: exactly the stats messages" same_set "$T/stats_all.ids" "$T/stats.ids"
check_eq "stats: in publication order" "$(field "$T/stats_all.out" out_of_order)" 0
check_eq "stats: no bad deliveries" "$(field "$T/stats_all.out" bad)" 0
check "stats: a new cursor was created" grep -q "event=subscribed name=stats-all prefix=stats created=1" "$T/stats_all.out"

subscribe coi_all coi-all coi 50 --start earliest
check_eq "coi: subscribe exits 0" "$?" 0
check_eq "coi: 50 distinct" "$(field "$T/coi_all.out" distinct)" 50
check "coi: exactly the coi messages" same_set "$T/coi_all.ids" "$T/coi.ids"

subscribe analysis_all analysis-all analysis 10 --start earliest
check_eq "analysis (LIMITED, encrypted): subscribe exits 0" "$?" 0
check_eq "analysis: 10 distinct" "$(field "$T/analysis_all.out" distinct)" 10
check_eq "analysis: every envelope opens" "$(field "$T/analysis_all.out" bad)" 0
check "analysis: exactly the analysis messages" same_set "$T/analysis_all.ids" "$T/analysis.ids"

echo "== resume: ack 40, reconnect, crash the broker, reconnect"
subscribe part1 stats-resume stats 100 --start earliest --exit-after-recv 40 --window 100
check_ge "part 1: received 40" "$(field "$T/part1.out" received)" 40
sleep 0.5
subscribe part2 stats-resume stats 100 --exit-after-recv 30 --window 100
check_ge "part 2: received 30" "$(field "$T/part2.out" received)" 30
check "part 2: resumed the cursor" grep -q "event=subscribed name=stats-resume prefix=stats created=0" "$T/part2.out"
check "part 2: nothing acknowledged in part 1 again" bash -c "! comm -12 <(sort '$T/part1.ids') <(sort '$T/part2.ids') | grep -q ."
sleep 0.5
kill9_broker
start_broker || { fail "broker restarts after kill -9"; summary; }
pass "broker restarts after kill -9"
cat "$T/part1.ids" "$T/part2.ids" | sort -u >"$T/part12.ids"
rest=$((100 - $(lines "$T/part12.ids")))
subscribe part3 stats-resume stats "$rest"
check_eq "part 3: subscribe exits 0" "$?" 0
check "part 3: the cursor survived the crash" grep -q "event=subscribed name=stats-resume prefix=stats created=0" "$T/part3.out"
check "part 3: nothing acknowledged before the crash again" bash -c "! comm -12 <(sort '$T/part12.ids') <(sort '$T/part3.ids') | grep -q ."
cat "$T/part12.ids" "$T/part3.ids" | sort -u >"$T/parts.ids"
check "parts 1-3 together: every stats message" same_set "$T/parts.ids" "$T/stats.ids"

echo "== a NEW subscription sees only what comes after it"
peer_bg newsub EUAA.ANALYSIS subscribe --prefix stats.monthly --name stats-new --start new \
  --count 5 --ids-out "$T/newsub.ids" --timeout 60
wait_for "$T/newsub.out" "event=subscribed" 10 || fail "stats-new: Subscribed"
publish more stats.monthly.DE 5 PUBLIC
wait_pid "$PID_newsub" 30
check_eq "stats-new: exits 0" "$?" 0
check "stats-new: exactly the 5 new messages" same_set "$T/newsub.ids" "$T/more.ids"

echo "== refusals"
peer DE publish --topic coi.SY --count 1 --class PUBLIC --timeout 20 >"$T/de_coi.out" 2>"$T/de_coi.err"
check_eq "DE (member_state) publishing to coi: rejected" "$(field "$T/de_coi.out" rejected)" 1
check_eq "DE publishing to coi: POLICY" "$(field "$T/de_coi.out" codes)" "POLICY:1"
subscribe refused internal-all internal 1
check_eq "subscribing to a prefix the analyst may not read: refused (exit 3)" "$?" 3
check "subscribing to a prefix the analyst may not read: Error POLICY" grep -q "event=sub-error .*code=POLICY" "$T/refused.out"
peer EUAA publish --topic notes.EUAA.ANALYSIS --count 1 --class PUBLIC --timeout 20 >"$T/nest1.out" 2>&1
check_eq "EUAA publishing on notes.EUAA.ANALYSIS (EUAA.ANALYSIS's bound topic): POLICY" \
  "$(field "$T/nest1.out" codes)" "POLICY:1"
peer EUAA.ANALYSIS publish --topic notes.EUAA.ANALYSIS --count 1 --class PUBLIC --timeout 20 >"$T/nest2.out" 2>&1
check_eq "EUAA.ANALYSIS publishing on its own notes.EUAA.ANALYSIS: accepted" "$(field "$T/nest2.out" accepted)" 1
peer EUAA publish --topic notes.EUAA.weekly --count 1 --class PUBLIC --timeout 20 >"$T/nest3.out" 2>&1
check_eq "EUAA publishing on its own notes.EUAA.weekly: accepted" "$(field "$T/nest3.out" accepted)" 1
got=$(peer EUAA hostile --case personal-topic --to EUAA.ANALYSIS --topic coi.SY --timeout 10 2>"$T/personal.err")
check_eq "a PERSONAL envelope on a topic" "$got" "REJECTED CLASSIFICATION"

check "broker survived" kill -0 "$BROKER_PID"
stop_broker; rc=$?
check_eq "broker stops cleanly" "$rc" 0
check "broker logged no error" bash -c "! grep -q 'level=error' '$BROKER_LOG'"
if [[ $failed -gt 0 ]]; then
  for ((i = 1; i <= BROKER_N; i++)); do show "$T/broker.$i.err" "broker #$i stderr"; done
  for f in "$T"/*.err; do show "$f"; done
fi
summary
