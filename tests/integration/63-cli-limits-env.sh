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
mkdir -p bigkey
cp ca/* bigkey/
head -c 5000 /dev/zero | tr '\0' x >bigkey/ca.key
chmod 600 bigkey/ca.key
run ca sign --dir bigkey --request keys/DE.csr --out DE5.cert --passphrase-file good.txt
check "a CA key file of 5,000 bytes" 1 \
  'bigkey/ca.key: TOO_LARGE: 5000 bytes, more than the limit of 4096 bytes \(4 KiB\) for a secret key file'
head -c 2000 /dev/zero | tr '\0' x >pass.txt
chmod 600 pass.txt
run ca sign --dir ca --request keys/DE.csr --out DE3.cert --passphrase-file pass.txt
check "a passphrase file of 2,000 bytes" 1 \
  'pass.txt: TOO_LARGE: 2000 bytes, more than the limit of 1024 bytes \(1 KiB\) for a passphrase file'

echo "== libasylink's own reads say the size and the limit too, in the same words"
# node_ini NODE_CERT BROKER_CERT TRUST_DIR: a node configuration whose
# files the library reads (asylink_client_open_config), not the CLI.
node_ini() {
  cat <<EOF
[node]
broker_endpoint = tcp://127.0.0.1:1
node_cert = $PWD/$1
broker_cert = $PWD/$2
key_file = $PWD/keys/DE.key
key_passphrase_file = $PWD/good.txt
trust_dir = $PWD/$3
data_dir = $PWD/node-data
EOF
}
mkdir -p trust/nodes bigtrust/nodes bigcrl/nodes
cp ca/ca.cert ca/revoked.crl trust/
cp big.cert bigtrust/ca.cert
cp ca/ca.cert bigcrl/
truncate -s 40000000 bigcrl/revoked.crl
node_ini big.cert DE.cert trust >n1.ini
run recv --config n1.ini --idle 1
check "node_cert of 200 KB" 1 \
  'TOO_LARGE: node certificate .*/big.cert: 200071 bytes, more than the limit of 135168 bytes \(132 KiB\) for a certificate file \(node_cert in the node configuration\)'
node_ini DE.cert big.cert trust >n2.ini
run recv --config n2.ini --idle 1
check "broker_cert of 200 KB" 1 \
  'TOO_LARGE: broker certificate .*/big.cert: 200071 bytes, more than the limit of 135168 bytes \(132 KiB\) for a certificate file'
node_ini DE.cert DE.cert bigtrust >n3.ini
run recv --config n3.ini --idle 1
check "a trust directory's ca.cert of 200 KB" 1 \
  'TOO_LARGE: .*/bigtrust/ca.cert: 200071 bytes, more than the limit of 135168 bytes \(132 KiB\) for a certificate file'
node_ini DE.cert DE.cert bigcrl >n4.ini
run recv --config n4.ini --idle 1
check "a trust directory's revoked.crl of 40 MB" 1 \
  'TOO_LARGE: .*/bigcrl/revoked.crl: 40000000 bytes, more than the limit of 33558528 bytes \(32\.0 MiB\) for a revocation list'
head -c 5000 /dev/zero | tr '\0' x >pass5.txt
chmod 600 pass5.txt
sed "s|^key_passphrase_file = .*|key_passphrase_file = $PWD/pass5.txt|" n1.ini >n5.ini
run recv --config n5.ini --idle 1
check "key_passphrase_file of 5,000 bytes" 1 \
  'TOO_LARGE: passphrase file .*/pass5.txt: 5000 bytes, more than the limit of 4096 bytes \(4 KiB\) for a passphrase file'
sed "s|^key_file = .*|key_file = $PWD/bigkey/ca.key|" n1.ini >n6.ini
run recv --config n6.ini --idle 1
check "key_file of 5,000 bytes" 1 \
  'TOO_LARGE: secret key file .*/bigkey/ca.key: 5000 bytes, more than the limit of 4096 bytes \(4 KiB\) for a secret key file \(key_file in the node configuration\)'
{ cat n1.ini; head -c 1100000 /dev/zero | tr '\0' '#' | fold -w 60; } >big.ini
run recv --config big.ini --idle 1
check "a node configuration of 1.1 MB" 1 \
  'CONFIG: node configuration big.ini:[0-9]+: 11[0-9]{5} bytes, more than the limit of 1048576 bytes \(1 MiB\) for a configuration file'

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
