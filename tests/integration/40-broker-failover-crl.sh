#!/usr/bin/env bash
# A takeover with an out-of-date revocation list (DESIGN-CHANGES 46): A is
# active with its own trust directory, B stands by with a copy of it. FR is
# revoked, the new list (number 2) goes into A's trust directory only and A
# is sent SIGHUP: the store records list 2 and keeps its signed bytes. A is
# killed (-9). B takes over although its trust directory still holds
# list 1: it serves with the data directory's list 2 and logs a WARN to
# update revoked.crl. On B, FR gets no session and cannot publish, a
# message to FR is refused (REVOKED), DE -> IT goes through. A SIGHUP to B
# with the old list still in place reloads with the stored list (FR stays
# out); once B's trust directory has list 2, the WARN is gone. A restart
# with the older list on a store whose copy of the list does not verify
# (overwritten with mdb_load) is still refused (STALE).
source "$(dirname "$0")/lib.sh"
lib_init "$@"
make_federation || exit 1
write_broker_ini
command -v mdb_load >/dev/null || { echo "40-broker-failover-crl needs mdb_load (lmdb-utils)" >&2; exit 1; }

cp -R "$FED/trust" "$T/trust-b" # B's own copy, list 1 as issued by 'asylink ca init'
cp "$FED/trust/revoked.crl" "$T/list1.crl"
sed -e "s|^endpoint = .*|endpoint = tcp://127.0.0.1:$(free_port)|" "$CONF" >"$T/A.ini"
sed -e "s|^endpoint = .*|endpoint = tcp://127.0.0.1:$(free_port)|" \
  -e "s|^trust_dir = .*|trust_dir = $T/trust-b|" "$CONF" >"$T/B.ini"

# as_b NODE MODE ARGS...: asylink-peer against B, sealing with B's (older) trust directory.
as_b() {
  local node=$1 mode=$2
  shift 2
  ENDPOINT=$(endpoint_of B) peer "$node" "$mode" --trust "$T/trust-b" "$@"
}

start_named A
wait_for "$T/A.out" 'listening on' 10 || { show "$T/A.err"; exit 1; }
start_named B --standby
check "B stands by" wait_for "$T/B.out" 'standing by for ' 10

echo "== FR revoked on A only (SIGHUP)"
"$ASYLINK" ca revoke --dir "$FED/ca" --cert "$FED/trust/nodes/FR.cert" --reason "integration test" \
  </dev/null >"$T/revoke.out" 2>&1
check_eq "asylink ca revoke FR" "$?" 0
cp "$FED/ca/revoked.crl" "$FED/trust/revoked.crl"
kill -HUP "$PID_A"
check "A reloaded" wait_for "$T/A.err" 'msg="trust and policy reloaded"' 10
ENDPOINT=$(endpoint_of A)
check_eq "A refuses FR" "$(peer FR connect-only --timeout 3 2>/dev/null)" NO_ANSWER
check "B's trust directory still has the older list" \
  bash -c "! cmp -s '$FED/trust/revoked.crl' '$T/trust-b/revoked.crl'"

echo "== A killed: B takes over with the older revoked.crl"
kill -KILL "$PID_A"
wait "$PID_A" 2>/dev/null
check "B takes over and serves" wait_for "$T/B.out" 'listening on ' 15
check "B still runs" kill -0 "$PID_B"
check "B warns that its revoked.crl is older than the data directory's" \
  grep -q "level=warn .*revoked.crl is older than the revocation list in the data directory.* trust_dir_crl=1 data_dir_crl=2" "$T/B.err"
check "  and did not refuse the trust directory" bash -c "! grep -q 'refusing the trust directory' '$T/B.err'"
check_eq "FR gets no session on B" "$(as_b FR connect-only --timeout 3 2>/dev/null)" NO_ANSWER
as_b FR send --to DE --count 1 --timeout 5 >"$T/fr-send.out" 2>"$T/fr-send.err"
check_eq "FR cannot publish through B (exit 1)" "$?" 1
check "  no Welcome for FR" bash -c "! grep -q 'event=welcome' '$T/fr-send.out'"
as_b DE send --to FR --count 1 --timeout 10 >"$T/to-fr.out" 2>&1
check_eq "a message to FR is refused by B" "$(field "$T/to-fr.out" codes)" "REVOKED:1"
as_b DE send --to IT --count 3 --timeout 10 >"$T/de-it.out" 2>&1
check_eq "DE -> IT through B: sent" "$?" 0
check_eq "  all 3 accepted" "$(field "$T/de-it.out" accepted)" 3
as_b IT recv --count 3 --timeout 10 >"$T/it.out" 2>&1
check_eq "  IT receives them" "$(field "$T/it.out" distinct)" 3
check_eq "DE still gets a Welcome" "$(as_b DE connect-only --timeout 5 2>/dev/null)" WELCOME

echo "== SIGHUP to B, its revoked.crl still older"
warns=$(grep -c 'revoked.crl is older than' "$T/B.err")
kill -HUP "$PID_B"
check "B reloads" wait_for "$T/B.err" 'msg="trust and policy reloaded"' 10
check "  with the data directory's list, warning again" \
  bash -c "[ \$(grep -c 'revoked.crl is older than' '$T/B.err') -gt $warns ]"
check_eq "FR still gets no session" "$(as_b FR connect-only --timeout 3 2>/dev/null)" NO_ANSWER
cp "$FED/trust/revoked.crl" "$T/trust-b/revoked.crl"
warns=$(grep -c 'revoked.crl is older than' "$T/B.err")
reloads=$(grep -c 'msg="trust and policy reloaded"' "$T/B.err")
kill -HUP "$PID_B"
for ((i = 0; i < 100; i++)); do
  [[ $(grep -c 'msg="trust and policy reloaded"' "$T/B.err") -gt $reloads ]] && break
  sleep 0.1
done
check "B reloads with the current list and no warning" \
  bash -c "[ \$(grep -c 'revoked.crl is older than' '$T/B.err') -eq $warns ] && [ \$(grep -c 'msg=\"trust and policy reloaded\"' '$T/B.err') -gt $reloads ]"
kill -TERM "$PID_B"
wait_pid "$PID_B" 15
check_eq "B stops cleanly" "$?" 0

echo "== a copy in the store that does not verify is refused (STALE), as before"
cp "$T/list1.crl" "$T/trust-b/revoked.crl"
printf 'crl\nnot a signed list\n' | mdb_load -T -s meta "$T/data" >"$T/mdb_load.out" 2>&1
check_eq "the store's copy overwritten (mdb_load)" "$?" 0
timeout 20 "$ASYLINKD" --config "$T/B.ini" >"$T/stale.out" 2>"$T/stale.err" </dev/null
check_eq "B started with the older list exits 1" "$?" 1
check "  refusing the trust directory: STALE, the copy not usable" \
  grep -q 'msg="refusing the trust directory" code=STALE .*older than number 2 .*not usable' "$T/stale.err"
check "  and serves nothing" bash -c "! grep -q 'listening on' '$T/stale.out'"
if [[ $failed -gt 0 ]]; then
  for f in A B stale fr-send; do show "$T/$f.err"; done
fi
summary
