#!/usr/bin/env bash
# 26-ops-http-status.sh — what operators see (issue 13): after real traffic
# (messages waiting for FR, a policy rejection, a durable feed subscription
# that lags), /status.json, /metrics and the /status page show queue depth
# and the age of the oldest message, certificate expiry, feed lag, rejections
# by code and the recent ones, rates and store use; no internal rows
# (broker, operator). Headless Chromium renders /status to a PNG and its DOM
# text is checked. Every metric named in contrib/prometheus/asylink.rules.yml
# and contrib/grafana/asylink.json exists in the live /metrics, and promtool
# accepts the rules.
#
#   tests/integration/26-ops-http-status.sh ASYLINKD ASYLINK ASYLINK-PEER
# shellcheck disable=SC2119,SC2154
source "$(dirname "$0")/lib.sh"
lib_init "$@"

FED_DAYS=30 FED_CA_DAYS=30 make_federation || exit 1 # the broker warns of both ends
write_broker_ini
sed -i 's/^listen =$/listen = 127.0.0.1:0/' "$CONF"
start_broker || exit 1
HTTP=$(sed -n 's/.*http on \([0-9.]*:[0-9]*\).*/\1/p' "$T/broker.$BROKER_N.out" | head -n 1)
echo "broker at $ENDPOINT, http on $HTTP"

echo "== traffic"
peer DE send --to FR --count 20 --ids-out "$T/de.ids" --timeout 30 >"$T/de.out" 2>&1
check_eq "DE -> FR: 20 accepted (FR offline)" "$(field "$T/de.out" accepted)" 20
out=$(peer DE hostile --case policy 2>&1)
check "a publish refused by policy" grep -q POLICY <<<"$out"
peer EUAA publish --topic stats.monthly.DE --count 30 --class PUBLIC --size 100 \
  --ids-out "$T/stats.ids" --timeout 30 >"$T/pub.out" 2>&1
check_eq "EUAA publishes 30 stats" "$(field "$T/pub.out" accepted)" 30
peer EUAA.ANALYSIS subscribe --prefix stats --name trends --start earliest --count 30 \
  --exit-after-recv 10 --ids-out "$T/sub.ids" --timeout 30 >"$T/sub.out" 2>&1
check_ge "the analyst read 10 of 30" "$(field "$T/sub.out" received)" 10
sleep 2.5 # two snapshots

fetch() { python3 -c "import sys,urllib.request; sys.stdout.write(urllib.request.urlopen('http://$HTTP$1', timeout=5).read().decode())"; }
fetch /status.json >"$T/status.json" || fail "GET /status.json"
fetch /metrics >"$T/metrics" || fail "GET /metrics"
fetch /status >"$T/status.html" || fail "GET /status"

echo "== /status.json"
jq_() { python3 -c "import json,sys; d=json.load(open('$T/status.json')); print($1)"; }
check_eq "FR: 20 waiting" "$(jq_ "[n['depth'] for n in d['nodes'] if n['node_id']=='FR'][0]")" 20
check "FR: oldest message time set" test "$(jq_ "[n['oldest_accepted_ms'] for n in d['nodes'] if n['node_id']=='FR'][0]")" -gt 0
check "DE: certificate expiry set" test "$(jq_ "[n['cert_not_after_ms'] for n in d['nodes'] if n['node_id']=='DE'][0]")" -gt 0
check_eq "no internal rows (broker, operator)" \
  "$(jq_ "sorted(n['node_id'] for n in d['nodes'] if n['node_id'] in ('BROKER.EU','OPS'))")" "[]"
check_eq "feed subscription listed with its lag" \
  "$(jq_ "[(f['node_id'],f['subscription'],f['prefix'],f['lag']) for f in d['feeds']]")" \
  "[('EUAA.ANALYSIS', 'trends', 'stats', 20)]"
check_eq "rejections by code" "$(jq_ "d['activity']['rejected_by_code'].get('POLICY')")" 1
check_eq "recent rejection names DE" "$(jq_ "d['activity']['recent_rejections'][0]['node_id']")" DE
check "accepted rate over the last minute > 0" \
  python3 -c "import json; assert json.load(open('$T/status.json'))['activity']['accepted_per_s_1m'] > 0"

echo "== /metrics"
check "oldest-message age for FR" grep -qE '^asylink_queue_oldest_age_seconds\{node="FR"\} [1-9]' "$T/metrics"
check "certificate expiry for DE" grep -qE '^asylink_cert_expiry_seconds\{node="DE"\} [1-9]' "$T/metrics"
check "feed lag" grep -q '^asylink_feed_lag_messages{node="EUAA.ANALYSIS",subscription="trends",prefix="stats"} 20' "$T/metrics"
check "rejections by code" grep -q '^asylink_rejected_total{code="POLICY"} 1' "$T/metrics"
check "commit latency histogram" grep -qE '^asylink_commit_duration_seconds_count [1-9]' "$T/metrics"
check "no internal rows in /metrics" bash -c "! grep -qE 'node=\"(BROKER.EU|OPS)\"' '$T/metrics'"

echo "== the broker's own certificate and the CA's (both end in 30 days)"
left=$(sed -n 's/^asylink_broker_cert_expiry_seconds \([0-9-]*\)$/\1/p' "$T/metrics")
check "broker certificate: 29-30 days left in /metrics ($left s)" \
  test "${left:-0}" -gt $((29 * 86400)) -a "${left:-0}" -le $((30 * 86400))
check "CA certificate: days left in /metrics" grep -qE '^asylink_ca_cert_expiry_seconds [1-9][0-9]+$' "$T/metrics"
check "status.json: the broker certificate's end" test "$(jq_ "d['broker_cert_not_after_ms']")" -gt 0
check "the broker warned that its certificate ends within 30 days" \
  grep -qE "level=warn comp=certwatch msg=\"the broker's certificate expires soon\" node=BROKER.EU .*days_left=29 " "$BROKER_LOG"
check "... and the CA's" grep -qE 'level=warn comp=certwatch msg="the CA certificate expires soon" .*days_left=29 ' "$BROKER_LOG"
check_eq "warned once each" "$(grep -c 'comp=certwatch' "$BROKER_LOG")" 2

echo "== contrib: alert rules and dashboard name real metrics"
RULES="$SOURCE_ROOT/contrib/prometheus/asylink.rules.yml"
DASH="$SOURCE_ROOT/contrib/grafana/asylink.json"
if command -v promtool >/dev/null; then
  check "promtool check rules" promtool check rules "$RULES"
else
  fail "promtool missing (Debian package prometheus; scripts/test.sh installs it)"
fi
missing=$(python3 - "$RULES" "$DASH" "$T/metrics" <<'PY'
import json, re, sys
names = set(re.findall(r"\basylink_[a-z_]+", open(sys.argv[1]).read()))
d = json.load(open(sys.argv[2]))
for p in d["panels"]:
    for t in p.get("targets", []):
        names |= set(re.findall(r"\basylink_[a-z_]+", t["expr"]))
live = set()
for line in open(sys.argv[3]):
    m = re.match(r"# TYPE (asylink_[a-z_]+) (\w+)", line)
    if m:
        live.add(m.group(1))
        if m.group(2) == "histogram":
            live |= {m.group(1) + s for s in ("_bucket", "_sum", "_count")}
print(" ".join(sorted(n for n in names if n not in live)))
PY
)
check_eq "every metric of the rules and the dashboard is exported" "${missing:-none}" none

echo "== /status in headless Chromium"
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $CHROME ]]; then
  fail "chromium missing (Debian package chromium; scripts/test.sh installs it)"
else
  run_chrome() {
    timeout 60 "$CHROME" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
      --no-first-run --user-data-dir="$T/chrome" "$@" "http://$HTTP/status" 2>>"$T/chrome.err"
  }
  run_chrome --window-size=1200,1400 --screenshot="$T/status.png" >/dev/null
  check "screenshot saved" test -s "$T/status.png"
  run_chrome --dump-dom >"$T/dom.html"
  for want in "Nodes and queues" "Feeds and subscriptions" "Recent rejections" "trends" \
              "POLICY" "store use" "Messages per minute, last hour" "<svg"; do
    check "page shows: $want" grep -qF "$want" "$T/dom.html"
  done
  check "page has no internal row" bash -c "! grep -qE '<td>(BROKER.EU|OPS)</td>' '$T/dom.html'"
  check "page shows the certificates' ends" grep -qE "the broker's expires in <b class=\"warn\">29d" "$T/dom.html"
  if [[ -n ${ASYLINK_KEEP_SCREENSHOT-} ]]; then cp "$T/status.png" "$ASYLINK_KEEP_SCREENSHOT"; fi
fi

echo "== the broker's own certificate revoked: an ERROR at the reload, not a day later"
"$ASYLINK" ca revoke --dir "$FED/ca" --cert "$FED/trust/nodes/BROKER.EU.cert" --reason "integration test" \
  </dev/null >"$T/revoke.out" 2>&1
check_eq "asylink ca revoke BROKER.EU" "$?" 0
cp "$FED/ca/revoked.crl" "$FED/trust/revoked.crl"
kill -HUP "$BROKER_PID"
wait_for "$BROKER_LOG" "comp=certwatch msg=\"the broker's certificate is no longer usable" 10
check "ERROR: the broker's certificate is revoked" \
  grep -qE "level=error comp=certwatch msg=\"the broker's certificate is no longer usable.* node=BROKER.EU .*code=REVOKED" "$BROKER_LOG"
summary
