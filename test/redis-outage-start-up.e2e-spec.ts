import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOpenAIDouble, type OpenAIDouble } from './support/openai-double.js';
import { freePort, startTestRedis, type TestRedis } from './support/redis-server-process.js';
import { ApiClient, sleep, startApp, systemEnv, type AppProcess } from './support/system-under-test.js';

/**
 * A gate in front of the engine: it holds every request until opened, then forwards them all. The worker's start-up
 * reads the engine's capacity before the engine pool's first heartbeat, so a held read stops start-up at a known
 * step, with Redis commands still to come.
 */
async function engineGate(
  target: string,
): Promise<{ url: string; reached: Promise<void>; open(): void; close(): Promise<void> }> {
  let opened = false;
  const held: Array<() => void> = [];
  let reached!: () => void;
  const firstRequest = new Promise<void>((r) => (reached = r));
  const forward = (req: IncomingMessage, body: Buffer, res: ServerResponse) => {
    const out = request(new URL(target).origin + req.url, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    out.end(body);
  };
  const server: Server = createServer((req, res) => {
    reached();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const go = () => forward(req, Buffer.concat(chunks), res);
      if (opened) go();
      else held.push(go);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${new URL(target).pathname}`,
    reached: firstRequest,
    open() {
      opened = true;
      for (const go of held.splice(0)) go();
    },
    close: () => new Promise<void>((r) => server.close(() => r())).then(() => server.closeAllConnections()),
  };
}

/**
 * A worker whose Redis goes away while it starts waits for Redis, as it does once running. It used to exit 1 on the
 * first start-up command that met the outage ("start-up failed: MaxRetriesPerRequestError"): the chaos run saw it when
 * a worker restarted after a kill and Redis restarted next.
 */
describe('start-up while Redis is gone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-outage-start-'));
  let port: number;
  let redis: TestRedis | undefined;
  let engine: OpenAIDouble;
  let gate: Awaited<ReturnType<typeof engineGate>>;
  const procs: AppProcess[] = [];

  beforeAll(async () => {
    port = await freePort();
    redis = await startTestRedis({ dir, port });
    engine = await startOpenAIDouble({ apiKey: 'engine-key', models: ['engine-model'] });
    engine.setEngine({ kind: 'llama-server', slots: 2 });
    gate = await engineGate(engine.url);
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await redis?.stop();
    await gate?.close();
    await engine?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('waits for Redis to come back, then starts and runs items', async () => {
    const env = await systemEnv({
      REDIS_URL: redis!.url,
      ENGINE_POOLS: JSON.stringify([
        {
          name: 'gpu-1',
          engine: 'llama-server',
          baseURL: gate.url,
          model: 'engine-model',
          onPremises: true,
          clearance: 'restricted',
          apiKeyEnv: 'GPU1_KEY',
          tokensPerSec: 50,
          maxRetries: 0,
        },
      ]),
      GPU1_KEY: 'engine-key',
      ENGINE_POLL_MS: '200',
      WORKER_MODELS: 'gpu-1',
      MAX_OUTPUT_TOKENS: '16',
    });
    const client = new ApiClient(`http://127.0.0.1:${env.PORT}`);
    const api = startApp('api', env);
    procs.push(api);
    await client.waitHealthy();
    const worker = startApp('worker', env);
    procs.push(worker);

    // Start-up is past Redis's first checks and holds at the engine's first capacity read: Redis goes, the read is
    // answered, and start-up goes on to the pool's heartbeat and the catch-up sweeps with Redis gone.
    await gate.reached;
    await redis!.stop();
    gate.open();
    await worker.waitForLog(/Redis unreachable/);
    await sleep(1500);
    expect(worker.running).toBe(true);

    redis = await startTestRedis({ dir, port });
    await client.waitReady().catch(async (e) => {
      console.log('WORKER', worker.output.join('').slice(-6000));
      console.log('READY', JSON.stringify((await client.request('GET', '/ready')).json));
      throw e;
    });
    const res = await client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'restricted',
      deadline: 'PT10M',
      task: { type: 'summarize', maxTokens: 16 },
      items: [{ id: 'doc-1', text: 'Minutes of the board meeting.' }],
    });
    expect(res.status).toBe(202);
    const batch = await client.waitFinished(res.json.id, 60_000);
    expect(batch.counts).toMatchObject({ total: 1, completed: 1 });
    expect(worker.running).toBe(true);
    expect(worker.output.join('')).not.toMatch(/start-up failed/);
  }, 120_000);
});
