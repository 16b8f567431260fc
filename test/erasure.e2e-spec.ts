import { describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import type { RedisClient } from '#libs/redis';
import { useSystem } from './support/use-system.js';

/** In every item's text: after an erasure, no key of the deployment may hold it. */
const CANARY = 'CANARY-ERASURE-7c41e2';
/** In every answer the model gives. */
const ANSWER = 'ANSWER-ERASURE-93bd05';
const KEY = 'sy-erasure-admin-key-0123456789abcdef';

/** Every value of every key whose name holds `pattern`, whatever its type, as one string (a single Redis: SCAN). */
async function everyValue(client: RedisClient, pattern: string): Promise<string> {
  const redis = client as Redis;
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      if (type === 'string') out.push(String(await redis.get(key)));
      else if (type === 'hash') out.push(JSON.stringify(await redis.hgetall(key)));
      else if (type === 'list') out.push(JSON.stringify(await redis.lrange(key, 0, -1)));
      else if (type === 'set') out.push(JSON.stringify(await redis.smembers(key)));
      else if (type === 'zset') out.push(JSON.stringify(await redis.zrange(key, 0, -1)));
      else if (type === 'stream') out.push(JSON.stringify(await redis.xrange(key, '-', '+')));
    }
  } while (cursor !== '0');
  return out.join('\n');
}

/**
 * Erasure on request: a person asks for their documents to be deleted. DELETE /v1/batches/:id/data deletes the
 * finished batch now (not at RESULT_TTL, 30 days by default here): its items and results, its event stream and the
 * item jobs that carry the document text and the answer, and records the erasure in the audit trail without text.
 */
describe('erasure (DELETE /v1/batches/:id/data)', () => {
  const sys = useSystem(
    async ({ double }) => ({
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'test-key',
      ADMIN_API_KEY: KEY,
      CLOUD_PROVIDER_NAME: 'frontier',
      CLOUD_MAX_SENSITIVITY: 'internal',
      CLOUD_PRICE_INPUT_PER_M: '0',
      CLOUD_PRICE_OUTPUT_PER_M: '0',
    }),
    { double: { apiKey: 'test-key' } },
  );

  it('deletes a finished batch with every key that held its text or answers, and audits it without text', async () => {
    const api = sys.client.withKey(KEY);
    sys.double.setResponder(() => `${ANSWER} the letter asks for a review.`);
    const submitted = await api.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'internal',
      deadline: 'PT10M',
      task: { type: 'summarize', maxTokens: 32 },
      items: [
        { id: 'letter-1', text: `${CANARY} Letter from a citizen about their housing benefit. `.repeat(4) },
        { id: 'letter-2', text: `${CANARY} Medical certificate attached to the request. `.repeat(4) },
      ],
    });
    expect(submitted.status).toBe(202);
    const id = submitted.json.id as string;
    expect((await api.waitFinished(id)).status).toBe('completed');
    sys.double.setResponder(null);
    const { json: items } = await api.request('GET', `/v1/batches/${id}/items`);
    expect(JSON.stringify(items)).toContain(ANSWER);

    const { redis, config } = sys.internals();
    const pattern = `*${config.prefix}*`;
    // Before: the document text is in Redis (the item jobs), and so are the answers.
    const before = await everyValue(redis, pattern);
    expect(before).toContain(CANARY);
    expect(before).toContain(ANSWER);

    const erased = await api.request('DELETE', `/v1/batches/${id}/data`);
    expect(erased.status).toBe(200);
    expect(erased.json).toMatchObject({ id, erased: true, items: 2 });
    expect(erased.json.jobs).toBeGreaterThanOrEqual(2);

    expect((await api.request('GET', `/v1/batches/${id}`)).status).toBe(404);
    expect((await api.request('GET', `/v1/batches/${id}/items`)).status).toBe(404);
    const left = await everyValue(redis, pattern);
    expect(left).not.toContain(CANARY);
    expect(left).not.toContain(ANSWER);
    expect(await redis.keys(`*{${id}}*`)).toEqual([]);
    expect(await redis.keys(`*:${id}.*`)).toEqual([]);

    const { json: audit } = await api.request('GET', `/v1/audit?batchId=${id}&kind=erasure`);
    expect(audit.entries).toHaveLength(1);
    expect(audit.entries[0]).toMatchObject({ kind: 'erasure', batchId: id, index: -1 });
    const { json: trail } = await api.request('GET', `/v1/audit?batchId=${id}`);
    expect(JSON.stringify(trail)).not.toContain(CANARY);
    expect(JSON.stringify(trail)).not.toContain(ANSWER);
    expect(trail.entries.map((e: { kind: string }) => e.kind)).toEqual(expect.arrayContaining(['route', 'egress']));

    // Erased once: a second request finds nothing.
    expect((await api.request('DELETE', `/v1/batches/${id}/data`)).status).toBe(404);
  });

  it('refuses to erase a batch still running (409), and needs an admin key', async () => {
    const api = sys.client.withKey(KEY);
    sys.double.setLatency(5000);
    try {
      const submitted = await api.request('POST', '/v1/batches', {
        kind: 'document-processing',
        sensitivity: 'internal',
        deadline: 'PT10M',
        task: { type: 'summarize', maxTokens: 8 },
        items: [{ id: 'slow', text: 'A document still being summarized.' }],
      });
      const id = submitted.json.id as string;
      expect((await api.request('DELETE', `/v1/batches/${id}/data`)).status).toBe(409);
      const key = await api.request('POST', '/v1/keys', { name: 'submitter', scopes: ['submit', 'read'] });
      expect((await sys.client.withKey(key.json.secret).request('DELETE', `/v1/batches/${id}/data`)).status).toBe(403);
      expect((await api.waitFinished(id)).status).toBe('completed');
    } finally {
      sys.double.setLatency(0);
    }
  });
});
