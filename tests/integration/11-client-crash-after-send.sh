#!/usr/bin/env bash
# libasylink: a message survives the sending application being killed (-9)
# right after asylink_send() returned, and reaches its recipient once the
# application runs again.
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
start_broker || exit 1
write_node_ini DE
write_node_ini FR

ct --config "$T/DE.ini" send --to FR --count 1 --crash-after-send --ids-out "$T/sent.ids" --timeout 30 >/dev/null 2>&1
rc=$?
check_eq "DE was killed right after asylink_send returned" "$rc" 137
check "asylink_send returned a message id before the kill" test "$(lines "$T/sent.ids")" = 1

check "DE restarted: its outbox drains" ct --config "$T/DE.ini" flush --timeout 30
ct --config "$T/FR.ini" recv --count 1 --ids-out "$T/got.ids" --timeout 30 >/dev/null
check "FR received the message sent before the kill" same_ids "$T/got.ids" "$T/sent.ids"

# The same for a batch: killed right after asylink_send_many() returned for
# 50 messages, all 50 arrive once DE runs again.
ct --config "$T/DE.ini" send --to FR --count 50 --batch 50 --crash-after-send \
  --ids-out "$T/batch.ids" --timeout 30 >/dev/null 2>&1
rc=$?
check_eq "DE was killed right after asylink_send_many returned" "$rc" 137
check_eq "asylink_send_many returned 50 message ids before the kill" "$(lines "$T/batch.ids")" 50
check "DE restarted: its outbox drains" ct --config "$T/DE.ini" flush --timeout 30
ct --config "$T/FR.ini" recv --count 50 --ack-batch 10 --ids-out "$T/got-batch.ids" --timeout 30 >/dev/null
check "FR received all 50 of the batch" same_ids "$T/got-batch.ids" "$T/batch.ids"
summary
