#!/usr/bin/env bash
# bench-help.sh SOURCE_DIR BENCH... — every benchmark program (bench/) answers
# --help and -h with its usage on stdout (nothing on stderr) and exit 0, and
# an unknown option with the usage on stderr (nothing on stdout) and exit 2;
# its usage names every long option of its getopt table (struct option in
# bench/NAME.c), and bench/README.md says so. Nothing is measured: each
# program stops at its option parsing.
set -uo pipefail
SRC=${1:?usage: bench-help.sh SOURCE_DIR BENCH...}
shift
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" bench-help

# Every bench/bench_*.c is passed here (tests/CMakeLists.txt globs them too).
want=$(cd "$SRC/bench" && ls bench_*.c | sed 's/\.c$//' | sort | tr '\n' ' ')
got=$(for b in "$@"; do basename "$b"; done | sort | tr '\n' ' ')
if [[ $want == "$got" ]]; then pass "every bench program is checked ($got)"; else
  fail "bench programs: got '$got', wanted '$want'"; fi

for b in "$@"; do
  name=$(basename "$b")
  for opt in --help -h; do
    timeout 10 "$b" "$opt" >"$T/out" 2>"$T/err"
    rc=$?
    if [[ $rc -eq 0 && -s $T/out && ! -s $T/err ]] && grep -q "^usage: $name" "$T/out"; then
      pass "$name $opt: usage on stdout, exit 0"
    else
      fail "$name $opt: exit $rc, stdout $(wc -c <"$T/out") bytes, stderr: $(head -c 200 "$T/err")"
    fi
  done
  timeout 10 "$b" --no-such-option >"$T/uout" 2>"$T/uerr"
  rc=$?
  if [[ $rc -eq 2 && ! -s $T/uout ]] && grep -q "^usage: $name" "$T/uerr"; then
    pass "$name --no-such-option: usage on stderr, exit 2"
  else
    fail "$name --no-such-option: exit $rc, stdout $(wc -c <"$T/uout") bytes"
  fi
  # A value out of range is a command-line mistake too (exit 2), for those taking --messages.
  if grep -q '{"messages",' "$SRC/bench/$name.c"; then
    timeout 10 "$b" --asylinkd /bin/true --certs "$T" --messages 0 >"$T/vout" 2>"$T/verr"
    rc=$?
    if [[ $rc -eq 2 && ! -s $T/vout ]] && grep -q -- "--messages" "$T/verr"; then
      pass "$name --messages 0: refused on stderr, exit 2"
    else
      fail "$name --messages 0: exit $rc, stderr: $(head -c 200 "$T/verr")"
    fi
  fi
  # The long options of its getopt table, each named in the usage.
  timeout 10 "$b" --help >"$T/out" 2>/dev/null
  opts=$(grep -oE '\{"[a-z][a-z0-9-]*", *(required|no|optional)_argument' "$SRC/bench/$name.c" |
    sed -E 's/^\{"([^"]*)".*/\1/')
  for o in $opts; do
    if grep -qE -- "--$o([^a-z0-9-]|$)" "$T/out"; then pass "$name --help names --$o"; else
      fail "$name --help does not name --$o"; fi
  done
done

if grep -q -- '--help' "$SRC/bench/README.md"; then pass "bench/README.md mentions --help"; else
  fail "bench/README.md does not mention --help"; fi

echo
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
