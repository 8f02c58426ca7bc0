#!/usr/bin/env bash
# 30-python-binding.sh — the Python binding (bindings/python) against a real
# broker: DE sends to FR, FR receives and acks, DE gets the receipt
# (bindings/python/test_asylink.py does the work; this script sets up).
#
#   30-python-binding.sh ASYLINKD ASYLINK ASYLINK-PEER LIBASYLINK.SO [PYTHON3]
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

# ---- pip install ./bindings/python into a virtual environment ----
# As an integrator would: a venv that sees the system's setuptools and wheel
# (--system-site-packages: no network needed, --no-build-isolation), the
# package built from pyproject.toml, then the same tests run against the
# installed module (not the source file). The first Python that has venv,
# ensurepip, setuptools and wheel is used: PYTHON, else Debian's
# /usr/bin/python3 (python3-venv, python3-pip, python3-setuptools,
# python3-wheel: scripts/test.sh installs them).
VENV_PY=""
for py in "$PYTHON" /usr/bin/python3; do
  if "$py" -c 'import venv, ensurepip, setuptools, wheel' >/dev/null 2>&1; then
    VENV_PY=$py
    break
  fi
done
if [[ -z $VENV_PY ]]; then
  echo "SKIP  pip install ./bindings/python: no Python with venv, ensurepip, setuptools and wheel"
else
  echo "== pip install ./bindings/python into a venv ($("$VENV_PY" --version 2>&1))"
  mkdir -p "$T/pysrc" "$T/pyrun"
  cp -R "$BINDING_DIR/." "$T/pysrc/" # pip builds in the source tree: not in the repository's
  rm -rf "$T/pysrc/build" "$T/pysrc/"*.egg-info
  if "$VENV_PY" -m venv --system-site-packages "$T/venv" >"$T/venv.log" 2>&1 &&
    PIP_DISABLE_PIP_VERSION_CHECK=1 timeout 120 "$T/venv/bin/python" -m pip install --no-index \
      --no-build-isolation "$T/pysrc" >>"$T/venv.log" 2>&1; then
    pass "python -m venv; pip install --no-index --no-build-isolation ./bindings/python"
  else
    fail "python -m venv; pip install --no-index --no-build-isolation ./bindings/python"
    show "$T/venv.log"
  fi
  installed=$(cd "$T/pyrun" && "$T/venv/bin/python" -c 'import asylink; print(asylink.__file__)' 2>&1)
  check "the venv imports the installed module ($installed)" \
    test "${installed#"$T/venv/lib/"}" != "$installed"
  meta=$("$T/venv/bin/python" -m pip show asylink 2>/dev/null | sed -n 's/^Version: //p')
  check_eq "pip knows the package, at asylink's version" "$meta" \
    "$(sed -n 's/^project(asylink VERSION \([0-9.]*\).*/\1/p' "$SOURCE_ROOT/CMakeLists.txt")"
  check "the package holds the module only (no test file)" \
    bash -c "! ls '$T'/venv/lib/python3*/site-packages/test_asylink.py"
  cp "$BINDING_DIR/test_asylink.py" "$T/pyrun/"
  (
    cd "$T/pyrun" &&
      ASYLINK_LIBRARY="$LIBASYLINK" ASYLINK_TEST_DIR="$T/nodes" PYTHONDONTWRITEBYTECODE=1 \
        timeout 150 "$T/venv/bin/python" -X dev -m unittest test_asylink
  ) >"$T/venv-unittest.out" 2>&1
  rc=$?
  check_eq "the tests pass against the pip-installed module" "$rc" 0
  [[ $rc -eq 0 ]] || show "$T/venv-unittest.out"
fi

check "broker stops cleanly on SIGTERM" stop_broker
if grep -q 'level=error' "$BROKER_LOG"; then
  fail "broker logged no error"
  show "$BROKER_LOG"
else
  pass "broker logged no error"
fi
summary
