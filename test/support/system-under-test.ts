import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { fetchJson, type JsonAnswer } from './fetch-json.js';
import { freePort } from './redis-server-process.js';

const ROOT = resolve(process.cwd());

/** A real app process (built output in dist/), with its output kept for assertions. */
export class AppProcess {
  readonly output: string[] = [];
  private exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    const keep = (chunk: Buffer) => this.output.push(chunk.toString());
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL: the process gets no chance to clean up, like a crash or an OOM kill. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM and wait: the graceful path. */
  async stop(): Promise<number | null> {
    if (this.running) this.child.kill('SIGTERM');
    return this.exited;
  }

  async waitForLog(pattern: RegExp, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.output.join(''))) {
      if (!this.running)
        throw new Error(`process exited before logging ${pattern}:\n${this.output.join('').slice(-4000)}`);
      if (Date.now() > deadline)
        throw new Error(`no log line matching ${pattern} within ${timeoutMs}ms:\n${this.output.join('').slice(-4000)}`);
      await sleep(50);
    }
  }
}

/** Starts one app from dist/: the API, a worker, or the launcher (`npm start`, which spawns both). */
export function startApp(app: 'api' | 'worker' | 'launcher', env: NodeJS.ProcessEnv): AppProcess {
  const child = spawn(process.execPath, [resolve(ROOT, 'dist/apps', app, 'src/main.js')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new AppProcess(child);
}

/** One worker and one API process on `env`, the API answering /ready; `stop()` ends both. */
export async function startSystem(
  env: NodeJS.ProcessEnv,
): Promise<{ api: AppProcess; worker: AppProcess; client: ApiClient; stop: () => Promise<void> }> {
  const worker = startApp('worker', env);
  const api = startApp('api', env);
  const stop = async () => void (await Promise.all([api.stop(), worker.stop()]));
  const client = new ApiClient(`http://127.0.0.1:${env.PORT}`);
  try {
    await client.waitReady();
  } catch (error) {
    await stop();
    throw error;
  }
  return { api, worker, client, stop };
}

/**
 * Env for one isolated system: its own key prefix on the shared test Redis (or the Redis named by
 * `overrides` — a REDIS_URL such as the chaos harness's own, or REDIS_CLUSTER_NODES / REDIS_SENTINELS), its own port.
 */
export async function systemEnv(overrides: NodeJS.ProcessEnv = {}): Promise<NodeJS.ProcessEnv> {
  const elsewhere = overrides.REDIS_CLUSTER_NODES !== undefined || overrides.REDIS_SENTINELS !== undefined;
  const redisUrl = overrides.REDIS_URL ?? process.env.REDIS_URL;
  if (!redisUrl && !elsewhere) throw new Error('REDIS_URL is unset: the jest global setup starts the test Redis');
  return {
    ...(elsewhere ? {} : { REDIS_URL: redisUrl }),
    SWITCHYARD_PREFIX: `t-${randomUUID().slice(0, 8)}`,
    PORT: String(await freePort()),
    HOST: '127.0.0.1',
    LOCAL_THREADS: '1',
    LOCAL_CONTEXT_SIZE: '1024',
    HEARTBEAT_MS: '500',
    JOB_LOCK_MS: '4000',
    JOB_STALLED_INTERVAL_MS: '1000',
    JOB_BACKOFF_MS: '100',
    SHUTDOWN_TIMEOUT_MS: '2000',
    ...overrides,
  };
}

/** A small JSON client for the API under test; with an API key it sends `Authorization: Bearer <key>`. */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly apiKey?: string,
  ) {}

  /** The same API, called with another key (or none). */
  withKey(apiKey: string | undefined): ApiClient {
    return new ApiClient(this.baseUrl, apiKey);
  }

  async request(
    method: string,
    path: string,
    body?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<JsonAnswer> {
    const headers = this.apiKey ? { authorization: `Bearer ${this.apiKey}`, ...extraHeaders } : extraHeaders;
    return fetchJson(this.baseUrl + path, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if ((await this.request('GET', '/ready')).status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`API at ${this.baseUrl} not ready within ${timeoutMs}ms`);
      await sleep(100);
    }
  }

  /** Waits until the process answers /health (needs no worker, unlike waitReady). */
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if ((await this.request('GET', '/health')).status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`API at ${this.baseUrl} not healthy within ${timeoutMs}ms`);
      await sleep(100);
    }
  }

  /** Polls a batch until every item has finished (completed, failed or cancelled). */
  async waitFinished(id: string, timeoutMs = 90_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { json } = await this.request('GET', `/v1/batches/${id}`);
      if (json?.finishedAt) return json;
      if (Date.now() > deadline)
        throw new Error(`batch ${id} not finished within ${timeoutMs}ms: ${JSON.stringify(json)}`);
      await sleep(100);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
