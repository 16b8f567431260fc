#!/bin/bash
# On a lent GPU machine (see pack.sh): unpack the carried node, redis-server and node_modules, show what the
# GPU and CUDA look like, then run bench:local with --record and send back its result and logs through $OUT.
# PROBE=1 runs step-probe.mjs instead. Kernels compiled from PTX are cached in $CUDA_CACHE_PATH.
cd "$(dirname "$0")/../.."
B=/tmp/b; mkdir -p $B /tmp/logs
if [ ! -x $B/node ]; then
  python3 - <<'PY'
import lzma, shutil, tarfile
shutil.copyfileobj(lzma.open('.gpu/node.xz'), open('/tmp/b/node', 'wb'))
tarfile.open('.gpu/redis.tar.xz').extractall('/tmp/b')
tarfile.open('.gpu/nm.tar.xz').extractall('.')
PY
  chmod +x $B/node; ln -sf $B/redis/redis-server $B/redis-server
fi
export PATH=$B:$PATH CUDA_CACHE_MAXSIZE=4294967296 CUDA_CACHE_PATH=/tmp/cudacache
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
ls -d /usr/local/cuda* 2>&1; ldconfig -p | grep -E "libcuda.so|libcublas.so|nvidia-ml" ; echo "LD=$LD_LIBRARY_PATH"
node -v; redis-server --version; nproc
time node -e "import('node-llama-cpp').then(async m=>{const l=await m.getLlama({gpu:'auto',build:'never'});console.log('gpu',l.gpu, await l.getGpuDeviceNames(), await l.getVramState()); process.exit(l.gpu?0:3)})" || exit 3
nvidia-smi dmon -s um -d 2 > $OUT/dmon.txt 2>&1 &
[ -n "$PROBE" ] && { node bench/gpu/step-probe.mjs 2>&1 | grep -E "^N=|^\[llama\]" | tee $OUT/probe.log; exit; }
timeout ${BENCH_TIMEOUT:-520} node dist/bench/local-throughput.js --record --logs=/tmp/logs "$@" 2>&1 | tee $OUT/bench.log
cp bench/results/local-gpu.json $OUT/ 2>/dev/null
tar -C /tmp -czf $OUT/logs.tgz logs
