#!/usr/bin/env bash
# 68-broker-no-memory.sh — a broker that has no memory, for a moment, to
# read a stored message it is about to deliver (asylinkd-failmalloc:
# failmalloc.c fails the router thread's allocations of 512 KiB and more
# once armed) delivers it a little later, and skips nothing: a direct
# message stays in the recipient's walk, a feed message in the
# subscription's (before, the feed's cursor passed it: lost for that
# subscription; the direct one waited for the next session).
#
#   tests/integration/68-broker-no-memory.sh ASYLINKD-FAILMALLOC ASYLINK ASYLINK-PEER
# shellcheck disable=SC2119,SC2154
source "$(dirname "$0")/lib.sh"
lib_init "$@"

make_federation || exit 1
write_broker_ini
export ASYLINK_TEST_FAIL_MALLOC_ARM="$T/arm" ASYLINK_TEST_FAIL_MALLOC_MIN=524288 \
  ASYLINK_TEST_FAIL_MALLOC_THREAD=asylinkd-failma ASYLINK_TEST_FAIL_MALLOC_COUNT=2
start_broker || exit 1
echo "broker at $ENDPOINT"

echo "== stored: 3 direct messages for FR, 3 on coi.SY (600,000 bytes each)"
peer DE send --to FR --count 3 --size 600000 --ids-out "$T/de.ids" --timeout 30 >"$T/de.out" 2>&1
check_eq "DE -> FR: 3 accepted" "$(field "$T/de.out" accepted)" 3
peer EUAA publish --topic coi.SY --count 3 --class PUBLIC --size 600000 --ids-out "$T/pub.ids" \
  --timeout 30 >"$T/pub.out" 2>&1
check_eq "EUAA -> coi.SY: 3 accepted" "$(field "$T/pub.out" accepted)" 3

echo "== direct: the first two reads fail"
touch "$T/arm"
peer FR recv --count 3 --ids-out "$T/fr.ids" --timeout 20 >"$T/fr.out" 2>"$T/fr.err"
check_eq "FR recv exits 0" "$?" 0
check "FR got all 3" same_set "$T/fr.ids" "$T/de.ids"
check_eq "two reads failed on purpose" "$(grep -c 'failmalloc: malloc' "$BROKER_LOG")" 2
stop_broker
rm -f "$T/arm"

echo "== a feed: the first two reads fail (a new broker process: two more)"
start_broker || exit 1
touch "$T/arm"
peer EUAA.ANALYSIS subscribe --prefix coi --name coi-all --count 3 --start earliest \
  --ids-out "$T/sub.ids" --timeout 20 >"$T/sub.out" 2>"$T/sub.err"
check_eq "the analyst's subscribe exits 0" "$?" 0
check "the analyst got all 3" same_set "$T/sub.ids" "$T/pub.ids"
check_eq "two reads failed on purpose" "$(grep -c 'failmalloc: malloc' "$BROKER_LOG")" 2
check "broker survived" kill -0 "$BROKER_PID"
stop_broker; rc=$?
check_eq "broker stops cleanly" "$rc" 0
if [[ $failed -gt 0 ]]; then
  for ((i = 1; i <= BROKER_N; i++)); do show "$T/broker.$i.err" "broker #$i stderr"; done
  for f in "$T"/*.err; do show "$f"; done
fi
summary
