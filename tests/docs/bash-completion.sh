#!/usr/bin/env bash
# bash-completion.sh COMPLETION ASYLINK — the generated bash completion for
# asylink (docgen/) loads in a plain bash and completes what the program
# accepts: commands and subcommands, options, CHOICE values and files; at
# every level its words are exactly what `asylink ... --help` lists.
set -uo pipefail
COMPLETION=${1:?usage: bash-completion.sh COMPLETION ASYLINK}
ASYLINK=${2:?}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" compl

if bash -n "$COMPLETION" 2>"$T/syntax"; then pass "bash -n: the script parses"; else
  fail "bash -n"; cat "$T/syntax"; fi

# complete WORD...: what the completion offers for the words typed (last = current), sorted.
complete_words() {
  bash --norc --noprofile -c '
    source "$1" || exit 3
    shift
    [[ $(complete -p asylink) == "complete -F _asylink asylink" ]] || exit 4
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    _asylink
    printf "%s\n" "${COMPREPLY[@]}"' completion "$COMPLETION" "$@" | sort
}
# expect DESC "WANTED WORDS" WORD...
expect() {
  local desc=$1 want got
  want=$(tr ' ' '\n' <<<"$2" | sed '/^$/d' | sort)
  shift 2
  got=$(complete_words "$@")
  if [[ $got == "$want" ]]; then pass "$desc"; else
    fail "$desc: got '$(echo $got)', wanted '$(echo $want)'"; fi
}

expect "a command: asylink se<TAB>" "send" asylink se
expect "two commands: asylink re<TAB>" "receipts recv reload" asylink re
expect "a subcommand: asylink ca s<TAB>" "sign" asylink ca s
expect "an option: asylink send --cl<TAB>" "--class" asylink send --cl
expect "options after others: asylink recv --config x --i<TAB>" "--idle" asylink recv --config x --i
expect "a CHOICE value: asylink send --class P<TAB>" "PERSONAL PUBLIC" asylink send --class P
expect "a CHOICE value: asylink subscribe --format <TAB>" "csv jsonl" asylink subscribe --format ""
expect "a free value offers nothing: asylink send --to <TAB>" "" asylink send --to ""
mkdir -p "$T/files/sub"
touch "$T/files/node.ini" "$T/files/note.txt"
expect "a FILE value: asylink send --config .../n<TAB>" "$T/files/node.ini $T/files/note.txt" \
  asylink send --config "$T/files/n"
expect "a DIR value: asylink keygen --dir .../s<TAB>" "$T/files/sub" asylink keygen --dir "$T/files/s"
expect "a FILE operand: asylink cert show .../no<TAB>" "$T/files/node.ini $T/files/note.txt" \
  asylink cert show "$T/files/no"
expect "help takes commands: asylink help d<TAB>" "dlq" asylink help d

# At every level, exactly what --help lists.
# A group offers its subcommands for an empty word, a leaf its options for "-"
# (an empty word may be a file operand).
check_level() { # check_level PATH...: subcommands or options of `asylink PATH --help`
  local want got sub cur=""
  mapfile -t sub < <("$ASYLINK" "$@" --help 2>/dev/null |
    sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
  [[ ${#sub[@]} -eq 0 ]] && cur=-
  want=$( ("$ASYLINK" "$@" --help 2>/dev/null |
    sed -n -e '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' \
      -e '/^Options:/,/^$/s/^  \(--[a-z][a-z-]*\).*/\1/p'
    echo --help
    [[ $# -eq 0 ]] && echo --version) | sort -u)
  got=$(complete_words asylink "$@" "$cur" | sort -u)
  if [[ $got != "$want" ]]; then
    mismatch+=("asylink $*: completion '$(echo $got)' vs --help '$(echo $want)'")
  fi
  for s in "${sub[@]}"; do
    [[ $s == help ]] || check_level "$@" "$s"
  done
}
mismatch=()
check_level
if [[ ${#mismatch[@]} -eq 0 ]]; then pass "every level completes exactly what --help lists"; else
  fail "every level completes exactly what --help lists"
  printf '      | %s\n' "${mismatch[@]}" | head -20
fi

echo
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
