import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { fetchJson } from './support/fetch-json.js';
import type { OpenAIDouble } from './support/openai-double.js';
import { freePort } from './support/redis-server-process.js';
import { useSystem } from './support/use-system.js';

/**
 * Cloud tiers as routes (issue 16 §3) on real processes against the recording OpenAI double: the frontier
 * provider declares a flex tier at half its price. The local model is configured at 0.01 tok/s, so only the
 * cloud routes meet a deadline and the policy's choice is between the provider's tiers.
 */
const PRICE = { input: 1, output: 4 };
const docs = (tag: string, deadline: string, n = 1) => ({
  kind: 'document-processing',
  sensitivity: 'internal',
  deadline,
  task: { type: 'summarize', maxTokens: 32 },
  items: Array.from({ length: n }, (_, i) => ({
    id: `${tag}-${i}`,
    text: `${tag}-${i}: the quarterly plan, in brief.`,
  })),
});
const sentFor = (double: OpenAIDouble, tag: string) =>
  double.completionRequests().filter((r) => JSON.stringify(r.body).includes(`${tag}-`));

describe('cloud tiers', () => {
  describe('flex', () => {
    const sys = useSystem(
      async ({ double }) => ({
        LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
        LOCAL_TOKENS_PER_SEC: '0.01',
        MAX_OUTPUT_TOKENS: '64',
        OPENAI_BASE_URL: double.url,
        OPENAI_API_KEY: 'test-key',
        OPENAI_MODEL: 'double-model',
        CLOUD_MAX_SENSITIVITY: 'internal',
        CLOUD_PRICE_INPUT_PER_M: String(PRICE.input),
        CLOUD_PRICE_OUTPUT_PER_M: String(PRICE.output),
        CLOUD_LATENCY_MS: '100',
        CLOUD_TOKENS_PER_SEC: '2000',
        CLOUD_MAX_RETRIES: '0',
        JOB_ATTEMPTS: '1',
        CLOUD_TIERS: JSON.stringify({ flex: { latencyMs: 1000 } }),
        // A parked item waits for a probe of this long: with it, a 30 s deadline leaves no room to park for
        // flex's recovery, so an item flex refuses goes to standard at once.
        CIRCUIT_PROBE_TIMEOUT_MS: '30000',
        CIRCUIT_OPEN_MS: '60000',
      }),
      { double: { apiKey: 'test-key' } },
    );

    it('routes an item whose deadline allows to the flex tier: sent with service_tier "flex", charged at the flex price', async () => {
      const { client, double } = sys;
      const created = await client.request('POST', '/v1/batches', docs('lax', 'PT10M', 2));
      expect(created.status).toBe(202);
      const done = await client.waitFinished(created.json.id);
      expect(done.status).toBe('completed');
      const items = (await client.request('GET', `/v1/batches/${created.json.id}/items`)).json.items;
      const sent = sentFor(double, 'lax');
      expect(sent).toHaveLength(2);
      for (const r of sent) expect(r.body.service_tier).toBe('flex');
      for (const item of items) {
        expect(item.route).toMatchObject({ target: 'cloud', provider: 'frontier.flex' });
        const { inputTokens, outputTokens } = item.usage;
        // Half the standard price: the tier's default multiplier.
        expect(item.costUsd).toBeCloseTo((inputTokens * PRICE.input + outputTokens * PRICE.output) / 2e6, 9);
      }
      const providers = (await client.request('GET', '/v1/providers')).json.providers;
      expect(providers.find((p: any) => p.name === 'frontier.flex')).toMatchObject({
        provider: 'frontier',
        tier: 'flex',
        price: { inputPerMTokUsd: PRICE.input / 2, outputPerMTokUsd: PRICE.output / 2 },
      });
    });

    it('moves an item flex has no capacity for to the standard tier; the provider circuit stays closed', async () => {
      const { client, double } = sys;
      double.flexUnavailable(1);
      const created = await client.request('POST', '/v1/batches', docs('busy', 'PT30S'));
      const done = await client.waitFinished(created.json.id);
      expect(done.status).toBe('completed');
      const [item] = (await client.request('GET', `/v1/batches/${created.json.id}/items`)).json.items;
      expect(item.routeHistory.map((r: any) => r.provider)).toEqual(['frontier.flex', 'frontier']);
      expect(sentFor(double, 'busy').map((r) => r.body.service_tier ?? 'standard')).toEqual(['flex', 'standard']);
      const { inputTokens, outputTokens } = item.usage;
      expect(item.costUsd).toBeCloseTo((inputTokens * PRICE.input + outputTokens * PRICE.output) / 1e6, 9);
      const providers = (await client.request('GET', '/v1/providers')).json.providers;
      const circuit = (name: string) => providers.find((p: any) => p.name === name).circuit;
      expect(circuit('frontier.flex').state).toBe('open');
      expect(circuit('frontier')).toMatchObject({ state: 'closed', failures: 0 });
    });
  });

  describe('batch', () => {
    let workerMetrics = '';
    const sys = useSystem(
      async ({ double }) => {
        const metricsPort = await freePort();
        workerMetrics = `http://127.0.0.1:${metricsPort}/metrics`;
        return {
          METRICS_PORT: String(metricsPort),
          LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
          LOCAL_TOKENS_PER_SEC: '0.01',
          MAX_OUTPUT_TOKENS: '64',
          OPENAI_BASE_URL: double.url,
          OPENAI_API_KEY: 'test-key',
          OPENAI_MODEL: 'double-model',
          CLOUD_MAX_SENSITIVITY: 'internal',
          CLOUD_PRICE_INPUT_PER_M: String(PRICE.input),
          CLOUD_PRICE_OUTPUT_PER_M: String(PRICE.output),
          CLOUD_LATENCY_MS: '100',
          CLOUD_TOKENS_PER_SEC: '2000',
          CLOUD_MAX_RETRIES: '0',
          JOB_ATTEMPTS: '1',
          // Provider batches expected within 2 s (plus the 5 min escalation lead): a deadline in 10 min absorbs it.
          CLOUD_TIERS: JSON.stringify({ batch: { expectedMs: 2000, pollMs: 200, collectMs: 500 } }),
        };
      },
      { double: { apiKey: 'test-key' } },
    );
    /** Items of different lengths: the double's answer names the prompt's length, so each line's answer is its own. */
    const varied = (tag: string, n: number) => ({
      ...docs(tag, 'PT10M', n),
      items: Array.from({ length: n }, (_, i) => ({
        id: `${tag}-${i}`,
        text: `${tag}-${i}: the plan${' again'.repeat(i)}.`,
      })),
    });
    const audit = async (batchId: string) =>
      (await sys.client.request('GET', `/v1/audit?batchId=${batchId}&kind=egress&limit=100`)).json.entries;

    it('runs items through the provider’s Batch API: audited before upload, answers mapped back by line, batch price', async () => {
      const { client, double } = sys;
      double.setBatchHabits({ completeAfterMs: 300 });
      const created = await client.request('POST', '/v1/batches', varied('bulk', 3));
      const done = await client.waitFinished(created.json.id);
      expect(done.status).toBe('completed');
      const items = (await client.request('GET', `/v1/batches/${created.json.id}/items`)).json.items;
      // Nothing went as a synchronous call: one provider batch of three lines.
      expect(sentFor(double, 'bulk')).toHaveLength(0);
      const [batch] = double.batches();
      expect(double.batches()).toHaveLength(1);
      const lines = double
        .fileContent(batch.inputFileId)!
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines.map((l) => l.custom_id).sort()).toEqual(
        items.map((_: unknown, i: number) => `${created.json.id}.${i}`),
      );
      for (const item of items) {
        expect(item.route).toMatchObject({ target: 'cloud', provider: 'frontier.batch' });
        const line = lines.find((l) => l.custom_id === `${created.json.id}.${item.index}`);
        const promptChars = line.body.messages.map((m: any) => m.content).join('').length;
        expect(item.result).toBe(`Deterministic answer for a ${promptChars}-character prompt.`);
        const { inputTokens, outputTokens } = item.usage;
        expect(item.costUsd).toBeCloseTo((inputTokens * PRICE.input + outputTokens * PRICE.output) / 2e6, 9);
      }
      // Each line was recorded in the egress audit before the file was uploaded.
      const upload = double.requests.find((r) => r.path === '/v1/files')!;
      const egress = await audit(created.json.id);
      expect(egress.map((e: any) => e.provider)).toEqual(['frontier.batch', 'frontier.batch', 'frontier.batch']);
      for (const e of egress) expect(Date.parse(e.at)).toBeLessThanOrEqual(upload.at);
      // The worker counts each item the provider batch finished, with its deadline slack, as it counts a pool's
      // (SwitchyardDeadlinesMissed reads them): the items' jobs ended at hand-off, and their ends went unmeasured.
      const route = 'target="cloud",provider="frontier.batch"';
      const expected = [
        `switchyard_item_runs_total{${route},model="double-model",outcome="completed"} 3`,
        `switchyard_item_deadline_slack_seconds_count{${route}} 3`,
        `switchyard_item_deadline_missed_total{${route}} 0`,
      ];
      let text = '';
      for (let i = 0; i < 50 && !expected.every((l) => text.split('\n').includes(l)); i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 100));
        text = (await fetchJson(workerMetrics)).text;
      }
      expect(expected.filter((l) => !text.split('\n').includes(l))).toEqual([]);
    });

    it('moves an item whose line the provider failed to the standard route; the others complete from the batch', async () => {
      const { client, double } = sys;
      double.reset();
      const created = await client.request('POST', '/v1/batches', varied('part', 2));
      double.setBatchHabits({ completeAfterMs: 300, failLines: [`${created.json.id}.1`] });
      const done = await client.waitFinished(created.json.id);
      expect(done.status).toBe('completed');
      const items = (await client.request('GET', `/v1/batches/${created.json.id}/items`)).json.items;
      expect(items.map((i: any) => i.route.provider)).toEqual(['frontier.batch', 'frontier']);
      expect(items[1].routeHistory.map((r: any) => r.provider)).toEqual(['frontier.batch', 'frontier']);
      expect(sentFor(double, 'part')).toHaveLength(1);
    });

    it('cancels the provider batch when the batch is cancelled', async () => {
      const { client, double } = sys;
      double.reset();
      double.setBatchHabits({ completeAfterMs: 600_000 });
      const created = await client.request('POST', '/v1/batches', varied('stop', 2));
      const deadline = Date.now() + 30_000;
      while (double.batches().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(double.batches()).toHaveLength(1);
      expect((await client.request('DELETE', `/v1/batches/${created.json.id}`)).status).toBe(200);
      while (double.batches()[0].status !== 'cancelled' && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      expect(double.batches()[0].status).toBe('cancelled');
      expect(double.requests.filter((r) => r.path.endsWith('/cancel'))).toHaveLength(1);
      const items = (await client.request('GET', `/v1/batches/${created.json.id}/items`)).json.items;
      expect(items.map((i: any) => i.status)).toEqual(['cancelled', 'cancelled']);
    });

    it('picks an open provider batch up after a worker crash: every item completes once, nothing is sent twice', async () => {
      const { client, double } = sys;
      double.reset();
      double.setBatchHabits({ completeAfterMs: 600_000 });
      const created = await client.request('POST', '/v1/batches', varied('crash', 2));
      const until = Date.now() + 30_000;
      while (double.batches().length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(double.batches()).toHaveLength(1);
      await sys.workers[sys.workers.length - 1].kill();
      // The provider finishes while no worker runs; the next one finds the batch in the ledger and reads it.
      double.setBatchHabits({ completeAfterMs: 0 });
      sys.startWorker();
      const done = await client.waitFinished(created.json.id);
      expect(done.status).toBe('completed');
      const items = (await client.request('GET', `/v1/batches/${created.json.id}/items`)).json.items;
      expect(items.map((i: any) => [i.status, i.route.provider, i.routeHistory.length])).toEqual([
        ['completed', 'frontier.batch', 1],
        ['completed', 'frontier.batch', 1],
      ]);
      expect(double.batches()).toHaveLength(1);
      expect(double.requests.filter((r) => r.path === '/v1/files')).toHaveLength(1);
      expect(sentFor(double, 'crash')).toHaveLength(0);
    });
  });
});
