import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import OpenAI, { toFile } from 'openai';
import { ensureGeneratedModel } from '#libs/gguf';
import { SentinelGroup } from './support/redis-sentinel-group.js';
import { freePort } from './support/redis-server-process.js';
import { ApiClient, sleep } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

/**
 * Redis behind Sentinel (a master, two replicas, three sentinels on loopback): the master is SIGKILLed
 * mid-batch, Sentinel promotes a replica, and the apps follow it without a restart. The promise tested is
 * the one REDIS_WAIT_REPLICAS=1 makes: a batch answered 202 is on a replica before the answer, so the
 * promoted replica (Sentinel picks the one with the most replicated data) holds it whole, and every item
 * of it completes exactly once. The data nodes fsync only every second: the dead master's disk is no help.
 */
describe('Redis Sentinel failover', () => {
  let group: SentinelGroup | undefined;
  const total = 40;
  const docs = (tag: string) => ({
    kind: 'document-processing',
    sensitivity: 'public',
    deadline: 'PT10M',
    task: { type: 'summarize', maxTokens: 16 },
    items: Array.from({ length: total }, (_, i) => ({ id: `${tag}-${i}`, text: `${tag} ${i}: quarterly figures.` })),
  });

  beforeAll(async () => {
    group = await SentinelGroup.start({ replicas: 2 });
  }, 90_000);

  const sys = useSystem(
    async ({ double }) => {
      // Two at a time, half a second each: a batch of 40 takes ~10 s, long enough to lose the master in.
      double.setLatency(500);
      return {
        REDIS_SENTINELS: group!.sentinelsEnv,
        REDIS_SENTINEL_MASTER: group!.masterName,
        REDIS_WAIT_REPLICAS: '1',
        LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
        // The local model cannot meet the deadline: every item goes to the cloud double.
        LOCAL_TOKENS_PER_SEC: '0.01',
        MAX_OUTPUT_TOKENS: '16',
        OPENAI_BASE_URL: double.url,
        OPENAI_API_KEY: 'test-key',
        CLOUD_MAX_SENSITIVITY: 'internal',
        CLOUD_LATENCY_MS: '500',
        CLOUD_TOKENS_PER_SEC: '200',
        CLOUD_CONCURRENCY: '2',
      };
    },
    { double: { apiKey: 'test-key' } },
  );

  // Declared after useSystem: jest runs afterAll hooks in order, so the apps stop before their Redis.
  afterAll(async () => {
    await group?.stop();
  });

  // A failover takes a few seconds, two batches of 40 items at two at a time ~25 s more; a loaded machine, more.
  const TIMEOUT_MS = 240_000;

  it(
    'follows the promoted replica, keeps every batch answered 202, and completes each item exactly once',
    async () => {
      const first = await sys.client.request('POST', '/v1/batches', docs('before'));
      expect(first.status).toBe(202);
      const before = first.json.id as string;

      // Mid-batch: some items done, others running or queued.
      for (;;) {
        const { json } = await sys.client.request('GET', `/v1/batches/${before}`);
        if (json.counts.completed >= 4) break;
        if (json.finishedAt) throw new Error('the batch finished before the master could be killed');
        await sleep(50);
      }
      const oldMaster = await group!.killMaster();
      const newMaster = await group!.waitPromoted(oldMaster);
      expect(newMaster).not.toBe(oldMaster);

      // What was acknowledged is whole on the promoted master: the batch, all its items, their routes.
      const { store } = sys.internals();
      const record = await store.get(before);
      expect(record?.counts.total).toBe(total);

      // The API follows the new master: a batch submitted now is accepted (and replicated) there.
      let second: string | undefined;
      while (second === undefined) {
        const res = await sys.client.request('POST', '/v1/batches', docs('after'));
        if (res.status === 202) second = res.json.id as string;
        else if (res.status !== 500 && res.status !== 503) throw new Error(`unexpected ${res.status}`);
        else await sleep(200);
      }

      for (const [id, tag] of [
        [before, 'before'],
        [second, 'after'],
      ] as const) {
        const batch = await sys.client.waitFinished(id, 120_000);
        expect(batch.counts).toEqual({ total, queued: 0, running: 0, completed: total, failed: 0, cancelled: 0 });
        const { json } = await sys.client.request('GET', `/v1/batches/${id}/items?limit=100`);
        expect(json.items.map((i: any) => i.id)).toEqual(Array.from({ length: total }, (_, i) => `${tag}-${i}`));
        expect(json.items.every((i: any) => i.status === 'completed' && i.routeHistory.length === 1)).toBe(true);
        // Exactly once: the batch's totals are one result per item, none counted twice.
        const sum = json.items.reduce((s: number, i: any) => s + i.usage.outputTokens, 0);
        expect(batch.usage.outputTokens).toBe(sum);
        // One route entry per item in the audit trail, none missing, none twice.
        const audit = await sys.client.request('GET', `/v1/audit?batchId=${id}&kind=route&limit=1000`);
        expect(audit.status).toBe(200);
        expect(audit.json.entries.map((e: any) => e.index).sort((a: number, b: number) => a - b)).toEqual(
          Array.from({ length: total }, (_, i) => i),
        );
      }
      // Every item reached the provider; an item whose completion the dead master took with it ran again.
      const asked = new Set(
        sys.double.completionRequests().map((r) => /(before|after) (\d+):/.exec(JSON.stringify(r.body))?.[0]),
      );
      expect(asked.size).toBe(2 * total);
    },
    TIMEOUT_MS,
  );

  it(
    'answers 503 instead of 202 when fewer replicas than REDIS_WAIT_REPLICAS confirm; a retry with the same key gets the batch',
    async () => {
      // After the failover one replica is left: an API that wants two cannot make its promise.
      const port = String(await freePort());
      const strict = sys.startApp('api', { PORT: port, REDIS_WAIT_REPLICAS: '2', REDIS_WAIT_TIMEOUT_MS: '300' });
      await strict.waitForLog(/api listening/);
      const strictClient = new ApiClient(`http://127.0.0.1:${port}`);
      const headers = { 'idempotency-key': 'sentinel-wait-1' };
      const refused = await strictClient.request('POST', '/v1/batches', docs('strict'), headers);
      expect(refused.status).toBe(503);
      expect(refused.json.message).toMatch(/only 1 of 2 Redis replica\(s\) confirmed/);
      const retried = await sys.client.request('POST', '/v1/batches', docs('strict'), headers);
      expect(retried.status).toBe(202);
      await sys.client.waitFinished(retried.json.id, 120_000);

      // Every write the API acknowledges makes it, not only a batch's 202: a schedule (a record and BullMQ's Job
      // Scheduler, on another connection) is not answered as saved while a failover could undo it. A quote
      // writes nothing and is answered at once.
      const schedule = { cron: '0 2 * * *', tz: 'UTC', batch: { ...docs('nightly'), deadline: 'PT1H' } };
      const unsaved = await strictClient.request('PUT', '/v1/schedules/nightly', schedule);
      expect(unsaved.status).toBe(503);
      expect(unsaved.headers.get('retry-after')).toBe('1');
      expect((await sys.client.request('GET', '/v1/schedules/nightly')).status).toBe(200); // on the master
      expect((await strictClient.request('DELETE', '/v1/schedules/nightly')).status).toBe(503);
      expect((await strictClient.request('POST', '/v1/batches/quote', docs('quoted'))).status).toBe(200);

      // The OpenAI surface makes the same promise: an upload or a create is answered once replicated, else 503
      // (the SDK's InternalServerError, retried on its own); a create retried with its Idempotency-Key gets the
      // batch the refused one made, not a second.
      const strictOpenAI = new OpenAI({ baseURL: `http://127.0.0.1:${port}/openai/v1`, apiKey: 'none', maxRetries: 0 });
      const openai = new OpenAI({ baseURL: `${sys.url}/openai/v1`, apiKey: 'none', maxRetries: 0 });
      const input = Buffer.from(
        JSON.stringify({
          custom_id: 'strict-chat-0',
          method: 'POST',
          url: '/v1/chat/completions',
          body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'strict chat' }], max_tokens: 8 },
        }),
      );
      const upload = async (client: OpenAI) =>
        client.files.create({ file: await toFile(input, 'in.jsonl'), purpose: 'batch' });
      const refusedUpload = await upload(strictOpenAI).catch((e: unknown) => e);
      expect(refusedUpload).toBeInstanceOf(OpenAI.InternalServerError);
      expect((refusedUpload as InstanceType<typeof OpenAI.InternalServerError>).status).toBe(503);
      expect((refusedUpload as InstanceType<typeof OpenAI.InternalServerError>).error).toMatchObject({
        code: 'not_replicated',
        message: expect.stringMatching(/only 1 of 2 Redis replica\(s\) confirmed/),
      });
      const file = await upload(openai);
      const create = {
        input_file_id: file.id,
        endpoint: '/v1/chat/completions' as const,
        completion_window: '24h' as const,
      };
      const key = { headers: { 'Idempotency-Key': 'sentinel-openai-1' } };
      const refusedCreate = await strictOpenAI.batches.create(create, key).catch((e: unknown) => e);
      expect(refusedCreate).toBeInstanceOf(OpenAI.InternalServerError);
      const created = await openai.batches.create(create, key);
      const mine = async () =>
        (await openai.batches.list({ limit: 100 })).data.filter((b) => b.input_file_id === file.id).map((b) => b.id);
      expect(await mine()).toEqual([created.id]);
      // Without a key the SDK, left to retry as it does by default, would make a batch per try: it is told not to,
      // and the error names the one batch that was made.
      const retrying = new OpenAI({ baseURL: `http://127.0.0.1:${port}/openai/v1`, apiKey: 'none' });
      const keyless = (await retrying.batches.create(create).catch((e: unknown) => e)) as InstanceType<
        typeof OpenAI.InternalServerError
      >;
      expect(keyless).toBeInstanceOf(OpenAI.InternalServerError);
      expect(keyless.headers.get('x-should-retry')).toBe('false');
      const made = await mine();
      expect(made).toHaveLength(2);
      const second = made.find((id) => id !== created.id)!;
      expect(keyless.error).toMatchObject({ code: 'not_replicated', message: expect.stringContaining(second) });
    },
    TIMEOUT_MS,
  );
});
