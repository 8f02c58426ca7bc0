#!/usr/bin/env bash
# 32-debian-packages.sh — the Debian packages, as an IT department installs
# them: `dpkg-buildpackage -b -us -uc` on a copy of the source builds
# asylinkd, asylink, libasylink0, libasylink-dev and python3-asylink; each
# .deb is unpacked into one fresh directory tree; and a message goes through
# the INSTALLED programs: a federation made with the installed `asylink`,
# the installed `asylinkd` running with the packaged /etc/asylink/asylinkd.ini
# (its node-specific keys filled in), DE sending with `asylink send`, FR
# receiving with `asylink recv`, then, after a SIGHUP reload (what
# `systemctl reload asylinkd` sends), FR receiving through the packaged
# Python binding, which finds the packaged libasylink.so.0 by itself.
# Beside that: package metadata (dependencies, conffiles, maintainer
# scripts), the systemd unit (the repository's, verified and scored by
# systemd-analyze when present), man pages, bash completion, and building a
# program against libasylink-dev with pkg-config.
#
#   32-debian-packages.sh
#
# How the packages are installed, and why: `dpkg-deb -x` of each .deb into
# a temporary root ($T/root), as an unprivileged user could. `dpkg --root`
# or `--instdir` would also run the maintainer scripts, chrooted into that
# directory: that needs root and a whole Debian system inside it (the
# postinst runs adduser), which a test must not assume. The maintainer
# scripts are checked for syntax and content instead; everything the
# packages put on disk is used from the unpacked tree.
#
# Exit 77 (ctest: skipped) when dpkg-buildpackage is not installed
# (Debian: dpkg-dev; scripts/test.sh installs it and the build
# dependencies). A missing build dependency is a failure
# (dpkg-checkbuilddeps), not a skip.

source "$(dirname "$0")/lib.sh"
if ! command -v dpkg-buildpackage >/dev/null || ! command -v dpkg-deb >/dev/null; then
  echo "SKIP: dpkg-buildpackage is not installed (Debian: dpkg-dev, debhelper)"
  exit 77
fi
T="$(mktemp -d "${TMPDIR:-/tmp}/asylink-deb.XXXXXX")"
trap lib_cleanup EXIT
trap 'exit 130' INT TERM
cd "$T" || exit 1
unset ASYLINK_PASSPHRASE ASYLINK_LIBRARY LD_LIBRARY_PATH
VERSION=$(sed -n 's/^project(asylink VERSION \([0-9.]*\).*/\1/p' "$SOURCE_ROOT/CMakeLists.txt")
ARCH=$(dpkg --print-architecture)
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo "$(uname -m)-linux-gnu")

# ---- versions agree ----
check_eq "debian/changelog carries asylink's version" \
  "$(dpkg-parsechangelog -l "$SOURCE_ROOT/debian/changelog" -S Version 2>/dev/null)" "$VERSION"
check_eq "bindings/python/pyproject.toml carries asylink's version" \
  "$(sed -n 's/^version = "\(.*\)"$/\1/p' "$SOURCE_ROOT/bindings/python/pyproject.toml")" "$VERSION"

# ---- build ----
# A copy of the source without build trees (dpkg-buildpackage writes the
# .debs next to the source directory), built in a clean environment as a
# build chroot would: the system's tools only, no developer's PATH.
SRC="$T/src/asylink-$VERSION"
mkdir -p "$SRC" "$T/home"
tar -C "$SOURCE_ROOT" --exclude='./build*' --exclude='./_build*' --exclude=./.git \
  --exclude='./obj-*' --exclude=./debian/.debhelper --exclude=./debian/tmp \
  --exclude=./certs-example/data --exclude=./bindings/python/build \
  --exclude='*.egg-info' --exclude=./.pybuild -cf - . | tar -C "$SRC" -xf -
echo "== dpkg-buildpackage -b -us -uc (in $SRC)"
start=$SECONDS
(
  cd "$SRC" &&
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$T/home" LC_ALL=C.UTF-8 \
      DEB_BUILD_OPTIONS="parallel=$(nproc 2>/dev/null || echo 2)" \
      timeout 1500 dpkg-buildpackage -b -us -uc
) >"$T/build.log" 2>&1
rc=$?
check_eq "dpkg-buildpackage -b -us -uc exits 0 (in $((SECONDS - start)) s)" "$rc" 0
if [[ $rc -ne 0 ]]; then
  show "$T/build.log" "dpkg-buildpackage"
  summary
fi

declare -A DEB
for p in asylinkd asylink libasylink0 libasylink-dev python3-asylink; do
  f=$(ls "$T/src/${p}_${VERSION}_"{"$ARCH",all}.deb 2>/dev/null | head -n 1)
  check "package $p built ($(basename "${f:-none}"))" test -s "$f"
  DEB[$p]=$f
done
[[ -n ${DEB[asylinkd]} && -n ${DEB[asylink]} && -n ${DEB[libasylink0]} &&
  -n ${DEB[libasylink-dev]} && -n ${DEB[python3-asylink]} ]] || summary

# ---- metadata ----
# deps_have PKG DEP...: PKG's Depends names every DEP (as a package name).
deps_have() {
  local p=$1 d
  shift
  for d in "$@"; do
    dpkg-deb -f "${DEB[$p]}" Depends | tr ',' '\n' | sed 's/^ *//' | grep -qE "^$d( |\$)" || return 1
  done
}
check "libasylink0 depends on libzmq5, libsodium23, libjansson4 (shlibs)" \
  deps_have libasylink0 libzmq5 libsodium23 libjansson4
check_eq "libasylink-dev depends on exactly this libasylink0" \
  "$(dpkg-deb -f "${DEB[libasylink-dev]}" Depends | tr ',' '\n' | sed 's/^ *//' | grep '^libasylink0 ')" \
  "libasylink0 (= $VERSION)"
check "libasylink-dev depends on the -dev packages pkg-config --static needs" \
  deps_have libasylink-dev libzmq3-dev libsodium-dev libprotobuf-c-dev liblmdb-dev libinih-dev \
  libjansson-dev
check "python3-asylink depends on libasylink0" deps_have python3-asylink libasylink0
check_eq "python3-asylink is Architecture: all" "$(dpkg-deb -f "${DEB[python3-asylink]}" Architecture)" all
check "asylinkd depends on adduser (its postinst creates the user)" deps_have asylinkd adduser
check_eq "asylinkd's conffile is /etc/asylink/asylinkd.ini" \
  "$(dpkg-deb -I "${DEB[asylinkd]}" conffiles 2>/dev/null)" "/etc/asylink/asylinkd.ini"
dpkg-deb -I "${DEB[asylinkd]}" postinst >"$T/postinst" 2>/dev/null
dpkg-deb -I "${DEB[asylinkd]}" postrm >"$T/postrm" 2>/dev/null
check "asylinkd postinst and postrm are valid sh" bash -c "sh -n '$T/postinst' && sh -n '$T/postrm'"
check "postinst creates the system user asylink" \
  bash -c "grep -q 'adduser --system --group' '$T/postinst' && grep -q '\"asylink broker\" asylink\$' '$T/postinst'"
check "postinst makes /etc/asylink 0750 root:asylink (dpkg-statoverride)" \
  grep -q 'dpkg-statoverride --update --add root asylink 0750 /etc/asylink' "$T/postinst"
check "postinst enables the service only if it was installed before (--no-enable: keys first)" \
  grep -q "if deb-systemd-helper debian-installed 'asylinkd.service'" "$T/postinst"

# ---- unpack into one fresh tree ----
ROOT="$T/root"
mkdir -p "$ROOT"
for p in asylinkd asylink libasylink0 libasylink-dev python3-asylink; do
  (umask 022 && dpkg-deb -x "${DEB[$p]}" "$ROOT") || fail "dpkg-deb -x $p"
done
LIB="$ROOT/usr/lib/$MULTIARCH"
ASYLINKD="$ROOT/usr/sbin/asylinkd"
ASYLINK="$ROOT/usr/bin/asylink"
check_eq "installed asylinkd --version" "$("$ASYLINKD" --version 2>&1)" "asylinkd $VERSION"
check_eq "installed asylink --version" "$("$ASYLINK" --version 2>&1)" "asylink $VERSION"
check "libasylink.so.0 installed in /usr/lib/$MULTIARCH" test -e "$LIB/libasylink.so.0"
check_eq "its soname is libasylink.so.0" \
  "$(objdump -p "$LIB/libasylink.so.0" 2>/dev/null | awk '$1 == "SONAME" {print $2}')" \
  libasylink.so.0
check "no program needs a library the system lacks (ldd: nothing 'not found')" \
  bash -c "! ldd '$ASYLINKD' '$ASYLINK' '$LIB/libasylink.so.0' | grep -q 'not found'"
for h in asylink.h errors.h; do
  check "libasylink-dev: /usr/include/asylink/$h" test -s "$ROOT/usr/include/asylink/$h"
done
check "libasylink-dev: asylink.pc, CMake package, libasylink.a" bash -c \
  "test -s '$LIB/pkgconfig/asylink.pc' && test -s '$LIB/cmake/asylink/asylinkConfig.cmake' &&
   test -s '$LIB/libasylink.a'"
check_eq "libasylink-dev: the .proto files" \
  "$(cd "$ROOT/usr/share/asylink/proto/asylink/v1" 2>/dev/null && ls ./*.proto | sort | tr '\n' ' ')" \
  "$(cd "$SOURCE_ROOT/proto/asylink/v1" && ls ./*.proto | sort | tr '\n' ' ')"
check "libasylink-dev: PROTOCOL.md, INTEGRATION.md and the example national node" bash -c \
  "test -s '$ROOT/usr/share/doc/libasylink-dev/PROTOCOL.md.gz' &&
   test -s '$ROOT/usr/share/doc/libasylink-dev/INTEGRATION.md.gz' &&
   test -s '$ROOT/usr/share/doc/libasylink-dev/examples/national_node.c'"
check "asylinkd: OPERATIONS.md, SECURITY.md, the Prometheus rules" bash -c \
  "test -s '$ROOT/usr/share/doc/asylinkd/OPERATIONS.md.gz' &&
   test -s '$ROOT/usr/share/doc/asylinkd/SECURITY.md.gz' &&
   test -s '$ROOT/usr/share/doc/asylinkd/examples/asylink.rules.yml'"

# ---- man pages and completion, as installed ----
for page in man1/asylink.1 man8/asylinkd.8 man5/asylinkd.ini.5 man5/asylink-node.ini.5; do
  f="$ROOT/usr/share/man/$page.gz"
  if [[ ! -s $f ]]; then
    fail "man page $page.gz installed"
    continue
  fi
  if command -v man >/dev/null; then
    out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
    check_eq "man --warnings -l $page.gz: installed and clean" "$out" ""
  else
    pass "man page $page.gz installed (man not available to render it)"
  fi
done
compl=$(bash --norc --noprofile -c 'source "$1" && COMP_WORDS=(asylink se) COMP_CWORD=1 &&
  _asylink && echo "${COMPREPLY[*]}"' x "$ROOT/usr/share/bash-completion/completions/asylink" 2>&1)
check_eq "bash completion installed: asylink se<TAB>" "$compl" send

# ---- the systemd unit ----
UNIT="$ROOT/lib/systemd/system/asylinkd.service"
check "the unit is contrib/systemd/asylinkd.service" \
  cmp -s "$UNIT" "$SOURCE_ROOT/contrib/systemd/asylinkd.service"
for line in 'User=asylink' 'StateDirectory=asylink' 'ProtectSystem=strict' 'NoNewPrivileges=yes' \
  'CapabilityBoundingSet=' 'LimitNOFILE=65536' 'ReadWritePaths=/var/lib/asylink' \
  'ExecReload=/bin/kill -HUP $MAINPID' \
  'ExecStart=/usr/sbin/asylinkd --config /etc/asylink/asylinkd.ini'; do
  check "unit: $line" grep -qxF -- "$line" "$UNIT"
done
if command -v systemd-analyze >/dev/null; then
  # verify resolves ExecStart= on this system: point it at the unpacked binary.
  sed "s|/usr/sbin/asylinkd|$ASYLINKD|g" "$UNIT" >"$T/asylinkd.service"
  out=$(systemd-analyze verify --man=no "$T/asylinkd.service" 2>&1)
  check_eq "systemd-analyze verify: no complaint" "$out" ""
  score=$(systemd-analyze security --offline=yes --root="$ROOT" asylinkd.service 2>/dev/null |
    sed -n 's/.*Overall exposure level for asylinkd.service: \([0-9.]*\).*/\1/p')
  check "systemd-analyze security: exposure ${score:-?} (0 best, 10 worst) is below 2.0" \
    awk -v s="${score:-99}" 'BEGIN { exit !(s < 2.0) }'
else
  echo "note: systemd-analyze not installed: unit not verified (Debian: systemd)"
fi

# ---- a message through the installed programs ----
echo "== federation made with the installed asylink"
make_federation || fail "make_federation with the installed asylink"
cp "$SOURCE_ROOT/certs-example/policy.ini" "$T/policy.ini"
# The packaged configuration, with what a site fills in. Every other key
# keeps the package's value, so its example loads as shipped.
CONF="$T/asylinkd.ini"
sed -e "s|^node_id =\$|node_id = BROKER.EU|" \
  -e "s|^cert =\$|cert = $FED/trust/nodes/BROKER.EU.cert|" \
  -e "s|^key =\$|key = $FED/keys/BROKER.EU.key|" \
  -e "s|^trust_dir = /etc/asylink/trust\$|trust_dir = $FED/trust|" \
  -e "s|^data_dir = /var/lib/asylink\$|data_dir = $T/data|" \
  -e "s|^policy = /etc/asylink/policy.ini\$|policy = $T/policy.ini|" \
  -e "s|^#endpoint = .*|endpoint = tcp://127.0.0.1:*|" \
  -e "s|^#admin_endpoint = .*|admin_endpoint =|" \
  -e "s|^#listen = .*|listen =|" \
  "$ROOT/etc/asylink/asylinkd.ini" >"$CONF"
check_eq "the packaged asylinkd.ini differs only in the lines a site fills in" \
  "$(diff "$ROOT/etc/asylink/asylinkd.ini" "$CONF" | grep -c '^>')" 9
"$ASYLINKD" --config "$CONF" --check-config >"$T/check.out" 2>&1
check_eq "installed asylinkd --check-config accepts it" "$?" 0
start_broker "$CONF" || { show "$T/check.out"; summary; }
pass "installed asylinkd runs ($ENDPOINT)"
for node in DE FR; do
  cat >"$T/$node.ini" <<EOF
[node]
broker_endpoint = $ENDPOINT
broker_cert = $FED/trust/nodes/BROKER.EU.cert
node_cert = $FED/trust/nodes/$node.cert
key_file = $FED/keys/$node.key
trust_dir = $FED/trust
data_dir = $T/$node-data
EOF
done
cat >"$T/request.json" <<'JSON'
{"request_id": "DE-DEB-1", "requesting_state": "DE", "requested_state": "FR",
 "legal_basis": "LEGAL_BASIS_DUBLIN_III_ART_34",
 "questions": [{"question_id": "Q1", "text": "Stage of the application?"}]}
JSON
"$ASYLINK" send --config "$T/DE.ini" --to FR --type asylink.v1.InformationRequest \
  --payload "$T/request.json" --wait 30 >"$T/send1.out" 2>"$T/send1.err"
check_eq "installed asylink send --wait: accepted" "$(sed -n 2p "$T/send1.out")" accepted
ID1=$(sed -n 1p "$T/send1.out")
"$ASYLINK" recv --config "$T/FR.ini" --json --count 1 --idle 30 >"$T/recv1.json" 2>"$T/recv1.err"
check_eq "installed asylink recv --json exits 0" "$?" 0
check_eq "FR received DE's message ($ID1)" \
  "$(python3 -c 'import json,sys; j=json.loads(open(sys.argv[1]).readline()); print(j["message_id"], j["sender"], j["payload"]["request_id"])' "$T/recv1.json" 2>&1)" \
  "$ID1 DE DE-DEB-1"

echo "== SIGHUP (systemctl reload), then the packaged Python binding"
kill -HUP "$BROKER_PID"
check "the broker reloads trust and policy" wait_for "$BROKER_LOG" 'trust and policy reloaded' 10
"$ASYLINK" send --config "$T/DE.ini" --to FR --type asylink.v1.InformationRequest \
  --payload "$T/request.json" --wait 30 >"$T/send2.out" 2>"$T/send2.err"
check_eq "after the reload, asylink send is accepted" "$(sed -n 2p "$T/send2.out")" accepted
ID2=$(sed -n 1p "$T/send2.out")
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
cat >"$T/recv.py" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])  # the packaged module (dist-packages of the unpacked tree)
import asylink
with asylink.Client(sys.argv[2]) as fr:
    m = fr.recv(30_000)
    if m is None:
        sys.exit("nothing received")
    print(asylink.library_path())
    print(m.id_text, m.sender, m.payload_dict()["request_id"])
    fr.ack(m)
PY
env -u LD_LIBRARY_PATH -u ASYLINK_LIBRARY -u PYTHONPATH timeout 60 "$PY" "$T/recv.py" \
  "$ROOT/usr/lib/python3/dist-packages" "$T/FR.ini" >"$T/py.out" 2>"$T/py.err"
check_eq "the packaged binding receives (no environment variables)" "$?" 0
check_eq "it loaded the packaged libasylink.so.0" "$(sed -n 1p "$T/py.out")" \
  "$(readlink -f "$LIB/libasylink.so.0")"
check_eq "it prints the id as the CLI did, and decodes the payload" "$(sed -n 2p "$T/py.out")" \
  "$ID2 DE DE-DEB-1"
[[ -s $T/py.err ]] && show "$T/py.err" "python stderr"

# ---- building against libasylink-dev ----
echo "== a program built against the unpacked libasylink-dev (pkg-config)"
cat >"$T/hello.c" <<'EOF'
#include <asylink/asylink.h>
#include <stdio.h>
int main(void)
{
    char text[ASYLINK_ID_TEXT_LEN];
    static const uint8_t id[16] = {1};
    printf("%s %s\n", asylink_version(), asylink_id_format(id, text));
    return 0;
}
EOF
# The .pc names prefix=/usr; the tree is unpacked elsewhere.
read -r -a PC <<<"$(PKG_CONFIG_PATH="$LIB/pkgconfig" \
  pkg-config --define-variable=prefix="$ROOT/usr" --cflags --libs asylink 2>&1)"
if cc -std=c11 -Wall -Werror -o "$T/hello" "$T/hello.c" "${PC[@]}" >"$T/cc.log" 2>&1; then
  pass "cc hello.c \$(pkg-config --cflags --libs asylink)"
  check_eq "it runs on the packaged library" "$(LD_LIBRARY_PATH="$LIB" "$T/hello" 2>&1)" \
    "$VERSION 01000000-0000-0000-0000-000000000000"
else
  fail "cc hello.c \$(pkg-config --cflags --libs asylink)"
  show "$T/cc.log"
fi

check "the broker stops cleanly on SIGTERM" stop_broker
if grep -q 'level=error' "$BROKER_LOG"; then
  fail "the broker logged no error"
  show "$BROKER_LOG"
else
  pass "the broker logged no error"
fi
summary
