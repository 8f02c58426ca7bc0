#!/usr/bin/env bash
# 77-python-prefix-install.sh — the Python binding installed with
# `pip install --prefix PREFIX ./bindings/python` beside a library installed
# under the same PREFIX (`cmake --install build --prefix PREFIX`) finds that
# library by itself, as README "Finding libasylink.so.0 at run time" says:
# no ASYLINK_LIBRARY, no LD_LIBRARY_PATH. Debian's pip puts such a module in
# PREFIX/local/lib/python3.X/dist-packages, not PREFIX/lib/python3.X/...
# (its "posix_local" scheme): the binding looked only in PREFIX/local/lib
# and failed with "libasylink not found".
#
#   77-python-prefix-install.sh LIBASYLINK [PYTHON]
#
# LIBASYLINK is the built shared library; it is placed in PREFIX/lib as
# cmake --install places it. Skipped (77) without a Python that has pip,
# setuptools and wheel (the first of PYTHON and /usr/bin/python3).
if [[ $# -lt 1 || ! -f $1 ]]; then
  echo "usage: $0 LIBASYLINK [PYTHON]" >&2
  exit 2
fi
LIBASYLINK=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
PYTHON=${2:-}
source "$(dirname "$0")/lib.sh"
T="$(mktemp -d "${TMPDIR:-/tmp}/asylink-it.XXXXXX")"
trap lib_cleanup EXIT
trap 'exit 130' INT TERM
cd "$T" || exit 1

PY=""
for py in $PYTHON /usr/bin/python3; do
  if "$py" -c 'import setuptools, wheel' >/dev/null 2>&1 && "$py" -m pip --version >/dev/null 2>&1; then
    PY=$py
    break
  fi
done
if [[ -z $PY ]]; then
  echo "SKIP  no Python with pip, setuptools and wheel"
  exit 77
fi
echo "== $("$PY" --version 2>&1) ($PY)"

PREFIX="$T/prefix"
mkdir -p "$PREFIX/lib" "$T/pysrc" "$T/run"
cp "$LIBASYLINK" "$PREFIX/lib/libasylink.so.0"
cp -R "$SOURCE_ROOT/bindings/python/." "$T/pysrc/" # pip builds in the source tree
rm -rf "$T/pysrc/build" "$T/pysrc/"*.egg-info
if PIP_DISABLE_PIP_VERSION_CHECK=1 timeout 120 "$PY" -m pip install --no-index \
  --no-build-isolation --no-warn-script-location --prefix "$PREFIX" "$T/pysrc" \
  >"$T/pip.log" 2>&1; then
  pass "pip install --prefix PREFIX ./bindings/python"
else
  fail "pip install --prefix PREFIX ./bindings/python"
  show "$T/pip.log"
  summary
fi
MODULE=$(find "$PREFIX" -name asylink.py -path '*-packages/*' | head -n 1)
check "the module is installed under PREFIX (${MODULE#"$PREFIX/"})" test -n "$MODULE"
SITE=$(dirname "$MODULE")

(cd "$T/run" && env -u ASYLINK_LIBRARY -u LD_LIBRARY_PATH PYTHONPATH="$SITE" \
  PYTHONDONTWRITEBYTECODE=1 "$PY" -c 'import asylink; print(asylink.library_path()); print(asylink.load().asylink_version().decode())') \
  >"$T/load.out" 2>"$T/load.err"
check_eq "the installed module loads a library without any environment variable" "$?" 0
[[ -s $T/load.err ]] && show "$T/load.err"
check_eq "... the one in PREFIX/lib" "$(sed -n 1p "$T/load.out")" \
  "$(readlink -f "$PREFIX/lib/libasylink.so.0")"
check_eq "... of this build's version" "$(sed -n 2p "$T/load.out")" \
  "$(sed -n 's/^project(asylink VERSION \([0-9.]*\).*/\1/p' "$SOURCE_ROOT/CMakeLists.txt")"
summary
