#!/usr/bin/env bash
# Fails if a file includes a project header from a layer above its own.
# The layers (docs/ARCHITECTURE.md): include/asylink/errors.h and core/ at
# the bottom; broker/ and client/ on core (never on each other; only the
# client library includes asylink/asylink.h); tools/ on core and the public API.
set -u
cd "$(dirname "$0")/.."
# allowed "<dir>" of an included header, per layer
declare -A allowed=(
    [core]="core include/asylink/errors.h"
    [broker]="broker core include/asylink/errors.h"
    [client]="client core include/asylink/errors.h include/asylink/asylink.h"
    [tools]="tools core include/asylink/errors.h include/asylink/asylink.h"
)
bad=0
for layer in core broker client tools; do
    for f in "$layer"/*.c "$layer"/*.h; do
        [ -e "$f" ] || continue
        while IFS= read -r inc; do
            case "$inc" in asylink/v1/*.pb-c.h) continue ;; esac # generated protobuf code
            ok=0
            for a in ${allowed[$layer]}; do
                if [ "$a" = "include/$inc" ] || { [ -d "$a" ] && [ -e "$a/$inc" ]; }; then
                    ok=1
                    break
                fi
            done
            if [ $ok = 0 ]; then
                echo "$f includes \"$inc\", which is not in its layer or below"
                bad=1
            fi
        done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
    done
done
[ $bad = 0 ] || exit 1
echo "include layers respected"
