import { afterAll, describe, expect, it } from '@jest/globals';
import { startOpenAIDouble, type OpenAIDouble } from './support/openai-double.js';
import { sleep } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

/**
 * Issue 17 §4: a serving engine the operator runs on premises (here the double, playing llama-server's /slots and
 * /metrics) as a local pool, with the real API and worker: cleared for restricted items by its declaration, its
 * concurrency what the engine reports, shown in /v1/pools, and, when it goes down, its items moved like a local
 * pool's (what a cleared cloud provider can take escalates; restricted items wait for the engine).
 */
describe('an engine pool (ENGINE_POOLS: llama-server)', () => {
  let engine: OpenAIDouble;
  const sys = useSystem(
    async ({ double }) => {
      engine = await startOpenAIDouble({ apiKey: 'engine-key', models: ['engine-model'] });
      engine.setEngine({ kind: 'llama-server', slots: 2 });
      return {
        ENGINE_POOLS: JSON.stringify([
          {
            name: 'gpu-1',
            engine: 'llama-server',
            baseURL: engine.url,
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
        // This worker serves the engine only: it loads no model of its own.
        WORKER_MODELS: 'gpu-1',
        OPENAI_BASE_URL: double.url,
        OPENAI_API_KEY: 'test-key',
        CLOUD_MAX_SENSITIVITY: 'internal',
        CLOUD_LATENCY_MS: '100',
        CLOUD_TOKENS_PER_SEC: '2000',
        MAX_OUTPUT_TOKENS: '64',
        HEARTBEAT_MS: '300',
        ESCALATION_INTERVAL_MS: '300',
        JOB_BACKOFF_MS: '200',
      };
    },
    { double: { apiKey: 'test-key' } },
  );
  afterAll(async () => engine?.close());

  const batch = (sensitivity: string, tag: string, n: number) => ({
    kind: 'document-processing',
    sensitivity,
    deadline: 'PT10M',
    task: { type: 'summarize', maxTokens: 16 },
    items: Array.from({ length: n }, (_, i) => ({
      id: `${tag}-${i}`,
      text: `${tag}-${i}: the plant's maintenance log for line ${i}, with the parts replaced and why.`,
    })),
  });
  const sentFor = (double: OpenAIDouble, tag: string) =>
    double.completionRequests().filter((r) => JSON.stringify(r.body).includes(`${tag}-`));
  const enginePool = async () => {
    const { json } = await sys.client.request('GET', '/v1/pools');
    return json.pools.find((p: { provider: string }) => p.provider === 'gpu-1');
  };
  /** Polls /v1/pools until the engine pool matches, or fails naming what it last saw. */
  const waitPool = async (wanted: (pool: any) => boolean, what: string): Promise<any> => {
    let last: unknown;
    for (const until = Date.now() + 30_000; Date.now() < until; await sleep(100)) {
      last = await enginePool();
      if (last && wanted(last)) return last;
    }
    throw new Error(`engine pool never ${what}: ${JSON.stringify(last)}`);
  };
  const submit = async (body: unknown) => {
    const res = await sys.client.request('POST', '/v1/batches', body);
    expect(res.status).toBe(202);
    return res.json.id as string;
  };
  const items = async (id: string) => (await sys.client.request('GET', `/v1/batches/${id}/items`)).json.items;

  it('is listed in /v1/pools as an engine, with the slots it reports as its concurrency', async () => {
    const pool = await waitPool((p) => p.status === 'consuming' && p.engine?.slots === 2, 'consumed with 2 slots');
    expect(pool).toMatchObject({
      target: 'local',
      kind: 'engine',
      device: 'llama-server',
      model: 'engine-model',
      sequences: { max: 2, active: 2 },
      engine: {
        kind: 'llama-server',
        host: new URL(engine.url).host,
        slots: 2,
        running: 0,
        waiting: 0,
        concurrency: 2,
      },
    });
    const { json } = await sys.client.request('GET', '/v1/providers');
    expect(json.providers.find((p: { name: string }) => p.name === 'gpu-1')).toMatchObject({
      target: 'local',
      clearance: 'restricted',
      onPremises: true,
      available: true,
    });
  });

  it('runs restricted items on the engine, never on the cloud provider not cleared for them; priced 0', async () => {
    const id = await submit(batch('restricted', 'secret', 3));
    expect((await sys.client.waitFinished(id)).status).toBe('completed');
    for (const item of await items(id)) {
      expect(item.route).toMatchObject({ target: 'local', provider: 'gpu-1' });
      expect(item.costUsd).toBe(0);
    }
    expect(sentFor(engine, 'secret')).toHaveLength(3);
    expect(sentFor(sys.double, 'secret')).toHaveLength(0);
    // The engine's own key and model went with every request.
    for (const r of sentFor(engine, 'secret')) {
      expect(r.headers.authorization).toBe('Bearer engine-key');
      expect(r.body.model).toBe('engine-model');
    }
  });

  it('keeps as many requests in flight as the engine has slots, and follows the slot count when it changes', async () => {
    engine.setLatency(600);
    try {
      engine.resetInFlightPeak();
      const two = await submit(batch('restricted', 'two-slots', 8));
      expect((await sys.client.waitFinished(two)).status).toBe('completed');
      expect(engine.inFlightPeak()).toBe(2);

      engine.setEngine({ kind: 'llama-server', slots: 5 });
      await waitPool((p) => p.engine?.concurrency === 5, 'followed 5 slots');
      engine.resetInFlightPeak();
      const five = await submit(batch('restricted', 'five-slots', 15));
      expect((await sys.client.waitFinished(five)).status).toBe('completed');
      expect(engine.inFlightPeak()).toBeGreaterThan(2);
      expect(engine.inFlightPeak()).toBeLessThanOrEqual(5);

      // Others take 3 of the 5 slots: 2 are left for Switchyard.
      engine.setEngine({ kind: 'llama-server', slots: 5, othersRunning: 3 });
      const pool = await waitPool((p) => p.engine?.concurrency === 2, 'left the slots others hold');
      expect(pool.reason).toBe('5 slot(s), 3 held by others');
    } finally {
      engine.setLatency(0);
      engine.setEngine({ kind: 'llama-server', slots: 2 });
    }
  });

  it('when the engine goes down, moves what a cleared cloud provider may take, and keeps restricted items for it', async () => {
    engine.setEngine({ kind: 'llama-server', slots: 1 });
    await waitPool((p) => p.engine?.concurrency === 1, 'came down to 1 slot');
    engine.setLatency(5000);
    const sentBefore = engine.completionRequests().length;
    const internal = await submit(batch('internal', 'movable', 4));
    const restricted = await submit(batch('restricted', 'kept', 1));
    // Every internal item went to the engine (cheapest on time); one is running there now.
    for (const item of await items(internal)) expect(item.route.provider).toBe('gpu-1');
    for (const until = Date.now() + 30_000; engine.completionRequests().length === sentBefore;) {
      if (Date.now() > until) throw new Error('the engine never received an item');
      await sleep(50);
    }
    const before = engine.completionRequests().length;

    engine.setEngine({ kind: 'llama-server', slots: 1, down: true });
    await waitPool((p) => p.status === 'unreachable', 'said unreachable');
    expect((await sys.client.waitFinished(internal, 60_000)).status).toBe('completed');
    for (const item of await items(internal)) {
      expect(item.status).toBe('completed');
      expect(item.route).toMatchObject({ target: 'cloud', provider: 'frontier' });
      expect(item.routeHistory.map((r: { provider: string }) => r.provider)).toEqual(['gpu-1', 'frontier']);
      expect(item.route.reason).toMatch(/^escalated: engine gpu-1 is not answering \(no pool of it consuming\)/);
    }
    // The restricted item waits for the engine: never offered to the cloud provider.
    const [waiting] = await items(restricted);
    expect(waiting.status).toBe('queued');
    expect(sentFor(sys.double, 'kept')).toHaveLength(0);

    engine.setLatency(0);
    engine.setEngine({ kind: 'llama-server', slots: 1 });
    expect((await sys.client.waitFinished(restricted, 60_000)).status).toBe('completed');
    const [kept] = await items(restricted);
    expect(kept.route).toMatchObject({ target: 'local', provider: 'gpu-1' });
    expect(sentFor(sys.double, 'kept')).toHaveLength(0);
    expect(engine.completionRequests().length).toBeGreaterThan(before);
  }, 120_000);
});

/**
 * vLLM has no fixed slots: the pool probes, growing while vLLM queues nothing and its KV cache has room, shrinking
 * when requests wait in vLLM or the cache is nearly full (the double plays vLLM's /metrics).
 */
describe('an engine pool (ENGINE_POOLS: vllm)', () => {
  let engine: OpenAIDouble;
  const sys = useSystem(async () => {
    engine = await startOpenAIDouble({ models: ['served-llama'] });
    engine.setEngine({ kind: 'vllm' });
    return {
      ENGINE_POOLS: JSON.stringify([
        {
          name: 'vllm-1',
          engine: 'vllm',
          baseURL: engine.url,
          model: 'served-llama',
          onPremises: true,
          clearance: 'restricted',
          initialConcurrency: 1,
          maxConcurrency: 6,
        },
      ]),
      ENGINE_POLL_MS: '150',
      WORKER_MODELS: 'vllm-1',
      MAX_OUTPUT_TOKENS: '64',
      HEARTBEAT_MS: '300',
    };
  });
  afterAll(async () => engine?.close());

  const pool = async (wanted: (p: any) => boolean, what: string): Promise<any> => {
    let last: unknown;
    for (const until = Date.now() + 30_000; Date.now() < until; await sleep(100)) {
      const { json } = await sys.client.request('GET', '/v1/pools');
      last = json.pools.find((p: { provider: string }) => p.provider === 'vllm-1');
      if (last && wanted(last)) return last;
    }
    throw new Error(`vLLM pool never ${what}: ${JSON.stringify(last)}`);
  };

  it('grows past where it started while vLLM queues nothing, up to maxConcurrency', async () => {
    await pool((p) => p.status === 'consuming', 'consumed');
    engine.setLatency(400);
    try {
      const { json, status } = await sys.client.request('POST', '/v1/batches', {
        kind: 'document-processing',
        sensitivity: 'restricted',
        deadline: 'PT10M',
        task: { type: 'summarize', maxTokens: 16 },
        items: Array.from({ length: 30 }, (_, i) => ({
          id: `load-${i}`,
          text: `Shift report ${i}: line stopped twice.`,
        })),
      });
      expect(status).toBe(202);
      expect((await sys.client.waitFinished(json.id)).status).toBe('completed');
      expect(engine.inFlightPeak()).toBeGreaterThan(1);
      expect(engine.inFlightPeak()).toBeLessThanOrEqual(6);
      for (const r of engine.completionRequests()) expect(r.body.model).toBe('served-llama');
    } finally {
      engine.setLatency(0);
    }
  });

  it('shrinks to 1 while requests wait in vLLM, and says so', async () => {
    engine.setEngine({ kind: 'vllm', othersWaiting: 5 });
    const shrunk = await pool((p) => p.engine?.concurrency === 1, 'shrank to 1');
    expect(shrunk).toMatchObject({ reason: 'shrunk: 5 request(s) waiting', engine: { kind: 'vllm', waiting: 5 } });
    engine.setEngine({ kind: 'vllm', kvUsage: 0.97 });
    const full = await pool((p) => p.engine?.kvCacheUsage === 0.97, 'read a full KV cache');
    expect(full.engine.concurrency).toBe(1);
    expect(full.reason).toBe('shrunk: KV cache 97% full');
  });
});
