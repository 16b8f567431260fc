import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { startOpenAIDouble, type OpenAIDouble } from '../../test/support/openai-double.js';
import { startTestRedis, type TestRedis } from '../../test/support/redis-server-process.js';
import { ApiClient, sleep, startApp, type AppProcess } from '../../test/support/system-under-test.js';
import { cloudOnlyEnv } from './cloud-only-env.js';
import { hugeMain } from './huge-batch.js';
import {
  commandDelta,
  summarize,
  summarizeRound,
  type Comparison,
  type SideName,
  type Throughput,
} from './latency-summary.js';

/**
 * Issue 17 §1: what Switchyard's queue costs over raw BullMQ for the same work. Both sides make one chat
 * call per item to the same loopback OpenAI double answering at once, at the same concurrency, each under its
 * own prefix on the bench's private Redis. Both are started first, then measured in turns (`compare`).
 * Throughput, ROUNDS rounds: N items added at once (raw: addBulk in chunks of BATCH; Switchyard: POST
 * /v1/batches of BATCH public summaries routed to a zero-priced cloud provider), items/s from the first add to
 * the last completion. Latency: LONE lone items per side, alternating, add → completion as each side records
 * it (BullMQ's job.timestamp → finishedOn; the batch's createdAt → finishedAt), so the observer's polling
 * never counts.
 *
 *   npm run bench:queue [-- --items=2000 --rounds=5 --lone=50 --concurrency=50 --record]
 *   npm run bench:queue -- --huge [--items=100000 --footprint=1000 --quotes=20 --finish --record]  (huge-batch.ts)
 * One line per round, then last: {raw: {itemsPerSec, p50Ms, p95Ms, commandsPerItem, …}, switchyard: {…}, ratio,
 * addedP95Ms, rounds}; `--record` writes it to bench/results/queue.json. Targets (issue 17): ratio ≥ 0.8,
 * addedP95Ms ≤ 5. ratio: the median of the rounds' own ratios. commandsPerItem: the commands Redis ran (INFO
 * commandstats, a script's inner commands included) over a side's phases, per item; the other side, idle
 * meanwhile, adds its heartbeats (a few hundredths of a command per item).
 */

const BATCH = 100;
const TEXT = 'The board met on Monday and approved the budget for the coming year.';

interface Options {
  items: number;
  lone: number;
  concurrency: number;
  rounds: number;
}

function options(argv: string[]): Options {
  const arg = (name: string, fallback: number): number => {
    const raw = argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${name}: expected a positive integer`);
    return value;
  };
  return {
    items: arg('items', 2000),
    lone: arg('lone', 50),
    concurrency: arg('concurrency', 50),
    rounds: arg('rounds', 5),
  };
}

/** One side of the comparison, started once and measured in turns with the other. */
interface BenchSide {
  /** `items` added at once: items/s from the first add to the last completion, and what Redis ran meanwhile. */
  throughput(items: number, round: number): Promise<Throughput>;
  /** One lone item: add → completion, ms, as the side itself records them. */
  lone(i: number): Promise<number>;
  close(): Promise<void>;
}

/** Raw BullMQ + the openai SDK: the floor any queue in front of a chat API pays. */
async function rawSide(redis: TestRedis, double: OpenAIDouble, opts: Options): Promise<BenchSide> {
  const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
  const prefix = `raw-${randomUUID().slice(0, 8)}`;
  const openai = new OpenAI({ baseURL: double.url, apiKey: 'raw-key', maxRetries: 0 });
  const queue = new Queue('raw', { connection, prefix });
  let done = new Map<string, number>();
  let onDone: ((id: string) => void) | null = null;
  const worker = new Worker(
    'raw',
    async (job: Job<{ text: string }>) => {
      const answer = await openai.chat.completions.create({
        model: 'raw-model',
        messages: [{ role: 'user', content: `Summarize:\n${job.data.text}` }],
        max_tokens: 64,
      });
      return answer.choices[0]?.message.content ?? '';
    },
    { connection, prefix, concurrency: opts.concurrency, removeOnComplete: { count: 100_000 } },
  );
  worker.on('completed', (job) => {
    done.set(job.id!, Date.now());
    onDone?.(job.id!);
  });
  await worker.waitUntilReady();
  return {
    async throughput(items, round) {
      done = new Map();
      const before = await commandCounts(redis);
      const cpuBefore = await sharedCpuMs(redis);
      const t0 = Date.now();
      for (let i = 0; i < items; i += BATCH) {
        const n = Math.min(BATCH, items - i);
        await queue.addBulk(
          Array.from({ length: n }, (_, k) => ({ name: 'summarize', data: { text: `${TEXT} #${round}.${i + k}` } })),
        );
      }
      while (done.size < items) await sleep(20);
      const itemsPerSec = items / ((Math.max(...done.values()) - t0) / 1000);
      const shared = cpuDelta(cpuBefore, await sharedCpuMs(redis));
      return { itemsPerSec, commands: commandDelta(before, await commandCounts(redis)), ...shared };
    },
    async lone(i) {
      const finished = new Promise<string>((resolve) => (onDone = resolve));
      const job = await queue.add('summarize', { text: `${TEXT} lone ${i}` });
      while ((await finished) !== job.id) {
        // a completion of an earlier job cannot arrive here: each lone job waits for the one before it
      }
      onDone = null;
      const record = await queue.getJob(job.id!);
      return record!.finishedOn! - record!.timestamp;
    },
    async close() {
      await worker.close();
      await queue.close();
    },
  };
}

/** Switchyard's REST path: intake, routing, PII scan, audit, guarded transitions — everything an item pays. */
async function switchyardSide(redis: TestRedis, double: OpenAIDouble, opts: Options): Promise<BenchSide> {
  const env = await cloudOnlyEnv(redis, double, {
    CLOUD_CONCURRENCY: String(opts.concurrency),
    MAX_ITEMS_PER_BATCH: String(BATCH),
    // OTEL_EXPORTER_OTLP_ENDPOINT and the rest, when given to the bench: what tracing costs (docs/benchmarks.md).
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('OTEL_'))),
  });
  const apps: AppProcess[] = [startApp('worker', env), startApp('api', env)];
  const client = new ApiClient(`http://127.0.0.1:${env.PORT}`);
  try {
    await client.waitReady(120_000);
    await poolsConsuming(client, 120_000);
  } catch (error) {
    await Promise.all(apps.map((app) => app.stop()));
    throw error;
  }
  const submit = async (texts: string[]): Promise<string> => {
    const { status, json } = await client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'public',
      deadline: 'PT30M',
      task: { type: 'summarize' },
      items: texts.map((text, i) => ({ id: `d${i}`, text })),
    });
    if (status !== 202) throw new Error(`POST /v1/batches answered ${status}: ${JSON.stringify(json)}`);
    return (json as { id: string }).id;
  };
  return {
    async throughput(items, round) {
      const before = await commandCounts(redis);
      const cpuBefore = await Promise.all(apps.map(cpuMs));
      const sharedBefore = await sharedCpuMs(redis);
      const t0 = Date.now();
      const ids: string[] = [];
      for (let i = 0; i < items; i += BATCH) {
        const n = Math.min(BATCH, items - i);
        ids.push(await submit(Array.from({ length: n }, (_, k) => `${TEXT} #${round}.${i + k}`)));
      }
      let lastFinish = 0;
      for (const id of ids) {
        const batch = await client.waitFinished(id, 600_000);
        assertAllCloud(batch);
        lastFinish = Math.max(lastFinish, Date.parse(batch.finishedAt));
      }
      const itemsPerSec = items / ((lastFinish - t0) / 1000);
      const shared = cpuDelta(sharedBefore, await sharedCpuMs(redis));
      const commands = commandDelta(before, await commandCounts(redis));
      const [workerCpuMs, apiCpuMs] = (await Promise.all(apps.map(cpuMs))).map((ms, i) => ms - cpuBefore[i]);
      return { itemsPerSec, commands, workerCpuMs, apiCpuMs, ...shared };
    },
    async lone(i) {
      const batch = await client.waitFinished(await submit([`${TEXT} lone ${i}`]), 60_000);
      assertAllCloud(batch);
      return Date.parse(batch.finishedAt) - Date.parse(batch.createdAt);
    },
    async close() {
      await Promise.all(apps.map((app) => app.stop()));
    },
  };
}

/**
 * Both sides started, then measured in turns after a warm-up phase each: `rounds` throughput phases each, the
 * order swapped every round, and the lone items alternating one by one. On a machine shared with other work the
 * speed drifts by tens of percent within a minute (the same code read 0.55 and 0.80 in two runs back to back, one
 * side after the other); a ratio of phases run side by side in time, the median over rounds, leaves most of it out.
 */
async function compare(redis: TestRedis, double: OpenAIDouble, opts: Options): Promise<Comparison> {
  const sides: Record<SideName, BenchSide | undefined> = { raw: undefined, switchyard: undefined };
  try {
    sides.raw = await rawSide(redis, double, opts);
    sides.switchyard = await switchyardSide(redis, double, opts);
    // Unmeasured: the first items through either side pay for JIT compilation and connection set-up.
    for (const name of ['raw', 'switchyard'] as const) await sides[name]!.throughput(Math.min(opts.items, 500), -1);
    const rounds: Array<Record<SideName, Throughput>> = [];
    for (let r = 0; r < opts.rounds; r += 1) {
      const order: SideName[] = r % 2 === 0 ? ['raw', 'switchyard'] : ['switchyard', 'raw'];
      const phases: Partial<Record<SideName, Throughput>> = {};
      for (const name of order) phases[name] = await sides[name]!.throughput(opts.items, r);
      const round = phases as Record<SideName, Throughput>;
      rounds.push(round);
      console.log(JSON.stringify({ round: r + 1, ...summarizeRound(round) }));
    }
    const lone: Record<SideName, number[]> = { raw: [], switchyard: [] };
    for (let i = 0; i < opts.lone; i += 1) {
      const order: SideName[] = i % 2 === 0 ? ['raw', 'switchyard'] : ['switchyard', 'raw'];
      for (const name of order) lone[name].push(await sides[name]!.lone(i));
    }
    return { rounds, lone };
  } finally {
    for (const side of [sides.switchyard, sides.raw]) await side?.close();
  }
}

/**
 * /ready answers once one pool consumes (the cloud one, at once); the worker is still loading its local model then,
 * a second of CPU (node-llama-cpp resolving the model's chat template) that would land in the measured phase. The
 * queue is measured as it runs, not while its worker starts: wait until every pool the worker announced consumes.
 */
async function poolsConsuming(client: ApiClient, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { json } = await client.request('GET', '/v1/pools');
    const pools = (json as { pools: { target: string; status: string }[] }).pools;
    if (pools.some((p) => p.target === 'local') && pools.every((p) => p.status === 'consuming')) return;
    if (Date.now() > until) throw new Error(`pools not all consuming within ${timeoutMs}ms: ${JSON.stringify(pools)}`);
    await sleep(100);
  }
}

/**
 * CPU time (user + system) a process has used, ms, from /proc/<pid>/stat (clock ticks of 10 ms). Per item over
 * the throughput phase it is steadier than items/s on a shared machine: other work slows a process, it does not
 * make it spend more.
 */
async function cpuMs(app: AppProcess): Promise<number> {
  const stat = await readFile(`/proc/${app.child.pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces, inside parentheses): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** CPU ms Redis and the bench's own process have used so far, or used over a phase. */
interface SharedCpu {
  redisCpuMs: number;
  benchCpuMs: number;
}

/**
 * CPU ms Redis (INFO cpu: its main thread and its helpers) and this process (the double, and the raw side's worker)
 * have used so far. On two cores every process of a side shares the machine, so a side's throughput answers to the
 * CPU it spends in all of them, not in its worker alone.
 */
async function sharedCpuMs(redis: TestRedis): Promise<SharedCpu> {
  const info = await redisInfo(redis, 'cpu');
  const seconds = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  const { user, system } = process.cpuUsage();
  return {
    redisCpuMs: (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1000,
    benchCpuMs: (user + system) / 1000,
  };
}

function cpuDelta(before: SharedCpu, after: SharedCpu): SharedCpu {
  return { redisCpuMs: after.redisCpuMs - before.redisCpuMs, benchCpuMs: after.benchCpuMs - before.benchCpuMs };
}

/** Calls per command since Redis started (INFO commandstats; a script's inner commands counted by name). */
async function commandCounts(redis: TestRedis): Promise<Record<string, number>> {
  const info = await redisInfo(redis, 'commandstats');
  return Object.fromEntries([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((m) => [m[1], Number(m[2])]));
}

/** One INFO section of the bench's Redis, on a connection of its own (the sides' clients are theirs). */
async function redisInfo(redis: TestRedis, section: string): Promise<string> {
  const client = new Redis(redis.port, '127.0.0.1', { lazyConnect: true });
  try {
    await client.connect();
    return await client.info(section);
  } finally {
    client.disconnect();
  }
}

/** The comparison is void if any item ran elsewhere (locally, or failed): say so instead of a ratio. */
function assertAllCloud(batch: { id: string; counts?: Record<string, number>; routes?: Record<string, number> }): void {
  if ((batch.counts?.completed ?? 0) !== batch.counts?.total || (batch.routes?.local ?? 0) > 0)
    throw new Error(`batch ${batch.id} did not run wholly in the cloud: ${JSON.stringify(batch)}`);
}

async function main(): Promise<void> {
  if (process.argv.includes('--huge')) {
    const result = await hugeMain(process.argv.slice(2));
    if (process.argv.includes('--record')) await record('queue-huge.json', result);
    console.log(JSON.stringify(result));
    return;
  }
  const opts = options(process.argv.slice(2));
  const redis = await startTestRedis();
  const double = await startOpenAIDouble();
  try {
    const comparison = await compare(redis, double, opts);
    const summary = summarize(comparison, opts.items);
    const result = {
      bench: 'queue',
      at: new Date().toISOString(),
      options: opts,
      ...summary,
      targets: { ratio: 0.8, addedP95Ms: 5 },
    };
    if (process.argv.includes('--record')) await record('queue.json', result);
    console.log(JSON.stringify(result));
  } finally {
    await double.close();
    await redis.stop();
  }
}

/** Writes a result to bench/results/<name>. */
async function record(name: string, result: unknown): Promise<void> {
  const out = join(dirname(fileURLToPath(import.meta.url)), '../../../bench/results', name);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify(result, null, 2) + '\n');
}

await main();
