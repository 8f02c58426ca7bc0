#!/usr/bin/env bash
# A durable subscription asked for with another topic prefix than the one
# it has is refused with its own code, PREFIX_MISMATCH (80; DESIGN-CHANGES
# 47), by the broker and by the library, and the stored subscription stays
# as it was. Before, the broker resumed the stored prefix and answered
# Subscribed (asylink_subscribe() returned OK): the application, which
# asked for stats.monthly.FR, got nothing of it, and the library refused
# the stats.monthly.DE messages the broker delivered under the name
# (outside the prefix it asked for) and skipped them, so they were lost
# to the subscription for good.
#   1. asylinkd: "trend" created on stats.monthly.DE, asked for with
#      stats.monthly.FR -> PREFIX_MISMATCH (client_test and the CLI), and
#      the DE message waiting for trend still comes under its own prefix;
#   2. one client holding "trend" asks for it with another prefix: refused
#      at once, and the subscription it holds goes on delivering;
#   3. a broker that resumes with the old prefix (asylink-fakebroker,
#      Subscribed naming another prefix): the library refuses it too and
#      closes the subscription in that session (Unsubscribe).
#   46-client-subscription-prefix.sh ASYLINKD ASYLINK PEER CLIENT_TEST FAKEBROKER
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
FAKE="$(cd "$(dirname "$5")" && pwd)/$(basename "$5")"
start_broker || exit 1
write_node_ini EUAA
write_node_ini EUAA.ANALYSIS
A="$T/EUAA.ANALYSIS.ini"

# pub TOPIC COUNT IDS: EUAA publishes COUNT PUBLIC messages on TOPIC, all accepted.
pub() {
  ct --config "$T/EUAA.ini" publish --topic "$1" --count "$2" --wait-accepted \
    --ids-out "$T/$3" --timeout 30 >"$T/$3.out" 2>&1
}

echo "== 1. the broker: trend has stats.monthly.DE, asked for with stats.monthly.FR"
pub stats.monthly.DE 2 de1.ids
ct --config "$A" subscribe --prefix stats.monthly.DE --name trend --count 2 \
  --ids-out "$T/trend1.ids" --timeout 20 >"$T/trend1.out" 2>&1
check "trend created on stats.monthly.DE got its 2" same_ids "$T/trend1.ids" "$T/de1.ids"
pub stats.monthly.DE 1 de2.ids
pub stats.monthly.FR 1 fr1.ids
ct --config "$A" subscribe --prefix stats.monthly.FR --name trend --count 1 \
  --ids-out "$T/trend2.ids" --timeout 8 >"$T/trend2.out" 2>"$T/trend2.err"
check_eq "asylink_subscribe(stats.monthly.FR, trend): exit 1" "$?" 1
check "... PREFIX_MISMATCH" grep -qx "subscribe_error=PREFIX_MISMATCH" "$T/trend2.out"
check_eq "... nothing handed over under that name" "$(lines "$T/trend2.ids")" 0
check "the broker logged the refusal with both prefixes" grep -q \
  'msg="subscribe refused" node=EUAA.ANALYSIS subscription=trend prefix=stats.monthly.FR stored_prefix=stats.monthly.DE code=PREFIX_MISMATCH' \
  "$BROKER_LOG"
"$ASYLINK" subscribe --config "$A" --prefix stats.monthly.FR --subscription trend --idle 5 \
  >"$T/cli.out" 2>"$T/cli.err"
check_eq "asylink subscribe with the other prefix: exit 1" "$?" 1
check "... says what is wrong and what to do" grep -q \
  "^asylink: subscribe: stats.monthly.FR as trend: PREFIX_MISMATCH: the subscription trend exists with another topic prefix" \
  "$T/cli.err"
ct --config "$A" subscribe --prefix stats.monthly.DE --name trend --count 1 \
  --ids-out "$T/trend3.ids" --timeout 20 >"$T/trend3.out" 2>&1
check "trend on its own prefix still gets the DE message that waited for it" \
  same_ids "$T/trend3.ids" "$T/de2.ids"

echo "== 2. one client holds trend and asks for it with another prefix"
ct --config "$A" subscribe --prefix stats.monthly.DE --name trend --also-prefix stats.monthly.FR \
  --count 1 --ids-out "$T/trend4.ids" --timeout 30 >"$T/trend4.out" 2>&1 &
HOLD_PID=$!
PIDS+=("$HOLD_PID")
wait_for "$T/trend4.out" "^resubscribe=" 20
check "refused at once: PREFIX_MISMATCH" grep -qx "resubscribe=PREFIX_MISMATCH" "$T/trend4.out"
pub stats.monthly.DE 1 de3.ids
wait_pid "$HOLD_PID" 30
check_eq "the subscription it holds goes on: exit 0" "$?" 0
check "... with the DE message published after the refusal" same_ids "$T/trend4.ids" "$T/de3.ids"
stop_broker

echo "== 3. a broker that resumes trend with its old prefix"
FPORT=$(free_port)
"$FAKE" --endpoint "tcp://127.0.0.1:$FPORT" --key "$FED/keys/BROKER.EU.key" \
  --subscribed-prefix stats.monthly.DE --run-s 60 >"$T/fake.out" 2>"$T/fake.err" &
FAKE_PID=$!
PIDS+=("$FAKE_PID")
wait_for "$T/fake.out" "event=listening" 10 || { cat "$T/fake.err"; exit 1; }
sed -e "s|^broker_endpoint = .*|broker_endpoint = tcp://127.0.0.1:$FPORT|" \
  -e "s|^data_dir = .*|data_dir = $T/node-fake|" "$A" >"$T/fake-node.ini"
ct --config "$T/fake-node.ini" subscribe --prefix stats.monthly.FR --name trend --count 1 \
  --timeout 5 --log-info >"$T/trend5.out" 2>"$T/trend5.err"
check "Subscribed naming stats.monthly.DE: PREFIX_MISMATCH" \
  grep -qx "subscribe_error=PREFIX_MISMATCH" "$T/trend5.out"
check "... logged with both prefixes" grep -q \
  'msg="subscribe refused" subscription=trend code=PREFIX_MISMATCH prefix=stats.monthly.FR broker_prefix=stats.monthly.DE' \
  "$T/trend5.err"
wait_for "$T/fake.out" "event=unsubscribe name=trend" 5
check "... and closed in that session (Unsubscribe)" grep -q "event=unsubscribe name=trend" "$T/fake.out"
summary
