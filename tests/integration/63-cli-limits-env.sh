#!/usr/bin/env bash
# 63-cli-limits-env.sh — the command line's rough edges (DESIGN-CHANGES 61):
# a file over its size limit is refused with its size, the limit and the
# kind of file; an option given twice through its old bare spelling
# (send's `--wait`) is named as typed, never as the hidden row behind it;
# ASYLINK_PASSPHRASE, taken out of the environment at start, still opens
# the CA key in every command that needs it.
#
#   tests/integration/63-cli-limits-env.sh path/to/asylink
#
# Works in a temporary directory removed on exit; every command runs under
# `timeout`. Prints one line per check, ends with "N passed, M failed".
source "$(dirname "$0")/cli_check.sh" "$@"

echo "== ASYLINK_PASSPHRASE is read once and still used"
export ASYLINK_PASSPHRASE="correct horse battery staple"
run ca init --dir ca --id ASYLINK.CA --name "Federation CA"
check "ca init with the passphrase from the environment: ca.key encrypted" 0 \
  'ca.key +secret key, mode 0600, passphrase-protected'
run keygen --id DE --name "Bundesamt" --roles member_state --dir keys
check "keygen DE (encrypted with it too)" 0
run ca sign --dir ca --request keys/DE.csr --out DE.cert
check "ca sign opens the CA key with it" 0 'serial 2,'
run ca revoke --dir ca --serial 2 --reason "test"
check "ca revoke opens the CA key with it" 0
unset ASYLINK_PASSPHRASE
run ca sign --dir ca --request keys/DE.csr --out DE2.cert
check "without it ca sign cannot open the CA key" 1 'PASSPHRASE_REQUIRED'

echo "== a file over its limit: its size, the limit and what it is"
truncate -s 70000000 huge
run cert show huge
check "cert show HUGE" 1 \
  'huge: TOO_LARGE: 70000000 bytes, more than the limit of 33558528 bytes \(32\.0 MiB\) for a certificate, request or revocation list'
{ echo "-----BEGIN ASYLINK CERTIFICATE-----"; head -c 200000 /dev/zero | tr '\0' A; echo;
  echo "-----END ASYLINK CERTIFICATE-----"; } >big.cert
run cert show big.cert
check "cert show of a 200 KB certificate" 1 \
  'big.cert: TOO_LARGE: 200071 bytes, more than the limit of 135168 bytes \(132 KiB\) for a certificate file'
run ca sign --dir ca --request big.cert --out x.cert
check "ca sign --request of 200 KB" 1 \
  'big.cert: TOO_LARGE: 200071 bytes, more than the limit of 135168 bytes \(132 KiB\) for a certificate request'
printf 'correct horse battery staple\n' >good.txt
chmod 600 good.txt
cp ca/serial serial.bak
printf '%0100d\n' 7 >ca/serial
run ca sign --dir ca --request keys/DE.csr --out DE4.cert --passphrase-file good.txt
check "a CA serial file of 101 bytes" 1 \
  'ca/serial: TOO_LARGE: 101 bytes, more than the limit of 64 bytes for the CA.s serial file'
cp serial.bak ca/serial
head -c 2000 /dev/zero | tr '\0' x >pass.txt
chmod 600 pass.txt
run ca sign --dir ca --request keys/DE.csr --out DE3.cert --passphrase-file pass.txt
check "a passphrase file of 2,000 bytes" 1 \
  'pass.txt: TOO_LARGE: 2000 bytes, more than the limit of 1024 bytes \(1 KiB\) for a passphrase file'

echo "== an option given twice through its old bare spelling is named as typed"
printf '{}' >p.bin
for args in "--wait --wait" "--wait 5 --wait" "--wait --wait 5"; do
  # shellcheck disable=SC2086
  run send --config none.ini --to FR --file p.bin --content-type application/x $args
  check "send $args: usage error naming --wait" 2 '--wait given twice: give it once'
  check_true "... never the hidden wait-old" bash -c '! grep -q wait-old err'
done
run send --config none.ini --to FR --file p.bin --content-type application/x --wait 5 --wait 6
check "send --wait 5 --wait 6" 2 '--wait given twice: give it once, with one value'

cli_summary
