import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { ensureGeneratedModel } from '#libs/gguf';
import { dataNodes, globalKeyPrefix, type RedisClient } from '#libs/redis';
import type { Sensitivity } from '#libs/domain';
import { startOpenAIDouble, type OpenAIDouble } from '../../test/support/openai-double.js';
import { ApiClient, sleep, startApp, systemEnv, type AppProcess } from '../../test/support/system-under-test.js';
import { CrashableCluster } from '../../test/support/redis-cluster.js';
import { CrashableRedis } from './crashable-redis.js';

/** A cloud provider as the chaos run configures it: its double and how far data may go to it. */
export interface ChaosProvider {
  name: 'frontier' | 'sovereign';
  clearance: Sensitivity;
  double: OpenAIDouble;
}

export interface ChaosSystemOptions {
  workers: number;
  /** Output tokens per item: the tiny model writes exactly this many, so it sets how long local items run. */
  maxOutputTokens: number;
  log: (line: string) => void;
  /** A Redis Cluster (3 masters + 3 replicas) instead of one server: "Redis crashes" kill a master. */
  cluster?: boolean;
}

/**
 * The whole system on loopback, as separate processes: its own crashable redis-server, the API, N
 * workers (the tiny generated model, one thread each) and two OpenAI doubles as two providers —
 * "frontier" cleared to internal and "sovereign" cleared to confidential. Local inference is priced
 * above both clouds, so every item goes to the cheapest provider cleared for it: public and internal to
 * frontier, confidential to sovereign, restricted stays local. When a cloud fails, what it cannot finish
 * falls back down that list; every request either double receives is kept for the leak check.
 */
export class ChaosSystem {
  /** Every worker process ever started, killed ones included: their logs count completions. */
  readonly allWorkers: AppProcess[] = [];

  private constructor(
    /** One server (crash = SIGKILL, restart on its AOF) or a Cluster (crash = SIGKILL a master, its replica takes over). */
    readonly redis: CrashableRedis | CrashableCluster,
    readonly providers: ChaosProvider[],
    readonly env: NodeJS.ProcessEnv,
    readonly api: AppProcess,
    readonly workers: AppProcess[],
    readonly client: ApiClient,
    /** The harness's own connection, for counting keys; it reconnects by itself after a Redis crash. */
    readonly inspector: RedisClient,
    private readonly log: (line: string) => void,
  ) {
    this.allWorkers.push(...workers);
  }

  static async start(opts: ChaosSystemOptions): Promise<ChaosSystem> {
    const redis = opts.cluster ? await CrashableCluster.start() : await CrashableRedis.start();
    // On a Cluster a killed master's replica takes over: a 202 promises the batch survives that only once a
    // replica has it (REDIS_WAIT_REPLICAS, docs/reliability.md), so that is the promise the run holds it to.
    const where =
      redis instanceof CrashableCluster
        ? { REDIS_CLUSTER_NODES: redis.seeds, REDIS_WAIT_REPLICAS: '1' }
        : { REDIS_URL: redis.url };
    const frontier = await startOpenAIDouble({ apiKey: 'frontier-key' });
    const sovereign = await startOpenAIDouble({ apiKey: 'sovereign-key' });
    const provider = (name: string, double: OpenAIDouble, clearance: Sensitivity, priceOutputPerM: number) => ({
      name,
      baseURL: double.url,
      model: `${name}-model`,
      clearance,
      apiKeyEnv: `${name.toUpperCase()}_KEY`,
      priceInputPerM: priceOutputPerM / 4,
      priceOutputPerM,
      latencyMs: 100,
      tokensPerSec: 2000,
      // A hung request is given up after 1.5 s (and retried once by the SDK), so hangs cost seconds, not minutes.
      timeoutMs: 1500,
      maxRetries: 1,
    });
    const env = await systemEnv({
      ...where,
      SWITCHYARD_PREFIX: `chaos-${Date.now().toString(36)}`,
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
      LOCAL_MODEL_NAME: 'tiny',
      LOCAL_SEQUENCES: '2',
      LOCAL_CONTEXT_SIZE: '1024',
      MAX_OUTPUT_TOKENS: String(opts.maxOutputTokens),
      // Local dearer than either cloud: routing by clearance alone decides where an item goes.
      LOCAL_PRICE_INPUT_PER_M: '20',
      LOCAL_PRICE_OUTPUT_PER_M: '60',
      FRONTIER_KEY: 'frontier-key',
      SOVEREIGN_KEY: 'sovereign-key',
      CLOUD_PROVIDERS: JSON.stringify([
        provider('frontier', frontier, 'internal', 0.6),
        provider('sovereign', sovereign, 'confidential', 3),
      ]),
      CIRCUIT_FAILURE_THRESHOLD: '3',
      CIRCUIT_OPEN_MS: '2000',
      JOB_ATTEMPTS: '4',
      ESCALATION_INTERVAL_MS: '1000',
      // Small, so the fuzz's oversized bodies are cheap to send; the largest valid body here is a few KiB.
      MAX_BODY_BYTES: String(256 * 1024),
      MAX_ITEMS_PER_BATCH: '500',
    });
    const api = startApp('api', env);
    const workers = Array.from({ length: opts.workers }, () => startApp('worker', env));
    const client = new ApiClient(`http://127.0.0.1:${env.PORT}`);
    const inspector =
      redis instanceof CrashableCluster
        ? new Cluster(
            redis.seeds.split(',').map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) })),
            { redisOptions: { maxRetriesPerRequest: null } },
          )
        : new Redis(redis.url, { maxRetriesPerRequest: null });
    inspector.on('error', () => undefined); // refused while Redis is down on purpose; it reconnects by itself
    const system = new ChaosSystem(
      redis,
      [
        { name: 'frontier', clearance: 'internal', double: frontier },
        { name: 'sovereign', clearance: 'confidential', double: sovereign },
      ],
      env,
      api,
      workers,
      client,
      inspector,
      opts.log,
    );
    try {
      await client.waitReady(120_000);
      await Promise.all(workers.map((w) => w.waitForLog(/pool consuming/, 120_000)));
    } catch (err) {
      // Why the system never came up is in its processes' last lines (e.g. CROSSSLOT on a Cluster).
      const tail = (p: AppProcess) => p.output.join('').split('\n').slice(-8).join('\n');
      const why = `${err instanceof Error ? err.message : String(err)}\napi:\n${tail(api)}\nworker:\n${tail(workers[0])}`;
      await system.stop();
      throw new Error(why, { cause: err });
    }
    return system;
  }

  get prefix(): string {
    return this.env.SWITCHYARD_PREFIX!;
  }

  provider(name: ChaosProvider['name']): ChaosProvider {
    return this.providers.find((p) => p.name === name)!;
  }

  /** SIGKILL worker `i` and start a replacement in its slot right away (it takes a few seconds to consume). */
  async killAndReplaceWorker(i: number): Promise<void> {
    await this.workers[i].kill();
    const replacement = startApp('worker', this.env);
    this.workers[i] = replacement;
    this.allWorkers.push(replacement);
    const t0 = Date.now();
    replacement.waitForLog(/pool consuming/, 120_000).then(
      () => this.startupMs.push(Date.now() - t0),
      () => undefined, // killed again before it started; the phase notices dead workers itself
    );
  }

  /** How long each replacement worker took from spawn to consuming. */
  readonly startupMs: number[] = [];

  async waitWorkersConsuming(timeoutMs = 120_000): Promise<void> {
    await Promise.all(this.workers.map((w) => w.waitForLog(/pool consuming/, timeoutMs)));
  }

  /** Every worker's output so far, killed workers' included. */
  workerOutput(): string {
    return this.allWorkers.map((w) => w.output.join('')).join('\n');
  }

  /** Writes every app process's output (killed ones too) to `dir`, for reading after a failed run. */
  async dumpLogs(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'api.log'), this.api.output.join(''));
    await Promise.all(this.allWorkers.map((w, i) => writeFile(join(dir, `worker-${i}.log`), w.output.join(''))));
  }

  /** Batch records and item records under this system's prefix, counted from Redis itself. */
  async countRecords(): Promise<{ batches: number; items: number; indexed: number }> {
    // SCAN walks one server's keys. On a Cluster, every node's, replicas too, as a set: after a failover a
    // client's idea of which node is master lags, and a key counted on a master and its replica counts once.
    const nodes = this.inspector instanceof Cluster ? this.inspector.nodes('all') : dataNodes(this.inspector);
    const count = async (pattern: string) => {
      const seen = new Set<string>();
      for (const node of nodes) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
          cursor = next;
          keys.forEach((k) => seen.add(k));
        } while (cursor !== '0');
      }
      return seen.size;
    };
    return {
      // Batch and item keys carry the batch id as hash tag (`p:sy:batch:{id}`); a batch's event stream and open
      // estimates (`p:sy:batch:{id}:events`, `:eta`) are not batch records: the pattern ends at the brace.
      batches: await count(`${this.prefix}:sy:batch:{*}`),
      items: await count(`${this.prefix}:sy:item:*`),
      indexed: await this.inspector.zcard(`${globalKeyPrefix(this.prefix)}:batches`),
    };
  }

  /** Healthy and ready (Redis reachable, a pool consuming), polled up to `timeoutMs`. */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    await this.client.waitReady(timeoutMs);
  }

  async stop(): Promise<void> {
    await Promise.all([this.api.stop(), ...this.workers.map((w) => w.stop())]);
    this.inspector.disconnect();
    for (const p of this.providers) await p.double.close();
    await this.redis.stop();
    this.log('system stopped');
  }
}

export { sleep };
