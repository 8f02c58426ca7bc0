#!/usr/bin/env bash
# libasylink: the broker is down while DE's application sends 1,000
# messages; they all arrive at FR once the broker is back. Meanwhile DE's
# log (INFO and up) says once why it has no session, never "session ended"
# (none had opened), and nothing per attempt (those lines are DEBUG).
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
summary
