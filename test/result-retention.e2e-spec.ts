import { describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI, { NotFoundError, toFile } from 'openai';
import { useSystem } from './support/use-system.js';
import { globalKeyPrefix } from '#libs/redis';

/**
 * Issue 17 §2: a year of nightly jobs must not fill Redis. With RESULT_TTL the worker's retention sweep (a Job
 * Scheduler) deletes a batch once it finished that long ago — its record, its items, its event stream and its
 * index entries — and keeps a batch that is still running, whatever its age.
 */
const KEY = 'sy-retention-admin-key-0123456789abcdef';

describe('results retention (RESULT_TTL)', () => {
  const sys = useSystem(
    async ({ double }) => ({
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'test-key',
      ADMIN_API_KEY: KEY,
      CLOUD_PROVIDER_NAME: 'frontier',
      CLOUD_MAX_SENSITIVITY: 'internal',
      // A free endpoint: every item goes to the double, whose answers the tests slow down at will.
      CLOUD_PRICE_INPUT_PER_M: '0',
      CLOUD_PRICE_OUTPUT_PER_M: '0',
      RESULT_TTL: '2s',
      RETENTION_SWEEP_MS: '1000',
    }),
    { double: { apiKey: 'test-key' } },
  );

  const submit = async (deadline: string) => {
    const { status, json } = await sys.client.withKey(KEY).request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'public',
      deadline,
      task: { type: 'summarize', maxTokens: 8 },
      items: [
        { id: 'a', text: 'Quarterly figures, region by region. '.repeat(10) },
        { id: 'b', text: 'Minutes of the works council. '.repeat(10) },
      ],
    });
    expect(status).toBe(202);
    return json.id as string;
  };

  it('deletes a finished batch once RESULT_TTL has passed since it finished, every record of it', async () => {
    const id = await submit('PT10M');
    const finished = await sys.client.withKey(KEY).waitFinished(id);
    expect(finished.status).toBe('completed');
    const { redis } = sys.internals();
    const ownKeys = () => redis.keys(`*{${id}}*`);
    expect((await ownKeys()).length).toBeGreaterThan(0);

    // The sweep runs every second and deletes it once it finished 2 s ago: wait for the 404, a bounded while.
    const until = Date.now() + 30_000;
    let status = 200;
    while (status !== 404 && Date.now() < until) {
      await sleep(250);
      ({ status } = await sys.client.withKey(KEY).request('GET', `/v1/batches/${id}`));
    }
    expect(status).toBe(404);
    expect(Date.parse(finished.finishedAt) + 2000).toBeLessThanOrEqual(Date.now());
    expect(await ownKeys()).toEqual([]);
    const { json: listed } = await sys.client.withKey(KEY).request('GET', '/v1/batches?limit=100');
    expect(JSON.stringify(listed)).not.toContain(id);
    // Its item jobs, which carry the items' text, go too (their queue keeps finished jobs no longer than
    // RESULT_TTL), although no later job of that queue finishes, which is when BullMQ itself would trim them.
    const jobKeys = () => redis.keys(`*inference-cloud.frontier:${id}*`);
    const jobsUntil = Date.now() + 10_000;
    while ((await jobKeys()).length > 0 && Date.now() < jobsUntil) await sleep(250);
    expect(await jobKeys()).toEqual([]);
    expect(await redis.keys(`*${id}*`)).toEqual([]);
  });

  it('keeps a batch that has not finished, past the TTL since it was created and several sweeps later', async () => {
    const { redis } = sys.internals();
    // Answers now take 8 s: the batch stays running well past RESULT_TTL and four sweeps.
    sys.double.setLatency(8000);
    try {
      const id = await submit('PT10M');
      await sleep(4500);
      const { status, json } = await sys.client.withKey(KEY).request('GET', `/v1/batches/${id}`);
      expect(status).toBe(200);
      expect(json.status).not.toBe('completed');
      expect((await redis.keys(`*{${id}}*`)).length).toBeGreaterThan(0);
      expect((await sys.client.withKey(KEY).waitFinished(id)).status).toBe('completed');
    } finally {
      sys.double.setLatency(0);
    }
  });

  it('lets an uploaded file expire at its expires_at, and an OpenAI batch go with its Switchyard batch', async () => {
    const client = new OpenAI({ baseURL: `${sys.url}/openai/v1`, apiKey: KEY, maxRetries: 0 });
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say yes.' }], max_tokens: 4 };
    const line = JSON.stringify({ custom_id: 'q1', method: 'POST', url: '/v1/chat/completions', body });
    const file = await client.files.create({
      file: await toFile(Buffer.from(`${line}\n`), 'in.jsonl'),
      purpose: 'batch',
    });
    expect(file.expires_at).toBe(file.created_at + 2);
    const batch = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { sensitivity: 'public' },
    });
    const gone = async (read: () => Promise<unknown>) => {
      const until = Date.now() + 30_000;
      while (Date.now() < until) {
        try {
          await read();
        } catch (err) {
          if (err instanceof NotFoundError) return true;
          throw err;
        }
        await sleep(250);
      }
      return false;
    };
    expect(await gone(() => client.files.retrieve(file.id))).toBe(true);
    expect(await gone(() => client.batches.retrieve(batch.id))).toBe(true);
    const listed = await client.batches.list();
    expect(listed.data.map((b) => b.id)).not.toContain(batch.id);
  });

  it('deletes an OpenAI batch nobody reads again with its Switchyard batch, one that failed at creation, and expired uploads from the indexes', async () => {
    // A tenant's key: its uploads are listed in its own index as well as the global one.
    const key = await sys.client
      .withKey(KEY)
      .request('POST', '/v1/keys', { name: 'retention-tenant', scopes: ['submit', 'read'], tenant: 'acme' });
    expect(key.status).toBe(201);
    const client = new OpenAI({ baseURL: `${sys.url}/openai/v1`, apiKey: key.json.secret, maxRetries: 0 });
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say yes.' }], max_tokens: 4 };
    const upload = async (line: object) =>
      client.files.create({
        file: await toFile(Buffer.from(`${JSON.stringify(line)}\n`), 'in.jsonl'),
        purpose: 'batch',
      });
    const create = async (fileId: string) =>
      client.batches.create({
        input_file_id: fileId,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
        metadata: { sensitivity: 'public' },
      });
    const { redis, config } = sys.internals();
    const uploads = `${globalKeyPrefix(config.prefix)}:oai:files`;
    const input = await upload({ custom_id: 'q1', method: 'POST', url: '/v1/chat/completions', body });
    for (const files of [uploads, `${uploads}:tenant:acme`]) expect(await redis.zscore(files, input.id)).not.toBeNull();
    const ran = await create(input.id);
    // Every line invalid: failed at once, with no Switchyard batch, its invalid lines kept in its record.
    const failed = await create(
      (await upload({ custom_id: 'bad', method: 'POST', url: '/v1/chat/completions', body: {} })).id,
    );
    expect(failed.status).toBe('failed');
    const record = (id: string) => `${globalKeyPrefix(config.prefix)}:oai:batch:${id}`;
    const index = `${globalKeyPrefix(config.prefix)}:oai:batches`;
    // Both records exist now (checked at once: the failed one may go 2 s after it was made).
    expect(await redis.exists(record(ran.id), record(failed.id))).toBe(2);
    // Watched through the native API only: no read of the OpenAI batches, which would drop them on the way.
    await sys.client.withKey(KEY).waitFinished((ran as any).switchyard.batch_id);
    const until = Date.now() + 30_000;
    while ((await redis.exists(record(ran.id), record(failed.id))) > 0 && Date.now() < until) await sleep(250);
    expect(await redis.exists(record(ran.id), record(failed.id))).toBe(0);
    expect(await redis.zscore(index, ran.id)).toBeNull();
    expect(await redis.zscore(index, failed.id)).toBeNull();
    // The uploads (expired 2 s after they were made) leave both uploads indexes, with nobody listing them.
    for (const files of [uploads, `${uploads}:tenant:acme`]) {
      while ((await redis.zscore(files, input.id)) !== null && Date.now() < until) await sleep(250);
      expect(await redis.zscore(files, input.id)).toBeNull();
    }
  });
});
