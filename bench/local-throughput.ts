/**
 * npm run bench:local [-- --record] [-- --threads=T] [-- --fallback-sequences=N] [-- --logs=DIR]
 *
 * Local generation throughput through the whole system (REST → Redis/BullMQ → worker →
 * node-llama-cpp) against the limit measured in the same run: node-llama-cpp in this process with
 * the same model, sequences, threads, prompts and maxTokens, and nothing in between. For N = 1, 2,
 * 4, 8 sequences on CPU (1, 4, 16, 64 on a GPU) and the N the worker computes itself (LOCAL_SEQUENCES=auto).
 *
 * Progress goes to stderr; stdout's last line is the result as one JSON object (pretty in
 * bench/results/local-cpu.json, or local-gpu.json where the engine found a GPU, with --record).
 * Exits 0 when the run completed, targets met or not.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureGeneratedModel } from '#libs/gguf';
import type { Prompt } from '#libs/jobs';
import { summarizeWorkload } from './bench-workload.js';
import { CpuMeter, waitForQuiet } from './cpu-meter.js';
import { locateLlamaTools, runBatchedBench, type EngineLimitRow } from './engine/batched-bench.js';
import { QueueSystem, WorkerStartFailed, type QueueRun } from './queue-system.js';
import { RawEngine, type EngineRun } from './raw-engine.js';

/** What a run measures on its device. */
interface Profile {
  sequences: number[];
  /** The random bench model always generates exactly maxTokens. */
  maxTokens: number;
  /** A computed N far above the largest in `sequences` is measured with at most this many items (noted in the run). */
  maxItems: number;
  resultFile: string;
}
/** 32 tokens and ~120 prompt tokens per item keep the whole run near 4 minutes on 2 quiet cores (~20–25 tok/s at any N there). */
const CPU: Profile = { sequences: [1, 2, 4, 8], maxTokens: 32, maxItems: 32, resultFile: 'local-cpu.json' };
/**
 * A GPU reads the weights once per step for every sequence, so throughput can keep growing far past 8; and
 * it decodes an item in milliseconds, so the queue's fixed cost per item (job pick-up, state writes) weighs
 * more there: 64-token answers, and up to 256 items so the computed N has a sequence for each.
 */
const GPU: Profile = { sequences: [1, 8, 32, 128], maxTokens: 64, maxItems: 256, resultFile: 'local-gpu.json' };
const THREAD_CHOICES = [1, 2];
const CONTEXT_SIZE = 512;
const WARMUP_TOKENS = 4;
const PROBE_ITEMS = 3;
/** Items per run: every sequence gets at least four, so one slow item at the end of a run (seen at N = 4
 * with two items per sequence) weighs little against steady-state throughput; a run lasts ≥ ~20 s on CPU. */
const itemsFor = (n: number, profile: Profile): number => Math.min(Math.max(4 * n, 16), profile.maxItems);
/**
 * A measurement during which other processes used more than this share of the machine is taken
 * again (at most MAX_ATTEMPTS times; the least disturbed one counts): this machine is shared.
 */
const QUIET_SHARE = 0.05;
const QUIET_WAIT_MS = 90_000;
/** Waiting and retrying stop this long after the start, so a busy machine cannot stretch the run without end. */
const PATIENCE_MS = 8 * 60_000;
const startedAt = Date.now();
/** After a worker starts, wait past its pool's first memory check before measuring. */
const SETTLE_MS = 6_000;
const MAX_ATTEMPTS = 3;
const RATIO_MIN = 0.9;
const COMPUTED_VS_BEST_MIN = 0.9;
/** Issue 17 §3: node-llama-cpp in this process reaches at least half of llama.cpp's own batched throughput at the computed N. */
const RAW_VS_ENGINE_MIN = 0.5;
const MODEL_NAME = 'bench';

interface Run {
  sequences: number;
  items: number;
  rawTokensPerSec: number;
  queueTokensPerSec: number;
  ratio: number;
  /** Share of the machine's CPU other processes used during each measurement. */
  otherCpu: { raw: number; queue: number };
  /** Least sequences the worker's pool let run during the measured batch (GET /v1/pools). */
  queueActiveSequences: number | null;
  computed?: true;
  /** llama-batched-bench at this N, same model, threads, prompt and answer lengths (null: tools not built). */
  engineTokensPerSec?: number | null;
  rawVsEngine?: number | null;
  queueVsEngine?: number | null;
}

interface Computed {
  sequences: number;
  source: 'pools' | 'fallback';
  /** What the computed run's worker is started with. */
  workerEnv: NodeJS.ProcessEnv;
}

interface Steady<T> {
  run: T;
  otherShare: number;
}

const args = process.argv.slice(2);
const record = args.includes('--record');
const fallbackArg = args.find((a) => a.startsWith('--fallback-sequences='));
// Used only where LOCAL_SEQUENCES=auto or GET /v1/pools is missing: one sequence per core, marked "fallback".
const fallbackSequences = fallbackArg ? Number(fallbackArg.split('=')[1]) : 2;
/** --threads=T skips the probe and uses T (to compare thread counts on purpose). */
const threadsArg = args.find((a) => a.startsWith('--threads='));
const forcedThreads = threadsArg ? Number(threadsArg.split('=')[1]) : undefined;
/** --logs=DIR keeps each worker's output (JSON lines: item timings, pool resizes) for a closer look. */
const logDir = args.find((a) => a.startsWith('--logs='))?.slice('--logs='.length);

const cleanups: Array<() => Promise<void>> = [];
let cleaning: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const step of cleanups.splice(0).reverse()) {
      await step().catch((e: unknown) => progress(`cleanup failed: ${e instanceof Error ? e.message : String(e)}`));
    }
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    progress(`${signal}: stopping`);
    void cleanUp().finally(() => process.exit(130));
  });
}

function progress(line: string): void {
  process.stderr.write(`[bench:local] ${line}\n`);
}

const round = (x: number, digits = 2): number => Number(x.toFixed(digits));
const pct = (share: number): string => `${(share * 100).toFixed(1)}%`;

/** Runs `measure` until other processes left the CPU alone during it (or attempts run out). */
async function steady<T>(label: string, measure: () => Promise<T>): Promise<Steady<T>> {
  let best: Steady<T> | undefined;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const patient = Date.now() - startedAt < PATIENCE_MS;
    const before = patient ? await waitForQuiet(QUIET_SHARE, QUIET_WAIT_MS) : 0;
    if (before >= QUIET_SHARE)
      progress(`${label}: the machine is busy (${pct(before)} of CPU used by other processes); measuring anyway`);
    const meter = CpuMeter.start();
    const run = await measure();
    const otherShare = meter.otherShare();
    if (!best || otherShare < best.otherShare) best = { run, otherShare };
    if (otherShare < QUIET_SHARE) break;
    const again = attempt < MAX_ATTEMPTS && Date.now() - startedAt < PATIENCE_MS;
    progress(
      `${label}: other processes used ${pct(otherShare)} of CPU during the measurement${again ? '; again' : ''}`,
    );
    if (!again) break;
  }
  return best!;
}

async function main(): Promise<{ result: Record<string, unknown>; resultFile: string }> {
  if (!Number.isSafeInteger(fallbackSequences) || fallbackSequences < 1)
    throw new Error('--fallback-sequences must be a positive integer');
  if (forcedThreads !== undefined && (!Number.isSafeInteger(forcedThreads) || forcedThreads < 1))
    throw new Error('--threads must be a positive integer');
  const modelPath = await ensureGeneratedModel('bench');
  const engine = await RawEngine.load(modelPath, forcedThreads ?? Math.max(...THREAD_CHOICES));
  cleanups.push(() => engine.dispose());
  const gpu = await engine.gpu();
  const profile = gpu ? GPU : CPU;
  const MAX_TOKENS = profile.maxTokens;
  const prompts = (tag: string, count: number, maxTokens = MAX_TOKENS): Prompt[] =>
    summarizeWorkload(tag, count, maxTokens, MAX_TOKENS).prompts;
  progress(
    `model ${modelPath} on ${gpu ? `${engine.device}: ${gpu.names.join(', ')}` : 'cpu'}; maxTokens ${MAX_TOKENS}, context ${CONTEXT_SIZE}`,
  );
  /** N sequences in this process: one context, warmed up, then the measured prompts. */
  const rawRun = async (n: number, threads: number, label: string, measured: Prompt[]): Promise<Steady<EngineRun>> => {
    const context = await engine.open({ sequences: n, threads, contextSize: CONTEXT_SIZE });
    try {
      await context.generate(prompts(`${label}-warmup`, n, WARMUP_TOKENS));
      return await steady(label, () => context.generate(measured));
    } finally {
      await context.dispose();
    }
  };

  // Threads first: on 2 cores the wrong count costs more than any queue overhead could.
  const threadProbe: Record<string, number> = {};
  for (const threads of forcedThreads ? [] : THREAD_CHOICES) {
    const { run, otherShare } = await rawRun(
      1,
      threads,
      `probe-t${threads}`,
      prompts(`probe-t${threads}`, PROBE_ITEMS),
    );
    threadProbe[String(threads)] = round(run.tokensPerSec);
    progress(
      `threads ${threads}, N=1 raw: ${run.outputTokens} tokens in ${(run.ms / 1000).toFixed(1)} s = ${run.tokensPerSec.toFixed(2)} tok/s (others ${pct(otherShare)})`,
    );
  }
  const threads =
    forcedThreads ??
    THREAD_CHOICES.reduce((best, t) => (threadProbe[String(t)] > threadProbe[String(best)] ? t : best));
  progress(`using ${threads} thread(s)${forcedThreads ? ' (--threads)' : ''}`);

  const system = await QueueSystem.start(
    {
      LOCAL_MODEL_PATH: modelPath,
      LOCAL_MODEL_NAME: MODEL_NAME,
      LOCAL_THREADS: String(threads),
      LOCAL_CONTEXT_SIZE: String(CONTEXT_SIZE),
      MAX_OUTPUT_TOKENS: String(MAX_TOKENS),
      SHUTDOWN_TIMEOUT_MS: '5000',
    },
    logDir,
  );
  cleanups.push(() => system.close());
  progress(`API up at ${system.client.baseUrl} (private Redis)`);

  const computed = await computeSequences(system);
  progress(`computed sequences: ${computed.sequences} (${computed.source})`);
  if (gpu) await warmKernels(Math.max(computed.sequences, ...profile.sequences));

  /**
   * A prebuilt CUDA library without machine code for this GPU (the H100's sm_90 gets PTX) compiles each
   * kernel on first use and caches it on disk; which kernel runs depends on the batch size. Unwarmed, those
   * compiles land inside the first measurement at each N (seen: N=16 at half of N=1). One pass whose
   * answers end one after another walks the batch from n down to 1 and compiles them all beforehand.
   */
  async function warmKernels(n: number): Promise<void> {
    const t0 = Date.now();
    const staggered = Array.from(
      { length: n },
      (_, i) => prompts(`jit-${i}`, 1, 1 + Math.floor((i * MAX_TOKENS) / n))[0],
    );
    const context = await engine.open({ sequences: n, threads, contextSize: CONTEXT_SIZE });
    try {
      await context.generate(staggered);
    } finally {
      await context.dispose();
    }
    progress(`GPU kernels warmed for batches of 1..${n} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }

  const raws = new Map<number, Steady<EngineRun>>();
  const measure = async (n: number, workerEnv: NodeJS.ProcessEnv, computedRun = false): Promise<Run> => {
    const items = itemsFor(n, profile);
    if (items < n) progress(`N=${n}: measured with ${items} items, so at most ${items} run at once`);
    const workload = summarizeWorkload(`n${n}`, items, MAX_TOKENS, MAX_TOKENS);
    let raw = raws.get(n);
    if (!raw) {
      raw = await rawRun(n, threads, `N=${n} raw`, workload.prompts);
      raws.set(n, raw);
    }
    progress(
      `N=${n} raw:   ${raw.run.outputTokens} tokens in ${(raw.run.ms / 1000).toFixed(1)} s = ${raw.run.tokensPerSec.toFixed(2)} tok/s (others ${pct(raw.otherShare)})`,
    );

    await system.startWorker(workerEnv, computedRun ? `auto-n${n}` : `n${n}`);
    await system.runBatch(summarizeWorkload(`n${n}-warmup`, n, WARMUP_TOKENS, MAX_TOKENS));
    // The pool re-reads memory every LOCAL_MEMORY_CHECK_MS (5 s) and may resize: measure what it settles on.
    await sleep(Math.max(0, system.consumingSince + SETTLE_MS - Date.now()));
    const queue = await steady(`N=${n} queue`, () => system.runBatch(workload));
    await system.stopWorker();
    progress(`N=${n} queue: ${describe(queue.run)} (others ${pct(queue.otherShare)})`);
    const active = queue.run.pool?.minActive ?? null;
    if (active !== null && active < n)
      progress(`N=${n}: the worker let only ${active} sequence(s) run at once (GET /v1/pools sequences.active)`);

    const ratio = queue.run.tokensPerSec / raw.run.tokensPerSec;
    progress(`N=${n} ratio ${ratio.toFixed(3)}`);
    return {
      sequences: n,
      items,
      rawTokensPerSec: round(raw.run.tokensPerSec),
      queueTokensPerSec: round(queue.run.tokensPerSec),
      ratio: round(ratio, 3),
      otherCpu: { raw: round(raw.otherShare, 3), queue: round(queue.otherShare, 3) },
      queueActiveSequences: active,
    };
  };

  const runs: Run[] = [];
  for (const n of profile.sequences) runs.push(await measure(n, { LOCAL_SEQUENCES: String(n) }));
  runs.push({ ...(await measure(computed.sequences, computed.workerEnv, true)), computed: true });

  const limit = await engineLimit(runs.map((r) => r.sequences));
  for (const r of runs) {
    const row = limit?.rows.find((e) => e.sequences === r.sequences);
    r.engineTokensPerSec = row ? round(row.tokensPerSec) : null;
    r.rawVsEngine = row ? round(r.rawTokensPerSec / row.tokensPerSec, 3) : null;
    r.queueVsEngine = row ? round(r.queueTokensPerSec / row.tokensPerSec, 3) : null;
  }
  const computedRawVsEngine = runs[runs.length - 1].rawVsEngine ?? null;

  const best = Math.max(...runs.filter((r) => !r.computed).map((r) => r.queueTokensPerSec));
  const computedVsBest = runs[runs.length - 1].queueTokensPerSec / best;
  const result = {
    model: MODEL_NAME,
    device: engine.device,
    ...(gpu ? { gpu: gpu.names.join(', '), vramGiB: round(gpu.vramTotalBytes / 2 ** 30, 1) } : {}),
    threads,
    threadProbe,
    maxTokens: MAX_TOKENS,
    contextSize: CONTEXT_SIZE,
    computedSequences: computed.sequences,
    computedSequencesSource: computed.source,
    runs,
    engineLimit: limit
      ? {
          tool: 'llama-batched-bench',
          promptTokens: limit.promptTokens,
          generatedTokens: MAX_TOKENS,
          otherCpu: round(limit.otherShare, 3),
        }
      : {
          tool: null,
          why: 'llama.cpp tools not built: run bench/engine/build-llama-tools.sh (once, ~20 min on 2 cores)',
        },
    targets: {
      ratioMin: RATIO_MIN,
      computedVsBest: round(computedVsBest, 3),
      computedVsBestMin: COMPUTED_VS_BEST_MIN,
      computedRawVsEngine,
      rawVsEngineMin: RAW_VS_ENGINE_MIN,
    },
    pass:
      runs.every((r) => r.ratio >= RATIO_MIN) &&
      computedVsBest >= COMPUTED_VS_BEST_MIN &&
      (computedRawVsEngine === null || computedRawVsEngine >= RAW_VS_ENGINE_MIN),
  };
  return { result, resultFile: resolve(process.cwd(), 'bench/results', profile.resultFile) };

  /**
   * The engine's own limit at the same Ns: llama-batched-bench from the llama.cpp node-llama-cpp binds, same
   * model and threads, prompts as long as the measured items' (chat template included), the same answer length.
   * It decodes random tokens without sampling: the bare engine, nothing of a chat turn around it.
   */
  async function engineLimit(
    ns: number[],
  ): Promise<{ rows: EngineLimitRow[]; promptTokens: number; otherShare: number } | null> {
    const bin = locateLlamaTools(process.cwd(), gpu ? 'cuda' : 'cpu');
    if (!bin) {
      progress('engine limit: llama-batched-bench not built (bench/engine/build-llama-tools.sh); left out');
      return null;
    }
    const measured = [...raws.values()].map((r) => r.run);
    const items = measured.reduce((s, r) => s + r.outputTokens / MAX_TOKENS, 0);
    const promptTokens = Math.round(measured.reduce((s, r) => s + r.inputTokens, 0) / Math.max(1, items));
    const sequences = [...new Set(ns)].sort((a, b) => a - b);
    const { run: rows, otherShare } = await steady('engine limit', () =>
      runBatchedBench({
        bin,
        modelPath,
        threads,
        promptTokens,
        generatedTokens: MAX_TOKENS,
        sequences,
        gpuLayers: gpu ? 999 : 0,
      }),
    );
    for (const r of rows)
      progress(
        `N=${r.sequences} engine: ${r.tokensPerSec.toFixed(2)} tok/s (decode only ${r.decodeTokensPerSec.toFixed(2)})`,
      );
    return { rows, promptTokens, otherShare };
  }
}

/**
 * The N a worker picks with LOCAL_SEQUENCES=auto, as GET /v1/pools reports it (sequences.max).
 * Where the worker or the API does not support that, the fallback N, marked as such.
 */
async function computeSequences(system: QueueSystem): Promise<Computed> {
  const fallback = (): Computed => ({
    sequences: fallbackSequences,
    source: 'fallback',
    workerEnv: { LOCAL_SEQUENCES: String(fallbackSequences) },
  });
  try {
    await system.startWorker({ LOCAL_SEQUENCES: 'auto' }, 'auto-probe');
  } catch (error) {
    if (error instanceof WorkerStartFailed && /LOCAL_SEQUENCES/.test(error.output)) {
      progress('this worker does not accept LOCAL_SEQUENCES=auto');
      return fallback();
    }
    throw error;
  }
  try {
    const pool = await system.poolSequences();
    if (!pool) {
      progress('GET /v1/pools: no such endpoint (or no single local pool)');
      return fallback();
    }
    if (!Number.isSafeInteger(pool.max) || pool.max < 1)
      throw new Error(`GET /v1/pools reports sequences.max ${pool.max}`);
    return { sequences: pool.max, source: 'pools', workerEnv: { LOCAL_SEQUENCES: 'auto' } };
  } finally {
    await system.stopWorker();
  }
}

function describe(q: QueueRun): string {
  const sorted = [...q.itemMs].sort((a, b) => a - b);
  const pool = q.pool ? `; pool max ${q.pool.max}, active ≥ ${q.pool.minActive}` : '';
  return (
    `${q.outputTokens} tokens in ${(q.ms / 1000).toFixed(1)} s = ${q.tokensPerSec.toFixed(2)} tok/s ` +
    `(first item started ${q.firstStartMs} ms after POST; mean running items ${q.meanRunningItems.toFixed(2)}; ` +
    `item ms median ${sorted[Math.floor(sorted.length / 2)]}${pool})`
  );
}

let exitCode = 0;
try {
  const { result, resultFile } = await main();
  if (record) {
    await mkdir(dirname(resultFile), { recursive: true });
    await writeFile(resultFile, JSON.stringify(result, null, 2) + '\n');
    progress(`wrote ${resultFile}`);
  }
  process.stdout.write(JSON.stringify(result) + '\n');
} catch (error) {
  progress(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  exitCode = 1;
} finally {
  await cleanUp();
}
// node-llama-cpp's native threads can outlive dispose() by a moment; everything we opened is closed.
process.exit(exitCode);
