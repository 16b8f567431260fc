import { afterAll, beforeAll } from '@jest/globals';
import { Queue, type ConnectionOptions } from 'bullmq';
import { bullConnection, closeRedis, openRedis, type RedisClient } from '#libs/redis';
import { BatchStore } from '#libs/batches';
import { loadConfig, type AppConfig } from '#libs/config';
import { BULL_SETTINGS, JobQueue, configuredQueues, queueName, bullPrefix } from '#libs/queue';
import { startOpenAIDouble, type OpenAIDouble, type OpenAIDoubleOptions } from './openai-double.js';
import { ApiClient, startApp, systemEnv, type AppProcess } from './system-under-test.js';

/** The env of one system, or a function of its OpenAI double (which may also set the double up before the apps start). */
export type SystemEnvSource =
  NodeJS.ProcessEnv | ((parts: { double: OpenAIDouble }) => NodeJS.ProcessEnv | Promise<NodeJS.ProcessEnv>);

export interface UseSystemOptions {
  /** Starts the recording OpenAI double first, with these options; the env function receives it. */
  double?: OpenAIDoubleOptions;
  /** Worker processes started with the API: 1 by default; 0 for the API alone (batches stay queued). */
  workers?: number;
  /**
   * What start-up waits for: `ready` (GET /ready answers 200, which needs a worker; the default with workers),
   * `healthy` (GET /health), or `listening` (the API's log line; the default without workers).
   */
  waitFor?: 'ready' | 'healthy' | 'listening';
  /** Env the API gets on top of the system's: the API told one thing and the workers another. */
  apiEnv?: NodeJS.ProcessEnv;
}

/** Direct access to the system's Redis, as its own processes open it, to write what the API would refuse. */
export interface SystemInternals {
  config: AppConfig;
  redis: RedisClient;
  store: BatchStore;
  jobs: JobQueue;
}

/** One running system, filled in by useSystem's beforeAll: read it inside tests and hooks, not while jest collects them. */
export interface System {
  /** The env every process of the system was started with (its own prefix and port on the test Redis). */
  readonly env: NodeJS.ProcessEnv;
  /** http://127.0.0.1:<PORT> */
  readonly url: string;
  /** JSON client for the API, without a key (`client.withKey(k)` for one). */
  readonly client: ApiClient;
  /** The recording OpenAI double; only with `options.double`. */
  readonly double: OpenAIDouble;
  readonly api: AppProcess;
  /** The first worker started (with `workers: 0`, none: reading it throws). */
  readonly worker: AppProcess;
  /** Every worker started, including those from startWorker(), in order. */
  readonly workers: readonly AppProcess[];
  /** Starts one more app on the system's env (plus `overrides`); useSystem stops it in afterAll. */
  startApp(app: 'api' | 'worker', overrides?: NodeJS.ProcessEnv): AppProcess;
  /** A worker more, as startApp('worker') (kept in `workers`), e.g. after killing one. */
  startWorker(overrides?: NodeJS.ProcessEnv): AppProcess;
  /** Opens the system's Redis, batch store and queue layer; useSystem closes them in afterAll. */
  internals(): SystemInternals;
  /** Runs `cleanup` in useSystem's afterAll while the system is still up (jest runs afterAll hooks in declaration order). */
  onStop(cleanup: () => Promise<unknown>): void;
}

/**
 * The e2e set-up every spec needs, once: registers a beforeAll that starts the OpenAI double (optional), a
 * private prefix and port on the test Redis (systemEnv), the worker(s) and the API from dist/, and waits for
 * them; and an afterAll that stops everything it started, the double last. Returns the handle the tests use.
 *
 *   const sys = useSystem(({ double }) => ({ OPENAI_BASE_URL: double.url, OPENAI_API_KEY: 'k' }), { double: { apiKey: 'k' } });
 *   it('...', async () => expect((await sys.client.request('GET', '/health')).status).toBe(200));
 */
export function useSystem(env: SystemEnvSource = {}, options: UseSystemOptions = {}): System {
  const workerCount = options.workers ?? 1;
  const waitFor = options.waitFor ?? (workerCount > 0 ? 'ready' : 'listening');
  let started: { env: NodeJS.ProcessEnv; client: ApiClient; api: AppProcess } | undefined;
  let double: OpenAIDouble | undefined;
  const apps: AppProcess[] = [];
  const workers: AppProcess[] = [];
  const opened: Array<() => Promise<unknown>> = [];
  const cleanups: Array<() => Promise<unknown>> = [];

  const running = () => {
    if (!started)
      throw new Error('useSystem: the system is not started (read it inside a test or a hook, after its beforeAll)');
    return started;
  };
  const theDouble = () => {
    if (!double) throw new Error('useSystem: no OpenAI double (pass options.double)');
    return double;
  };
  const launch = (app: 'api' | 'worker', appEnv: NodeJS.ProcessEnv) => {
    const proc = startApp(app, appEnv);
    apps.push(proc);
    if (app === 'worker') workers.push(proc);
    return proc;
  };

  beforeAll(async () => {
    if (options.double) double = await startOpenAIDouble(options.double);
    const parts = {
      get double() {
        return theDouble();
      },
    };
    const overrides = typeof env === 'function' ? await env(parts) : env;
    const appEnv = await systemEnv(overrides);
    for (let i = 0; i < workerCount; i++) launch('worker', appEnv);
    const api = launch('api', { ...appEnv, ...options.apiEnv });
    const client = new ApiClient(`http://127.0.0.1:${appEnv.PORT}`);
    started = { env: appEnv, client, api };
    if (waitFor === 'ready') await client.waitReady();
    else if (waitFor === 'healthy') await client.waitHealthy();
    else await api.waitForLog(/api listening/);
  });

  afterAll(async () => {
    try {
      if (started) for (const cleanup of cleanups) await cleanup();
      await Promise.all(opened.splice(0).map((close) => close()));
    } finally {
      await Promise.all(apps.map((app) => app.stop()));
      await double?.close();
    }
  });

  return {
    get env() {
      return running().env;
    },
    get url() {
      return running().client.baseUrl;
    },
    get client() {
      return running().client;
    },
    get double() {
      return theDouble();
    },
    get api() {
      return running().api;
    },
    get worker() {
      running();
      if (!workers[0]) throw new Error('useSystem: no worker was started');
      return workers[0];
    },
    get workers() {
      return workers;
    },
    startApp: (app, overrides = {}) => launch(app, { ...running().env, ...overrides }),
    startWorker: (overrides = {}) => launch('worker', { ...running().env, ...overrides }),
    onStop: (cleanup) => void cleanups.push(cleanup),
    internals() {
      const config = loadConfig(running().env);
      // As the apps open it: one server, a Cluster or Sentinel's master (libs/redis).
      const bull = bullConnection(config.redis.topology);
      const connection = bull.connection as ConnectionOptions;
      const redis = openRedis(config.redis.topology, { maxRetriesPerRequest: 3 });
      const queues = new Map(
        configuredQueues(config)
          .map(queueName)
          .map((q) => [q, new Queue(q, { connection, prefix: bullPrefix(config.prefix), settings: BULL_SETTINGS })]),
      );
      opened.push(async () => {
        await Promise.all([...queues.values()].map((q) => q.close()));
        await bull.close();
        await closeRedis(redis);
      });
      return {
        config,
        redis,
        // The cast goes once the stores take either client (the Cluster keyspace work, issue 14 §4).
        store: new BatchStore(redis, config.prefix),
        jobs: new JobQueue(queues, connection, config.prefix, config.queue),
      };
    },
  };
}
