#!/usr/bin/env bash
# 07-python-binding.sh — the Python binding (bindings/python) against a real
# broker: DE sends to FR, FR receives and acks, DE gets the receipt
# (bindings/python/test_asylink.py does the work; this script sets up).
#
#   07-python-binding.sh ASYLINKD ASYLINK ASYLINK-PEER LIBASYLINK.SO [PYTHON3]
#
# The broker runs with the example federation (certs-example/) copied into
# a temporary directory, on a loopback ephemeral port; DE.ini and FR.ini
# are written next to it (asylink_client_open_config's format).

if [[ $# -lt 4 ]]; then
  echo "usage: $0 ASYLINKD ASYLINK ASYLINK-PEER LIBASYLINK.SO [PYTHON3]" >&2
  exit 2
fi
LIBASYLINK="$(cd "$(dirname "$4")" && pwd)/$(basename "$4")"
PYTHON=${5:-python3}
source "$(dirname "$0")/lib.sh"
lib_init "$1" "$2" "$3"
BINDING_DIR="$SOURCE_ROOT/bindings/python"

# The example federation, in a copy whose key files may be made private.
FED="$T/fed"
mkdir -p "$FED"
cp -R "$SOURCE_ROOT/certs-example/ca" "$SOURCE_ROOT/certs-example/keys" \
  "$SOURCE_ROOT/certs-example/trust" "$FED/"
chmod 600 "$FED"/keys/*.key "$FED/ca/ca.key"

write_broker_ini
if ! start_broker; then
  fail "broker starts"
  summary
fi
pass "broker starts ($ENDPOINT)"

# write_node_ini NODE: $T/nodes/NODE.ini, data in $T/nodes/NODE-data.
write_node_ini() {
  cat >"$T/nodes/$1.ini" <<EOF
[node]
broker_endpoint = $ENDPOINT
broker_cert = $FED/trust/nodes/BROKER.EU.cert
node_cert = $FED/trust/nodes/$1.cert
key_file = $FED/keys/$1.key
trust_dir = $FED/trust
data_dir = $1-data
durability = fsync
EOF
}
mkdir -p "$T/nodes"
write_node_ini DE
write_node_ini FR

echo "== python3 -m unittest test_asylink ($("$PYTHON" --version 2>&1))"
(
  cd "$BINDING_DIR" &&
    ASYLINK_LIBRARY="$LIBASYLINK" ASYLINK_TEST_DIR="$T/nodes" PYTHONDONTWRITEBYTECODE=1 \
      timeout 150 "$PYTHON" -X dev -m unittest -v test_asylink
) >"$T/unittest.out" 2>&1
rc=$?
sed 's/^/      /' "$T/unittest.out"
check_eq "python unittest exits 0" "$rc" 0
ran=$(sed -n 's/^Ran \([0-9]*\) tests.*/\1/p' "$T/unittest.out")
check_ge "python tests ran" "${ran:-0}" 10
skipped=$(grep -oE 'skipped=[0-9]+' "$T/unittest.out" | cut -d= -f2)
check_eq "no python test skipped (the broker was there)" "${skipped:-0}" 0

check "broker stops cleanly on SIGTERM" stop_broker
if grep -q 'level=error' "$BROKER_LOG"; then
  fail "broker logged no error"
  show "$BROKER_LOG"
else
  pass "broker logged no error"
fi
summary
