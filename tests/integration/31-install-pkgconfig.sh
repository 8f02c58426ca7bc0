#!/usr/bin/env bash
# 31-install-pkgconfig.sh — installs this build into a temporary prefix and
# builds programs against the INSTALLED library, as a national system's
# developers would: with pkg-config (shared and static) and with CMake's
# find_package(asylink). With a broker at hand, the installed example
# examples/national_node.c then exchanges a message DE -> FR.
#
#   31-install-pkgconfig.sh CMAKE BUILD_DIR LIBDIR PKG_CONFIG [ASYLINKD ASYLINK ASYLINK-PEER]
#
# LIBDIR is CMAKE_INSTALL_LIBDIR (lib, lib64, lib/x86_64-linux-gnu).
# Environment: CC (default cc); EXTRA_CFLAGS for every program built here
# (a sanitizer build passes its -fsanitize flags: its library needs them).

if [[ $# -ne 4 && $# -ne 7 ]]; then
  echo "usage: $0 CMAKE BUILD_DIR LIBDIR PKG_CONFIG [ASYLINKD ASYLINK ASYLINK-PEER]" >&2
  exit 2
fi
CMAKE=$1
BUILD_DIR=$(cd "$2" && pwd)
LIBDIR_REL=$3
PKG_CONFIG=$4
CC=${CC:-cc}
read -r -a EXTRA <<<"${EXTRA_CFLAGS:-}"
source "$(dirname "$0")/lib.sh"
if [[ $# -eq 7 ]]; then
  lib_init "$5" "$6" "$7"
  WITH_BROKER=1
else
  T="$(mktemp -d "${TMPDIR:-/tmp}/asylink-it.XXXXXX")"
  trap lib_cleanup EXIT
  trap 'exit 130' INT TERM
  cd "$T" || exit 1
  WITH_BROKER=0
fi

PREFIX="$T/prefix"
if [[ $LIBDIR_REL = /* ]]; then LIBDIR=$LIBDIR_REL; else LIBDIR="$PREFIX/$LIBDIR_REL"; fi
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig"
HEADER="$SOURCE_ROOT/include/asylink/asylink.h"
ERRORS_HEADER="$SOURCE_ROOT/include/asylink/errors.h" # included by asylink.h
header_version=$(sed -n 's/^#define ASYLINK_VERSION_STRING "\(.*\)"/\1/p' "$ERRORS_HEADER")

# ---- install ----
echo "== cmake --install $BUILD_DIR --prefix $PREFIX"
if "$CMAKE" --install "$BUILD_DIR" --prefix "$PREFIX" >"$T/install.log" 2>&1; then
  pass "cmake --install succeeds"
else
  fail "cmake --install succeeds"
  show "$T/install.log"
  summary
fi
check "header installed as include/asylink/asylink.h" test -f "$PREFIX/include/asylink/asylink.h"
check "header installed as include/asylink/errors.h" test -f "$PREFIX/include/asylink/errors.h"
check "libasylink.so installed in $LIBDIR_REL" test -f "$LIBDIR/libasylink.so"
check "libasylink.so.0 (soname link) installed" test -e "$LIBDIR/libasylink.so.0"
check "libasylink.a installed" test -f "$LIBDIR/libasylink.a"
check "asylink.pc installed" test -f "$LIBDIR/pkgconfig/asylink.pc"
check "asylinkConfig.cmake installed" test -f "$LIBDIR/cmake/asylink/asylinkConfig.cmake"
check "asylinkConfigVersion.cmake installed" \
  test -f "$LIBDIR/cmake/asylink/asylinkConfigVersion.cmake"
check "no build-tree path in the installed CMake files" \
  bash -c "! grep -rqF '$BUILD_DIR' '$LIBDIR/cmake/asylink' '$LIBDIR/pkgconfig'"

# ---- what the libraries export ----
# The functions the headers mark ASYLINK_EXPORT, one per line.
# (Declarations may span lines: each header is joined before matching.)
cat "$HEADER" "$ERRORS_HEADER" | tr '\n' ' ' | grep -oE 'ASYLINK_EXPORT [^(;]*\(' |
  grep -oE 'asylink_[a-z_0-9]+ *\($' | tr -d ' (' | sort -u >"$T/api.txt"
nm -D --defined-only "$LIBDIR/libasylink.so" | awk 'NF >= 3 && $2 ~ /^[TDBRVW]$/ {print $3}' |
  sed 's/@.*//' | sort -u >"$T/so-symbols.txt"
check_eq "libasylink.so exports nothing but asylink_*" \
  "$(grep -vc '^asylink_' "$T/so-symbols.txt")" 0
check_eq "libasylink.so exports exactly the header's functions" \
  "$(comm -3 "$T/api.txt" "$T/so-symbols.txt" | tr -d '\t' | tr '\n' ' ')" ""
nm -g --defined-only "$LIBDIR/libasylink.a" 2>/dev/null | awk 'NF == 3 {print $3}' | sort -u \
  >"$T/a-symbols.txt"
check_eq "libasylink.a defines no global symbol but asylink_*" \
  "$(grep -v '^asylink_' "$T/a-symbols.txt" | head -n 5 | tr '\n' ' ')" ""
check_eq "libasylink.a defines the header's functions" \
  "$(comm -23 "$T/api.txt" "$T/a-symbols.txt" | tr '\n' ' ')" ""

# ---- pkg-config ----
check_eq "pkg-config --modversion asylink" \
  "$("$PKG_CONFIG" --modversion asylink 2>&1)" "$header_version"
read -r -a PC_FLAGS <<<"$("$PKG_CONFIG" --cflags --libs asylink)"
check "pkg-config --cflags --libs asylink" "$PKG_CONFIG" --cflags --libs asylink

cat >"$T/hello.c" <<'EOF'
/* hello.c — the smallest program on the installed libasylink. */
#include <asylink/asylink.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    printf("version=%s\n", asylink_version());
    printf("header=%s\n", ASYLINK_VERSION_STRING);
    printf("strerror=%s\n", asylink_strerror(ASYLINK_E_BAD_SIGNATURE));
    printf("name=%s\n", asylink_err_name(ASYLINK_E_BAD_SIGNATURE));
    asylink_options o;
    asylink_options_init(&o);
    asylink_client *c = NULL;
    int rc = asylink_client_open(&o, &c); /* no endpoint: refused, nothing opened */
    printf("open=%s\n", asylink_err_name(rc));
    return strcmp(asylink_version(), ASYLINK_VERSION_STRING) == 0 && c == NULL ? 0 : 1;
}
EOF

# check_hello LABEL COMMAND...: runs a hello program and checks its output.
check_hello() {
  local label=$1 out rc
  shift
  out=$("$@" 2>&1)
  rc=$?
  check_eq "$label runs" "$rc" 0
  check_eq "$label: asylink_version()" "$(sed -n 's/^version=//p' <<<"$out")" "$header_version"
  check_eq "$label: asylink_err_name()" "$(sed -n 's/^name=//p' <<<"$out")" "BAD_SIGNATURE"
  check_eq "$label: asylink_client_open() without options" \
    "$(sed -n 's/^open=//p' <<<"$out")" "INVALID_ARG"
  [[ $rc -eq 0 ]] || echo "$out" | sed 's/^/      | /'
}

echo "== shared, with pkg-config"
if "$CC" -std=c11 -Wall -Wextra -Werror "${EXTRA[@]}" -o "$T/hello-pc" "$T/hello.c" \
  "${PC_FLAGS[@]}" >"$T/cc-hello.log" 2>&1; then
  pass "cc hello.c \$(pkg-config --cflags --libs asylink)"
  check_hello hello-pc env LD_LIBRARY_PATH="$LIBDIR" "$T/hello-pc"
  check_eq "hello-pc loads the installed libasylink.so.0" \
    "$(LD_LIBRARY_PATH="$LIBDIR" ldd "$T/hello-pc" | awk '/libasylink/ {print $3}')" \
    "$LIBDIR/libasylink.so.0"
  check_eq "without LD_LIBRARY_PATH it does not find the library (not a system prefix)" \
    "$(env -u LD_LIBRARY_PATH ldd "$T/hello-pc" | awk '/libasylink/ {print $3}')" "not"
else
  fail "cc hello.c \$(pkg-config --cflags --libs asylink)"
  show "$T/cc-hello.log"
fi
# README "Finding libasylink.so.0 at run time": an rpath instead of LD_LIBRARY_PATH.
if "$CC" -std=c11 -Wall -Wextra -Werror "${EXTRA[@]}" -o "$T/hello-rpath" "$T/hello.c" \
  "${PC_FLAGS[@]}" -Wl,-rpath,"$LIBDIR" >"$T/cc-rpath.log" 2>&1; then
  check_hello "hello-rpath (-Wl,-rpath, no LD_LIBRARY_PATH)" env -u LD_LIBRARY_PATH "$T/hello-rpath"
  check_eq "hello-rpath loads the installed libasylink.so.0 by its rpath" \
    "$(env -u LD_LIBRARY_PATH ldd "$T/hello-rpath" | awk '/libasylink/ {print $3}')" \
    "$LIBDIR/libasylink.so.0"
else
  fail "cc hello.c \$(pkg-config --cflags --libs asylink) -Wl,-rpath,LIBDIR"
  show "$T/cc-rpath.log"
fi

if "$CC" -std=c11 -Wall -Wextra -Werror "${EXTRA[@]}" -o "$T/national_node" \
  "$SOURCE_ROOT/examples/national_node.c" "${PC_FLAGS[@]}" >"$T/cc-node.log" 2>&1; then
  pass "cc examples/national_node.c \$(pkg-config --cflags --libs asylink)"
  LD_LIBRARY_PATH="$LIBDIR" "$T/national_node" --help >"$T/node-help.out" 2>&1
  check_eq "national_node --help exits 0" "$?" 0
  check "national_node --help prints its usage" grep -q '^usage: national_node' "$T/node-help.out"
  LD_LIBRARY_PATH="$LIBDIR" "$T/national_node" >/dev/null 2>&1
  check_eq "national_node without a config: usage error (2)" "$?" 2
else
  fail "cc examples/national_node.c \$(pkg-config --cflags --libs asylink)"
  show "$T/cc-node.log"
fi

echo "== static, with pkg-config --static"
# What the README promises: "cc app.c $(pkg-config --static --cflags --libs
# asylink)" links. With libasylink.so installed the linker takes it (and the
# private libraries are merely redundant); in a prefix holding only
# libasylink.a, the same command links the archive, and Requires.private /
# Libs.private must then name everything it needs (the system libraries
# themselves linked shared, as Debian ships them).
read -r -a PC_STATIC <<<"$("$PKG_CONFIG" --static --cflags --libs asylink)"
check_eq "pkg-config --static --libs asylink names libzmq, jansson, libm and -pthread" \
  "$(printf '%s\n' "${PC_STATIC[@]}" | grep -xE -- '-lzmq|-ljansson|-lm|-pthread' | sort -u | wc -l)" 4
if "$CC" -std=c11 -Wall -Wextra -Werror "${EXTRA[@]}" -o "$T/hello-pcs" "$T/hello.c" \
  "${PC_STATIC[@]}" >"$T/cc-pcs.log" 2>&1; then
  pass "cc hello.c \$(pkg-config --static --cflags --libs asylink) (libasylink.so present)"
  check_hello hello-pcs env LD_LIBRARY_PATH="$LIBDIR" "$T/hello-pcs"
else
  fail "cc hello.c \$(pkg-config --static --cflags --libs asylink) (libasylink.so present)"
  show "$T/cc-pcs.log"
fi
SPREFIX="$T/prefix-static"
if [[ $LIBDIR_REL = /* ]]; then SLIBDIR=$LIBDIR_REL; else SLIBDIR="$SPREFIX/$LIBDIR_REL"; fi
"$CMAKE" --install "$BUILD_DIR" --prefix "$SPREFIX" >"$T/install-static.log" 2>&1 &&
  rm -f "$SLIBDIR"/libasylink.so*
read -r -a PC_STATIC <<<"$(PKG_CONFIG_PATH="$SLIBDIR/pkgconfig" "$PKG_CONFIG" --static --cflags --libs asylink)"
if "$CC" -std=c11 -Wall -Wextra -Werror "${EXTRA[@]}" -o "$T/hello-static" "$T/hello.c" \
  "${PC_STATIC[@]}" >"$T/cc-static.log" 2>&1; then
  pass "cc hello.c \$(pkg-config --static --cflags --libs asylink) (only libasylink.a)"
  check_hello hello-static "$T/hello-static"
  check_eq "hello-static needs no libasylink.so" \
    "$(ldd "$T/hello-static" | grep -c libasylink)" 0
else
  fail "cc hello.c \$(pkg-config --static --cflags --libs asylink) (only libasylink.a)"
  show "$T/cc-static.log"
fi

# ---- CMake: find_package(asylink) ----
# README.md ("Building against libasylink") shows this CMakeLists.txt: keep them in step.
echo "== CMake, find_package(asylink)"
mkdir -p "$T/consumer"
cp "$T/hello.c" "$T/consumer/"
cat >"$T/consumer/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.18)
project(asylink_consumer LANGUAGES C)
find_package(asylink 0.1 REQUIRED COMPONENTS static)
add_executable(hello-cmake hello.c)
target_link_libraries(hello-cmake PRIVATE asylink::asylink)
add_executable(hello-cmake-static hello.c)
target_link_libraries(hello-cmake-static PRIVATE asylink::asylink_static)
get_target_property(type asylink::asylink TYPE)
message(STATUS "asylink::asylink is a ${type}, version ${asylink_VERSION}")
EOF
if "$CMAKE" -S "$T/consumer" -B "$T/consumer/build" -DCMAKE_PREFIX_PATH="$PREFIX" \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="${EXTRA_CFLAGS:-}" >"$T/consumer.log" 2>&1 &&
  "$CMAKE" --build "$T/consumer/build" >>"$T/consumer.log" 2>&1; then
  pass "a CMake project builds with find_package(asylink) and asylink::asylink"
  check "asylink::asylink is the shared library" \
    grep -q 'asylink::asylink is a SHARED_LIBRARY, version' "$T/consumer.log"
  check_hello hello-cmake "$T/consumer/build/hello-cmake"
  check_eq "hello-cmake loads the installed libasylink.so.0" \
    "$(ldd "$T/consumer/build/hello-cmake" | awk '/libasylink/ {print $3}')" \
    "$LIBDIR/libasylink.so.0"
  check_hello hello-cmake-static "$T/consumer/build/hello-cmake-static"
  check_eq "hello-cmake-static needs no libasylink.so" \
    "$(ldd "$T/consumer/build/hello-cmake-static" | grep -c libasylink)" 0
else
  fail "a CMake project builds with find_package(asylink) and asylink::asylink"
  show "$T/consumer.log"
fi
mkdir -p "$T/consumer2"
cat >"$T/consumer2/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.18)
project(asylink_too_new LANGUAGES C)
find_package(asylink 99 REQUIRED)
EOF
"$CMAKE" -S "$T/consumer2" -B "$T/consumer2/build" -DCMAKE_PREFIX_PATH="$PREFIX" \
  -DCMAKE_C_COMPILER="$CC" >"$T/consumer2.log" 2>&1
check_eq "find_package(asylink 99) is refused (version check)" "$?" 1

# ---- the installed example against a broker ----
if [[ $WITH_BROKER -eq 1 && -x $T/national_node ]]; then
  echo "== installed national_node: DE -> FR through asylinkd"
  make_federation && write_broker_ini && start_broker
  check "broker starts" test -n "$ENDPOINT"
  for node in DE FR; do
    cat >"$T/$node.ini" <<EOF
[node]
broker_endpoint = $ENDPOINT
broker_cert = $FED/trust/nodes/BROKER.EU.cert
node_cert = $FED/trust/nodes/$node.cert
key_file = $FED/keys/$node.key
trust_dir = $FED/trust
data_dir = $node-data
EOF
  done
  LD_LIBRARY_PATH="$LIBDIR" "$T/national_node" --once --expect 1 --timeout 60 "$T/FR.ini" \
    >"$T/fr.out" 2>"$T/fr.err" </dev/null &
  fr_pid=$!
  PIDS+=("$fr_pid")
  LD_LIBRARY_PATH="$LIBDIR" "$T/national_node" --to FR --once --timeout 60 "$T/DE.ini" \
    >"$T/de.out" 2>"$T/de.err" </dev/null
  check_eq "DE: national_node --to FR --once exits 0" "$?" 0
  wait_pid "$fr_pid" 60
  check_eq "FR: national_node --once --expect 1 exits 0" "$?" 0
  sent=$(field "$T/de.out" id)
  check "DE printed sent id=..." test -n "$sent"
  check "DE saw its message accepted" grep -q "^accepted id=$sent" "$T/de.out"
  check "DE saw FR's receipt" grep -q "^receipt id=$sent from=FR" "$T/de.out"
  check "DE saw it delivered" grep -q "^delivered id=$sent" "$T/de.out"
  # The example sends a real asylink.v1.InformationRequest (its JSON converted by the
  # installed library's asylink_payload_from_json()), as PERSONAL: what it teaches.
  check "DE sent an asylink.v1.InformationRequest as PERSONAL" grep -qE \
    "^sent id=$sent to=FR content_type=asylink.v1.InformationRequest classification=PERSONAL size=[0-9]+$" \
    "$T/de.out"
  check "FR received it from DE (sender, type, classification, size)" grep -qE \
    "^received id=$sent from=DE content_type=asylink.v1.InformationRequest classification=PERSONAL size=[0-9]+$" \
    "$T/fr.out"
  check "FR acked it" grep -q "^acked id=$sent" "$T/fr.out"
  check "FR printed no payload" bash -c "! grep -q 'EXAMPLE-CASE-0001' '$T/fr.out' '$T/fr.err'"

  # SIGINT ends the loop cleanly.
  LD_LIBRARY_PATH="$LIBDIR" "$T/national_node" "$T/FR.ini" >"$T/fr2.out" 2>"$T/fr2.err" \
    </dev/null &
  fr_pid=$!
  PIDS+=("$fr_pid")
  sleep 1
  kill -INT "$fr_pid"
  wait_pid "$fr_pid" 15
  check_eq "national_node exits 0 on SIGINT" "$?" 0
  check "broker stops cleanly" stop_broker
  for f in de fr fr2; do
    [[ $failed -eq 0 ]] || show "$T/$f.out" "$f stdout"
    [[ $failed -eq 0 ]] || show "$T/$f.err" "$f stderr"
  done
fi

summary
