#!/usr/bin/env bash
# libasylink: the broker is down while DE's application sends 1,000
# messages; they all arrive at FR once the broker is back. Meanwhile DE's
# log (INFO and up) says once why it has no session, never "session ended"
# (none had opened), and nothing per attempt (those lines are DEBUG).
# Then asylink_sent_state_get() on messages sent with the broker down (end).
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
write_node_ini DE
write_node_ini FR

# [log] level in the node file (asylink_client_open_config) bounds what
# reaches the log callback: "client opened" is INFO.
write_node_ini IT
ct --config "$T/IT.ini" flush --timeout 10 --log-info >/dev/null 2>"$T/it-info.err"
check "without [log] level the callback gets INFO lines" grep -q 'msg="client opened"' "$T/it-info.err"
printf '\n[log]\nlevel = warn\n' >>"$T/IT.ini"
ct --config "$T/IT.ini" flush --timeout 10 --log-info >/dev/null 2>"$T/it-warn.err"
check_eq "with [log] level = warn it opens all the same" "$?" 0
check "... and gets no INFO line" bash -c "! grep -q 'level=info' '$T/it-warn.err'"

DOWN_SINCE=$(date +%s)
ct --config "$T/DE.ini" send --to FR --count 1000 --wait-accepted --ids-out "$T/sent.ids" --timeout 120 \
  --log-info >"$T/de.out" 2>"$T/de.err" &
DE_PID=$!
PIDS+=("$DE_PID")
wait_for "$T/sent.ids" . 30
i=0
while [[ $(lines "$T/sent.ids") -lt 1000 && $i -lt 600 ]]; do sleep 0.1; i=$((i + 1)); done
check_eq "all 1000 sends returned while the broker was down" "$(lines "$T/sent.ids")" 1000
# Down for at least 6 s: the library retries every 0.1 to 3.2 s meanwhile.
while [[ $(($(date +%s) - DOWN_SINCE)) -lt 7 ]]; do sleep 0.2; done
cp "$T/de.err" "$T/de-down.err"
check_eq "DE logged once why it has no session (WARN), though it retried meanwhile" \
  "$(grep -c 'level=warn .*msg="no session with the broker" .*reason="cannot reach broker at' "$T/de-down.err")" 1
check "... not \"session ended\": none had opened" bash -c "! grep -q 'session ended' '$T/de-down.err'"
check_eq "... and no line per attempt at INFO" "$(grep -c 'cannot connect to the broker' "$T/de-down.err")" 0

start_broker || exit 1
wait_pid "$DE_PID" 120
check_eq "DE's outbox drained after the broker came back" "$?" 0
check "DE logged the session it then opened" grep -q 'msg="session opened"' "$T/de.err"
ct --config "$T/FR.ini" recv --count 1000 --ids-out "$T/got.ids" --timeout 120 >/dev/null
check_eq "FR received every message" "$(sort -u "$T/got.ids" | wc -l | tr -d ' ')" 1000
check "exactly the messages DE sent" same_ids "$T/got.ids" "$T/sent.ids"

# asylink_sent_state_get(): what became of a message DE sent, asked by a new client each time (the
# answer is the data directory's). With the broker down DE's messages are PENDING; one purged on
# DE (asylink_purge) before the broker accepted it is REJECTED:PURGED and never sent; once the
# broker is back each is asked right after its event: ACCEPTED, and REJECTED:POLICY for the one to
# the analyst EUAA.ANALYSIS, whom the policy lets receive nothing directly. An id DE never sent
# is NOT_FOUND.
stop_broker
ct --config "$T/DE.ini" send --to IT --count 2 --ids-out "$T/st.ids" --timeout 20 >/dev/null 2>&1
ct --config "$T/DE.ini" send --to EUAA.ANALYSIS --count 1 --ids-out "$T/st.ids" --timeout 20 \
  >/dev/null 2>&1
check_eq "DE sent 3 messages with the broker down" "$(lines "$T/st.ids")" 3
ACC_ID=$(sed -n 1p "$T/st.ids")
PURGED_ID=$(sed -n 2p "$T/st.ids")
POLICY_ID=$(sed -n 3p "$T/st.ids")
UNKNOWN_ID=01900000-0000-7000-8000-00000000abcd
printf '%s PENDING\n%s PENDING\n%s PENDING\n%s NOT_FOUND\n' "$ACC_ID" "$PURGED_ID" "$POLICY_ID" \
  "$UNKNOWN_ID" >"$T/st1.want"
check "sent, not yet accepted: PENDING; never sent: NOT_FOUND" \
  ct --config "$T/DE.ini" state --ids-in "$T/st1.want" --timeout 20
"$ASYLINK" purge --local --config "$T/DE.ini" --id "$PURGED_ID" </dev/null >/dev/null 2>&1
check_eq "DE purged one of them (asylink purge --local)" "$?" 0
printf '%s PENDING\n%s REJECTED:PURGED\n%s PENDING\n' "$ACC_ID" "$PURGED_ID" "$POLICY_ID" \
  >"$T/st2.want"
check "purged before the broker accepted it: REJECTED:PURGED" \
  ct --config "$T/DE.ini" state --ids-in "$T/st2.want" --timeout 20
start_broker || exit 1
printf '%s ACCEPTED\n%s REJECTED:POLICY\n' "$ACC_ID" "$POLICY_ID" >"$T/st3.want"
ct --config "$T/DE.ini" state --ids-in "$T/st3.want" --after-event --timeout 30 >"$T/st3.out" 2>&1
check_eq "right after its event: ACCEPTED, and REJECTED:POLICY for the analyst's" "$?" 0
printf '%s ACCEPTED\n%s REJECTED:PURGED\n%s REJECTED:POLICY\n%s NOT_FOUND\n' "$ACC_ID" \
  "$PURGED_ID" "$POLICY_ID" "$UNKNOWN_ID" >"$T/st4.want"
ct --config "$T/DE.ini" state --ids-in "$T/st4.want" --timeout 20 >"$T/st4.out" 2>&1
check_eq "... the same for the next client on DE's data directory" "$?" 0
if [[ $failed -gt 0 ]]; then
  show "$T/st3.out" "state --after-event"
  show "$T/st4.out" "state"
fi
summary
