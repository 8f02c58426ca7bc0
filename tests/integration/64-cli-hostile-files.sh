#!/usr/bin/env bash
# 64-cli-hostile-files.sh — the `asylink` key and CA commands against
# hostile files and arguments (a review of the command line, DESIGN-CHANGES
# 53): `keygen --force` keeps the old key until the new one is written;
# `ca sign --out` never writes over the CA's own files; a FIFO, a directory
# or a device given as a file is refused at once, saying what it is; a
# revocation reason that is not UTF-8 and a display name with a line break
# are usage errors; an option given twice is a usage error, and a bad value
# is quoted on one line.
#
#   tests/integration/64-cli-hostile-files.sh path/to/asylink
#
# Works in a temporary directory removed on exit; every command runs under
# `timeout`. Prints one line per check, ends with "N passed, M failed".
source "$(dirname "$0")/cli_check.sh" "$@"

digest() { cat "$@" | sha256sum | cut -d' ' -f1; }

run ca init --dir ca --id ASYLINK.CA --name "Federation CA"
check "ca init" 0
run keygen --id DE --name "Bundesamt" --roles member_state --dir keys
check "keygen DE" 0
run keygen --id FR --name "OFPRA" --roles member_state --dir keys
check "keygen FR" 0
mkdir -p trust/nodes
cp ca/ca.cert ca/revoked.crl trust/

echo "== keygen --force keeps the old key until the new one is written"
old=$(digest keys/DE.key keys/DE.csr)
run keygen --id DE --name "Bundesamt" --roles member_state --dir keys --force \
  --passphrase-file "$tmp/no-such-file"
check "a missing passphrase file fails (exit 1)" 1 'passphrase file .*no-such-file: NOT_FOUND'
check_eq "DE.key and DE.csr are still the old ones" "$(digest keys/DE.key keys/DE.csr)" "$old"
printf 'a\nb' >name.txt
run keygen --id DE --name "$(cat name.txt)" --roles member_state --dir keys --force
check "a display name with a line break is a usage error (exit 2)" 2 \
  "invalid --name 'a\\\\x0ab' \(one line of UTF-8 text"
check_eq "DE.key and DE.csr are still the old ones" "$(digest keys/DE.key keys/DE.csr)" "$old"
run keygen --id DE --name "Bundesamt" --roles member_state --dir keys --force
check "keygen --force replaces them" 0 'DE.key  secret key, mode 0600'
if [[ "$(digest keys/DE.key keys/DE.csr)" != "$old" ]]; then pass "new key and request"; else fail "new key and request"; fi
check_eq "the new key is mode 0600" "$(stat -c %a keys/DE.key)" 600
check_eq "no temporary files left" "$(ls keys | tr '\n' ' ')" "DE.csr DE.key FR.csr FR.key "
run keygen --id DE --name "Bundesamt" --roles member_state --dir keys
check "without --force an existing key is refused" 1 'DE.key \(use --force to replace it\): EXISTS'

echo "== ca sign --out never writes over the CA's own files"
ca_before=$(digest ca/ca.key ca/ca.cert ca/serial ca/revoked.crl ca/issued.txt)
for f in ca.key ca.cert serial revoked.crl issued.txt; do
  run ca sign --dir ca --request keys/FR.csr --out "ca/../ca/$f" --force
  check "--out CADIR/$f --force is refused (exit 1)" 1 "EXISTS: this is the CA's own $f"
done
ln -s ca ca-link
run ca sign --dir ca --request keys/FR.csr --out ca-link/ca.key --force
check "... also through a symbolic link to the CA directory" 1 "EXISTS: this is the CA's own ca.key"
check_eq "the CA's files are unchanged" \
  "$(digest ca/ca.key ca/ca.cert ca/serial ca/revoked.crl ca/issued.txt)" "$ca_before"
run ca sign --dir ca --request keys/FR.csr --out "$(printf 'x/%.0s' {1..2100})FR.cert"
check "an --out longer than PATH_MAX is refused, not cut" 1 '--out: path too long'
run ca sign --dir ca --request keys/FR.csr --out "$(printf 'FR.cert\n99\tXX\t2099-01-01T00:00:00Z\tfake.cert')"
check "an --out with a line break is refused (issued.txt keeps one line per certificate)" 1 \
  '--out: the path holds a control character'
run ca sign --dir ca --request keys/FR.csr --out trust/nodes/FR.cert
check "then FR gets serial 2: no serial was used up" 0 'serial 2,'
run ca sign --dir ca --request keys/DE.csr --out trust/nodes/DE.cert
check "DE gets serial 3" 0 'serial 3,'

echo "== a FIFO, a directory or a device is refused at once"
mkfifo pipe.cert
run cert show pipe.cert
check "cert show FIFO: exit 1 at once, not a wait for a writer" 1 \
  'pipe.cert: IO: a FIFO \(named pipe\), not a regular file'
run ca sign --dir ca --request pipe.cert --out x.cert
check "ca sign --request FIFO" 1 'pipe.cert: IO: a FIFO'
mkfifo trust/nodes/XX.cert
run cert verify trust/nodes/DE.cert --trust trust
check "cert verify with a FIFO in trust/nodes/ answers" 0 '^OK DE serial 3'
rm trust/nodes/XX.cert
run cert show ca
check "cert show DIRECTORY" 1 'ca: IO: a directory, not a file'
run cert show /dev/null
check "cert show /dev/null" 1 '/dev/null: IO: not a regular file'

echo "== ca revoke --reason must be UTF-8"
crl_before=$(digest ca/revoked.crl)
run ca revoke --dir ca --serial 2 --reason "$(printf '\xff\xfe')"
check "a reason that is not UTF-8 is a usage error (exit 2)" 2 \
  '--reason must be one line of UTF-8 text'
check_eq "revoked.crl unchanged" "$(digest ca/revoked.crl)" "$crl_before"

echo "== an option given twice is a usage error"
run ca revoke --dir ca --serial 2 --serial 3
check "ca revoke --serial 2 --serial 3" 2 '--serial given twice: give it once'
check_eq "revoked.crl unchanged" "$(digest ca/revoked.crl)" "$crl_before"
run keygen --id IT --name "IT" --roles member_state --out keys --dir other
check "keygen --out DIR --dir DIR (old and new spelling)" 2 \
  '--dir given twice \(counting its old spelling --out\)'
run cert show trust/nodes/DE.cert --json --json
check "a flag twice" 2 '--json given twice: give it once$'
run ca revoke --dir ca --serial "$(printf '9%.0s' {1..500})"
check "a very long bad value is quoted cut short" 2 \
  "invalid --serial '9{80}\.\.\.' \(a number from 1 to"
check_eq "... on one line" "$(wc -l <err)" 2

cli_summary
