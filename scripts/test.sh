#!/usr/bin/env bash
# scripts/test.sh — installs asylink's build dependencies (Debian 12),
# builds it three ways and runs every test:
#   build/       normal build, -Werror, all ctest tests
#   build-asan/  -fsanitize=address,undefined, all ctest tests again
#   build-fuzz/  clang + libFuzzer: seed corpora and kept regression inputs
#                replayed, the harness self-test, then the decoders fuzzed
#                by scripts/fuzz.sh for FUZZ_TOTAL_SECONDS (default 120)
#                split evenly between the targets (or FUZZ_SECONDS each,
#                if set), which fails on any crash, leak, timeout or
#                undefined behaviour
# plus a check that no banned C function crept in. Ends with one line
# "test.sh: N passed, M failed". Exit status 0 only if everything passed.
#
# Time: the sanitizer and fuzzing builds are compiled at the lowest CPU
# priority (nice 19) while the normal build's tests run: most of those wait
# on real timers, and the compilers take only the CPU they leave idle.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fuzz_total=${FUZZ_TOTAL_SECONDS:-120}
fuzz_seconds=${FUZZ_SECONDS:-}
jobs=$(nproc 2>/dev/null || echo 2)
# ctest runs twice as many tests as there are cores: the longest tests
# mostly wait on real timers (heartbeats, backoffs, lease expiry), so a
# core per test leaves the machine half idle. The long ones are started
# first (their COST in tests/integration/CMakeLists.txt). ASYLINK_TEST_JOBS
# overrides, e.g. 1 to rule out load when a timing-bound test fails.
test_jobs=${ASYLINK_TEST_JOBS:-$((2 * jobs))}
started=$SECONDS
phases=()
passed=0
failed=0
failures=()

say() { printf '\n==> [%4ds] %s\n' "$((SECONDS - started))" "$*"; }

# phase NAME command...: runs it and remembers how long it took
phase() {
    local name=$1 t0=$SECONDS rc
    shift
    "$@"
    rc=$?
    phases+=("$(printf '%-22s %5ds' "$name" "$((SECONDS - t0))")")
    return "$rc"
}

install_deps() {
    local pkgs=(build-essential cmake pkg-config clang libclang-rt-dev python3
                libzmq3-dev libsodium-dev libprotobuf-c-dev protobuf-c-compiler
                liblmdb-dev libinih-dev libjansson-dev libmicrohttpd-dev libcmocka-dev
                chromium fonts-dejavu-core prometheus python3-matplotlib
                curl pacemaker-cli-utils keepalived python3-nacl lmdb-utils
                dpkg-dev debhelper dh-python pybuild-plugin-pyproject python3-all
                python3-setuptools python3-wheel python3-pip python3-venv
                groff-base man-db systemd
                lmdb-utils  # mdb_copy -c: 27-ops-erasure compacts stores to find erased bytes
                jq) # jq: 25-ops-audit reads audit exports as an operator would;
                # python3-nacl: evidence_check.py and vectors.independent (batch signatures);
                # lmdb-utils: mdb_stat and mdb_dump in 08-broker-diskfull and scripts/soak.sh
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing Debian packages"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq || { echo "apt-get update failed"; exit 1; }
        apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null ||
            { echo "apt-get install failed"; exit 1; }
    else
        echo "not root or no apt-get: assuming these are installed: ${pkgs[*]}"
    fi
}

# Adds a ctest run's counts to the totals: run_ctest NAME DIR [ctest args]
run_ctest() {
    local name=$1 dir=$2
    shift 2
    local log="$dir/ctest.log"
    (cd "$dir" && ctest --output-on-failure -j"$test_jobs" "$@") 2>&1 | tee "$log"
    local line total nfail
    line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
    if [ -z "$line" ]; then
        failed=$((failed + 1))
        failures+=("$name: ctest ran no test or crashed")
        return
    fi
    total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
    nfail=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
    passed=$((passed + total - nfail))
    failed=$((failed + nfail))
    [ "$nfail" = 0 ] || failures+=("$name: $nfail ctest failure(s)")
}

build() {
    local dir=$1
    shift
    say "configure + build $dir ($*)"
    mkdir -p "$dir"
    if ! cmake -S . -B "$dir" -DASYLINK_WERROR=ON "$@" >"$dir/configure.log" 2>&1; then
        cat "$dir/configure.log"
        return 1
    fi
    cmake --build "$dir" -j"$jobs" 2>&1 | grep -E 'error|warning|Error' ; return "${PIPESTATUS[0]}"
}

step() { # step NAME command...: counts one check
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failures+=("$name")
    fi
}

phase "install packages" install_deps

# Debian's own python3 for the build and the tests: it has the modules
# installed above (python3-nacl, matplotlib, pip, setuptools). A python3
# earlier in PATH (pyenv's shim on these machines) takes 0.4 s a start
# against 0.05 s, and the shell tests read JSON with python3 hundreds of
# times: /usr/bin first halved the CPU time of tests 21 and 24.
[ -x /usr/bin/python3 ] && export PATH="/usr/bin:$PATH"

say "banned functions"
step banned-functions scripts/check-banned.sh
say "include layers"
step include-layers scripts/check-layers.sh

if phase "build normal" build build -DASYLINK_SANITIZE=OFF; then
    normal_built=1
else
    normal_built=0
    failed=$((failed + 1)); failures+=("normal build")
fi

# The other two builds, in the background at nice 19, one after the other;
# each leaves its exit status in DIR.status and its output in DIR.log.
background_build() { # background_build DIR [CC] cmake args...
    local dir=$1 cc=$2 t0=$SECONDS
    shift 2
    mkdir -p "$dir"
    (CC=$cc build "$dir" "$@") >"$dir.log" 2>&1
    echo "$? $((SECONDS - t0))" >"$dir.status"
}
rm -f build-asan.status build-fuzz.status
have_clang=0
command -v clang >/dev/null && have_clang=1
(
    renice -n 19 -p "$BASHPID" >/dev/null 2>&1 || true # before the compilers start: they inherit it
    background_build build-asan "${CC:-cc}" -DASYLINK_SANITIZE=ON
    [ "$have_clang" = 1 ] && background_build build-fuzz clang -DASYLINK_FUZZ=ON -DASYLINK_SANITIZE=OFF
) </dev/null &
builds_pid=$!
say "the sanitizer and fuzzing builds run in the background at nice 19"

# wait_build DIR NAME: waits for a background build; prints its output; 0 if it built.
wait_build() {
    local dir=$1 name=$2 t0=$SECONDS rc secs
    while [ ! -f "$dir.status" ] && kill -0 "$builds_pid" 2>/dev/null; do sleep 2; done
    say "configure + build $dir (in the background)"
    cat "$dir.log" 2>/dev/null
    if [ ! -f "$dir.status" ]; then
        phases+=("$(printf '%-22s %5ds' "$name" "$((SECONDS - t0))")")
        return 1
    fi
    read -r rc secs <"$dir.status"
    phases+=("$(printf '%-22s %5ds (in the background; %ds more waited for it)' "$name" "$secs" "$((SECONDS - t0))")")
    return "$rc"
}

if [ "$normal_built" = 1 ]; then
    phase "ctest normal" run_ctest normal build
fi

if wait_build build-asan "build sanitizer"; then
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        phase "ctest sanitizer" run_ctest sanitizer build-asan
else
    failed=$((failed + 1)); failures+=("sanitizer build")
fi

if [ "$have_clang" = 1 ]; then
    if wait_build build-fuzz "build fuzz"; then
        phase "ctest fuzz corpus" run_ctest fuzz-corpus build-fuzz -R '^fuzz\.'
        if [ -n "$fuzz_seconds" ]; then
            say "fuzzing every decoder for ${fuzz_seconds}s (scripts/fuzz.sh)"
            phase fuzzing step fuzzing scripts/fuzz.sh --build build-fuzz --seconds "$fuzz_seconds"
        else
            say "fuzzing the decoders for ${fuzz_total}s in all (scripts/fuzz.sh)"
            phase fuzzing step fuzzing scripts/fuzz.sh --build build-fuzz --total "$fuzz_total"
        fi
    else
        failed=$((failed + 1)); failures+=("fuzz build")
    fi
else
    failed=$((failed + 1)); failures+=("clang missing: fuzz targets not built")
fi

echo
echo "time per phase (ctest -j$test_jobs on $jobs cores):"
for p in "${phases[@]}"; do echo "  $p"; done
echo "  total                  $((SECONDS - started))s"
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "test.sh: $passed passed, $failed failed"
[ "$failed" = 0 ]
