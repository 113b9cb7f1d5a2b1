#!/usr/bin/env bash
# Runs every test: sets the machine up (scripts/setup.sh), builds, then runs the ava suites.
# Unit tests run as any user; privileged tests (real namespaces, mounts, networking) run when
# root and are reported as skipped otherwise. Ends with the line "N passed, N failed, N skipped".
# Usage: scripts/test.sh [ava file globs...]
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

export NX_DAEMON=false NX_NO_CLOUD=true
log=$(mktemp /tmp/rktnetes-test.XXXXXX)
npx ava --tap "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
pass=$(grep -E '^# pass ' "$log" | awk '{print $3}' | tail -1)
fail=$(grep -E '^# fail ' "$log" | awk '{print $3}' | tail -1)
skip=$(grep -E '^# skip ' "$log" | awk '{print $3}' | tail -1)
todo=$(grep -E '^# todo ' "$log" | awk '{print $3}' | tail -1)
pass=${pass:-0} fail=${fail:-0} skip=$(( ${skip:-0} + ${todo:-0} ))
# ava exits non-zero for an uncaught error outside a test: count it as a failure.
if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
rm -f "$log"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
