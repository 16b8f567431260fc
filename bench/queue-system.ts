import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestRedis, freePort, type TestRedis } from '../test/support/redis-server-process.js';
import { ApiClient, sleep, startApp, type AppProcess } from '../test/support/system-under-test.js';
import type { Workload } from './bench-workload.js';

export interface QueueRun {
  outputTokens: number;
  /** From just before the POST to the batch's finishedAt (set by the worker's last transition). */
  ms: number;
  tokensPerSec: number;
  /** POST to the first item's `running` transition: intake, enqueue, BullMQ pick-up. */
  firstStartMs: number;
  /** Sum of item durations (running → completed) over wall time: ≈ sequences when the engine never waits. */
  meanRunningItems: number;
  /** Each item's `running` → `completed` in ms, in index order. */
  itemMs: number[];
  /** The pool's sequences as GET /v1/pools reported them before and after the batch (null: no such endpoint). */
  pool: { max: number; minActive: number } | null;
}

/** Stops waiting on a worker that cannot start as asked; its output says why. */
export class WorkerStartFailed extends Error {
  constructor(readonly output: string) {
    super(`worker exited during start-up:\n${output.slice(-3000)}`);
  }
}

/**
 * The real system for the benchmark: a private redis-server on a free port (never the user's), one
 * API process, and one worker process at a time, restarted for each setting under test.
 */
export class QueueSystem {
  private worker?: AppProcess;
  private workerLabel = '';
  /** When the current worker's pool began consuming. */
  consumingSince = 0;

  private constructor(
    private readonly redis: TestRedis,
    private readonly api: AppProcess,
    readonly client: ApiClient,
    private readonly env: NodeJS.ProcessEnv,
    private readonly logDir?: string,
  ) {}

  /** `env` is shared by API and workers (model, threads, limits); Redis, prefix and port are added here. */
  static async start(env: NodeJS.ProcessEnv, logDir?: string): Promise<QueueSystem> {
    const redis = await startTestRedis();
    let api: AppProcess | undefined;
    try {
      const port = await freePort();
      const full = {
        ...env,
        REDIS_URL: redis.url,
        SWITCHYARD_PREFIX: `bench-${randomUUID().slice(0, 8)}`,
        HOST: '127.0.0.1',
        PORT: String(port),
      };
      api = startApp('api', full);
      const client = new ApiClient(`http://127.0.0.1:${port}`);
      await waitHealthy(api, client);
      return new QueueSystem(redis, api, client, full, logDir);
    } catch (error) {
      await api?.stop();
      await redis.stop();
      throw error;
    }
  }

  /**
   * Starts a worker and resolves once its local pool consumes: the model is loaded before that, so
   * load time never counts. Rejects with WorkerStartFailed if the process exits first.
   */
  async startWorker(env: NodeJS.ProcessEnv, label: string): Promise<void> {
    await this.stopWorker();
    const worker = startApp('worker', { ...this.env, ...env });
    this.worker = worker;
    this.workerLabel = label;
    try {
      await worker.waitForLog(/pool consuming/, 180_000);
    } catch (error) {
      if (!worker.running) {
        this.worker = undefined;
        await this.saveLog(label, worker);
        throw new WorkerStartFailed(worker.output.join(''));
      }
      throw error;
    }
    this.consumingSince = Date.now();
    await this.client.waitReady(30_000);
  }

  /** Graceful stop (SIGTERM): the pool drops its heartbeat, so /ready never sees a stale pool. */
  async stopWorker(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    const code = await worker.stop();
    await this.saveLog(this.workerLabel, worker);
    if (code !== 0 && code !== null) process.stderr.write(`worker exited with code ${code}\n`);
  }

  private async saveLog(label: string, app: AppProcess): Promise<void> {
    if (!this.logDir) return;
    await mkdir(this.logDir, { recursive: true });
    await writeFile(join(this.logDir, `worker-${label}.log`), app.output.join(''));
  }

  workerOutput(): string {
    return this.worker?.output.join('') ?? '';
  }

  /** Submits the workload as one batch and waits until every item has finished. */
  async runBatch(workload: Workload, timeoutMs = 600_000): Promise<QueueRun> {
    const before = await this.poolSequences();
    const t0 = Date.now();
    const submitted = await this.client.request('POST', '/v1/batches', workload.body);
    if (submitted.status !== 202) throw new Error(`POST /v1/batches answered ${submitted.status}: ${submitted.text}`);
    const id: string = submitted.json.id;
    const batch = await this.waitFinished(id, timeoutMs);
    const after = await this.poolSequences();
    if (batch.status !== 'completed' || batch.counts?.completed !== workload.body.items.length) {
      throw new Error(
        `batch ${id} finished ${batch.status}: ${JSON.stringify(batch.counts)}\n${this.workerOutput().slice(-3000)}`,
      );
    }
    const local = batch.routes?.local;
    if (local !== undefined && local !== workload.body.items.length)
      throw new Error(`batch ${id}: only ${local} items routed locally`);
    const ms = Date.parse(batch.finishedAt) - t0;
    const items = await this.items(id, workload.body.items.length);
    const starts = items.map((i) => Date.parse(i.startedAt));
    const itemMs = items.map((i) => Date.parse(i.finishedAt) - Date.parse(i.startedAt));
    const outputTokens: number = batch.usage.outputTokens;
    return {
      outputTokens,
      ms,
      tokensPerSec: (outputTokens / ms) * 1000,
      firstStartMs: Math.min(...starts) - t0,
      meanRunningItems: itemMs.reduce((a, b) => a + b, 0) / ms,
      itemMs,
      pool:
        before && after
          ? { max: Math.max(before.max, after.max), minActive: Math.min(before.active, after.active) }
          : null,
    };
  }

  /** The local pool's sequences from GET /v1/pools, or null where the API has no such endpoint. */
  async poolSequences(): Promise<{ max: number; active: number; busy: number } | null> {
    const res = await this.client.request('GET', '/v1/pools');
    if (res.status === 404) return null;
    if (res.status !== 200) throw new Error(`GET /v1/pools answered ${res.status}: ${res.text}`);
    const pools: any[] = (res.json?.pools ?? []).filter(
      (p: any) => p.target === 'local' || (p.target === undefined && p.device !== 'api'),
    );
    if (pools.length !== 1) return null;
    const s = pools[0].sequences;
    return { max: s.max, active: s.active ?? s.max, busy: s.busy };
  }

  async close(): Promise<void> {
    const errors: unknown[] = [];
    for (const step of [() => this.stopWorker(), () => this.api.stop(), () => this.redis.stop()]) {
      await step().catch((e: unknown) => errors.push(e));
    }
    if (errors.length) throw errors[0];
  }

  /**
   * Polls once a second: the end time comes from the record, not the poll, and every poll is CPU
   * taken from the engine's threads (API, Redis) on a machine with as many cores as threads.
   */
  private async waitFinished(id: string, timeoutMs: number): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { json } = await this.client.request('GET', `/v1/batches/${id}`);
      if (json?.finishedAt) return json;
      if (this.worker && !this.worker.running)
        throw new Error(`worker exited during batch ${id}:\n${this.workerOutput().slice(-3000)}`);
      if (Date.now() > deadline)
        throw new Error(`batch ${id} not finished within ${timeoutMs}ms: ${JSON.stringify(json)}`);
      await sleep(1000);
    }
  }

  private async items(id: string, total: number): Promise<any[]> {
    const { status, json } = await this.client.request('GET', `/v1/batches/${id}/items?limit=${total}`);
    if (status !== 200) throw new Error(`GET /v1/batches/${id}/items answered ${status}`);
    return json.items;
  }
}

async function waitHealthy(api: AppProcess, client: ApiClient, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!api.running) throw new Error(`API exited during start-up:\n${api.output.join('').slice(-3000)}`);
    try {
      if ((await client.request('GET', '/health')).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`API not healthy within ${timeoutMs}ms:\n${api.output.join('').slice(-3000)}`);
    await sleep(100);
  }
}
