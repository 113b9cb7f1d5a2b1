#!/usr/bin/env bash
# Parallel runs, fetches of one image, a gc loop and API readers (test/fault/concurrency.test.ts).
# Usage: stress/concurrency.sh [RUNS=100] [FETCHES=25]
set -euo pipefail
cd "$(dirname "$0")/.."
export FAULT_PARALLEL_RUNS="${1:-100}"
export FAULT_PARALLEL_FETCHES="${2:-25}"
exec npx ava test/fault/concurrency.test.ts --timeout=60m --verbose
