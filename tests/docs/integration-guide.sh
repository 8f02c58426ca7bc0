#!/usr/bin/env bash
# integration-guide.sh SOURCE_ROOT — docs/INTEGRATION.md, the integrator's
# guide to libasylink, names only what the public headers declare, and its
# complete programs compile against them:
#   (a) every asylink_* and ASYLINK_* identifier in the guide occurs in
#       include/asylink/asylink.h or include/asylink/errors.h;
#   (b) every fenced ```c block whose first line is /* compile-check */ passes
#       cc -std=c99 -Wall -Werror -fsyntax-only -I SOURCE_ROOT/include.
# Environment: CC (default cc).
set -euo pipefail
ROOT=${1:?usage: integration-guide.sh SOURCE_ROOT}
CC=${CC:-cc}
GUIDE="$ROOT/docs/INTEGRATION.md"
HEADERS=("$ROOT/include/asylink/asylink.h" "$ROOT/include/asylink/errors.h")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" guide

if [[ ! -s $GUIDE ]]; then
  echo "FAIL  $GUIDE is missing or empty"
  exit 1
fi

# ---- (a) identifiers ----
cat "${HEADERS[@]}" >"$T/headers"
grep -oE 'asylink_[a-z0-9_]+|ASYLINK_[A-Z0-9_]+' "$GUIDE" | sort -u >"$T/names" || true
n_names=$(wc -l <"$T/names")
unknown=()
while IFS= read -r name; do
  grep -qw -- "$name" "$T/headers" || unknown+=("$name")
done <"$T/names"
if [[ $n_names -eq 0 ]]; then
  fail "the guide names asylink_* / ASYLINK_* identifiers (found none)"
elif [[ ${#unknown[@]} -eq 0 ]]; then
  pass "all $n_names asylink_*/ASYLINK_* names of the guide are in asylink.h or errors.h"
else
  fail "names in the guide that asylink.h and errors.h do not declare: ${unknown[*]}"
  for name in "${unknown[@]}"; do
    grep -n -- "$name" "$GUIDE" | head -3 | sed "s/^/      | INTEGRATION.md:/"
  done
fi

# ---- (b) complete programs ----
# Each ```c block is written to its own file; the ones whose first line is
# the marker are compiled. Unterminated blocks are an error.
awk -v dir="$T" '
  !inside && /^```c[ \t]*$/ { inside = 1; n++; first = 1; file = sprintf("%s/block%02d.c", dir, n);
                              start[n] = NR; next }
  inside && /^```[ \t]*$/ { inside = 0; close(file); next }
  inside { if (first) { marked[n] = ($0 ~ /^\/\* compile-check \*\/[ \t]*$/); first = 0 }
           print > file }
  END { for (i = 1; i <= n; i++) printf "%d %d %d\n", i, start[i], marked[i] > (dir "/blocks");
        if (inside) exit 3 }
' "$GUIDE" || {
  fail "every \`\`\`c block of the guide is closed"
  echo
  echo "$passed passed, $failed failed"
  exit 1
}
compiled=0
if [[ -f $T/blocks ]]; then
  while read -r i line marked; do
    [[ $marked -eq 1 ]] || continue
    compiled=$((compiled + 1))
    src=$(printf '%s/block%02d.c' "$T" "$i")
    if "$CC" -std=c99 -Wall -Werror -fsyntax-only -I"$ROOT/include" "$src" >"$T/cc.log" 2>&1; then
      pass "the program at INTEGRATION.md line $line compiles (-std=c99 -Wall -Werror)"
    else
      fail "the program at INTEGRATION.md line $line compiles (-std=c99 -Wall -Werror)"
      sed "s|$src:|block at INTEGRATION.md line $line, its line |; s|$src|block at INTEGRATION.md line $line|; s/^/      | /" "$T/cc.log" | head -20
    fi
  done <"$T/blocks"
fi
if [[ $compiled -eq 0 ]]; then
  fail "the guide has complete programs marked /* compile-check */ (found none)"
fi

echo
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
