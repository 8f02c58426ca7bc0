#!/usr/bin/env bash
# 34-client-commit-crash.sh — SIGKILLs of client processes while their
# committer threads commit (DESIGN-CHANGES 37): the crash soak
# (scripts/soak.sh) with every kill hitting a producer or a consumer, at
# 200 messages per second per producer, so that each client's committer is
# busy most of the time (a batch applied, committed with its meta page not
# yet synced, or told) when the kill lands. Checked as in 19: every message
# sent OK handed over and acknowledged exactly once (none lost, none handed
# over again after its acknowledgement returned), every acknowledgement a
# receipt, the broker's store empty at the end.
#
#   tests/integration/34-client-commit-crash.sh ASYLINKD ASYLINK ASYLINK-PEER SOAK_CLIENT
exec bash "$(dirname "$0")/../../scripts/soak.sh" --kills "${SOAK_KILLS:-12}" --rate 200 \
  --clients-only "$@"
