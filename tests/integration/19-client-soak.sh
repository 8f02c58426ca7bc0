#!/usr/bin/env bash
# 19-client-soak.sh — the crash soak (scripts/soak.sh) with 10 SIGKILLs of
# the broker and of client processes at random points: every message sent
# OK handed over and acknowledged exactly once, every ack a receipt, the
# broker's store empty at the end. Run scripts/soak.sh --kills 100 by hand.
#
#   tests/integration/19-client-soak.sh ASYLINKD ASYLINK ASYLINK-PEER SOAK_CLIENT
exec bash "$(dirname "$0")/../../scripts/soak.sh" --kills "${SOAK_KILLS:-10}" "$@"
