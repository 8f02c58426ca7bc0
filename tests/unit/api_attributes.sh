#!/usr/bin/env bash
# api_attributes.sh CC INCLUDE_DIR — the promises of include/asylink/asylink.h
# that the compiler keeps:
#   1. every function that returns an error code is ASYLINK_NODISCARD (the
#      int-returning functions that return something else are listed here);
#   2. ignoring such a result is a compile error under -Werror;
#   3. a NULL literal for an ASYLINK_NONNULL parameter is a compile error;
#   4. correct use compiles cleanly with -Wall -Wextra -pedantic -Werror;
#   5. the header needs C99, as it says (and README.md): it compiles cleanly
#      with -std=c99 -pedantic -Werror.
set -u
CC=${1:?usage: api_attributes.sh CC INCLUDE_DIR}
INC=${2:?usage: api_attributes.sh CC INCLUDE_DIR}
HDR="$INC/asylink/asylink.h"
fail=0
T=$(mktemp -d "${TMPDIR:-/tmp}/asylink-api.XXXXXX")
trap 'rm -rf "$T"' EXIT

# int-returning functions whose result is not an error code.
not_error_codes=" asylink_fd asylink_connected asylink_event_code "

# 1. Declarations, one per line (comments dropped, statements joined).
sed -e 's#/\*.*\*/##g' "$HDR" | sed -e '/\/\*/,/\*\//d' | tr '\n' ' ' | tr ';' '\n' |
  grep -E 'ASYLINK_EXPORT' | grep -Eo 'ASYLINK_EXPORT[^(]*\(' >"$T/decls"
n_int=0
while read -r decl; do
  name=$(grep -Eo 'asylink_[a-z_]+ *\($' <<<"$decl" | tr -d ' (')
  if grep -Eq '(^|[^a-z_])int +asylink_' <<<"$decl"; then
    n_int=$((n_int + 1))
    if [[ "$not_error_codes" == *" $name "* ]]; then
      continue
    fi
    if ! grep -q ASYLINK_NODISCARD <<<"$decl"; then
      echo "FAIL: $name returns an error code but is not ASYLINK_NODISCARD"
      fail=1
    fi
  fi
done <"$T/decls"
if [ "$n_int" -lt 15 ]; then
  echo "FAIL: found only $n_int int-returning declarations in $HDR (parser broken?)"
  fail=1
fi

# Compiles $T/t.c with -Werror; prints the compiler's messages into $T/out.
compile() {
  "$CC" -std=c11 -Wall -Wextra -pedantic -Werror -c -o "$T/t.o" -I"$INC" "$T/t.c" >"$T/out" 2>&1
}

# 2. An ignored error code does not compile.
cat >"$T/t.c" <<'C'
#include "asylink/asylink.h"
void f(asylink_client *c) { asylink_reload_trust(c); }
C
if compile; then
  echo "FAIL: ignoring asylink_reload_trust()'s result compiles"
  fail=1
elif ! grep -Eq 'unused-result|warn_unused_result' "$T/out"; then
  echo "FAIL: ignoring a result fails for another reason:"; cat "$T/out"; fail=1
fi

# 3. A NULL for a required pointer does not compile.
cat >"$T/t.c" <<'C'
#include "asylink/asylink.h"
int f(asylink_client *c) { return asylink_recv(c, 0, (asylink_message **)0); }
C
if compile; then
  echo "FAIL: asylink_recv(c, 0, NULL) compiles"
  fail=1
elif ! grep -q 'nonnull' "$T/out"; then
  echo "FAIL: a NULL out parameter fails for another reason:"; cat "$T/out"; fail=1
fi

# 4. Correct use, with the NULLs the header allows, compiles cleanly.
cat >"$T/t.c" <<'C'
#include "asylink/asylink.h"
#include <stddef.h>
int f(asylink_client *c)
{
    asylink_message *m = NULL;
    uint8_t *env = NULL;
    size_t len = 0, n = 0;
    int rc = asylink_recv(c, 0, &m);
    if (rc == ASYLINK_OK)
        rc = asylink_ack(c, asylink_message_id(m));
    (void)asylink_message_payload(m, NULL);
    asylink_message_free(&m);
    if (rc == ASYLINK_OK)
        rc = asylink_receipts(c, (const uint8_t *)"0123456789abcdef", NULL, 0, &n);
    if (rc == ASYLINK_OK)
        rc = asylink_receipt_export(c, (const uint8_t *)"0123456789abcdef", "FR", &env, &len);
    asylink_free(env);
    asylink_client_close(NULL);
    return rc == ASYLINK_OK ? asylink_fd(c) : rc;
}
C
if ! compile; then
  echo "FAIL: correct use of the API does not compile cleanly:"; cat "$T/out"; fail=1
fi

# 5. C99 is enough (the header's opening comment and README.md say "C99 or later").
cat >"$T/t.c" <<'C'
#include "asylink/asylink.h"
int f(void) { return ASYLINK_OK; }
C
if ! "$CC" -std=c99 -Wall -Wextra -pedantic -Werror -c -o "$T/t.o" -I"$INC" "$T/t.c" >"$T/out" 2>&1; then
  echo "FAIL: the header does not compile cleanly as C99:"; cat "$T/out"; fail=1
fi

[ "$fail" = 0 ] && echo "ok: $n_int int-returning functions checked; attributes enforced by $CC"
exit "$fail"
