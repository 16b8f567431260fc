import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { ensureGeneratedModel } from '#libs/gguf';
import { freePort } from './support/redis-server-process.js';
import { sleep } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

/**
 * Issue 17 §4, against the real thing: llama.cpp's own `llama-server`, built from the source bundle node-llama-cpp
 * ships, as an engine pool. Opt-in, outside CI (the build takes about 20 minutes on 2 cores):
 *
 *   bin="$(bench/engine/build-llama-tools.sh | tail -1)"
 *   npm run build && LLAMA_SERVER_BIN="$bin/llama-server" \
 *     NODE_OPTIONS=--experimental-vm-modules npx jest test/engine-llama-server.e2e-spec.ts --selectProjects e2e
 *
 * The model is the generated random-weight one: what is checked is the engine's capacity as Switchyard reads it
 * (its /slots and /metrics) and items running through its OpenAI-compatible API, not the answers' sense.
 */
const bin = process.env.LLAMA_SERVER_BIN;
const SLOTS = 2;
const suite = bin ? describe : describe.skip;
if (!bin)
  console.log(
    'test/engine-llama-server.e2e-spec.ts skipped: LLAMA_SERVER_BIN is not set ' +
      '(build it with bench/engine/build-llama-tools.sh; see the command at the top of this file)',
  );

suite('an engine pool on a real llama-server (LLAMA_SERVER_BIN)', () => {
  let server: ChildProcess | undefined;
  const output: string[] = [];
  const sys = useSystem(async () => {
    const port = await freePort();
    server = spawn(
      bin!,
      [
        ...['-m', await ensureGeneratedModel('tiny'), '--host', '127.0.0.1', '--port', String(port)],
        ...['--parallel', String(SLOTS), '--ctx-size', String(1024 * SLOTS), '--metrics', '--slots', '-t', '1'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    server.stdout!.on('data', (c: Buffer) => output.push(c.toString()));
    server.stderr!.on('data', (c: Buffer) => output.push(c.toString()));
    const origin = `http://127.0.0.1:${port}`;
    for (const until = Date.now() + 120_000; ; await sleep(250)) {
      const health = await fetch(`${origin}/health`).catch(() => null);
      if (health?.status === 200) break;
      if (server.exitCode !== null || Date.now() > until)
        throw new Error(`llama-server did not come up:\n${output.join('').slice(-3000)}`);
    }
    return {
      ENGINE_POOLS: JSON.stringify([
        {
          name: 'llama-real',
          engine: 'llama-server',
          baseURL: `${origin}/v1`,
          onPremises: true,
          clearance: 'restricted',
          contextTokens: 1024,
        },
      ]),
      ENGINE_POLL_MS: '250',
      WORKER_MODELS: 'llama-real',
      MAX_OUTPUT_TOKENS: '32',
      HEARTBEAT_MS: '300',
    };
  });
  afterAll(() => {
    server?.kill('SIGTERM');
  });

  it('reads its slots and runs restricted items through it, never anywhere else', async () => {
    let pool: any;
    for (const until = Date.now() + 30_000; Date.now() < until; await sleep(200)) {
      const { json } = await sys.client.request('GET', '/v1/pools');
      pool = json.pools.find((p: { provider: string }) => p.provider === 'llama-real');
      if (pool?.status === 'consuming') break;
    }
    expect(pool).toMatchObject({
      kind: 'engine',
      status: 'consuming',
      engine: { kind: 'llama-server', slots: SLOTS, concurrency: SLOTS, waiting: 0 },
    });

    const submitted = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'restricted',
      deadline: 'PT10M',
      task: { type: 'summarize', maxTokens: 16 },
      items: Array.from({ length: 4 }, (_, i) => ({ id: `doc-${i}`, text: `Board minutes ${i}: the merger closes.` })),
    });
    expect(submitted.status).toBe(202);
    expect((await sys.client.waitFinished(submitted.json.id, 120_000)).status).toBe('completed');
    const { json } = await sys.client.request('GET', `/v1/batches/${submitted.json.id}/items`);
    for (const item of json.items) {
      expect(item.route).toMatchObject({ target: 'local', provider: 'llama-real' });
      expect(item.usage.outputTokens).toBeGreaterThan(0);
    }
  }, 180_000);

  it('says the engine is unreachable once the server is gone, and takes nothing meanwhile', async () => {
    server!.kill('SIGKILL');
    let pool: any;
    for (const until = Date.now() + 30_000; Date.now() < until; await sleep(200)) {
      const { json } = await sys.client.request('GET', '/v1/pools');
      pool = json.pools.find((p: { provider: string }) => p.provider === 'llama-real');
      if (pool?.status === 'unreachable') break;
    }
    expect(pool).toMatchObject({ status: 'unreachable', sequences: { active: 0 } });
    expect(pool.reason).toMatch(/^the engine does not answer/);
    const { json } = await sys.client.request('GET', '/v1/providers');
    expect(json.providers.find((p: { name: string }) => p.name === 'llama-real')).toMatchObject({ available: false });
  });
});
