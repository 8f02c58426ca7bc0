#!/usr/bin/env bash
# scripts/demo.sh — asylink's main job, end to end, on this machine.
#
# Installs the build dependencies (Debian 12, as root), builds asylink,
# starts the broker on loopback with the example federation in
# certs-example/ (PUBLIC TEST KEYS: never for production), and shows:
#   1. Germany (DE) sends an encrypted, signed Dublin III information
#      request about an applicant to France (FR);
#   2. the broker stores it without being able to read it;
#   3. France receives and acknowledges it (Germany gets a signed receipt)
#      and answers; Germany receives the answer;
#   4. the EU asylum agency (EUAA) publishes monthly asylum statistics on a
#      feed, and an analyst's subscription prints them as CSV; six months of
#      statistics are drawn as trends (examples/analyst/trends.py);
#   5. the operator's status shows the queues.
# After each step one line says what happened and what it proves ("=> ...").
# Colours only on a terminal (and never with NO_COLOR set or TERM=dumb).
# ASYLINKD=<path> and ASYLINK=<path> in the environment use those binaries
# instead of building (the test of this script does so).
# Everything runs in a temporary directory and is stopped at the end.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BUILD_DIR:-$root/build-demo}

# Bold headings and green results on a terminal only: a log file or a pipe
# gets plain text.
if [ -t 1 ] && [ -z "${NO_COLOR-}" ] && [ "${TERM-dumb}" != dumb ]; then
    bold=$(printf '\033[1m') green=$(printf '\033[32m') plain=$(printf '\033[0m')
else
    bold="" green="" plain=""
fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
# proves WHAT-HAPPENED WHAT-IT-PROVES: the one line that sums a step up.
proves() { printf '%s=> %s: %s%s\n' "$green" "$1" "$2" "$plain"; }

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -z "${ASYLINK-}" ]; then
    say "installing Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends build-essential cmake pkg-config \
        libzmq3-dev libsodium-dev libprotobuf-c-dev protobuf-c-compiler liblmdb-dev \
        libinih-dev libjansson-dev libmicrohttpd-dev libcmocka-dev python3-matplotlib >/dev/null
fi

if [ -n "${ASYLINKD-}" ] && [ -n "${ASYLINK-}" ]; then
    : # given by the caller
else
    say "building asylink"
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DASYLINK_TESTS=OFF >/dev/null
    cmake --build "$build" -j"$(nproc)" --target asylinkd asylink >/dev/null
    ASYLINKD="$build/broker/asylinkd"
    ASYLINK="$build/tools/asylink"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/asylink-demo.XXXXXX")
broker_pid=""
cleanup() {
    if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
        kill -TERM "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# The example federation, copied so the demo leaves the tree untouched.
cp -r certs-example/ca certs-example/keys certs-example/trust certs-example/policy.ini "$work/"
chmod 600 "$work"/keys/*.key "$work"/ca/ca.key   # git does not keep modes
cat >"$work/broker.ini" <<EOF
[broker]
node_id = BROKER.EU
cert = trust/nodes/BROKER.EU.cert
key = keys/BROKER.EU.key
trust_dir = trust
data_dir = data
policy = policy.ini
endpoint = tcp://127.0.0.1:*
admin_endpoint =
[http]
listen = 127.0.0.1:0
[log]
level = warn
EOF

say "starting the broker asylinkd (CURVE on loopback, fsync before Accepted)"
"$ASYLINKD" --config "$work/broker.ini" >"$work/broker.out" 2>"$work/broker.log" &
broker_pid=$!
for _ in $(seq 100); do
    grep -q 'listening on' "$work/broker.out" 2>/dev/null && break
    kill -0 "$broker_pid" 2>/dev/null || { cat "$work/broker.log"; exit 1; }
    sleep 0.1
done
endpoint=$(sed -n 's/.*listening on \(tcp:[^ ]*\).*/\1/p' "$work/broker.out")
http=$(sed -n 's/.*http on \([0-9.:]*\).*/\1/p' "$work/broker.out")
[ -n "$endpoint" ] || { echo "asylinkd did not start"; cat "$work/broker.log"; exit 1; }
cat "$work/broker.out"
proves "the broker runs at $endpoint" \
    "it admits only nodes whose CURVE keys the CA certified, and stores before it answers"

node_ini() {
    cat >"$work/$1.ini" <<EOF
[node]
broker_endpoint = $endpoint
broker_cert = trust/nodes/BROKER.EU.cert
node_cert = trust/nodes/$1.cert
key_file = keys/$1.key
trust_dir = trust
data_dir = node-$1
EOF
}
for n in DE FR EUAA EUAA.ANALYSIS; do node_ini "$n"; done

say "1. DE (BAMF) sends an encrypted Dublin III Art. 34 information request to FR (OFPRA)"
"$ASYLINK" send --config "$work/DE.ini" --to FR --type asylink.v1.InformationRequest \
    --payload scripts/demo/information-request.json --wait 30 | tee "$work/send1.out"
request_id=$(head -n 1 "$work/send1.out")
proves "the broker accepted request $request_id" \
    "DE signed it and encrypted it for FR alone; it is on the broker's disk, so DE is done"

say "2. the broker stored it, but only as ciphertext: the applicant reference is nowhere in its store"
if grep -q "BAMF-8842-2026-PSEUDO" "$work"/data/*; then
    echo "the applicant reference appears in the broker's store: this must never happen"; exit 1
fi
echo "grep BAMF-8842-2026-PSEUDO $work/data/*: not found"
proves "the applicant reference is not in the broker's store" \
    "the broker relays personal data it cannot read"

say "3. FR receives, verifies and decrypts it, and acknowledges it (DE gets FR's signed receipt)"
"$ASYLINK" recv --config "$work/FR.ini" --count 1
proves "FR read the request shown above" \
    "its signature is DE's (checked against the CA) and only FR's key opened it"

say "   DE holds FR's signed receipt"
"$ASYLINK" receipts --config "$work/DE.ini" --message "$request_id" --wait 30
mkdir -p "$build" && rm -f "$build/receipt-FR.bin" # kept after the demo, beside trends.png
"$ASYLINK" receipts --config "$work/DE.ini" --message "$request_id" --export FR \
    --out "$build/receipt-FR.bin" >/dev/null
"$ASYLINK" receipts --config "$work/DE.ini" --message "$request_id" --verify "$build/receipt-FR.bin"
proves "FR's receipt verifies (kept in $build/receipt-FR.bin)" \
    "evidence, signed by FR, that FR's system took this very request, and when"

say "   FR answers; DE receives the answer"
"$ASYLINK" send --config "$work/FR.ini" --to DE --type asylink.v1.InformationReply \
    --payload scripts/demo/information-reply.json --wait 30
"$ASYLINK" recv --config "$work/DE.ini" --count 1
proves "DE read FR's reply" "the exchange works both ways, each message signed and sealed"

say "4. EUAA publishes monthly asylum statistics on the feed stats.monthly.DE"
"$ASYLINK" publish --config "$work/EUAA.ini" --topic stats.monthly.DE \
    --type asylink.v1.MonthlyStatistics --payload scripts/demo/monthly-statistics.json

proves "the broker accepted the statistics" "EUAA signed them; the policy let the agency publish there"

say "   the analyst's subscription to 'stats' prints them as CSV (for a spreadsheet, pandas or R)"
"$ASYLINK" subscribe --config "$work/EUAA.ANALYSIS.ini" --prefix stats --subscription demo-analyst \
    --format csv --count 1
proves "the analyst read the feed as CSV" \
    "every row names its source (topic, message id, sender, publication time) and the signature checked"

say "   EUAA publishes six months of DE and FR statistics; the analyst draws the trends"
for f in scripts/demo/stats/*.json; do
    country=$(basename "$f" | cut -d- -f1)
    "$ASYLINK" publish --config "$work/EUAA.ini" --topic "stats.monthly.$country" \
        --type asylink.v1.MonthlyStatistics --payload "$f" >/dev/null
done
echo "published $(ls scripts/demo/stats/*.json | wc -l) monthly statistics (scripts/demo/stats/, demo figures)"
"$ASYLINK" subscribe --config "$work/EUAA.ANALYSIS.ini" --prefix stats.monthly \
    --subscription demo-trends --start earliest --format csv \
    --count $(($(ls scripts/demo/stats/*.json | wc -l) + 1)) >"$work/stats.csv" # and step 4's
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3 # Debian's, which has python3-matplotlib
if "$py" -c "import matplotlib" 2>/dev/null; then
    "$py" examples/analyst/trends.py "$work/stats.csv" --out "$build/trends.png"
    echo "decisions and recognition rates by citizenship: $build/trends.png"
    proves "the analyst drew the trends from the feed" \
        "each figure comes from a release its publisher signed, named in the CSV row"
else
    echo "(python3-matplotlib is not installed: skipping examples/analyst/trends.py)"
    proves "the analyst has the releases as CSV in $work/stats.csv" \
        "each row comes from a release its publisher signed, named in the row"
fi

say "5. IT's system is offline: a request from DE waits for it in the broker's durable queue"
sed 's/"FR"/"IT"/; s/DE-2026-004711/DE-2026-004712/' scripts/demo/information-request.json |
    "$ASYLINK" send --config "$work/DE.ini" --to IT --type asylink.v1.InformationRequest --payload - --wait 30
sleep 2 # the status snapshot is refreshed every second

proves "DE's request to IT is queued" "an offline system loses nothing; it gets its messages when it connects"

say "   the operator's status (also at http://$http/status and /metrics while the demo runs)"
"$ASYLINK" status --http "$http"
proves "the status lists every queue" "operators see what waits for whom without reading any message"

say "stopping the broker"
kill -TERM "$broker_pid"
wait "$broker_pid" && echo "asylinkd stopped cleanly"
broker_pid=""
proves "asylinkd stopped cleanly" "it finished what it had accepted before exiting"
say "demo complete"
