import { execFileSync, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { startOpenAIDouble, type OpenAIDouble } from '../../test/support/openai-double.js';
import { freePort, startTestRedis, type TestRedis } from '../../test/support/redis-server-process.js';
import { AppProcess, ApiClient, sleep, startApp } from '../../test/support/system-under-test.js';
import { ROUTING_BACKLOG_MAX_AGE_MS } from '#libs/batches';
import { readRepoSource } from '#libs/jobs';
import { cloudOnlyEnv } from './cloud-only-env.js';

/**
 * Issue 17 §2, `npm run bench:queue -- --huge`: one huge batch through the real API and worker, and routing
 * with a large backlog in flight. Phases, each on its own system over the same private Redis:
 *
 * - intake: a batch of `--items` (100,000) summarize items POSTed at once: time to the 202 (`validating` at or
 *   over INTAKE_DEFER_ITEMS) and until a worker has expanded it into queued items, and the API's memory
 *   before, at its peak while accepting, and after (RSS from /proc, V8 heap from /metrics); then a
 *   page of items from the far end of the batch and the whole NDJSON result stream, with the API's peak RSS
 *   while streaming (neither may load the batch). With `--finish`, waits for the batch to finish too; with
 *   `--worker-after`, the worker starts once the batch is accepted (intake alone, nothing running beside it).
 * - footprint: Redis bytes per finished item, for `--footprint` (1,000) summarize items and as many code
 *   files (a code migration, inline files): INFO used_memory before and after each batch ran (everything the
 *   batch left: its records, jobs BullMQ keeps, audit entries), and MEMORY USAGE summed over the keys that
 *   name the batch.
 * - routing: Redis commands one routing call costs (POST /v1/batches/quote: one routing read and a plan,
 *   nothing written), by command (INFO commandstats delta over back-to-back calls for at least `--quote-ms`
 *   (10,000: two of the routing backlog's read ages, so its shared reads are in the figure, spread over the
 *   calls) and `--quotes` calls, less what the idle system ran over as long), with `--backlogs` (0, 100 and
 *   1,000) batches of 100 items in flight (no worker: they stay queued).
 *
 * - repository: a code migration of a generated git repository of `--repo-files` (10,000) files with an output
 *   branch: time to the 202 (its files read while the request waits), beside readRepoSource alone on the same
 *   repository, and how long after the batch finished its branch was written.
 *
 * `--phases=routing` (any of intake, footprint, routing, repository, comma-separated) runs only those phases.
 *
 * Last line: the JSON result; `--record` writes it to bench/results/queue-huge.json. Targets: 202 within
 * 10 s (the huge batch's and the repository's); API heap after within 2× of before (flat: nothing of the batch kept); routing commands per call at
 * 1,000 batches within 1.5× of those at none.
 */

const TEXT = 'The board met on Monday and approved the budget for the coming year.';
const FILE = "const fs = require('fs');\nmodule.exports = function read(p) { return fs.readFileSync(p, 'utf8'); };\n";
/** 64 MiB: a 100,000-item body of short items is ~10 MB; items of a few hundred bytes each still fit. */
const BODY_LIMIT = 64 * 1024 * 1024;

export interface HugeOptions {
  items: number;
  footprint: number;
  quotes: number;
  /** The routing phase quotes back to back for at least this long at each backlog. */
  quoteMs: number;
  finish: boolean;
  /** Start the worker only once the batch is accepted: the 202 then measures intake alone, no item running beside it. */
  workerAfter: boolean;
  /**
   * Read the expanding worker's heap after a full GC (its inspector) once the items are written and once the
   * expansion is done: what it really holds. Each read stops the worker for a GC, so the times move; off by default.
   */
  workerHeap: boolean;
  backlogs: number[];
  /** Files of the generated repository the repository phase migrates. */
  repoFiles: number;
}

export function hugeOptions(argv: string[]): HugeOptions {
  const arg = (name: string, fallback: number): number => {
    const raw = argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(value) || value < 0) throw new Error(`--${name}: expected a whole number`);
    return value;
  };
  const backlogs = argv
    .find((a) => a.startsWith('--backlogs='))
    ?.split('=')[1]
    .split(',')
    .map(Number) ?? [0, 100, 1000];
  return {
    items: arg('items', 100_000),
    footprint: arg('footprint', 1000),
    quotes: arg('quotes', 20),
    quoteMs: arg('quote-ms', 2 * ROUTING_BACKLOG_MAX_AGE_MS),
    finish: argv.includes('--finish'),
    workerAfter: argv.includes('--worker-after'),
    workerHeap: argv.includes('--worker-heap'),
    backlogs,
    repoFiles: arg('repo-files', 10_000),
  };
}

interface Memory {
  rssMb: number;
  heapUsedMb: number;
  /** The heap in use right after a full garbage collection: what the API really holds. */
  heapAfterGcMb: number;
}

/**
 * Asks the API's inspector for a full GC, then for process.memoryUsage(): a helper process does it, as this
 * Node has WebSocket only behind a flag. The API listens for the inspector on `inspectPort` (loopback).
 */
const GC_PROBE = `
const port = process.argv[1];
(async () => {
  const [target] = await (await fetch('http://127.0.0.1:' + port + '/json/list')).json();
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  const waiting = new Map();
  let id = 0;
  ws.onmessage = (m) => { const d = JSON.parse(m.data); waiting.get(d.id)?.(d); waiting.delete(d.id); };
  await new Promise((r) => (ws.onopen = r));
  const send = (method, params = {}) => new Promise((r) => { id += 1; waiting.set(id, r); ws.send(JSON.stringify({ id, method, params })); });
  await send('HeapProfiler.collectGarbage');
  const res = await send('Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed' });
  console.log(res.result.result.value);
  ws.close();
})().catch((e) => { console.error(e); process.exit(1); });
`;

async function heapAfterGcMb(inspectPort: number): Promise<number> {
  const child = spawn(process.execPath, ['--experimental-websocket', '-e', GC_PROBE, String(inspectPort)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((r) => child.once('exit', r));
  return round(Number(out.trim()) / 2 ** 20);
}

/** The API process's resident memory now (VmRSS), MiB. */
async function rssMb(app: AppProcess): Promise<number> {
  const status = await readFile(`/proc/${app.child.pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
  return round(kb / 1024);
}

/** RSS, and the V8 heap in use as the API's /metrics reports it (prom-client's nodejs_heap_size_used_bytes). */
async function memory(app: AppProcess, client: ApiClient, inspectPort: number): Promise<Memory> {
  const res = await fetch(`${client.baseUrl}/metrics`);
  const text = await res.text();
  const heap = Number(/^nodejs_heap_size_used_bytes\s+(\S+)/m.exec(text)?.[1] ?? NaN);
  const heapUsedMb = round(heap / 2 ** 20);
  return { rssMb: await rssMb(app), heapUsedMb, heapAfterGcMb: await heapAfterGcMb(inspectPort) };
}

/** Samples the API's RSS every 50 ms until stopped: the peak while something runs. */
function peakRss(app: AppProcess): { stop: () => Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await rssMb(app).catch(() => 0));
      await sleep(50);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return peak;
    },
  };
}

function env(redis: TestRedis, double: OpenAIDouble, overrides: NodeJS.ProcessEnv = {}) {
  return cloudOnlyEnv(redis, double, {
    CLOUD_CONCURRENCY: '64',
    MAX_ITEMS_PER_BATCH: '100000',
    MAX_BODY_BYTES: String(BODY_LIMIT),
    ...overrides,
  });
}

function summarizeBody(n: number, tag: string): string {
  return JSON.stringify({
    kind: 'document-processing',
    sensitivity: 'public',
    deadline: 'PT24H',
    task: { type: 'summarize' },
    items: Array.from({ length: n }, (_, i) => ({ id: `${tag}${i}`, text: `${TEXT} #${i}` })),
  });
}

function codeBody(n: number): string {
  return JSON.stringify({
    kind: 'code-migration',
    sensitivity: 'public',
    deadline: 'PT24H',
    task: { instruction: 'Convert CommonJS to ES modules' },
    items: Array.from({ length: n }, (_, i) => ({ path: `src/m${i}.js`, content: `${FILE}// ${i}\n` })),
  });
}

async function post(client: ApiClient, path: string, body: string): Promise<{ status: number; json: any }> {
  const answer = await client.request('POST', path, body);
  if (answer.status !== 202 && answer.status !== 200)
    throw new Error(`POST ${path} answered ${answer.status}: ${JSON.stringify(answer.json).slice(0, 500)}`);
  return answer;
}

/** The batch of `--items`: time to 202, API memory around it, a far page of items and the result stream. */
async function intakePhase(redis: TestRedis, double: OpenAIDouble, opts: HugeOptions, profileDir?: string) {
  const e = await env(redis, double);
  const workerInspectPort = opts.workerHeap ? await freePort() : undefined;
  const workerEnv = workerInspectPort ? { ...e, NODE_OPTIONS: `--inspect=127.0.0.1:${workerInspectPort}` } : e;
  let worker = opts.workerAfter ? null : startApp('worker', workerEnv);
  const inspectPort = await freePort();
  const apiEnv = { ...e, NODE_OPTIONS: `--inspect=127.0.0.1:${inspectPort}` };
  const api = profileDir ? profiledApi(apiEnv, profileDir) : startApp('api', apiEnv);
  try {
    const client = new ApiClient(`http://127.0.0.1:${e.PORT}`);
    await (opts.workerAfter ? client.waitHealthy(120_000) : client.waitReady(120_000)).catch((error: Error) => {
      throw new Error(
        `${error.message}\napi: ${api.output.join('').slice(-2000)}\nworker: ${worker?.output.join('').slice(-2000)}`,
      );
    });
    await sleep(2000);
    const before = await memory(api, client, inspectPort);
    const body = summarizeBody(opts.items, 'd');
    const sampling = peakRss(api);
    const admin = new Redis(redis.port, '127.0.0.1');
    const [redisBefore, statsBefore] = await Promise.all([redisWork(admin), commandStats(admin)]);
    const t0 = performance.now();
    const { json } = await post(client, '/v1/batches', body).catch((error: Error) => {
      throw new Error(`${error.message}\napi: ${api.output.join('').slice(-3000)}`);
    });
    const acceptMs = performance.now() - t0;
    const [redisAfter, statsAfter] = await Promise.all([redisWork(admin), commandStats(admin)]);
    const acceptPeakRssMb = await sampling.stop();
    const { id, status: acceptedAs } = json as { id: string; status: string };
    worker ??= startApp('worker', workerEnv);
    const expanding = peakRss(worker);
    // A batch at or over INTAKE_DEFER_ITEMS is answered `validating`: a worker routes, writes, audits and
    // enqueues its items after the 202. Until it reads otherwise, the expansion is still running.
    let status = acceptedAs;
    // A worker that dies expanding (out of memory, say) would leave these waits waiting: say so instead.
    const alive = (w: AppProcess) => {
      if (w.child.exitCode !== null || w.child.signalCode !== null)
        throw new Error(`the worker exited while expanding the batch: ${w.output.join('').slice(-2000)}`);
    };
    while (status === 'validating') {
      alive(worker);
      await sleep(100);
      status = (await client.request('GET', `/v1/batches/${id}`)).json.status as string;
    }
    const writtenMs = performance.now() - t0;
    if (status === 'failed') throw new Error(`the batch failed to expand: ${worker.output.join('').slice(-2000)}`);
    const workerHeapWrittenMb = workerInspectPort ? await heapAfterGcMb(workerInspectPort) : undefined;
    // Its items are written (it reads queued); its jobs are enqueued until the worker logs the expansion done.
    let expansionLine: string | undefined;
    while (acceptedAs === 'validating' && !expansionLine) {
      expansionLine = worker.output
        .join('')
        .split('\n')
        .find((line) => line.includes('batch expanded') && line.includes(id));
      if (!expansionLine) {
        alive(worker);
        await sleep(100);
      }
    }
    const expandedMs = performance.now() - t0;
    const workerPeakRssMb = await expanding.stop();
    const workerHeapExpandedMb = workerInspectPort ? await heapAfterGcMb(workerInspectPort) : undefined;
    const workerExpansionMs = expansionLine ? Number(/"ms":(\d+)/.exec(expansionLine)?.[1]) : undefined;
    const [redisExpanded, statsExpanded] = await Promise.all([redisWork(admin), commandStats(admin)]);
    admin.disconnect();
    // Per item, by command, counting those scripts run (an EVALSHA and each command inside it).
    const perItem = (from: Record<string, number>, to: Record<string, number>) =>
      Object.fromEntries(
        Object.entries(delta(from, to))
          .map(([name, calls]) => [name, Math.round((calls / opts.items) * 100) / 100] as const)
          .filter(([, calls]) => calls >= 0.01)
          .sort((a, b) => b[1] - a[1]),
      );
    const after = await memory(api, client, inspectPort);
    await sleep(5000);
    const settled = await memory(api, client, inspectPort);

    const p0 = performance.now();
    const page = await client.request(
      'GET',
      `/v1/batches/${id}/items?offset=${Math.max(0, opts.items - 100)}&limit=100`,
    );
    const pageMs = performance.now() - p0;
    if (page.status !== 200 || page.json.items.length !== Math.min(100, opts.items))
      throw new Error(`items page answered ${page.status}`);

    const streaming = peakRss(api);
    const s0 = performance.now();
    const lines = await countLines(`${client.baseUrl}/v1/batches/${id}/results`);
    const streamMs = performance.now() - s0;
    const streamPeakRssMb = await streaming.stop();
    if (lines !== opts.items) throw new Error(`the result stream had ${lines} lines for ${opts.items} items`);

    let finished: { finishMs: number; itemsPerSec: number; status: string } | undefined;
    if (opts.finish) {
      const batch = await client.waitFinished(id, 3_600_000);
      const finishMs = Date.parse(batch.finishedAt) - Date.parse(batch.createdAt);
      finished = { finishMs, itemsPerSec: round(opts.items / (finishMs / 1000)), status: batch.status };
    }
    return {
      items: opts.items,
      workerRanDuringIntake: !opts.workerAfter,
      bodyBytes: Buffer.byteLength(body),
      bodyLimitBytes: BODY_LIMIT,
      acceptedAs,
      acceptMs: Math.round(acceptMs),
      // From the POST until the batch no longer reads `validating` (its items routed and written), and until
      // the worker logged it expanded (audited and enqueued too); with --worker-after, the worker's start-up is
      // in both. workerExpansionMs: the expansion job's own time, as the worker logged it.
      writtenMs: Math.round(writtenMs),
      expandedMs: Math.round(expandedMs),
      workerExpansionMs,
      // What Redis itself did until the 202, then from the 202 until the batch was expanded (with the worker
      // running items beside it, unless --worker-after; even then, items start as their jobs are enqueued).
      redisDuringAccept: {
        cpuMs: Math.round(redisAfter.cpuMs - redisBefore.cpuMs),
        commands: redisAfter.commands - redisBefore.commands,
        perItem: perItem(statsBefore, statsAfter),
      },
      redisDuringExpansion: {
        cpuMs: Math.round(redisExpanded.cpuMs - redisAfter.cpuMs),
        commands: redisExpanded.commands - redisAfter.commands,
        perItem: perItem(statsAfter, statsExpanded),
      },
      apiMemory: { before, acceptPeakRssMb, after, settled5s: settled },
      // The expanding worker's resident memory at its peak (it holds the batch's items while it writes them).
      workerExpansionPeakRssMb: workerPeakRssMb,
      // With --worker-heap: its heap after a full GC once the items were written, and once expanded.
      ...(workerInspectPort
        ? { workerHeapAfterGcMb: { written: workerHeapWrittenMb, expanded: workerHeapExpandedMb } }
        : {}),
      itemsPage: { offset: Math.max(0, opts.items - 100), ms: Math.round(pageMs) },
      resultStream: { lines, ms: Math.round(streamMs), peakRssMb: streamPeakRssMb },
      ...(finished ? { finished } : {}),
    };
  } finally {
    await Promise.all([api.stop(), worker?.stop()]);
  }
}

/** The API as startApp starts it, under `node --cpu-prof` (not allowed in NODE_OPTIONS): a profile on exit. */
function profiledApi(e: NodeJS.ProcessEnv, dir: string): AppProcess {
  const main = resolve(dirname(fileURLToPath(import.meta.url)), '../../apps/api/src/main.js');
  const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, main], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...e },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new AppProcess(child);
}

/** Reads an NDJSON stream to its end, holding one chunk at a time: how many lines it had. */
async function countLines(url: string): Promise<number> {
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new Error(`GET ${url} answered ${res.status}`);
  let lines = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    for (const byte of chunk) if (byte === 10) lines += 1;
  }
  return lines;
}

/**
 * A code migration of a whole repository (`source`, with an output branch): a generated git repository of
 * `--repo-files` files, registered, then POSTed: time to the 202 (the API reads every file at the ref while the
 * request waits), and from the 202 until the output branch exists (every item run on the double, then one
 * commit of every answer). Beside them, the same read by readRepoSource alone, in this process: the floor
 * under the 202.
 */
async function repositoryPhase(redis: TestRedis, double: OpenAIDouble, opts: HugeOptions) {
  const fenced = (code: string) => '```js\n' + code + '```';
  double.setResponder((body) =>
    JSON.stringify(body.messages).includes('File: src/')
      ? fenced("import fs from 'fs';\nexport default function read(p) {}\n")
      : null,
  );
  const repo = await mkdtemp(join(tmpdir(), 'switchyard-bench-repo-'));
  const e = await env(redis, double);
  const worker = startApp('worker', e);
  const api = startApp('api', e);
  try {
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', repo, ...args], {
        stdio: 'pipe',
        env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@b' },
      });
    git('init', '-q', '-b', 'main');
    for (let i = 0; i < opts.repoFiles; i++) {
      const dir = join(repo, 'src', `d${Math.floor(i / 100)}`);
      if (i % 100 === 0) await mkdir(dir, { recursive: true });
      await writeFile(join(dir, `m${i}.js`), `${FILE}// ${i}\n`);
    }
    git('add', '-A');
    git('-c', 'user.name=b', '-c', 'user.email=b@b', 'commit', '-qm', 'generated');
    const r0 = performance.now();
    const read = await readRepoSource({ repo, include: ['src/**/*.js'] });
    const readMs = performance.now() - r0;
    if (read.files.length !== opts.repoFiles) throw new Error(`read ${read.files.length} of ${opts.repoFiles} files`);

    const client = new ApiClient(`http://127.0.0.1:${e.PORT}`);
    await client.waitReady(120_000);
    const registered = await client.request('POST', '/v1/repositories', { root: repo });
    if (registered.status !== 201) throw new Error(`registering the repository answered ${registered.status}`);
    const body = JSON.stringify({
      kind: 'code-migration',
      sensitivity: 'public',
      deadline: 'PT24H',
      task: { instruction: 'Convert CommonJS to ES modules', maxTokens: 64 },
      source: { repo, include: ['src/**/*.js'] },
      output: { branch: 'switchyard/bench' },
    });
    const t0 = performance.now();
    const { json } = await post(client, '/v1/batches', body);
    const acceptMs = performance.now() - t0;
    const id = (json as { id: string }).id;
    const batch = await client.waitFinished(id, 1_800_000);
    const finishedMs = performance.now() - t0;
    let branch: string | null = null;
    for (const deadline = Date.now() + 600_000; branch === null && Date.now() < deadline;) {
      try {
        branch = git('rev-parse', '--verify', '--quiet', 'refs/heads/switchyard/bench').toString().trim();
      } catch {
        await sleep(100);
      }
    }
    if (branch === null) throw new Error('the output branch was not written');
    const branchMs = performance.now() - t0;
    return {
      files: opts.repoFiles,
      items: batch.counts.total as number,
      completed: batch.counts.completed as number,
      acceptMs: Math.round(acceptMs),
      // readRepoSource alone on the same repository and ref: what the API's read of the files costs at least.
      readRepoSourceMs: Math.round(readMs),
      finishedMs: Math.round(finishedMs),
      branchWrittenAfterFinishMs: Math.round(branchMs - finishedMs),
    };
  } finally {
    double.setResponder(null);
    await Promise.all([api.stop(), worker.stop()]);
    await rm(repo, { recursive: true, force: true });
  }
}

/** Redis bytes per finished item: a batch of summarize items, then one of code files, each run to its end. */
async function footprintPhase(redis: TestRedis, double: OpenAIDouble, opts: HugeOptions) {
  const fenced = (code: string) => '```js\n' + code + '```';
  double.setResponder((body) => {
    const prompt = JSON.stringify(body.messages);
    if (prompt.includes('File: src/')) return fenced("import fs from 'fs';\nexport default function read(p) {}\n");
    return null;
  });
  const e = await env(redis, double);
  const worker = startApp('worker', e);
  const api = startApp('api', e);
  const admin = new Redis(redis.port, '127.0.0.1');
  try {
    const client = new ApiClient(`http://127.0.0.1:${e.PORT}`);
    await client.waitReady(120_000);
    const measure = async (body: string) => {
      await sleep(1500);
      const before = await usedMemory(admin);
      const { json } = await post(client, '/v1/batches', body);
      const id = (json as { id: string }).id;
      const batch = await client.waitFinished(id, 600_000);
      await sleep(1500);
      const after = await usedMemory(admin);
      const keys = await keysNaming(admin, id);
      let keyBytes = 0;
      for (const key of keys) keyBytes += Number((await admin.memory('USAGE', key)) ?? 0);
      const n = batch.counts.total as number;
      return {
        items: n,
        completed: batch.counts.completed as number,
        usedMemoryBytesPerItem: Math.round((after - before) / n),
        batchKeys: keys.length,
        batchKeyBytesPerItem: Math.round(keyBytes / n),
      };
    };
    const summarize = await measure(summarizeBody(opts.footprint, 's'));
    const codeFile = await measure(codeBody(opts.footprint));
    return { summarize, codeFile };
  } finally {
    double.setResponder(null);
    admin.disconnect();
    await Promise.all([api.stop(), worker.stop()]);
  }
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
}

/** Every key whose name holds the batch id (its records, its jobs, their BullMQ keys). */
async function keysNaming(redis: Redis, id: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `*${id}*`, 'COUNT', 1000);
    keys.push(...found);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/**
 * Redis commands per routing call at each backlog of batches of 100 in flight. No worker runs, so what is
 * submitted stays queued; local costs less here, so the items wait on the local pool's EDF queue (its view
 * reads up to 1,000 waiting jobs). What a call reads: the local queue's id lists (one script call per state),
 * the running jobs' start times and the payloads of jobs this process has not read before (none once seen);
 * the open batches' backlog shares (one HGETALL each) once per ROUTING_BACKLOG_MAX_AGE_MS per process, by the
 * call that finds the shared read stale. Calls run back to back for two such ages, so those reads are in the
 * figure, spread over the calls made: fewer calls, more of them per call.
 */
async function routingPhase(redis: TestRedis, double: OpenAIDouble, opts: HugeOptions) {
  const e = await env(redis, double, {
    LOCAL_PRICE_INPUT_PER_M: '0',
    LOCAL_PRICE_OUTPUT_PER_M: '0',
    CLOUD_PRICE_INPUT_PER_M: '1',
    CLOUD_PRICE_OUTPUT_PER_M: '2',
  });
  const api = startApp('api', e);
  const admin = new Redis(redis.port, '127.0.0.1');
  try {
    const client = new ApiClient(`http://127.0.0.1:${e.PORT}`);
    await client.waitHealthy(120_000);
    const quote = summarizeBody(1, 'q');
    const rows: Array<{
      batchesInFlight: number;
      itemsInFlight: number;
      calls: number;
      commandsPerCall: number;
      byCommand: Record<string, number>;
    }> = [];
    let submitted = 0;
    for (const target of [...opts.backlogs].sort((a, b) => a - b)) {
      for (; submitted < target; submitted += 1)
        await post(client, '/v1/batches', summarizeBody(100, `b${submitted}-`));
      await post(client, '/v1/batches/quote', quote); // warm: caches, script loads
      const idleStart = await commandStats(admin);
      const i0 = performance.now();
      await sleep(2000);
      const idle = delta(idleStart, await commandStats(admin));
      const idleMs = performance.now() - i0;
      const start = await commandStats(admin);
      const q0 = performance.now();
      let calls = 0;
      for (; calls < opts.quotes || performance.now() - q0 < opts.quoteMs; calls += 1)
        await post(client, '/v1/batches/quote', quote);
      const quoteMs = performance.now() - q0;
      const used = delta(start, await commandStats(admin));
      // What the idle system runs (heartbeats, schedulers) over as long, taken out.
      const byCommand: Record<string, number> = {};
      for (const [name, count] of Object.entries(used)) {
        const net = (count - ((idle[name] ?? 0) * quoteMs) / idleMs) / calls;
        if (net >= 0.5) byCommand[name] = round(net);
      }
      const commandsPerCall = round(Object.values(byCommand).reduce((a, b) => a + b, 0));
      rows.push({ batchesInFlight: target, itemsInFlight: target * 100, calls, commandsPerCall, byCommand });
      console.log(JSON.stringify({ phase: 'routing', ...rows.at(-1) }));
    }
    return rows;
  } finally {
    admin.disconnect();
    await api.stop();
  }
}

/** Redis's CPU time so far (user + system, ms) and the commands it has run (INFO). */
async function redisWork(redis: Redis): Promise<{ cpuMs: number; commands: number }> {
  const info = await redis.info();
  const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return {
    cpuMs: (field('used_cpu_user') + field('used_cpu_sys')) * 1000,
    commands: field('total_commands_processed'),
  };
}

async function commandStats(redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  return Object.fromEntries([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((m) => [m[1], Number(m[2])]));
}

function delta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)]));
}

export async function hugeMain(argv: string[]): Promise<Record<string, unknown>> {
  const opts = hugeOptions(argv);
  const profileDir = argv.find((a) => a.startsWith('--profile='))?.split('=')[1];
  const only = argv
    .find((a) => a.startsWith('--phases='))
    ?.split('=')[1]
    ?.split(',') ?? ['intake', 'footprint', 'routing', 'repository'];
  const redis = await startTestRedis();
  const double = await startOpenAIDouble();
  try {
    const result: Record<string, unknown> = { bench: 'queue-huge', at: new Date().toISOString(), options: opts };
    if (only.includes('intake')) {
      result.intake = await intakePhase(redis, double, opts, profileDir);
      console.log(JSON.stringify({ phase: 'intake', ...(result.intake as object) }));
    }
    if (only.includes('footprint')) {
      result.redisBytesPerFinishedItem = await footprintPhase(redis, double, opts);
      console.log(JSON.stringify({ phase: 'footprint', ...(result.redisBytesPerFinishedItem as object) }));
    }
    if (only.includes('routing')) {
      result.routingCall = await routingPhase(redis, double, opts);
      result.routingCallReads =
        'each call: the local queue ids (one script call per state), running jobs, payloads of jobs not read ' +
        `before; the open batches' backlog shares (one HGETALL each) once per ${ROUTING_BACKLOG_MAX_AGE_MS} ms ` +
        'per process, spread over the calls made in that time';
    }
    if (only.includes('repository')) {
      result.repository = await repositoryPhase(redis, double, opts);
      console.log(JSON.stringify({ phase: 'repository', ...(result.repository as object) }));
    }
    result.checks = checks(result);
    return result;
  } finally {
    await double.close();
    await redis.stop();
  }
}

/** Each target against its limit, from this run's own figures. */
function checks(result: Record<string, any>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (result.intake) {
    const { acceptMs, apiMemory } = result.intake;
    out.acceptedWithin10s = { acceptMs, limitMs: 10_000, ok: acceptMs <= 10_000 };
    // After a full GC each time: garbage the intake left and V8 has not collected yet is not held.
    const ratio = round(apiMemory.settled5s.heapAfterGcMb / apiMemory.before.heapAfterGcMb);
    out.flatHeap = { heapAfterGcOverBefore: ratio, limit: 2, ok: ratio <= 2 };
  }
  if (result.repository) {
    const { acceptMs } = result.repository;
    out.repositoryAcceptedWithin10s = { acceptMs, limitMs: 10_000, ok: acceptMs <= 10_000 };
  }
  const rows = result.routingCall as Array<{ batchesInFlight: number; commandsPerCall: number }> | undefined;
  if (rows && rows.length > 1) {
    const ratio = round(rows.at(-1)!.commandsPerCall / Math.max(rows[0].commandsPerCall, 1));
    out.routingReadsConstant = { largestOverNone: ratio, limit: 1.5, ok: ratio <= 1.5 };
  }
  return out;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
