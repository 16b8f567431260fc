import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { sleep, type AppProcess } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

/**
 * Capacity that is coming (issue 19), on real processes: a local model whose pool is starting, restarting or
 * gone counts from its expected ready time for POOL_GRACE_MS. Two local models on the tiny generated model:
 * "beta", cheap, served by its own worker that the tests stop and start; "alpha", dearer than the cloud, served
 * by a worker that stays (it runs the escalation sweep for every local queue). The cloud is the OpenAI double.
 */
/** Long enough for a worker to start and load on a busy 2-core machine (measured 10-25 s), short enough to wait out. */
const GRACE_MS = 60_000;
/** Longer than a restart is expected to take here, shorter than the grace: it cannot wait out a pool that stays away. */
const TIGHT_S = 40;

describe('capacity that is coming', () => {
  const sys = useSystem(
    async ({ double }) => {
      const tiny = await ensureGeneratedModel('tiny');
      return {
        LOCAL_MODELS: JSON.stringify({
          alpha: { path: tiny, sequences: 1, priceInputPerM: 50, priceOutputPerM: 50 },
          beta: { path: tiny, sequences: 1, priceInputPerM: 0.01, priceOutputPerM: 0.01 },
        }),
        MAX_OUTPUT_TOKENS: '64',
        LOCAL_THREADS: '1',
        OPENAI_BASE_URL: double.url,
        OPENAI_API_KEY: 'test-key',
        OPENAI_MODEL: 'double-model',
        CLOUD_MAX_SENSITIVITY: 'internal',
        CLOUD_LATENCY_MS: '100',
        CLOUD_TOKENS_PER_SEC: '2000',
        ESCALATION_INTERVAL_MS: '300',
        POOL_GRACE_MS: String(GRACE_MS),
        POOL_LOAD_ESTIMATE_MS: '2000',
      };
    },
    { double: { apiKey: 'test-key' }, workers: 0, waitFor: 'listening' },
  );

  let beta: AppProcess | undefined;
  const startBeta = () => (beta = sys.startWorker({ WORKER_MODELS: 'beta' }));

  const submit = async (tag: string, deadline: string) => {
    const res = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'public',
      deadline,
      task: { type: 'summarize', maxTokens: 16 },
      items: [{ id: tag, text: `${tag}: notes from the weekly planning meeting.` }],
    });
    expect(res.status).toBe(202);
    return res.json.id as string;
  };
  const itemOf = async (batchId: string) =>
    (await sys.client.request('GET', `/v1/batches/${batchId}/items`)).json.items[0];
  const sentToCloud = (tag: string) =>
    sys.double.completionRequests().filter((r) => JSON.stringify(r.body).includes(`${tag}: `));
  const pools = async () => (await sys.client.request('GET', '/v1/pools')).json;
  /** Polls GET /v1/pools until `name`'s capacity is in `state`. */
  const waitModel = async (name: string, state: string) => {
    for (let i = 0; i < 300; i++) {
      const model = (await pools()).models.find((m: any) => m.model === name);
      if (model.state === state) return model;
      await sleep(100);
    }
    throw new Error(`${name} never became ${state}: ${JSON.stringify(await pools())}`);
  };
  const waitBeta = (state: string) => waitModel('beta', state);
  const stopBeta = async () => {
    // SIGTERM: the graceful path, on which the pool says it is restarting.
    await beta!.stop();
    return waitBeta('restarting');
  };

  it('runs an item due in a day locally when it is submitted before any worker is ready', async () => {
    expect((await sys.client.request('GET', '/ready')).status).toBe(503);
    expect((await waitBeta('starting')).readyAt).not.toBeNull();
    const id = await submit('early', 'P1D');
    const routed = await itemOf(id);
    expect(routed.route).toMatchObject({ target: 'local', provider: 'beta' });
    expect(routed.route.reason).toMatch(/counted on beta coming \(pool starting, expected ready in \d+ s\)/);

    sys.startWorker({ WORKER_MODELS: 'alpha' });
    startBeta();
    await sys.client.waitReady();
    expect((await sys.client.waitFinished(id)).status).toBe('completed');
    expect((await itemOf(id)).route).toMatchObject({ target: 'local', provider: 'beta' });
    expect(sentToCloud('early')).toHaveLength(0);
    // The load was measured and the pool is up: GET /v1/pools shows it consuming.
    expect(await waitBeta('up')).toMatchObject({ model: 'beta' });
    // Both workers loaded at once on 2 cores: alpha may still be loading when beta is up. The next tests
    // count on alpha's worker (it runs the escalation sweep), so they start once it is up too.
    await waitModel('alpha', 'up');
  }, 240_000);

  it('runs an item submitted while the only worker of its model restarts locally, after the restart', async () => {
    await waitBeta('up');
    const restarting = await stopBeta();
    expect(Date.parse(restarting.graceUntil) - Date.parse(restarting.since)).toBe(GRACE_MS);
    const view = await pools();
    expect(view.coming.filter((p: any) => p.model === 'beta')).toEqual([
      expect.objectContaining({ model: 'beta', status: 'restarting', expectedReadyAt: expect.any(String) }),
    ]);
    const id = await submit('restart', 'P1D');
    expect((await itemOf(id)).route.reason).toMatch(/counted on beta coming \(pool restarting/);

    startBeta();
    expect((await sys.client.waitFinished(id)).status).toBe('completed');
    const item = await itemOf(id);
    expect(item.routeHistory.map((r: any) => r.provider)).toEqual(['beta']);
    expect(sentToCloud('restart')).toHaveLength(0);
  }, 240_000);

  it('with the worker gone for good, moves a tight item in time and a lax one once the grace is over', async () => {
    await waitBeta('up');
    const stoppedAt = Date.now();
    const restarting = await stopBeta();
    const graceUntil = Date.parse(restarting.graceUntil);
    const tight = await submit('tight', `PT${TIGHT_S}S`);
    const lax = await submit('lax', 'P1D');
    expect((await itemOf(lax)).route).toMatchObject({ target: 'local', provider: 'beta' });

    // The tight item cannot wait out the grace: it is on the cloud, before its deadline, long before the grace ends.
    const tightDone = await sys.client.waitFinished(tight);
    expect(tightDone.status).toBe('completed');
    const t = await itemOf(tight);
    expect(t.route.target).toBe('cloud');
    expect(Date.parse(t.finishedAt)).toBeLessThanOrEqual(stoppedAt + TIGHT_S * 1000 + 1000);
    expect(Date.parse(t.finishedAt)).toBeLessThan(graceUntil);
    // Counted on beta at intake (the restart was expected in time), it was moved once beta was late for it;
    // routed to the cloud at intake when the restart was not expected in time.
    if (t.routeHistory[0].provider === 'beta') expect(t.routeHistory[1].reason).toMatch(/^escalated: local finish/);

    // The lax one waits for beta until the grace is over, then the model is down and it moves.
    expect((await sys.client.waitFinished(lax, GRACE_MS + 30_000)).status).toBe('completed');
    const l = await itemOf(lax);
    expect(l.routeHistory.map((r: any) => r.target)).toEqual(['local', 'cloud']);
    expect(l.routeHistory[1].reason).toMatch(/escalated: no pool of beta for longer than its grace/);
    expect(Date.parse(l.routeHistory[1].at)).toBeGreaterThanOrEqual(graceUntil);
    expect(sentToCloud('lax')).not.toHaveLength(0);
    const view = await pools();
    expect(view.models.find((m: any) => m.model === 'beta').state).toBe('down');
    // Every beta pool this test stopped is listed as gone, with when it was last seen.
    expect(view.gone.length).toBeGreaterThanOrEqual(1);
    for (const g of view.gone) expect(g).toMatchObject({ model: 'beta', status: 'gone', lastSeen: expect.any(String) });
  }, 240_000);
});
