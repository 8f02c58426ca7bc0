#!/usr/bin/env bash
# libasylink: the broker is down while DE's application sends 1,000
# messages; they all arrive at FR once the broker is back.
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
write_node_ini DE
write_node_ini FR

ct --config "$T/DE.ini" send --to FR --count 1000 --wait-accepted --ids-out "$T/sent.ids" --timeout 120 \
  >"$T/de.out" 2>"$T/de.err" &
DE_PID=$!
PIDS+=("$DE_PID")
wait_for "$T/sent.ids" . 30
i=0
while [[ $(lines "$T/sent.ids") -lt 1000 && $i -lt 600 ]]; do sleep 0.1; i=$((i + 1)); done
check_eq "all 1000 sends returned while the broker was down" "$(lines "$T/sent.ids")" 1000

start_broker || exit 1
wait_pid "$DE_PID" 120
check_eq "DE's outbox drained after the broker came back" "$?" 0
ct --config "$T/FR.ini" recv --count 1000 --ids-out "$T/got.ids" --timeout 120 >/dev/null
check_eq "FR received every message" "$(sort -u "$T/got.ids" | wc -l | tr -d ' ')" 1000
check "exactly the messages DE sent" same_ids "$T/got.ids" "$T/sent.ids"
summary
