#!/bin/bash
# Packs what bench:local needs on a lent GPU machine that has the CUDA toolkit and driver but no Node.js, npm
# or Redis, and no network: node, redis-server with its libraries, and the production node_modules with only
# the x64 CPU and CUDA engine binaries. Writes .gpu/ (keep it out of git: `echo /.gpu/ >> .git/info/exclude`),
# which with dist/ stays under the device tool's 64 MiB carry limit. Then, on the device:
#   carry [".gpu", "dist"], command `bash bench/gpu/device-run.sh`
#
# node-llama-cpp 3.22.1's CUDA library carries cubins for sm_86/89/120/121 and PTX (ISA 9.1, CUDA 13.1) for
# compute_75/80/90: an H100 (sm_90) must JIT the PTX, and a CUDA 13.0 driver (580.x, as lent here) refuses
# ISA 9.1 ("the provided PTX was compiled with an unsupported toolchain"). patch-cuda-fatbin.py keeps only
# the compute_90 PTX, relabelled 9.0; the kernels ran unchanged. With a 13.1+ driver this step is not needed.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/.gpu"; work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
cp "$root/package.json" "$root/package-lock.json" "$work/"
(cd "$work" && npm install --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
nlc="$work/node_modules/@node-llama-cpp"
find "$nlc" -mindepth 1 -maxdepth 1 ! -name linux-x64 ! -name linux-x64-cuda -exec rm -rf {} +
rm -f "$work/node_modules/node-llama-cpp/llama/gitRelease.bundle"   # llama.cpp sources, for building: never here
lib="$nlc/linux-x64-cuda/bins/linux-x64-cuda/libggml-cuda.so"
python3 "$root/bench/gpu/patch-cuda-fatbin.py" "$lib" "$lib.patched" && mv "$lib.patched" "$lib"
tar -C "$work" -cf - node_modules | xz -T0 -9 > "$out/nm.tar.xz"
xz -T0 -9 -c "$(command -v node)" > "$out/node.xz"
mkdir -p "$work/redis/lib"
cp "$(command -v redis-server)" "$work/redis/redis-server.bin"
# Its libraries, not libc's family: the device's own are newer and stay in use for everything else.
ldd "$(command -v redis-server)" | awk '/=> \// {print $3}' | grep -vE '/lib(c|m|stdc\+\+|gcc_s)\.so' | xargs -I{} cp -L {} "$work/redis/lib/"
printf '#!/bin/sh\nd=$(dirname "$(readlink -f "$0")")\nLD_LIBRARY_PATH="$d/lib" exec "$d/redis-server.bin" "$@"\n' > "$work/redis/redis-server"
chmod +x "$work/redis/redis-server"
tar -C "$work" -cJf "$out/redis.tar.xz" redis
du -cb "$out" "$root/dist" | tail -1
