import { describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI, { toFile } from 'openai';
import { useSystem } from './support/use-system.js';

/**
 * Issue 17 §2: a large batch is answered once its body is validated and stored (`validating`), and a worker
 * routes, writes, audits and enqueues its items. Run on real processes: the API alone first, so what the
 * answer promised can be read before any worker exists; then a worker, which must expand exactly what was
 * accepted, honour a cancel asked for while it was validating, and leave nothing of the pending record behind.
 */
const doc = (tag: string, i: number) => ({
  id: `${tag}-${i}`,
  text: `deferred-${tag}-${i}: minutes of the planning committee, item by item. `.repeat(4),
});
const body = (tag: string, n: number) => ({
  kind: 'document-processing',
  sensitivity: 'public',
  deadline: 'PT30M',
  task: { type: 'summarize', maxTokens: 8 },
  items: Array.from({ length: n }, (_, i) => doc(tag, i)),
});

const ADMIN_KEY = 'sy-deferred-intake-admin-key-0123456789';
/** An OpenAI batch input file of `n` chat lines, as the official SDK uploads it. */
const jsonl = (tag: string, n: number) =>
  Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      custom_id: `${tag}-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `deferred-${tag}-${i}` }], max_tokens: 8 },
    }),
  ).join('\n');

describe('a large batch answered as validating and expanded by a worker (INTAKE_DEFER_ITEMS)', () => {
  const sys = useSystem(
    ({ double }) => ({
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'test-key',
      CLOUD_PROVIDER_NAME: 'frontier',
      CLOUD_MAX_SENSITIVITY: 'internal',
      CLOUD_PRICE_INPUT_PER_M: '0',
      CLOUD_PRICE_OUTPUT_PER_M: '0',
      INTAKE_DEFER_ITEMS: '4',
      ADMIN_API_KEY: ADMIN_KEY,
      OPENAI_BATCH_SENSITIVITY: 'public',
    }),
    { double: { apiKey: 'test-key' }, workers: 0 },
  );

  it('answers at once, shows the batch validating until a worker expands it, then runs exactly what it accepted', async () => {
    const { double } = sys;
    const client = sys.client.withKey(ADMIN_KEY);
    const small = await client.request('POST', '/v1/batches', body('small', 3));
    expect(small.status).toBe(202);
    expect(small.json.status).toBe('queued');

    const key = { 'idempotency-key': 'deferred-1' };
    const accepted = await client.request('POST', '/v1/batches', body('big', 6), key);
    expect(accepted.status).toBe(202);
    expect(accepted.json).toEqual({ id: expect.any(String), status: 'validating', total: 6 });
    const id = accepted.json.id as string;
    expect(accepted.headers.get('location')).toBe(`/v1/batches/${id}`);

    // No worker yet: the batch reads as validating, with its total and no item to page (a pager must stop).
    const pending = await client.request('GET', `/v1/batches/${id}`);
    expect(pending.status).toBe(200);
    expect(pending.json).toMatchObject({ id, status: 'validating', counts: { total: 6, queued: 0 }, finishedAt: null });
    const page = await client.request('GET', `/v1/batches/${id}/items`);
    expect(page.json).toEqual({ items: [], total: 6, nextOffset: null });
    // Listed too, where it was accepted: newest first, above the small batch written before it; a page before it
    // starts with the small one.
    const listed = await client.request('GET', '/v1/batches?limit=2');
    const summary = (b: { id: string; status: string }) => [b.id, b.status];
    expect(listed.json.batches.map(summary)).toEqual([
      [id, 'validating'],
      [small.json.id, 'queued'],
    ]);
    expect(listed.json.next).toBe(`${Date.parse(listed.json.batches[1].createdAt)}_${small.json.id}`);
    const older = await client.request('GET', `/v1/batches?before=${encodeURIComponent(pending.json.createdAt)}`);
    expect(older.json.batches.map(summary)).toEqual([[small.json.id, 'queued']]);
    // The cursor `next` gives for the validating batch starts the next page right after it.
    const firstOnly = await client.request('GET', '/v1/batches?limit=1');
    const afterIt = await client.request('GET', `/v1/batches?limit=1&before=${firstOnly.json.next}`);
    expect(afterIt.json.batches.map(summary)).toEqual([[small.json.id, 'queued']]);

    // The same key and body answer the same batch; the same key with another body is the client's bug.
    const again = await client.request('POST', '/v1/batches', body('big', 6), key);
    expect(again.json).toEqual({ id, status: 'validating', total: 6 });
    const reused = await client.request('POST', '/v1/batches', body('other', 6), key);
    expect(reused.status).toBe(422);

    // A tenant's own validating batch stays on its first page however many newer ones other tenants have
    // validating: the pending records carry no tenant, so the list must not cut them to `limit` before filtering.
    const made = await client.request('POST', '/v1/keys', { name: 'acme', scopes: ['submit', 'read'], tenant: 'acme' });
    expect(made.status).toBe(201);
    const acme = sys.client.withKey(made.json.secret as string);
    const own = await acme.request('POST', '/v1/batches', body('acme', 4));
    expect(own.json.status).toBe('validating');
    const crowd = [own.json.id as string];
    for (const tag of ['others-1', 'others-2']) {
      const other = await client.request('POST', '/v1/batches', body(tag, 4));
      expect(other.json.status).toBe('validating');
      crowd.push(other.json.id);
    }
    const acmeList = await acme.request('GET', '/v1/batches?limit=1');
    expect(acmeList.json.batches.map(summary)).toEqual([[own.json.id, 'validating']]);
    expect((await client.request('GET', '/v1/batches?limit=1')).json.batches[0].id).not.toBe(own.json.id);

    // Cancelled while validating: none of its items may ever reach the provider.
    const doomed = await client.request('POST', '/v1/batches', body('doomed', 5));
    expect(doomed.json.status).toBe('validating');
    const cancel = await client.request('DELETE', `/v1/batches/${doomed.json.id}`);
    expect(cancel.status).toBe(200);
    expect(cancel.json).toMatchObject({ cancelled: 5 });
    expect(double.completionRequests()).toHaveLength(0);

    // The OpenAI surface: a large file's batch is `validating` as OpenAI's are, cancelling while it is.
    const openai = new OpenAI({ baseURL: `${sys.url}/openai/v1`, apiKey: ADMIN_KEY, maxRetries: 0 });
    const create = async (tag: string) => {
      const file = await openai.files.create({
        file: await toFile(Buffer.from(jsonl(tag, 5)), 'in.jsonl'),
        purpose: 'batch',
      });
      return openai.batches.create({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
    };
    const chat = await create('chat');
    expect(chat).toMatchObject({
      status: 'validating',
      request_counts: { total: 5, completed: 0, failed: 0 },
      in_progress_at: null,
    });
    const dropped = await create('dropped');
    expect(await openai.batches.cancel(dropped.id)).toMatchObject({ status: 'cancelling' });
    expect((await openai.batches.retrieve(chat.id)).status).toBe('validating');

    sys.startWorker();
    const done = await client.waitFinished(id);
    expect(done).toMatchObject({ status: 'completed', counts: { total: 6, completed: 6 }, routes: { cloud: 6 } });
    // The deadline is the one the 202 promised: 30 minutes from acceptance, not from the expansion.
    expect(Date.parse(done.deadline) - Date.parse(done.createdAt)).toBe(30 * 60_000);
    const items = await client.request('GET', `/v1/batches/${id}/items`);
    expect(items.json.items.map((i: { id: string }) => i.id)).toEqual(body('big', 6).items.map((i) => i.id));

    const cancelled = await client.waitFinished(doomed.json.id);
    expect(cancelled).toMatchObject({ status: 'cancelled', counts: { total: 5, cancelled: 5, completed: 0 } });
    expect((await client.waitFinished(small.json.id)).status).toBe('completed');
    for (const crowded of crowd) expect((await client.waitFinished(crowded)).status).toBe('completed');
    const settled = async (batchId: string) => {
      for (;;) {
        const b = await openai.batches.retrieve(batchId);
        if (['completed', 'failed', 'cancelled', 'expired'].includes(b.status)) return b;
        await sleep(100);
      }
    };
    const chatDone = await settled(chat.id);
    expect(chatDone).toMatchObject({ status: 'completed', request_counts: { total: 5, completed: 5, failed: 0 } });
    const output = (await (await openai.files.content(chatDone.output_file_id!)).text()).trim().split('\n');
    expect(output.map((l) => JSON.parse(l).custom_id).sort()).toEqual([0, 1, 2, 3, 4].map((i) => `chat-${i}`));
    const droppedDone = await settled(dropped.id);
    expect(droppedDone).toMatchObject({ status: 'cancelled', request_counts: { total: 5, completed: 0, failed: 5 } });
    const errors = (await (await openai.files.content(droppedDone.error_file_id!)).text()).trim().split('\n');
    expect(errors.map((l) => JSON.parse(l).error.code)).toEqual(Array(5).fill('batch_cancelled'));

    const sent = double.completionRequests().map((r) => JSON.stringify(r.body));
    expect(sent.filter((b) => b.includes('deferred-big-'))).toHaveLength(6);
    expect(sent.filter((b) => b.includes('deferred-doomed-'))).toHaveLength(0);
    expect(sent.filter((b) => b.includes('deferred-chat-'))).toHaveLength(5);
    expect(sent.filter((b) => b.includes('deferred-dropped-'))).toHaveLength(0);

    // Every route was audited, once per item, as for a batch answered after its items were written.
    const audit = await client.request('GET', `/v1/audit?batchId=${id}&kind=route`);
    expect(audit.status).toBe(200);
    expect(new Set(audit.json.entries.map((e: { index: number }) => e.index)).size).toBe(6);

    // Nothing pending is left, nor the idempotency key the API made for the batch sent without one.
    const { redis } = sys.internals();
    await sleep(200);
    expect(await redis.keys(`${sys.env.SWITCHYARD_PREFIX}:sy:intake:*`)).toEqual([]);
    expect(await redis.keys(`*${sys.env.SWITCHYARD_PREFIX}:sy}:idem:intake:*`)).toEqual([]);
    // Listed like any batch once it exists.
    const list = await client.request('GET', '/v1/batches?limit=10');
    expect(list.json.batches.map((b: { id: string }) => b.id)).toEqual(expect.arrayContaining([id, doomed.json.id]));
  });
});
