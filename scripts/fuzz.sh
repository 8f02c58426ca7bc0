#!/usr/bin/env bash
# scripts/fuzz.sh — runs every libFuzzer target of a fuzzing build for a
# while and FAILS if any of them finds a crash, a leak, a timeout or an
# out-of-memory input, or exits abnormally.
#
#   scripts/fuzz.sh [--build DIR] [--seconds N | --minutes N | --total N]
#                   [--only NAME] [--keep DIR]
#
#   --build DIR    the fuzzing build (CC=clang cmake -DASYLINK_FUZZ=ON),
#                  default build-fuzz; every DIR/tests/fuzz/fuzz_* runs
#   --seconds N    fuzzing time per target (default 30)
#   --minutes N    the same in minutes (for long runs outside CI)
#   --total N      N seconds for all targets together, split evenly (at
#                  least 5 s each), so that a new target costs CI no time
#   --only NAME    run only fuzz_NAME (repeatable)
#   --target PATH  run this libFuzzer binary (repeatable; used by the
#                  fuzz.sh self-test, whose planted target must fail)
#   --keep DIR     where failing inputs are copied (default DIR/fuzz-failures)
#
# Each target starts from a scratch copy of its seed corpus
# (tests/fuzz/corpus/NAME) plus its regression inputs
# (tests/fuzz/regressions/NAME), so the repository is never written.
# A failing input is copied to the keep directory and printed in base64:
# add it to tests/fuzz/regressions/NAME/ so that ctest replays it for ever
# (fuzz.NAME.regressions). Exit status: 0 only if every target ran its time
# and found nothing.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=build-fuzz
seconds=30
total=
only=()
explicit=()
keep=

usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case $1 in
    --build) build=${2:?--build needs a directory}; shift 2 ;;
    --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
    --minutes) seconds=$(( ${2:?--minutes needs a number} * 60 )); shift 2 ;;
    --total) total=${2:?--total needs a number}; shift 2 ;;
    --only) only+=("${2:?--only needs a target name}"); shift 2 ;;
    --target) explicit+=("${2:?--target needs a path}"); shift 2 ;;
    --keep) keep=${2:?--keep needs a directory}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
case $seconds in ''|*[!0-9]*) echo "fuzz.sh: --seconds/--minutes take a whole number" >&2; exit 2 ;; esac
case $total in *[!0-9]*) echo "fuzz.sh: --total takes a whole number" >&2; exit 2 ;; esac
case $build in /*) ;; *) build=$root/$build ;; esac
[ -n "$keep" ] || keep=$build/fuzz-failures
if [ ${#explicit[@]} -eq 0 ] && [ ! -d "$build/tests/fuzz" ]; then
    echo "fuzz.sh: no fuzzing build in $build (CC=clang cmake -S . -B $build -DASYLINK_FUZZ=ON)" >&2
    exit 2
fi

targets=()
if [ ${#explicit[@]} -gt 0 ]; then
    targets=("${explicit[@]}")
elif [ ${#only[@]} -gt 0 ]; then
    for n in "${only[@]}"; do targets+=("$build/tests/fuzz/fuzz_$n"); done
else
    for t in "$build"/tests/fuzz/fuzz_*; do
        [ -x "$t" ] && [ -f "$t" ] && targets+=("$t")
    done
fi
if [ ${#targets[@]} -eq 0 ]; then
    echo "fuzz.sh: no fuzz targets in $build/tests/fuzz" >&2
    exit 2
fi
if [ -n "$total" ]; then
    seconds=$(( total / ${#targets[@]} ))
    [ "$seconds" -ge 5 ] || seconds=5
    echo "fuzz.sh: ${total}s for ${#targets[@]} targets: ${seconds}s each"
fi

bad=0
for bin in "${targets[@]}"; do
    name=$(basename "$bin")
    name=${name#fuzz_}
    if [ ! -x "$bin" ]; then
        echo "fuzz.sh: $bin missing"; bad=1; continue
    fi
    work=$(mktemp -d)
    mkdir -p "$work/corpus" "$work/artifacts"
    for d in "$root/tests/fuzz/corpus/$name" "$root/tests/fuzz/regressions/$name"; do
        [ -d "$d" ] && find "$d" -maxdepth 1 -type f -exec cp {} "$work/corpus/" \;
    done
    printf '\n==> fuzz_%s for %ss\n' "$name" "$seconds"
    (cd "$work" && "$bin" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
        -timeout=25 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
        "$work/corpus" >"$work/log" 2>&1)
    rc=$?
    grep -E 'DONE|stat::number_of_executed_units|ERROR|SUMMARY|Test unit written' "$work/log"
    found=$(find "$work/artifacts" -type f | wc -l)
    if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
        bad=1
        mkdir -p "$keep/$name"
        echo "FUZZ FAILURE: fuzz_$name exited $rc with $found failing input(s)"
        tail -40 "$work/log" | sed 's/^/    /'
        for f in "$work"/artifacts/*; do
            [ -f "$f" ] || continue
            cp "$f" "$keep/$name/"
            echo "    kept $keep/$name/$(basename "$f") (base64 $(base64 -w0 <"$f" | cut -c1-120))"
            echo "    add it to tests/fuzz/regressions/$name/ once fixed"
        done
        cp "$work/log" "$keep/$name/fuzz.log"
    fi
    rm -rf "$work"
done
exit $bad
