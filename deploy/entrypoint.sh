#!/bin/sh
# The image's roles: SWITCHYARD_ROLE=api | worker, or a command as arguments:
#   docker run switchyard:cpu keys create --name ci --scopes submit,read   (the API-key CLI)
#   docker run switchyard:cpu api | worker
set -e
role="${1:-$SWITCHYARD_ROLE}"
[ $# -gt 0 ] && shift
case "$role" in
  api) exec node dist/apps/api/src/main.js "$@" ;;
  worker) exec node dist/apps/worker/src/main.js "$@" ;;
  keys) exec node dist/apps/cli/src/keys.js "$@" ;;
  *) echo "switchyard: unknown role \"$role\" (expected api, worker or keys; set SWITCHYARD_ROLE or pass it as the command)" >&2; exit 64 ;;
esac
