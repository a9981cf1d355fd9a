#!/usr/bin/env bash
# The one test command: system packages, node modules, type check, lint, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system-deps.sh
if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-fund --no-audit
fi
# The cluster lab's Kubernetes components, built from their Go modules once and cached (npm run kubernetes).
echo "== kubernetes"; npx ts-node --transpile-only apps/build-kubernetes.ts
# The Pulumi engine (CLI and Kubernetes provider) for the real-engine tests, likewise (npm run pulumi-engine).
echo "== pulumi"; npx ts-node --transpile-only scripts/build-pulumi.ts
echo "== type check"; npx tsc --noEmit -p tsconfig.json
echo "== lint"; npx eslint .
echo "== tests"; npx jest --ci "$@"
