#!/usr/bin/env bash
# npm test's first step: typecheck, lint and build side by side. Each is one single-threaded process, so on two cores
# the three take about as long as lint alone, instead of the sum (~115 s here). Fails if any of them fails; each
# prints its own errors.
set -uo pipefail
cd "$(dirname "$0")/.."
npm run typecheck --silent &
typecheck=$!
npm run lint --silent &
lint=$!
npm run build --silent &
build=$!
failed=()
wait "$typecheck" || failed+=(typecheck)
wait "$lint" || failed+=(lint)
wait "$build" || failed+=(build)
if [ ${#failed[@]} -gt 0 ]; then
  echo "static checks failed: ${failed[*]}" >&2
  exit 1
fi
