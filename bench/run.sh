#!/usr/bin/env bash
# `npm run bench`: runs every bench/*.bench.ts in turn (add a file with that suffix to join).
# Each writes its own section of BENCHMARKS.md. `npm run bench -- cni` runs only the matching ones.
set -euo pipefail
cd "$(dirname "$0")/.."
filter="${1:-}"
status=0
for bench in bench/*.bench.ts; do
  [[ -n "$filter" && "$bench" != *"$filter"* ]] && continue
  echo "== $bench"
  npx ts-node --transpile-only "$bench" || status=1
done
exit $status
