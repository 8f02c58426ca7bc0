#!/usr/bin/env bash
# 23-cli-analyst-trends.sh — the analyst's example (issue 13): EUAA publishes
# six months of statistics for DE and FR (scripts/demo/stats/*.json, the
# demo's feed), the analyst's durable subscription prints them as CSV, and
# examples/analyst/trends.py draws decisions and recognition rates by
# citizenship into a PNG; the PNG is checked (signature, size, dimensions)
# and the figures the script computed are checked against the JSON sources.
#
#   tests/integration/23-cli-analyst-trends.sh ASYLINKD ASYLINK ASYLINK-PEER CLIENT_TEST
# shellcheck disable=SC2154
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
start_broker || exit 1
write_node_ini EUAA
write_node_ini EUAA.ANALYSIS
STATS="$SOURCE_ROOT/scripts/demo/stats"
TRENDS="$SOURCE_ROOT/examples/analyst/trends.py"
# matplotlib comes from Debian (python3-matplotlib): use Debian's interpreter
# when another python3 (pyenv, a venv) comes first on PATH.
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3

echo "== EUAA publishes 12 monthly statistics"
n=0
for f in "$STATS"/*.json; do
  c=$(basename "$f" | cut -d- -f1)
  "$ASYLINK" publish --config "$T/EUAA.ini" --topic "stats.monthly.$c" \
    --type asylink.v1.MonthlyStatistics --payload "$f" >>"$T/publish.out" 2>&1 && n=$((n + 1))
done
check_eq "12 published" "$n" 12

echo "== the analyst's subscription as CSV"
"$ASYLINK" subscribe --config "$T/EUAA.ANALYSIS.ini" --prefix stats --subscription trends \
  --start earliest --format csv --count 12 --idle 20 >"$T/stats.csv" 2>"$T/subscribe.err"
check_eq "subscribe exits 0" "$?" 0
check_eq "48 citizenship rows (12 messages x 4 citizenships)" \
  "$(grep -cE '^(DE|FR),2026,' "$T/stats.csv")" 48

echo "== trends.py"
if ! "$PY" -c "import matplotlib" 2>/dev/null; then
  fail "matplotlib missing (Debian package python3-matplotlib; scripts/test.sh installs it)"
  summary
fi
"$PY" "$TRENDS" "$T/stats.csv" --out "$T/trends.png" >"$T/trends.out" 2>&1
check_eq "trends.py exits 0" "$?" 0
cat "$T/trends.out"
check "reports 6 citizenships over 6 months" grep -q '6 citizenships, 6 months' "$T/trends.out"
check "PNG written" test -s "$T/trends.png"
check "PNG signature and 1000x800 pixels" python3 - "$T/trends.png" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", d[16:24])
assert (w, h) == (1000, 800), (w, h)
assert len(d) > 20000, len(d)
PY
check "recognition rates match the JSON sources" python3 - "$STATS" "$T/stats.csv" "$TRENDS" <<'PY'
import glob, importlib.util, json, sys
spec = importlib.util.spec_from_file_location("trends", sys.argv[3])
t = importlib.util.module_from_spec(spec); spec.loader.exec_module(t)
table = t.aggregate(t.read_rows(open(sys.argv[2], newline="")))
want = {}
for f in glob.glob(sys.argv[1] + "/*.json"):
    d = json.load(open(f))
    ym = (d["period"]["year"], d["period"]["month"])
    for r in d["rows"]:
        x = r["decisions"]
        cell = want.setdefault((r["citizenship"], ym), [0, 0, 0])
        cell[0] += x["total"]
        cell[1] += x["refugee_status"] + x["subsidiary_protection"] + x["humanitarian"]
        cell[2] += x["rejected"]
got = {(c, m): list(v) for c, per in table.items() for m, v in per.items()}
assert got == want, (len(got), len(want))
PY
check "an empty feed is an error (exit 1)" bash -c "! '$PY' '$TRENDS' /dev/null --out '$T/none.png'"
summary
