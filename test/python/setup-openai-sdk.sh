#!/usr/bin/env bash
# Installs the official openai Python SDK into a virtualenv outside git (.cache/python-openai), for
# test/openai-python-sdk.e2e-spec.ts: the OpenAI-compatible batch API driven by the Python client users already
# have. Prints the interpreter's path. Needs python3 with venv and a package index pip can reach.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.cache/python-openai
if ! "$venv/bin/python" -c 'import openai' >/dev/null 2>&1; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  # No retries: on a machine with a local index only, pip's default index is unreachable and each retry waits.
  if ! "$venv/bin/pip" install --quiet --disable-pip-version-check --retries 0 --timeout 10 \
    -r test/python/requirements.txt > "$venv.log" 2>&1; then
    cat "$venv.log" >&2
    exit 1
  fi
fi
echo "$PWD/$venv/bin/python"
