#!/usr/bin/env bash
# 20-cli-certs.sh — the `asylink` tool's key, CA and certificate commands,
# end to end: keygen, ca init/sign/revoke, cert show/verify, their failure
# codes, exit statuses, JSON output and --help.
#
#   tests/integration/20-cli-certs.sh path/to/asylink
#
# Works in a temporary directory removed on exit. Prints one line per
# check and ends with "N passed, M failed"; exits 1 if any check failed.
source "$(dirname "$0")/cli_check.sh" "$@"

# json_has EXPR: stdout of the last run is JSON for which the Python
# expression EXPR (over d) is true.
json_has() {
  python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if eval(sys.argv[1]) else 1)' \
    "$1" <out
}

mode_of() { stat -c %a "$1"; }

echo "== help and usage"
run --version;                   check "--version prints the version" 0 '^asylink [0-9]+\.[0-9]+\.[0-9]+$'
for cmd in "" "keygen" "ca" "ca init" "ca sign" "ca revoke" "cert" "cert show" "cert verify" \
  "send" "recv" "publish" "subscribe" "status" "receipts" "nodes" "queues" "dlq" "dlq list" \
  "dlq replay" "dlq drop" "reload"; do
  # shellcheck disable=SC2086 # split the command words on purpose
  run $cmd --help;               check "asylink $cmd --help exits 0" 0 'Usage: asylink'
done
run ca sign -h;                  check "-h is --help" 0 'Usage: asylink ca sign'
run help ca revoke;              check "asylink help ca revoke" 0 'Usage: asylink ca revoke'
run;                             check "no command exits 2 with a hint" 2 "Try 'asylink --help'"
run frobnicate;                  check "unknown command exits 2" 2 "unknown command"
run ca frobnicate;               check "unknown subcommand exits 2" 2 "Try 'asylink ca --help'"
run keygen --id DE --name x --roles member_state --bogus
check "unknown option exits 2 with a hint" 2 "Try 'asylink keygen --help'"
run ca init --dir;               check "option without its argument exits 2" 2 "requires an argument"
run ca init --dir x --id X1 --name x --valid-days 12abc
check "non-numeric --valid-days exits 2" 2 "valid-days"
run ca init --dir x --id X1 --name x --valid-days 0
check "--valid-days 0 exits 2" 2 "valid-days"
run ca revoke --dir x --serial -1; check "negative --serial exits 2" 2 "serial"
run keygen --id de --name x --roles member_state
check "invalid node id exits 2" 2 "invalid --id 'de' \(a node id"
run keygen --id DE --name x --roles king; check "unknown role exits 2" 2 "roles"
run cert verify x.cert --trust t --at 2026-02-30; check "impossible --at date exits 2" 2 "invalid --at"
run cert verify --trust t;       check "cert verify without FILE exits 2" 2 "missing FILE"
run ca sign --request x.csr;     check "a missing required option exits 2" 2 "missing --dir CADIR"
run ca revoke --dir x --serial 2 --cert x.cert
check "a rule between options exits 2" 2 "give exactly one of --serial and --cert"
run send --help;                 check "send --help shows the shared --timeout row" 0 \
  "--timeout SECONDS +give up waiting for the broker after SECONDS in all"
run send --help;                 check "send --help lists the old spellings" 0 "--json-output +now --json"
# asylinkd's HTTP listener is IPv4 only (broker/http.c): status must not suggest IPv6.
run status --help;               check "status --help says --http is IPv4 only" 0 "IPv4 only"
check_true "status --help names no IPv6 address" bash -c '! grep -q "::" out'
run status --http '[::1]:7480';  check "status --http with an IPv6 address exits 2" 2 \
  "invalid --http '\[::1\]:7480' \(HOST:PORT with an IPv4 address.*IPv4 only"

echo "== CA and a node"
run ca init --dir ca --id ASYLINK.CA --name "Test federation CA" --valid-days 3650
check "ca init" 0 "ASYLINK.CA"
for f in ca.key ca.cert serial revoked.crl issued.txt; do
  check_true "ca init wrote $f" test -s "ca/$f"
done
check_true "CA directory has mode 700" test "$(mode_of ca)" = 700
check_true "ca.key has mode 600" test "$(mode_of ca/ca.key)" = 600
check_true "serial starts at 2" test "$(cat ca/serial)" = 2
run ca init --dir ca --id ASYLINK.CA --name again; check "ca init refuses an existing CA" 1 "EXISTS"

run keygen --id DE --name "Bundesamt für Migration und Flüchtlinge" --roles member_state --dir keys
check "keygen DE" 0 "DE.key"
check_true "no warning with today's spellings" test ! -s err
check_true "DE.key has mode 600" test "$(mode_of keys/DE.key)" = 600
check_true "DE.csr written" test -s keys/DE.csr
run keygen --id DE --name x --roles member_state --dir keys
check "keygen refuses to overwrite a key" 1 "EXISTS"

echo "== old spellings (accepted for one release, with a warning)"
run keygen --id PL --name x --roles member_state --out old-keys
check "keygen --out DIR still works" 0 "old-keys/PL.key"
check_true "keygen --out DIR wrote the key" test -s old-keys/PL.key
check "keygen --out warns on stderr" 0 \
  "asylink keygen: warning: --out is deprecated and will be removed in the next release; use --dir"
check_true "the warning is on stderr only" bash -c '! grep -q deprecated out'
run keygen --id PL --name x --roles member_state --dir other --out old-keys
check "old and new spelling together: a usage error (DESIGN-CHANGES 53)" 2 \
  "--dir given twice \(counting its old spelling --out\)"
run cert show keys/DE.key;       check "cert show refuses a secret key" 1 "never shows secret keys"
run cert show keys/DE.csr --json
check "cert show of a request" 0
check_true "request JSON has the node id" json_has 'd["kind"] == "request" and d["node_id"] == "DE"'

run ca sign --dir ca --request keys/DE.csr --out missing/nodes/DE.cert
check "ca sign into a directory that does not exist says so" 1 \
  "the directory missing/nodes does not exist .create it first: mkdir -p missing/nodes."
check_true "... and takes no serial" test "$(cat ca/serial)" = 2
run ca sign --dir ca --request keys/DE.csr --out DE.cert
check "ca sign DE" 0 "serial 2"
check_true "serial moved on to 3" test "$(cat ca/serial)" = 3
check_true "issued.txt records serial 2" grep -qE '^2	DE	' ca/issued.txt
run ca sign --dir ca --request keys/DE.csr --out DE.cert
check "ca sign refuses to overwrite a certificate" 1 "EXISTS"
run cert show DE.cert;           check "cert show" 0 "display_name +Bundesamt für Migration"
run cert show DE.cert --json
check_true "cert show --json parses" json_has 'd["node_id"] == "DE" and d["serial"] == 2 and d["roles"] == ["member_state"]'

mkdir -p trust/nodes
cp ca/ca.cert ca/revoked.crl trust/
cp DE.cert trust/nodes/
run cert verify DE.cert --trust trust
check "cert verify of a good certificate" 0 "^OK DE serial 2 valid until "
run cert verify DE.cert --trust trust --json
check "cert verify --json exits 0" 0
check_true "cert verify --json parses, ok true" json_has 'd["ok"] is True and d["certificate"]["node_id"] == "DE"'
run cert verify DE.cert --trust trust --key keys/DE.key
check "cert verify --key with the matching key" 0 "key matches"

echo "== passphrases"
printf 'correct horse battery staple\n' > pass.txt
printf 'wrong\n' > wrong.txt
run keygen --id FR --name "OFPRA" --roles member_state --dir keys --passphrase-file pass.txt
check "keygen FR with a passphrase" 0 "passphrase-protected"
check_true "FR.key has mode 600" test "$(mode_of keys/FR.key)" = 600
run ca sign --dir ca --request keys/FR.csr --out FR.cert; check "ca sign FR" 0
run cert verify FR.cert --trust trust --key keys/FR.key --passphrase-file wrong.txt
check "wrong passphrase is refused" 1 "BAD_PASSPHRASE"
run cert verify FR.cert --trust trust --key keys/FR.key
check "missing passphrase is refused" 1 "PASSPHRASE_REQUIRED"
run cert verify FR.cert --trust trust --key keys/FR.key --passphrase-file pass.txt
check "right passphrase opens the key" 0 "key matches"
run cert verify FR.cert --trust trust --key keys/DE.key
check "another node's key is refused" 1 "WRONG_KEY"
: > empty.txt
run keygen --id IT --name x --roles member_state --dir keys --passphrase-file empty.txt
check "empty passphrase is refused" 1 "empty"
cp keys/DE.key loose.key && chmod 644 loose.key
run cert verify DE.cert --trust trust --key loose.key
check "key readable by others is refused" 1 "KEY_PERMISSIONS"

run ca init --dir ca2 --id ASYLINK.CA --name "Another CA" --passphrase-file pass.txt
check "ca init with a passphrase" 0 "passphrase-protected"
run ca sign --dir ca2 --request keys/FR.csr --out FR-other.cert --passphrase-file wrong.txt
check "ca sign with the wrong CA passphrase fails" 1 "BAD_PASSPHRASE"
ASYLINK_PASSPHRASE='correct horse battery staple' run ca sign --dir ca2 --request keys/FR.csr \
  --out FR-other.cert
check "ca sign with ASYLINK_PASSPHRASE" 0 "serial 2"

echo "== failures"
run cert verify FR-other.cert --trust trust
check "certificate of another CA is refused" 1 "asylink: FR: UNTRUSTED_ISSUER: "
echo "this is not a certificate" > garbage.cert
run cert verify garbage.cert --trust trust; check "garbage file is MALFORMED" 1 "MALFORMED"
run cert show garbage.cert;      check "cert show of garbage is MALFORMED" 1 "MALFORMED"
run cert verify missing.cert --trust trust; check "missing file is NOT_FOUND" 1 "NOT_FOUND"
run cert verify DE.cert --trust no-such-dir; check "missing trust directory fails" 1 "NOT_FOUND"

run keygen --id IT --name "Ministero dell'Interno" --roles member_state --dir keys
run ca sign --dir ca --request keys/IT.csr --out IT.cert --valid-days 30
check "ca sign IT for 30 days" 0
later="$(date -u -d '+60 days' +%Y-%m-%d)"
run cert verify IT.cert --trust trust --at "$later"
check "--at after not_after is CERT_EXPIRED" 1 "IT: CERT_EXPIRED"
run cert verify IT.cert --trust trust --at "${later}T00:00:00Z" --json
check_true "expired --json has code 23" json_has 'd["ok"] is False and d["code"] == 23 and d["error"] == "CERT_EXPIRED"'
run ca sign --dir ca --request keys/IT.csr --out IT-future.cert --not-before "$later"
check "ca sign with --not-before" 0
run cert verify IT-future.cert --trust trust; check "future certificate is CERT_NOT_YET_VALID" 1 "CERT_NOT_YET_VALID"

echo "== revocation"
run ca revoke --dir ca --cert DE.cert --reason "key compromise"
check "ca revoke DE" 0 "revoked.crl"
run cert verify DE.cert --trust trust
check "still OK until the new list is copied" 0 "^OK DE"
cp ca/revoked.crl trust/revoked.crl
run cert verify DE.cert --trust trust; check "revoked certificate exits 1 with REVOKED" 1 "asylink: DE: REVOKED: "
run cert verify DE.cert --trust trust --json
check "revoked --json exits 1" 1
check_true "revoked --json names REVOKED and the reason" \
  json_has 'd["ok"] is False and d["code"] == 22 and d["error"] == "REVOKED" and d["revocation"]["reason"] == "key compromise"'
run ca revoke --dir ca --serial 2; check "revoking twice changes nothing" 0 "already revoked"
run cert show ca/revoked.crl --ca ca/ca.cert --json
check_true "the list holds serial 2 once, number 2" \
  json_has 'd["number"] == 2 and [e["serial"] for e in d["entries"]] == [2]'
run cert show ca/revoked.crl;    check "cert show of a list needs --ca" 1 "--ca"
run ca revoke --dir ca --serial 99; check "revoking a serial never issued fails" 1 "NOT_FOUND"
run ca revoke --dir ca --serial 1;  check "revoking the CA's own serial fails" 1 "CA's own"
run ca revoke --dir ca --cert FR-other.cert; check "revoking another CA's certificate fails" 1 "UNTRUSTED_ISSUER"
run cert verify FR.cert --trust trust; check "other certificates stay valid" 0 "^OK FR"

cli_summary
