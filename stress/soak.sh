#!/usr/bin/env bash
# Repeats the whole fault tier ROUNDS times, each crash round with a new seed; stops at the
# first failure and prints the seeds tried.
# Usage: stress/soak.sh [ROUNDS=10] [POINTS=100]
set -uo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-10}"
points="${2:-100}"
seeds=()
for i in $(seq 1 "$rounds"); do
  seed=$(( (RANDOM << 16 | RANDOM) ))
  seeds+=("$seed")
  echo "== round $i/$rounds, seed $seed"
  if ! FAULT_SEED="$seed" FAULT_KILL_POINTS="$points" npx ava 'test/fault/**/*.test.ts' --timeout=60m; then
    echo "round $i failed; seeds so far: ${seeds[*]}"
    exit 1
  fi
done
echo "all $rounds rounds passed; seeds: ${seeds[*]}"
