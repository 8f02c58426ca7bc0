#!/usr/bin/env bash
# 27-ops-erasure.sh — erasure at the broker, through real processes:
#   - DE publishes a PUBLIC statistics message whose payload carries a marker
#     (signed only: the marker is in clear in the store); `grep` finds it in
#     the LMDB data file and in an `mdb_copy -c` compaction of it;
#   - `asylink topics` lists the topic with its message, bytes and the
#     analyst's durable subscription and lag;
#   - `asylink purge` erases it: found, one feed entry; after a new
#     compaction the marker is gone from the copy; the PURGED audit record
#     (operator, reason, reference, digest, never the payload) stays and
#     `asylink audit verify` passes (online, and offline on the copy);
#   - a direct message queued for the offline FR and one dead-lettered are
#     purged from the queue and the dead letters; FR never gets the first;
#     a resend of a purged (sender, id) is Rejected PURGED; a purge of an
#     unknown id writes a tombstone that refuses that id later;
#   - four-eyes ([admin] four_eyes = true), with a second operator OPS2:
#     purge is held (pending) and nothing is erased; OPS cannot confirm its
#     own request (POLICY); OPS2 confirms and the message goes; dlq drop is
#     held and cancelled; a dlq replay of LIMITED messages runs at once, of
#     a PERSONAL one is held until OPS2 confirms; a held request lapses
#     (EXPIRED); a purge whose long reason is not ASCII is held with its
#     summary cut on a character boundary, listed and cancelled; every step
#     is in the audit trail, which verifies, and a held request's ADMIN
#     record names what it would erase (the message or the dead letters:
#     a cancelled or lapsed one leaves no other trace; the operator's
#     reason stays out of it and out of the log);
#   - on the nodes (`asylink purge --local`, the library's asylink_purge()):
#     a PUBLIC message DE published while the broker was down is erased from
#     DE's outbox (gone from a compaction of DE's data directory) and never
#     reaches the broker; the analyst's received, not yet acknowledged copy
#     of a PUBLIC message is erased from its inbox and never handed over
#     again; with [node] metadata_retention = 1s a sent message's record and
#     its receipt stay while its envelope is kept as evidence (sent_retention)
#     and are gone when DE next opens its data directory after that too.
#
#   tests/integration/27-ops-erasure.sh ASYLINKD ASYLINK ASYLINK-PEER
source "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v mdb_copy >/dev/null || { echo "27-ops-erasure needs mdb_copy (lmdb-utils)" >&2; exit 1; }
command -v jq >/dev/null || { echo "27-ops-erasure needs jq" >&2; exit 1; }
make_federation || exit 1

# A second operator certificate, for four-eyes.
(cd "$FED" &&
  "$ASYLINK" keygen --id OPS2 --name "second operator" --roles operator --dir keys </dev/null >/dev/null &&
  "$ASYLINK" ca sign --dir ca --request keys/OPS2.csr --out certs/OPS2.cert --valid-days 30 \
    </dev/null >/dev/null && cp certs/OPS2.cert trust/nodes/) || { echo "OPS2 certificate failed" >&2; exit 1; }

PORT=$(free_port)
ADMIN_PORT=$(free_port)
write_broker_ini "$PORT"
sed -i "s|^admin_endpoint =\$|admin_endpoint = tcp://127.0.0.1:$ADMIN_PORT|" "$CONF"
sed -i 's|^\[limits\]$|[limits]\nmax_deliveries = 1|' "$CONF"

# node_ini NODE: $T/NODE.ini, a node configuration (with the admin endpoint for operators).
node_ini() {
  cat >"$T/$1.ini" <<INI
[node]
broker_endpoint = tcp://127.0.0.1:$PORT
broker_cert = $FED/trust/nodes/BROKER.EU.cert
node_cert = $FED/trust/nodes/$1.cert
key_file = $FED/keys/$1.key
trust_dir = $FED/trust
data_dir = $T/node-$1
admin_endpoint = tcp://127.0.0.1:$ADMIN_PORT
INI
}
for n in OPS OPS2 DE EUAA.ANALYSIS; do node_ini "$n"; done
a() { "$ASYLINK" "$@" </dev/null; }
# uuid HEX: 32 hex digits as 8-4-4-4-12.
uuid() { echo "${1:0:8}-${1:8:4}-${1:12:4}-${1:16:4}-${1:20:12}"; }
# compacted NAME: a compacting copy of the (running) broker's store in $T/NAME; prints the data file.
compacted() {
  rm -rf "$T/$1"
  mkdir -p "$T/$1"
  mdb_copy -c "$T/data" "$T/$1" && echo "$T/$1/data.mdb"
}
# count_kind FILE KIND: audit records of KIND in an export.
count_kind() { jq -s "[.[] | select(.type==\"record\" and .kind_name==\"$2\")] | length" "$1"; }

start_broker || exit 1

echo "== a PUBLIC feed message with a marker, in clear in the store"
MARKER="erasure-marker-$RANDOM$RANDOM-c0ffee"
cat >"$T/stats.json" <<JSON
{"reporting_country": "DE", "period": {"year": 2026, "month": 11},
 "rows": [{"citizenship": "SY", "applications_total": 17}],
 "data_provider": "BAMF", "notes": "$MARKER"}
JSON
# The analyst's durable subscription exists before the publish (it reads nothing yet).
peer EUAA.ANALYSIS subscribe --prefix stats --name analyst-1 --start new --count 1 --timeout 2 \
  >"$T/sub0.out" 2>&1
check "the analyst has a durable subscription (nothing to read yet)" \
  grep -q 'event=subscribed name=analyst-1 prefix=stats created=1' "$T/sub0.out"
a publish --config "$T/DE.ini" --topic stats.monthly.DE --type asylink.v1.MonthlyStatistics \
  --payload "$T/stats.json" --timeout 30 --json >"$T/pub.json" 2>"$T/pub.err"
check_eq "DE publishes it (PUBLIC, signed only)" "$(jq -r .state "$T/pub.json")" accepted
FEED_ID=$(jq -r .message_id "$T/pub.json")
check "the marker is in the broker's data file" grep -qa "$MARKER" "$T/data/data.mdb"
F=$(compacted copy-before)
check "and in a compacted copy of it (mdb_copy -c)" grep -qa "$MARKER" "$F"

echo "== topics"
a topics --config "$T/OPS.ini" --json >"$T/topics.json" 2>"$T/topics.err"
check_eq "topics --json exits 0" "$?" 0
check_eq "it lists stats.monthly.DE with one message" \
  "$(jq -c '[.topics[] | select(.topic=="stats.monthly.DE") | .messages]' "$T/topics.json")" "[1]"
check_ge "and its envelope bytes" \
  "$(jq '.topics[] | select(.topic=="stats.monthly.DE") | .size_bytes' "$T/topics.json")" 100
check_eq "and the analyst's subscription with lag 1" \
  "$(jq -c '[.topics[] | select(.topic=="stats.monthly.DE") | .subscriptions[] | [.node_id, .subscription, .lag]]' "$T/topics.json")" \
  '[["EUAA.ANALYSIS","analyst-1",1]]'
check_eq "retention from the policy (90 days)" \
  "$(jq '.topics[] | select(.topic=="stats.monthly.DE") | .retention_ms' "$T/topics.json")" 7776000000
a topics --config "$T/OPS.ini" >"$T/topics.out" 2>&1
check "the human table has the topic" grep -qE '^stats\.monthly\.DE +1 ' "$T/topics.out"
check "and the subscription line" grep -q 'subscription EUAA.ANALYSIS/analyst-1 (prefix stats): lag 1' "$T/topics.out"
a topics --config "$T/OPS.ini" --prefix coi --json >"$T/topics-coi.json" 2>&1
check_eq "--prefix coi: no topics" "$(jq .total "$T/topics-coi.json")" 0
a topics --config "$T/OPS.ini" --prefix "bad prefix" >/dev/null 2>&1
check_eq "a bad --prefix is a usage error" "$?" 2

echo "== purge of the feed message"
a purge --config "$T/OPS.ini" --id "$FEED_ID" --sender DE --reason "erasure request, Art. 17 GDPR" \
  --reference "DPO-2026-0042" --json >"$T/purge1.json" 2>"$T/purge1.err"
check_eq "purge exits 0" "$?" 0
check_eq "found, one feed entry, no queue entries" \
  "$(jq -c '[.found, .topic_entries, (.queue_entries // 0)]' "$T/purge1.json")" "[true,1,0]"
check_ge "bytes removed" "$(jq .bytes_removed "$T/purge1.json")" 100
AUDIT_SEQ=$(jq .audit_seq "$T/purge1.json")
check_ge "the audit record's sequence" "$AUDIT_SEQ" 1
check_ge "a resend is refused until after now + the dedup window (7 d)" \
  "$(jq .tombstone_until_ms "$T/purge1.json")" "$(( ($(date +%s) + 6 * 86400) * 1000 ))"
F=$(compacted copy-after)
check "the marker is gone from a compacted copy" bash -c "! grep -qa '$MARKER' '$F'"
check "the broker log never carries the marker or the reason" \
  bash -c "! grep -qa -e '$MARKER' -e 'Art. 17' '$BROKER_LOG'"
a topics --config "$T/OPS.ini" --json >"$T/topics2.json" 2>&1
check_eq "topics: stats.monthly.DE holds nothing now" \
  "$(jq '[.topics[] | select(.topic=="stats.monthly.DE")] | length' "$T/topics2.json")" 0
peer EUAA.ANALYSIS subscribe --prefix stats --name analyst-1 --count 1 --timeout 3 >"$T/sub1.out" 2>&1
check "the analyst's subscription never gets the purged message" grep -q 'received=0' "$T/sub1.out"

a audit export --config "$T/OPS.ini" --out "$T/export1.jsonl" 2>"$T/export1.err"
jq -c "select(.type==\"record\" and .seq==$AUDIT_SEQ)" "$T/export1.jsonl" >"$T/purged.json"
check_eq "audit record $AUDIT_SEQ is PURGED" "$(jq -r .kind_name "$T/purged.json")" PURGED
check_eq "by the operator OPS" "$(jq -r .actor "$T/purged.json")" OPS
check_eq "about DE's message" "$(jq -r '.sender + " " + .message_uuid' "$T/purged.json")" "DE $FEED_ID"
check "its topic and digest stay" jq -e '.topic=="stats.monthly.DE" and (.envelope_digest|length)==88' "$T/purged.json"
check "its detail holds the counts, the reason and the reference" \
  jq -e '.detail | test("feed=1") and test("Art. 17 GDPR") and test("DPO-2026-0042")' "$T/purged.json"
check "the record never holds the marker" bash -c "! grep -q '$MARKER' '$T/export1.jsonl'"
a audit verify --config "$T/OPS.ini" >"$T/verify1.out" 2>&1
check_eq "audit verify passes after the purge" "$?" 0
a audit verify --data "$T/copy-after" --trust "$FED/trust" >"$T/verify1-off.out" 2>&1
check_eq "and offline on the compacted copy" "$?" 0

echo "== direct messages: queued, dead-lettered, resent"
peer DE send --to FR --count 3 --ids-out "$T/de.ids" --timeout 30 >/dev/null 2>"$T/de-send.err"
check_eq "DE sent 3 messages to the offline FR" "$(lines "$T/de.ids")" 3
Q1=$(sed -n 1p "$T/de.ids")
a purge --config "$T/OPS.ini" --id "$(uuid "$Q1")" --sender DE --reason "sent to the wrong authority" \
  >"$T/purge2.out" 2>"$T/purge2.err"
check_eq "purge of a queued message exits 0" "$?" 0
check "it reports one queue entry removed" grep -q "purged message $(uuid "$Q1") of DE: 1 queue entry," "$T/purge2.out"
a queues --config "$T/OPS.ini" --node FR --json >"$T/q.json" 2>&1
check_eq "FR's queue holds 2" "$(jq '.queues[0].depth' "$T/q.json")" 2
got=$(peer DE send --to FR --count 1 --message-id "$(uuid "$Q1")" --timeout 15 2>/dev/null | tail -n 1)
check "a resend of the purged id is Rejected PURGED" grep -q 'codes=PURGED:1' <<<"$got"
peer FR recv --count 2 --no-ack --ids-out "$T/fr.ids" --timeout 30 >/dev/null 2>"$T/fr.err"
check "FR gets the other two (not acknowledged: dead letters, max_deliveries 1)" \
  bash -c "[[ \$(sort '$T/fr.ids') == \$(sed -n 2,3p '$T/de.ids' | sort) ]]"
total=0
for _ in $(seq 50); do
  a dlq list --config "$T/OPS.ini" --json >"$T/dlq.json" 2>/dev/null
  total=$(jq .total "$T/dlq.json" 2>/dev/null)
  [[ $total == 2 ]] && break
  sleep 0.2
done
check_eq "both are dead letters" "$total" 2
Q2=$(sed -n 2p "$T/de.ids")
a purge --config "$T/OPS.ini" --id "$(uuid "$Q2")" --sender DE --json >"$T/purge3.json" 2>&1
check_eq "purge of a dead letter: one dead letter removed" \
  "$(jq -c '[.found, .dead_letters]' "$T/purge3.json")" "[true,1]"
a dlq list --config "$T/OPS.ini" --json >"$T/dlq2.json" 2>/dev/null
check_eq "one dead letter left" "$(jq .total "$T/dlq2.json")" 1
UNKNOWN=0190aaaa-bbbb-7ccc-8ddd-eeeeffff0001
a purge --config "$T/OPS.ini" --id "$UNKNOWN" --sender IT >"$T/purge4.out" 2>&1
check_eq "purge of a message the broker never had exits 0" "$?" 0
check "and says nothing was stored, but a resend is refused" \
  bash -c "grep -q 'no stored copy' '$T/purge4.out' && grep -q 'refused (PURGED) until' '$T/purge4.out'"
got=$(peer IT send --to FR --count 1 --message-id "$UNKNOWN" --timeout 15 2>/dev/null | tail -n 1)
check "IT's later first send of that id is Rejected PURGED (tombstone)" grep -q 'codes=PURGED:1' <<<"$got"
a purge --config "$T/OPS.ini" --id "$UNKNOWN" >/dev/null 2>"$T/purge-usage.err"
check_eq "purge without --sender is a usage error" "$?" 2
a purge --config "$T/OPS.ini" --id not-a-uuid --sender DE >/dev/null 2>&1
check_eq "purge with a bad --id is a usage error" "$?" 2
a purge --config "$T/DE.ini" --id "$UNKNOWN" --sender DE --timeout 2 >/dev/null 2>&1
check_eq "a member state cannot purge (no admin session)" "$?" 1
stop_broker
check_eq "the broker stops cleanly" "$?" 0

echo "== a node erases a message it has not sent yet (broker down)"
MARK2="outbox-marker-$RANDOM$RANDOM-beef"
sed "s/$MARKER/$MARK2/" "$T/stats.json" >"$T/stats2.json"
a publish --config "$T/DE.ini" --topic stats.monthly.DE --type asylink.v1.MonthlyStatistics \
  --payload "$T/stats2.json" --timeout 2 --json >"$T/pub2.json" 2>"$T/pub2.err"
check_eq "publish with the broker down: stored, not taken (exit 3)" "$?" 3
check "with the broker down, the message stays in DE's outbox" grep -q "stays in this node's outbox" "$T/pub2.err"
OUT_ID=$(jq -r .message_id "$T/pub2.json")
check "its marker is in DE's data file" grep -qa "$MARK2" "$T/node-DE/data.mdb"
a purge --local --config "$T/DE.ini" --id "$OUT_ID" >"$T/lpurge1.out" 2>"$T/lpurge1.err"
check_eq "purge --local exits 0" "$?" 0
check "it erased one copy" grep -q "purged 1 copy of message $OUT_ID on this node" "$T/lpurge1.out"
mkdir -p "$T/de-copy" && mdb_copy -c "$T/node-DE" "$T/de-copy"
check "the marker is gone from a compacted copy of DE's data directory" \
  bash -c "! grep -qa '$MARK2' '$T/de-copy/data.mdb'"
a purge --local --config "$T/DE.ini" --id "$OUT_ID" --json >"$T/lpurge2.json" 2>&1
check_eq "purging it again erases nothing (exit 0)" "$(jq .erased "$T/lpurge2.json")" 0
a purge --local --config "$T/DE.ini" --id "$UNKNOWN" >/dev/null 2>"$T/lpurge3.err"
check "a message the node never had: NOT_FOUND" grep -q 'NOT_FOUND.*never sent nor received' "$T/lpurge3.err"
a purge --local --config "$T/DE.ini" --id "$OUT_ID" --reason x >/dev/null 2>&1
check_eq "--local with --reason is a usage error" "$?" 2

echo "== four-eyes"
# wait_dead_letters N FILE: up to 10 s until the broker lists N dead letters (its answer in FILE).
wait_dead_letters() {
  for _ in $(seq 50); do
    a dlq list --config "$T/OPS.ini" --json >"$2" 2>/dev/null
    [[ $(jq .total "$2" 2>/dev/null) == "$1" ]] && return 0
    sleep 0.2
  done
  return 1
}
sed -i 's|^\[http\]$|[admin]\nfour_eyes = true\nfour_eyes_timeout = 20s\n\n[http]|' "$CONF"
start_broker || exit 1
peer DE send --to FR --count 1 --ids-out "$T/d4.ids" --timeout 30 >/dev/null 2>&1
D4=$(uuid "$(cat "$T/d4.ids")")
a purge --config "$T/OPS.ini" --id "$D4" --sender DE --reason "erasure request" --json \
  >"$T/held.json" 2>"$T/held.err"
check_eq "purge by OPS exits 0" "$?" 0
P=$(jq .pending.id "$T/held.json")
check_ge "and is held as pending $P" "$P" 1
check_eq "asked by OPS" "$(jq -r .pending.operator "$T/held.json")" OPS
check "nothing erased yet" jq -e '(.found // false) == false and (.queue_entries // 0) == 0' "$T/held.json"
a queues --config "$T/OPS.ini" --node FR --json >"$T/q4.json" 2>&1
check_eq "FR's queue still holds it" "$(jq '.queues[0].depth' "$T/q4.json")" 1
a pending list --config "$T/OPS2.ini" >"$T/plist.out" 2>&1
check "OPS2 sees it in pending list" grep -qE "^$P +purge +OPS " "$T/plist.out"
a pending confirm --config "$T/OPS.ini" "$P" >"$T/self.out" 2>"$T/self.err"
check_eq "OPS cannot confirm its own request: exit 1" "$?" 1
check "POLICY, saying another operator must" grep -q 'POLICY.*another operator must' "$T/self.err"
a pending confirm --config "$T/OPS2.ini" "$P" --json >"$T/conf.json" 2>"$T/conf.err"
check_eq "OPS2 confirms it: exit 0" "$?" 0
check_eq "the purge ran: one queue entry" "$(jq -c '[.request.id, .purge.found, .purge.queue_entries]' "$T/conf.json")" "[$P,true,1]"
a queues --config "$T/OPS.ini" --node FR --json >"$T/q5.json" 2>&1
check_eq "FR's queue is empty" "$(jq '.queues[0].depth // 0' "$T/q5.json")" 0
a pending confirm --config "$T/OPS2.ini" "$P" >/dev/null 2>"$T/again.err"
check "a second confirmation finds nothing (NOT_FOUND)" grep -q NOT_FOUND "$T/again.err"

DL=$(jq '.entries[0].id' "$T/dlq2.json")
a dlq drop --config "$T/OPS.ini" "$DL" >"$T/drop.out" 2>&1
check "dlq drop is held" grep -q 'held for four-eyes as pending' "$T/drop.out"
PD=$(sed -n 's/.*as pending \([0-9]*\).*/\1/p' "$T/drop.out")
a pending cancel --config "$T/OPS.ini" "$PD" >"$T/cancel.out" 2>&1
check "its author cancels it" grep -q "cancelled pending $PD (dead_letter_drop asked by OPS)" "$T/cancel.out"
a dlq list --config "$T/OPS.ini" --json >"$T/dlq3.json" 2>/dev/null
check_eq "the dead letter is still there" "$(jq .total "$T/dlq3.json")" 1

a dlq replay --config "$T/OPS.ini" "$DL" >"$T/replay.out" 2>&1
check "a replay of a LIMITED message runs at once" grep -q 'replayed 1 dead letter$' "$T/replay.out"
peer FR recv --count 1 --no-ack --timeout 30 >/dev/null 2>&1
peer DE send --to FR --count 1 --class PERSONAL --ids-out "$T/p.ids" --timeout 30 >/dev/null 2>&1
peer FR recv --count 1 --no-ack --timeout 30 >/dev/null 2>&1
wait_dead_letters 2 "$T/dlq4.json"
check_eq "two dead letters (the replayed one again, and a PERSONAL one)" "$(jq .total "$T/dlq4.json")" 2
peer DE send --to FR --count 1 --class PERSONAL --timeout 30 >/dev/null 2>&1 # queued for FR
a dlq replay --config "$T/OPS.ini" --all --node FR --json >"$T/replay-held.json" 2>&1
PR=$(jq .pending.id "$T/replay-held.json")
check_ge "a replay touching a PERSONAL message is held" "$PR" 1
check "its summary says so" jq -e '.pending.summary | test("every dead letter of FR: 2, 1 PERSONAL")' "$T/replay-held.json"
# A third dead letter while the replay waits: OPS2 approves what the summary showed, not it.
peer FR recv --count 1 --no-ack --timeout 30 >/dev/null 2>&1
wait_dead_letters 3 "$T/dlq5.json"
check_eq "a third dead letter arrives while the replay is held" "$(jq .total "$T/dlq5.json")" 3
a pending confirm --config "$T/OPS2.ini" "$PR" >"$T/conf2.out" 2>&1
check "OPS2 confirms: the two it was shown replayed, the newer one left alone" \
  grep -q 'replayed 2 dead letters (1 dead-lettered after the request: left alone' "$T/conf2.out"
a dlq list --config "$T/OPS.ini" --json >"$T/dlq6.json" 2>/dev/null
check_eq "the newer dead letter is still there" "$(jq .total "$T/dlq6.json")" 1
a dlq drop --config "$T/OPS.ini" --all --node FR --json >"$T/drop-held.json" 2>&1
PX=$(jq .pending.id "$T/drop-held.json")
check "a held drop --all counts what it drops" \
  jq -e '.pending.summary | test("^drop every dead letter of FR: 1, 1 PERSONAL$")' "$T/drop-held.json"
a pending confirm --config "$T/OPS2.ini" "$PX" >"$T/conf3.out" 2>&1
check "OPS2 confirms the drop" grep -q 'dropped 1 dead letter$' "$T/conf3.out"

# A request nobody confirms lapses after 20 s (and is forgotten 20 s later: NOT_FOUND).
a purge --config "$T/OPS.ini" --id "$UNKNOWN" --sender IT --json >"$T/lapse.json" 2>&1
PL=$(jq .pending.id "$T/lapse.json")
sleep 21
a pending list --config "$T/OPS2.ini" --json >"$T/plist2.json" 2>&1
check_eq "a request not confirmed within 20 s is no longer listed" "$(jq '.requests | length' "$T/plist2.json")" 0
a pending confirm --config "$T/OPS2.ini" "$PL" >/dev/null 2>"$T/lapsed.err"
check "its late confirmation is EXPIRED" grep -q 'EXPIRED.*lapsed unconfirmed' "$T/lapsed.err"

# A reason of 120 two-byte characters: the summary is cut at 255 bytes, never inside a character.
LONG=$(printf '\xc3\xa4%.0s' $(seq 120))
a purge --config "$T/OPS.ini" --id "$UNKNOWN" --sender IT --reason "$LONG" --json \
  >"$T/held-utf8.json" 2>"$T/held-utf8.err"
check_eq "a purge with a long non-ASCII reason is held: exit 0" "$?" 0
PU=$(jq .pending.id "$T/held-utf8.json")
check_eq "its summary ends on a whole character" \
  "$(jq '.pending.summary | startswith("purge message") and endswith("\u00e4")' "$T/held-utf8.json")" true
a pending list --config "$T/OPS2.ini" --json >"$T/plist3.json" 2>&1
check_eq "pending list still answers, with it" "$(jq -c '[.requests[].id]' "$T/plist3.json")" "[$PU]"
a pending cancel --config "$T/OPS.ini" "$PU" >"$T/cancel-utf8.out" 2>&1
check "it can be cancelled" grep -q "cancelled pending $PU" "$T/cancel-utf8.out"

a audit export --config "$T/OPS.ini" --out "$T/export2.jsonl" 2>/dev/null
check_eq "PURGED records: feed, queued, dead letter, unknown, four-eyes" "$(count_kind "$T/export2.jsonl" PURGED)" 5
check_eq "the four-eyes purge was done by OPS2, asked by OPS" \
  "$(jq -r "select(.type==\"record\" and .kind_name==\"PURGED\" and .message_uuid==\"$D4\") | .actor" "$T/export2.jsonl")" OPS2
check "its detail names both operators" \
  bash -c "jq -r 'select(.type==\"record\" and .kind_name==\"PURGED\" and .message_uuid==\"$D4\") | .detail' '$T/export2.jsonl' | grep -q 'asked by OPS (certificate [0-9]*) as pending $P, confirmed by OPS2'"
check "the held request is an ADMIN record of OPS" \
  jq -e -s "[.[] | select(.type==\"record\" and .kind_name==\"ADMIN\" and .actor==\"OPS\" and .request==\"purge\" and (.detail|test(\"held as pending $P\")))] | length == 1" "$T/export2.jsonl"
check "and names what was held (the message and its sender)" \
  jq -e -s "[.[] | select(.type==\"record\" and .kind_name==\"ADMIN\" and .request==\"purge\" and (.detail|test(\"^held as pending $P until [^ ]*: purge message $D4 of DE; another operator must confirm it\$\")))] | length == 1" "$T/export2.jsonl"
check "the cancelled dlq drop's ADMIN record names the dead letter it would have dropped" \
  jq -e -s "[.[] | select(.type==\"record\" and .kind_name==\"ADMIN\" and .request==\"dead_letter_drop\" and (.detail|test(\"^held as pending $PD until [^ ]*: drop dead letters $DL of every recipient: 1, [01] PERSONAL; \")))] | length == 1" "$T/export2.jsonl"
check "the lapsed purge's ADMIN record names its message" \
  jq -e -s "[.[] | select(.type==\"record\" and .kind_name==\"ADMIN\" and .request==\"purge\" and (.detail|test(\"^held as pending $PL until [^ ]*: purge message $UNKNOWN of IT; \")))] | length == 1" "$T/export2.jsonl"
check "the operators' reasons are not in the broker's log" \
  test "$(grep -c 'erasure request' "$BROKER_LOG")" -eq 0
check "the refused self-confirmation is an ADMIN record with POLICY" \
  jq -e -s '[.[] | select(.type=="record" and .kind_name=="ADMIN" and .actor=="OPS" and .request=="confirm" and .code=="ERROR_CODE_POLICY")] | length == 1' "$T/export2.jsonl"
check "OPS2's confirmation is an ADMIN record" \
  jq -e -s "[.[] | select(.type==\"record\" and .kind_name==\"ADMIN\" and .actor==\"OPS2\" and .request==\"confirm\" and (.detail|test(\"pending $P\")))] | length == 1" "$T/export2.jsonl"
check_eq "the replays of the confirmed request are OPS2's" \
  "$(jq -s '[.[] | select(.type=="record" and .kind_name=="DLQ_REPLAYED" and .actor=="OPS2")] | length' "$T/export2.jsonl")" 2
a audit verify --config "$T/OPS.ini" >"$T/verify2.out" 2>&1
check_eq "audit verify passes" "$?" 0

echo "== a node erases a received copy"
MARK3="inbox-marker-$RANDOM$RANDOM-cafe"
sed "s/$MARKER/$MARK3/" "$T/stats.json" >"$T/stats3.json"
a publish --config "$T/DE.ini" --topic stats.monthly.DE --type asylink.v1.MonthlyStatistics \
  --payload "$T/stats3.json" --timeout 30 --json >"$T/pub3.json" 2>&1
IN_ID=$(jq -r .message_id "$T/pub3.json")
a subscribe --config "$T/EUAA.ANALYSIS.ini" --prefix stats --subscription local-1 --start earliest \
  --count 1 --idle 20 --no-ack --json >"$T/sub-in.jsonl" 2>"$T/sub-in.err"
check_eq "the analyst receives it without acknowledging it" "$(jq -r .message_id "$T/sub-in.jsonl")" "$IN_ID"
check "its marker is in the analyst's data file" grep -qa "$MARK3" "$T/node-EUAA.ANALYSIS/data.mdb"
a purge --local --config "$T/EUAA.ANALYSIS.ini" --id "$IN_ID" --sender DE >"$T/lpurge4.out" 2>&1
check "purge --local --sender DE erases the received copy" grep -q "purged 1 copy" "$T/lpurge4.out"
mkdir -p "$T/an-copy" && mdb_copy -c "$T/node-EUAA.ANALYSIS" "$T/an-copy"
check "the marker is gone from a compacted copy of the analyst's data directory" \
  bash -c "! grep -qa '$MARK3' '$T/an-copy/data.mdb'"
a subscribe --config "$T/EUAA.ANALYSIS.ini" --prefix stats --subscription local-1 \
  --count 1 --idle 3 --json >"$T/sub-in2.jsonl" 2>/dev/null
check_eq "it is never handed over again" "$(lines "$T/sub-in2.jsonl")" 0
a topics --config "$T/OPS.ini" --json >"$T/topics3.json" 2>&1
check_eq "the broker got DE's later message only: the one purged in DE's outbox never left" \
  "$(jq -c '[.topics[] | select(.topic=="stats.monthly.DE") | .messages]' "$T/topics3.json")" "[1]"
a audit export --config "$T/OPS.ini" --out "$T/export3.jsonl" 2>/dev/null
check_eq "the audit trail has no record of it" \
  "$(jq -s "[.[] | select(.type==\"record\" and .message_uuid==\"$OUT_ID\")] | length" "$T/export3.jsonl")" 0

echo "== retention of the node's metadata"
echo "a note for FR" >"$T/note.txt"
a send --config "$T/DE.ini" --to FR --file "$T/note.txt" --content-type text/plain --wait 30 \
  --json >"$T/send-r.json" 2>"$T/send-r.err"
R_ID=$(jq -r .message_id "$T/send-r.json")
node_ini FR
a recv --config "$T/FR.ini" --idle 5 >/dev/null 2>&1 # everything waiting for FR, acknowledged
a receipts --config "$T/DE.ini" --message "$R_ID" --wait 30 >"$T/rcpt.out" 2>&1
check_eq "DE holds FR's receipt" "$?" 0
echo "metadata_retention = 1s" >>"$T/DE.ini"
sleep 2
a receipts --config "$T/DE.ini" --message "$R_ID" >"$T/rcpt2.out" 2>"$T/rcpt2.err"
check_eq "past metadata_retention, but with its envelope kept as evidence (sent_retention 30d): kept" \
  "$?" 0
a evidence export --config "$T/DE.ini" --message "$R_ID" --out "$T/case.zip" >/dev/null 2>&1
check "its evidence bundle can still be exported" test -s "$T/case.zip"
echo "sent_retention = 1s" >>"$T/DE.ini"
a receipts --config "$T/DE.ini" --message "$R_ID" >"$T/rcpt3.out" 2>"$T/rcpt3.err"
check "once sent_retention has passed too, the record and its receipt are gone (NOT_FOUND)" \
  grep -q NOT_FOUND "$T/rcpt3.err"

stop_broker
check_eq "the broker stops cleanly" "$?" 0
summary
