#!/usr/bin/env bash
# man-pages.sh MANDIR ASYLINK ASYLINKD — the generated manual pages
# (docgen/, in MANDIR) are valid man(7) troff, with no warning from groff
# (-ww) or man (--warnings), and say what the programs say: every usage
# form and option of every `asylink ... --help`, every option of
# `asylinkd --help` and every key of `asylinkd --print-example-config`.
# (tests/unit/test_docgen.c checks the pages row by row against the tables.)
set -uo pipefail
MANDIR=${1:?usage: man-pages.sh MANDIR ASYLINK ASYLINKD}
ASYLINK=${2:?}
ASYLINKD=${3:?}
PAGES=(asylink.1 asylinkd.8 asylinkd.ini.5 asylink-node.ini.5)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" man

if ! command -v groff >/dev/null; then
  echo "groff is missing (Debian: groff-base)"
  exit 1
fi
export LC_ALL=C.UTF-8

# ---- valid troff ----
for p in "${PAGES[@]}"; do
  f="$MANDIR/$p"
  if [[ ! -s $f ]]; then
    fail "$p generated"
    continue
  fi
  groff -man -ww -z "$f" >"$T/groff.err" 2>&1
  if [[ $? -eq 0 && ! -s $T/groff.err ]]; then pass "groff -man -ww -z $p: no warning"; else
    fail "groff -man -ww -z $p"; sed 's/^/      | /' "$T/groff.err"; fi
  if command -v man >/dev/null; then
    MANWIDTH=80 man --warnings -l -Tutf8 "$f" >"$T/$p.txt" 2>"$T/man.err"
    if [[ $? -eq 0 && ! -s $T/man.err ]]; then pass "man --warnings -l $p: no warning"; else
      fail "man --warnings -l $p"; sed 's/^/      | /' "$T/man.err"; fi
  fi
  # Plain text, one paragraph per line (and without indentation), for the comparisons below.
  groff -man -Tascii -P-cbou -rLL=400n "$f" 2>/dev/null >"$T/$p.plain"
  sed 's/^ *//' "$T/$p.plain" >"$T/$p.lines"
  for s in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
    grep -q "^$s\$" "$T/$p.plain" || fail "$p has a $s section"
  done
done

# starts_line TEXT FILE: a line of FILE is TEXT, or TEXT and a blank (a short
# option tag shares its line with the help text).
starts_line() {
  awk -v t="$1" 'index($0, t) == 1 && (length($0) == length(t) ||
    substr($0, length(t) + 1, 1) == " ") { found = 1 } END { exit !found }' "$2"
}

# ---- asylink(1) says what `asylink ... --help` says ----
# The command paths, from the --help of the root and of each group.
paths=()
walk() { # walk PATH...: adds every leaf under the command PATH
  local sub
  mapfile -t sub < <("$ASYLINK" "$@" --help 2>/dev/null |
    sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
  if [[ ${#sub[@]} -eq 0 ]]; then
    paths+=("$*")
    return
  fi
  local s
  for s in "${sub[@]}"; do
    if [[ $s == help ]]; then paths+=(help); else walk "$@" "$s"; fi # `help --help` is the root's
  done
}
walk
n_paths=${#paths[@]}
[[ $n_paths -ge 15 ]] && pass "asylink --help lists $n_paths commands" ||
  fail "asylink --help lists commands (only $n_paths)"
missing=()
for path in "${paths[@]}"; do
  [[ $path == help ]] && continue
  read -r -a words <<<"$path"
  "$ASYLINK" "${words[@]}" --help >"$T/help.txt" 2>&1
  grep -qx "   asylink $path" "$T/asylink.1.plain" || missing+=("section 'asylink $path'")
  while IFS= read -r usage; do
    grep -qF -- "asylink $path $usage" "$T/asylink.1.plain" || missing+=("usage 'asylink $path $usage'")
  done < <(sed -n "s/^\(Usage\|   or\): asylink $path //p" "$T/help.txt")
  while IFS= read -r opt; do
    starts_line "$opt" "$T/asylink.1.lines" || missing+=("$path: option '$opt'")
  done < <(sed -n 's/^  \(--[a-z][^ ]*\( [^ ]\+\)\?\)\(  .*\)\?$/\1/p' "$T/help.txt")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  pass "asylink.1 holds every command, usage form and option of --help"
else
  fail "asylink.1 holds every command, usage form and option of --help"
  printf '      | missing %s\n' "${missing[@]}" | head -20
fi

# ---- asylinkd(8) and asylinkd.ini(5) say what asylinkd says ----
missing=()
while IFS= read -r opt; do
  grep -qF -- "$opt" "$T/asylinkd.8.plain" || missing+=("$opt")
done < <("$ASYLINKD" --help | sed -n 's/^  \(-., \|    \)\(--[a-z-]*\( [A-Z]\+\)\?\)\(  .*\)\?$/\2/p')
[[ ${#missing[@]} -eq 0 ]] && pass "asylinkd.8 holds every option of asylinkd --help" ||
  fail "asylinkd.8 lacks options of --help: ${missing[*]}"
missing=()
n_keys=0
while IFS= read -r key; do
  n_keys=$((n_keys + 1))
  grep -qE -- "^ +$key = [a-z]+\$" "$T/asylinkd.ini.5.plain" || missing+=("$key")
done < <("$ASYLINKD" --print-example-config | sed -n 's/^#\?\([a-z_]*\) =.*/\1/p')
[[ ${#missing[@]} -eq 0 && $n_keys -ge 30 ]] &&
  pass "asylinkd.ini.5 documents all $n_keys keys of --print-example-config" ||
  fail "asylinkd.ini.5 documents the keys of --print-example-config ($n_keys; missing: ${missing[*]})"
grep -q '^ *node_id = string$' "$T/asylinkd.ini.5.plain" && grep -q '^ *broker_cert = path$' \
  "$T/asylink-node.ini.5.plain" && pass "the .ini pages list keys with their types" ||
  fail "the .ini pages list keys with their types"

echo
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
