#!/usr/bin/env bash
# certs-example/generate.sh — regenerates the example federation: a CA, the
# keys and certificates of its nodes, and a ready trust directory.
#
#   certs-example/generate.sh [path/to/asylink]
#
# Uses only the asylink tool (default: build/tools/asylink of this checkout,
# else asylink on PATH). Deletes the previously generated ca/, keys/ and
# trust/ first. The keys it writes are NOT passphrase-protected, so the demo
# runs unattended: they are public examples, never for production.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

if [[ $# -gt 1 ]]; then
  echo "usage: $0 [path/to/asylink]" >&2
  exit 2
elif [[ $# -eq 1 ]]; then
  asylink="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
elif [[ -x "$root/build/tools/asylink" ]]; then
  asylink="$root/build/tools/asylink"
elif command -v asylink >/dev/null 2>&1; then
  asylink="$(command -v asylink)"
else
  echo "$0: no asylink binary: build it (cmake -S . -B build && cmake --build build)" \
       "or pass its path" >&2
  exit 1
fi
[[ -x "$asylink" ]] || { echo "$0: $asylink is not executable" >&2; exit 1; }

DAYS=3650
CA_ID=ASYLINK.CA
CA_NAME="asylink example federation CA (public test key, NOT FOR PRODUCTION)"

# node id | roles | display name
NODES=(
  "BROKER.EU|broker|asylink broker of the European Union Agency for Asylum"
  "DE|member_state|Bundesamt für Migration und Flüchtlinge"
  "FR|member_state|Office français de protection des réfugiés et apatrides"
  "IT|member_state|Ministero dell'Interno – Commissione Nazionale per il Diritto di Asilo"
  "EUAA|agency|European Union Agency for Asylum"
  "EUAA.ANALYSIS|analyst|European Union Agency for Asylum – Analysis"
  "OPS|operator|asylink operations desk"
)

# No passphrase anywhere: the example keys must load unattended.
unset ASYLINK_PASSPHRASE

cd "$here"
rm -rf ca keys trust
mkdir -p trust/nodes

echo "== CA $CA_ID"
"$asylink" ca init --dir ca --id "$CA_ID" --name "$CA_NAME" --valid-days "$DAYS" </dev/null

for entry in "${NODES[@]}"; do
  IFS='|' read -r id roles name <<<"$entry"
  echo "== $id ($roles)"
  "$asylink" keygen --id "$id" --name "$name" --roles "$roles" --dir keys </dev/null
  "$asylink" ca sign --dir ca --request "keys/$id.csr" --out "trust/nodes/$id.cert" \
    --valid-days "$DAYS" </dev/null
done

cp ca/ca.cert ca/revoked.crl trust/

echo "== checking the trust directory"
for entry in "${NODES[@]}"; do
  IFS='|' read -r id _ _ <<<"$entry"
  "$asylink" cert verify "trust/nodes/$id.cert" --trust trust --key "keys/$id.key" </dev/null
done

echo "Example federation written to $here (ca/, keys/, trust/)."
