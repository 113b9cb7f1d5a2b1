#!/usr/bin/env bash
# kill -9 at many random points of fetch, render, prepare, run and gc (test/fault/crash.test.ts).
# Usage: stress/crash.sh [POINTS=500] [SEED]
# A failure prints its seed; run again with the same SEED to replay the schedule.
set -euo pipefail
cd "$(dirname "$0")/.."
export FAULT_KILL_POINTS="${1:-500}"
if [ -n "${2:-}" ]; then export FAULT_SEED="$2"; fi
exec npx ava test/fault/crash.test.ts --timeout=120m --verbose
