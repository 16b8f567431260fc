#!/usr/bin/env bash
# Builds llama.cpp's own `llama-server` and `llama-batched-bench` once, from the source bundle node-llama-cpp
# ships (node_modules/node-llama-cpp/llama/gitRelease.bundle: the exact llama.cpp it binds), into a cache
# outside git. Used by the engine-limit benchmark and the optional real-server checks; never by CI or
# `npm install` (about 20 minutes on 2 cores). Prints the bin directory on its last line.
#
#   bench/engine/build-llama-tools.sh            # CPU build
#   GGML_CUDA=ON bench/engine/build-llama-tools.sh   # on a machine with the CUDA toolkit
#   LLAMA_TOOLS_DIR=/somewhere bench/engine/build-llama-tools.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bundle="$root/node_modules/node-llama-cpp/llama/gitRelease.bundle"
[ -f "$bundle" ] || { echo "no $bundle: run npm install first" >&2; exit 1; }
tag="$(node -p "require('$root/node_modules/node-llama-cpp/llama/llama.cpp.info.json').tag")"
cuda="${GGML_CUDA:-OFF}"
dir="${LLAMA_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/switchyard/llama.cpp-$tag-$([ "$cuda" = ON ] && echo cuda || echo cpu)}"
if [ -x "$dir/build/bin/llama-server" ] && [ -x "$dir/build/bin/llama-batched-bench" ]; then
  echo "$dir/build/bin"
  exit 0
fi
mkdir -p "$dir"
[ -d "$dir/src/.git" ] || git -c advice.detachedHead=false clone -q "$bundle" "$dir/src"
jobs="$(nproc)"
cmake -S "$dir/src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON \
  -DGGML_CUDA="$cuda" -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >"$dir/cmake.log" 2>&1 ||
  { tail -30 "$dir/cmake.log" >&2; exit 1; }
cmake --build "$dir/build" --config Release -j "$jobs" --target llama-server llama-batched-bench >"$dir/build.log" 2>&1 ||
  { tail -30 "$dir/build.log" >&2; exit 1; }
echo "$dir/build/bin"
