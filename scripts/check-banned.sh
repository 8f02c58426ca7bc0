#!/usr/bin/env bash
# Fails if a banned C function appears in the project's own sources
# (strcpy, strcat, sprintf, vsprintf, gets, atoi, atol, atof, strtok).
set -u
cd "$(dirname "$0")/.."
hits=$(grep -rnE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atof|strtok)\s*\(' \
       --include='*.c' --include='*.h' core broker client tools docgen include bench tests/support 2>/dev/null |
       grep -vE '\b(snprintf|vsnprintf)\s*\(' )
if [ -n "$hits" ]; then
    echo "banned functions used:"
    echo "$hits"
    exit 1
fi
echo "no banned functions"
