#!/usr/bin/env bash
# libasylink feeds: EUAA publishes PUBLIC statistics on stats.monthly.DE;
# the analyst EUAA.ANALYSIS, subscribed to "stats", receives each exactly
# once, also across a restart of its application (half acked before). A
# LIMITED publication on coi.SY is sealed to the readers of the broker's
# Directory (the example policy lets analysts read coi) and the analyst
# decrypts it. PERSONAL is refused by the library before anything is sent.
# A live subscription survives a broker crash (the library re-subscribes).
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
start_broker || exit 1
write_node_ini EUAA
write_node_ini EUAA.ANALYSIS
A="$T/EUAA.ANALYSIS.ini"

ct --config "$T/EUAA.ini" publish --topic stats.monthly.DE --count 10 --wait-accepted \
  --ids-out "$T/pub.ids" --timeout 30 >"$T/pub.out" 2>"$T/pub.err"
check_eq "EUAA published 10 PUBLIC messages, all accepted" "$(field "$T/pub.out" published)" 10

ct --config "$A" subscribe --prefix stats --name stats-feed --count 5 --ids-out "$T/got1.ids" \
  --timeout 30 >"$T/sub1.out" 2>"$T/sub1.err"
err=$(field "$T/sub1.out" subscribe_error)
check_eq "the analyst's subscription to stats is accepted" "${err:-OK}" OK
check_eq "the analyst received (and acked) the first half" "$(lines "$T/got1.ids")" 5

ct --config "$A" subscribe --prefix stats --name stats-feed --count 5 --ids-out "$T/got2.ids" \
  --timeout 30 >"$T/sub2.out" 2>"$T/sub2.err"
check_eq "after a restart it received the other half" "$(lines "$T/got2.ids")" 5
check_eq "nothing was handed over twice" "$(cat "$T/got1.ids" "$T/got2.ids" | sort | uniq -d | wc -l | tr -d ' ')" 0
cat "$T/got1.ids" "$T/got2.ids" >"$T/got.ids"
check "exactly the published messages" same_ids "$T/got.ids" "$T/pub.ids"

ct --config "$T/EUAA.ini" publish --topic stats.monthly.DE --class PERSONAL --count 1 \
  --timeout 10 >"$T/personal.out" 2>&1
rc=$?
check_eq "a PERSONAL publication is refused locally" "$(field "$T/personal.out" publish_error)" CLASSIFICATION
check "publish mode reported the failure" test "$rc" -ne 0

check "no message is delivered again (nor the refused PERSONAL one)" \
  ct --config "$A" subscribe --prefix stats --name stats-feed --count 1 --expect-none --timeout 4

# A subscriber keeps its subscription across a broker crash: the library
# subscribes again after reconnecting, and the broker resumes the cursor.
ct --config "$A" subscribe --prefix stats --name live --start new --count 3 \
  --ids-out "$T/live.ids" --timeout 60 >"$T/live.out" 2>"$T/live.err" &
LIVE_PID=$!
PIDS+=("$LIVE_PID")
check "a second subscription (start new) is open" wait_for "$T/live.out" '^subscribed' 20
kill9_broker
start_broker || exit 1
ct --config "$T/EUAA.ini" publish --topic stats.monthly.FR --count 3 --wait-accepted \
  --ids-out "$T/live-pub.ids" --timeout 30 >/dev/null 2>&1
wait_pid "$LIVE_PID" 60
check_eq "the subscriber got all 3 after the broker crash without subscribing again" "$?" 0
check "exactly those published after the crash" same_ids "$T/live.ids" "$T/live-pub.ids"

ct --config "$T/EUAA.ini" publish --topic coi.SY --class LIMITED --count 2 --wait-accepted \
  --ids-out "$T/lim.ids" --timeout 30 >"$T/lim.out" 2>"$T/lim.err"
err=$(field "$T/lim.out" publish_error)
check_eq "EUAA published 2 LIMITED messages to the topic's readers" "${err:-OK} $(field "$T/lim.out" published)" "OK 2"
ct --config "$A" subscribe --prefix coi --name coi-feed --count 2 --ids-out "$T/got3.ids" \
  --timeout 30 >"$T/sub3.out" 2>"$T/sub3.err"
check_eq "the analyst received and decrypted both LIMITED messages" \
  "$(field "$T/sub3.out" limited) $(field "$T/sub3.out" bad)" "2 0"
check "exactly the LIMITED messages published" same_ids "$T/got3.ids" "$T/lim.ids"

# With the broker down: LIMITED cannot ask for readers, subscribe times out.
stop_broker
ct --config "$T/EUAA.ini" publish --topic coi.SY --class LIMITED --count 1 --timeout 2 \
  >"$T/down.out" 2>&1
check_eq "LIMITED without a session is UNAVAILABLE" "$(field "$T/down.out" publish_error)" UNAVAILABLE
ct --config "$A" subscribe --prefix stats --name stats-feed --count 1 --timeout 2 \
  >"$T/down2.out" 2>&1
check_eq "subscribe without a session gives up after its timeout" \
  "$(field "$T/down2.out" subscribe_error)" UNAVAILABLE

if [[ $failed -gt 0 ]]; then
  show "$T/sub1.out" "analyst stdout"
  show "$T/sub1.err" "analyst stderr"
  show "$T/lim.out" "LIMITED publisher stdout"
  show "$BROKER_LOG" "broker stderr"
fi
summary
