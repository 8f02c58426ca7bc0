#!/usr/bin/env bash
# 65-cli-csv-undecodable.sh — `asylink subscribe --format csv` and a feed
# message of a known type whose payload does not decode (DESIGN-CHANGES
# 53): EUAA publishes one good MonthlyStatistics, one whose string field is
# not UTF-8 and one truncated (`publish --file`, raw bytes). The CSV has
# the good message's rows only, never a row of zeros or of shifted
# columns under the statistics header; subscribe exits 1 with MALFORMED,
# naming the message, and leaves it unacknowledged; `--format jsonl` shows
# both as base64 with payload_error MALFORMED (not NOMEM), acknowledges
# them, and the CSV subscription then goes on.
#
#   tests/integration/65-cli-csv-undecodable.sh ASYLINKD ASYLINK ASYLINK-PEER CLIENT_TEST
# shellcheck disable=SC2154
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
start_broker || exit 1
write_node_ini EUAA
write_node_ini EUAA.ANALYSIS
STATS="$SOURCE_ROOT/scripts/demo/stats"
good=$(ls "$STATS"/DE-*.json | head -1)

pub() {
  "$ASYLINK" publish --config "$T/EUAA.ini" --topic stats.monthly.DE \
    --type asylink.v1.MonthlyStatistics "$@" >>"$T/publish.out" 2>>"$T/publish.err"
}

echo "== EUAA publishes a good, a non-UTF-8 and a truncated MonthlyStatistics"
pub --payload "$good"
check_eq "good one published" "$?" 0
printf '\x0a\x03\xff\xfe\xfd' >"$T/not-utf8.bin" # reporting_country = ff fe fd
pub --file "$T/not-utf8.bin"
check_eq "non-UTF-8 one published" "$?" 0
printf '\x0a\x09DE' >"$T/truncated.bin" # a string of 9 bytes holding 2
pub --file "$T/truncated.bin"
check_eq "truncated one published" "$?" 0
bad1=$(sed -n 2p "$T/publish.out")
good2_rows=$(grep -c '"citizenship"' "$good")

echo "== the CSV holds the good rows only, and subscribe says why it stopped"
"$ASYLINK" subscribe --config "$T/EUAA.ANALYSIS.ini" --prefix stats --subscription csv \
  --format csv --count 3 --idle 10 >"$T/a.csv" 2>"$T/a.err"
check_eq "subscribe exits 1" "$?" 1
check "MALFORMED names the message, sender, topic and type" grep -q \
  "asylink: subscribe: MALFORMED: message $bad1 from EUAA on stats.monthly.DE does not decode as asylink.v1.MonthlyStatistics" \
  "$T/a.err"
check_eq "one header and the good message's rows" "$(wc -l <"$T/a.csv")" "$((good2_rows + 1))"
check_eq "every row is a DE row with a year" "$(grep -cE '^DE,20[0-9]{2},' "$T/a.csv")" "$good2_rows"
check "no row of another shape (shifted columns: topic first)" \
  bash -c "! grep -q '^stats\.' '$T/a.csv'"
check "every row has as many cells as the header" python3 - "$T/a.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
assert len({len(r) for r in rows}) == 1, {len(r) for r in rows}
PY
"$ASYLINK" subscribe --config "$T/EUAA.ANALYSIS.ini" --prefix stats --subscription csv \
  --format csv --count 1 --idle 8 >"$T/b.csv" 2>"$T/b.err"
check_eq "again: exit 1, the message was not acknowledged" "$?" 1
check "the same message again" grep -q "message $bad1 from EUAA" "$T/b.err"

echo "== jsonl shows both, MALFORMED, and acknowledges them"
"$ASYLINK" subscribe --config "$T/EUAA.ANALYSIS.ini" --prefix stats --subscription csv \
  --format jsonl --count 2 --idle 10 >"$T/c.jsonl" 2>"$T/c.err"
check_eq "subscribe --format jsonl exits 0" "$?" 0
check "both as base64 with payload_error MALFORMED" python3 - "$T/c.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 2, len(lines)
for m in lines:
    assert m["payload_encoding"] == "base64", m
    assert m["payload_error"] == "MALFORMED", m["payload_error"]
PY
pub --payload "$good"
"$ASYLINK" subscribe --config "$T/EUAA.ANALYSIS.ini" --prefix stats --subscription csv \
  --format csv --count 1 --idle 10 >"$T/d.csv" 2>"$T/d.err"
check_eq "then the CSV subscription goes on (exit 0)" "$?" 0
check_eq "with the next good message's rows" "$(grep -cE '^DE,20[0-9]{2},' "$T/d.csv")" "$good2_rows"
summary
