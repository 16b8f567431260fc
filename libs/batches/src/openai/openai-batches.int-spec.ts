import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { ChatItemInput } from '#libs/domain';
import { BatchKeys } from '../batch-keys.js';
import { IdempotencyKeyReused } from '../batch-intake.js';
import { BatchStore } from '../batch-store.js';
import type { LineError } from './batch-lines.js';
import { MAX_LISTED_LINE_ERRORS, OpenAIBatches, OpenAIRequestError } from './openai-batches.js';
import { OpenAIKeys } from './openai-keys.js';
import { errorFileId, type OpenAIBatchRecord } from './openai-shapes.js';

const LIMITS = {
  maxFileBytes: 50 * 1024 * 1024,
  maxLines: 50_000,
  maxLineBytes: 64 * 1024,
  maxOutputTokens: 256,
  defaultSensitivity: 'internal' as const,
  localModels: ['tiny'],
  resultTtlMs: null,
  uploadQuotaBytes: 1024 * 1024 * 1024,
};

/** The Switchyard batch a create's valid lines become, stored as the intake would, each item routed to `tiny`. */
function storeChatBatch(store: BatchStore, items: readonly ChatItemInput[]): Promise<{ id: string }> {
  const now = Date.now();
  return store.create(
    { kind: 'chat', sensitivity: 'internal', deadlineAt: now + 3600_000, task: { chat: true }, createdAt: now },
    items.map((item) => ({
      itemId: item.id,
      sensitivity: 'internal' as const,
      pii: { declared: 'internal' as const, categories: [], raised: false },
      route: { target: 'local' as const, provider: 'tiny', model: 'tiny', reason: 'test', at: '' },
      workTokens: 10,
    })),
  );
}

const valid = (id: string) =>
  JSON.stringify({
    custom_id: id,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'm', messages: [{ role: 'user', content: `hello ${id}` }], max_tokens: 4 },
  });
const invalid = (id: string) =>
  JSON.stringify({
    custom_id: id,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'm', messages: [{ role: 'wizard', content: `hello ${id}` }] },
  });

/**
 * The input file's invalid lines live beside the OpenAI batch record, not in it: every retrieve and list reads the
 * record, and a file of many invalid lines made each one parse them all (a 10,000-line file: 1.5 MB per read).
 */
describe('OpenAIBatches: invalid lines beside the record (real Redis)', () => {
  let redis: Redis;
  let store: BatchStore;
  let batches: OpenAIBatches;
  let keys: OpenAIKeys;
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  /** The Switchyard batch the next create's valid lines become: written here, completed at once. */
  const submitted: ChatItemInput[][] = [];
  let submit: (submission: { items: ChatItemInput[] }) => Promise<{ id: string }>;

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
    store = new BatchStore(redis, prefix);
    keys = new OpenAIKeys(prefix);
    submit = async (submission) => {
      submitted.push(submission.items);
      const now = Date.now();
      const { id } = await storeChatBatch(store, submission.items);
      for (let i = 0; i < submission.items.length; i++) {
        await store.transition(id, i, ['queued'], 'running', {}, now);
        await store.transition(id, i, ['running'], 'completed', { result: 'ok', outputTokens: 1 }, now + 1);
      }
      return { id };
    };
    batches = new OpenAIBatches(redis, prefix, { submit, cancel: async () => undefined } as never, store, LIMITS);
  });
  afterAll(async () => {
    await redis.quit();
  });

  async function create(lines: string[]) {
    const file = await batches.uploadFile(
      { filename: 'in.jsonl', purpose: 'batch', content: Buffer.from(lines.join('\n')) },
      null,
    );
    return batches.createBatch(
      { input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' },
      null,
    );
  }

  async function errorLines(batchId: string): Promise<Array<{ custom_id: string | null; error: { line: number } }>> {
    const content = await batches.fileContent(errorFileId(batchId), undefined);
    const text: string[] = [];
    for await (const chunk of content!) text.push(chunk.toString());
    return text
      .join('')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
  }

  it('keeps the record small however many lines were invalid, and lists every one in the error file, in order', async () => {
    const lines = Array.from({ length: 2_503 }, (_, i) => (i % 1000 === 7 ? valid(`ok-${i}`) : invalid(`bad-${i}`)));
    const created = await create(lines);
    expect(submitted.at(-1)!.map((i) => i.id)).toEqual(['ok-7', 'ok-1007', 'ok-2007']);
    expect(await redis.strlen(keys.batch(created.id))).toBeLessThan(1_000);
    expect(await redis.llen(keys.lineErrors(created.id))).toBe(2_500);

    const done = await batches.getBatch(created.id, undefined);
    expect(done).toMatchObject({ status: 'completed', request_counts: { total: 2_503, completed: 3, failed: 2_500 } });
    const errors = await errorLines(created.id);
    const expected = lines.flatMap((l, i) => (i % 1000 === 7 ? [] : [{ custom_id: `bad-${i}`, line: i + 1 }]));
    expect(errors.map((e) => ({ custom_id: e.custom_id, line: e.error.line }))).toEqual(expected);
  });

  it('a batch with no valid line is failed: its errors list the first lines, on create and every read, its error file all', async () => {
    const lines = Array.from({ length: MAX_LISTED_LINE_ERRORS + 201 }, (_, i) => invalid(`bad-${i}`));
    const created = await create(lines);
    expect(created.status).toBe('failed');
    expect(await redis.strlen(keys.batch(created.id))).toBeLessThan(1_000);
    const listed = lines.slice(0, MAX_LISTED_LINE_ERRORS).map((_, i) => i + 1);
    for (const batch of [created, await batches.getBatch(created.id, undefined)]) {
      expect(batch!.errors!.data.map((e) => e.line)).toEqual(listed);
      expect(batch!.errors!.data[0]).toMatchObject({ code: 'invalid_request', param: 'body.messages[0].role' });
      expect(batch!.error_file_id).toBe(errorFileId(created.id));
    }
    expect((await errorLines(created.id)).map((e) => e.error.line)).toEqual(lines.map((_, i) => i + 1));
    expect(await batches.getFile(errorFileId(created.id), undefined)).toMatchObject({ purpose: 'batch_output' });
  });

  it('reads the records written before, which held their invalid lines themselves', async () => {
    const lineError = (line: number): LineError => ({
      line,
      customId: `old-${line}`,
      code: 'invalid_request',
      message: 'x',
      param: 'body',
    });
    const base = {
      inputFileId: 'file-x',
      endpoint: '/v1/chat/completions',
      completionWindow: '24h',
      metadata: null,
      tenant: null,
      createdAt: Date.now(),
      expiresAt: Date.now() + 3600_000,
      cancellingAt: null,
      expiredAt: null,
    };
    const failedId = `batch_${randomUUID()}`;
    const failed: OpenAIBatchRecord = {
      ...base,
      id: failedId,
      nativeId: null,
      total: 2,
      lineErrors: [lineError(1), lineError(2)],
      failure: [lineError(1), lineError(2)],
    };
    await redis.set(keys.batch(failedId), JSON.stringify(failed));
    expect((await batches.getBatch(failedId, undefined))!.errors!.data.map((e) => e.line)).toEqual([1, 2]);

    const { id: nativeId } = await submit({
      items: [{ id: 'ok', body: { messages: [{ role: 'user', content: 'x' }] } }] as never,
    });
    const mixedId = `batch_${randomUUID()}`;
    const mixed: OpenAIBatchRecord = {
      ...base,
      id: mixedId,
      nativeId,
      total: 3,
      lineErrors: [lineError(2), lineError(3)],
      failure: null,
    };
    await redis.set(keys.batch(mixedId), JSON.stringify(mixed));
    expect(await batches.getBatch(mixedId, undefined)).toMatchObject({
      status: 'completed',
      request_counts: { total: 3, completed: 1, failed: 2 },
    });
    expect((await errorLines(mixedId)).map((e) => e.error.line)).toEqual([2, 3]);
  });
});

/**
 * A page of a list is short only at its end. Files that expired (their key's TTL) and batches the retention removed
 * stay in the index until a list meets them; a page made only of those came back empty with has_more: true, and the
 * SDKs' auto-pagination stops at an empty page, so every file or batch after it went unlisted.
 */
describe('OpenAIBatches: lists read on past what expired (real Redis)', () => {
  let redis: Redis;
  let batches: OpenAIBatches;
  let keys: OpenAIKeys;
  const prefix = `t-${randomUUID().slice(0, 8)}`;

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
    keys = new OpenAIKeys(prefix);
    const store = new BatchStore(redis, prefix);
    const submit = (submission: { items: ChatItemInput[] }) => storeChatBatch(store, submission.items);
    batches = new OpenAIBatches(redis, prefix, { submit, cancel: async () => undefined } as never, store, LIMITS);
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('files: a page of expired ones is skipped, the rest come in order, each once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 9; i++) {
      const f = await batches.uploadFile(
        { filename: `f${i}.jsonl`, purpose: 'batch', content: Buffer.from(valid(`x${i}`)) },
        'acme',
        1_000_000 + i,
      );
      ids.push(f.id);
    }
    // Oldest first: files 1-5 expire, a whole page of 2 and more.
    await redis.del(...ids.slice(1, 6).map((id) => keys.file(id)));
    const listed: string[] = [];
    const pages: number[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await batches.listFiles('acme', { after, limit: 2, order: 'asc' });
      pages.push(page.data.length);
      listed.push(...page.data.map((f) => f.id));
      if (!page.has_more) break;
      after = page.last_id!;
    }
    expect(listed).toEqual([ids[0], ids[6], ids[7], ids[8]]);
    expect(pages).toEqual([2, 2]);
    expect(await redis.zrange(keys.filesIndex('acme'), 0, -1)).toEqual([ids[0], ids[6], ids[7], ids[8]]);
  });

  it('batches: a page of removed ones is skipped, the rest come newest first, each once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const file = await batches.uploadFile(
        { filename: 'in.jsonl', purpose: 'batch', content: Buffer.from(valid(`b${i}`)) },
        null,
      );
      const b = await batches.createBatch(
        { input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' },
        null,
        1_000_000 + i,
      );
      ids.push(b.id);
    }
    // Newest first: batches 5-2 go, two whole pages of 2.
    await redis.del(...ids.slice(2, 6).map((id) => keys.batch(id)));
    const listed: string[] = [];
    let after: string | undefined;
    let empty = 0;
    for (;;) {
      const page = await batches.listBatches(undefined, after, 2);
      if (page.data.length === 0) empty += 1;
      listed.push(...page.data.map((b) => b.id));
      if (!page.has_more) break;
      after = page.last_id!;
    }
    expect(listed).toEqual([ids[6], ids[1], ids[0]]);
    expect(empty).toBe(0);
  });

  it('files: a client deleting each page as it goes pages on from the deleted cursor, both orders', async () => {
    for (const order of ['asc', 'desc'] as const) {
      const tenant = `del-${order}`;
      const ids: string[] = [];
      // Two pairs uploaded in the same millisecond: ties in score are ordered by id on both sides of the cursor.
      for (const at of [2_000_000, 2_000_000, 2_000_001, 2_000_002, 2_000_002, 2_000_003, 2_000_004]) {
        const f = await batches.uploadFile(
          { filename: 'f.jsonl', purpose: 'batch', content: Buffer.from(valid('x')) },
          tenant,
          at,
        );
        ids.push(f.id);
      }
      const inOrder = await redis.zrange(keys.filesIndex(tenant), 0, -1);
      const listed: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await batches.listFiles(tenant, { after, limit: 2, order });
        listed.push(...page.data.map((f) => f.id));
        // The OpenAI SDK's clean-up loop: every file of the page deleted before the next page is asked for.
        for (const f of page.data) expect(await batches.deleteFile(f.id, tenant)).toMatchObject({ deleted: true });
        if (!page.has_more) break;
        after = page.last_id!;
      }
      expect(listed).toEqual(order === 'asc' ? inOrder : [...inOrder].reverse());
      expect(await redis.zcard(keys.filesIndex(tenant))).toBe(0);
    }
    await expect(batches.listFiles('del-asc', { after: 'file-never', limit: 2, order: 'asc' })).rejects.toThrow(
      /after names no file/,
    );
  });

  it("another tenant's deleted file or removed batch is no place in a tenant's list: the same 400 as an id never made", async () => {
    const upload = (tenant: string) =>
      batches.uploadFile({ filename: 'f.jsonl', purpose: 'batch', content: Buffer.from(valid('x')) }, tenant);
    await upload('mine');
    const theirs = await upload('theirs');
    const theirBatch = await batches.createBatch(
      { input_file_id: theirs.id, endpoint: '/v1/chat/completions', completion_window: '24h' },
      'theirs',
    );
    await batches.deleteFile(theirs.id, 'theirs');
    const rec = JSON.parse((await redis.get(keys.batch(theirBatch.id)))!) as OpenAIBatchRecord;
    await redis.del(new BatchKeys(prefix).batch(rec.nativeId!));
    expect(await batches.getBatch(theirBatch.id, 'theirs')).toBeNull(); // forgotten, as the retention does
    for (const order of ['asc', 'desc'] as const)
      await expect(batches.listFiles('mine', { after: theirs.id, limit: 2, order })).rejects.toThrow(
        /after names no file/,
      );
    await expect(batches.listBatches('mine', theirBatch.id, 2)).rejects.toThrow(/after names no batch/);
    // Their own lists, and an admin's, still page on from them.
    await expect(batches.listFiles('theirs', { after: theirs.id, limit: 2, order: 'asc' })).resolves.toMatchObject({
      data: [],
    });
    await expect(batches.listFiles(undefined, { after: theirs.id, limit: 2, order: 'asc' })).resolves.toBeDefined();
    await expect(batches.listBatches('theirs', theirBatch.id, 2)).resolves.toMatchObject({ data: [] });
    await expect(batches.listBatches(undefined, theirBatch.id, 2)).resolves.toBeDefined();
  });

  it('batches: one the retention removes, on the page or as the cursor, neither skips a batch nor stops the paging', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const file = await batches.uploadFile(
        { filename: 'in.jsonl', purpose: 'batch', content: Buffer.from(valid(`r${i}`)) },
        'ret',
      );
      const b = await batches.createBatch(
        { input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' },
        'ret',
        3_000_000 + i,
      );
      ids.push(b.id);
    }
    const newestFirst = [...ids].reverse();
    // What the results retention does to a Switchyard batch: the OpenAI batch over it reads as gone and is forgotten.
    const dropNative = async (id: string) => {
      const rec = JSON.parse((await redis.get(keys.batch(id)))!) as OpenAIBatchRecord;
      await redis.del(new BatchKeys(prefix).batch(rec.nativeId!));
    };
    await dropNative(newestFirst[1]); // on the first page
    const listed: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await batches.listBatches('ret', after, 2);
      listed.push(...page.data.map((b) => b.id));
      if (!page.has_more) break;
      after = page.last_id!;
      await dropNative(after); // the cursor itself, before the next page is asked for
    }
    expect(listed).toEqual(newestFirst.filter((id) => id !== newestFirst[1]));
  });
});

describe('OpenAIBatches: the uploads a tenant keeps at once (real Redis)', () => {
  let redis: Redis;
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const QUOTA = 1000;
  const HOUR = 3600_000;
  /** With RESULT_TTL of an hour, uploads expire (Redis expires them) an hour after `now`. */
  const surface = () =>
    new OpenAIBatches(redis, prefix, {} as never, {} as never, {
      ...LIMITS,
      uploadQuotaBytes: QUOTA,
      resultTtlMs: HOUR,
    });
  const upload = (b: OpenAIBatches, tenant: string | null, bytes: number, now: number) =>
    b.uploadFile({ filename: 'f.jsonl', purpose: 'batch', content: Buffer.alloc(bytes, 0x61) }, tenant, now);
  const refusal = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OpenAIRequestError);
    return err as OpenAIRequestError;
  };

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('refuses an upload past the allowance with a 413 naming the setting, per tenant; a delete or an expiry gives room back', async () => {
    const b = surface();
    const now = Date.now();
    const first = await upload(b, 'acme', 600, now);
    await upload(b, 'acme', 400, now);
    const full = await refusal(upload(b, 'acme', 1, now));
    expect(full).toMatchObject({ status: 413, param: 'file', code: 'storage_quota_exceeded' });
    expect(full.message).toMatch(/OPENAI_UPLOAD_QUOTA_BYTES.*1000 are held/);
    // Another tenant, and the keys without one, have allowances of their own.
    await upload(b, 'globex', 1000, now);
    await upload(b, null, 1000, now);

    expect(await b.deleteFile(first.id, 'acme')).toMatchObject({ deleted: true });
    await upload(b, 'acme', 600, now);
    await refusal(upload(b, 'acme', 1, now));
    // An hour on, the uploads have expired: their bytes are let go of at the next upload.
    await upload(b, 'acme', 1000, now + HOUR + 1);
  });

  it('a file deleted twice, or a refused upload, gives back nothing it did not hold', async () => {
    const b = surface();
    const now = Date.now();
    const kept = await upload(b, 'initech', 500, now);
    expect(await b.deleteFile(kept.id, 'initech')).not.toBeNull();
    expect(await b.deleteFile(kept.id, 'initech')).toBeNull();
    await refusal(upload(b, 'initech', 1001, now));
    await upload(b, 'initech', 1000, now);
    await refusal(upload(b, 'initech', 1, now));
  });
});

describe('OpenAIBatches: a create with an Idempotency-Key retried after the API died mid-create (real Redis)', () => {
  let redis: Redis;
  const prefix = `t-${randomUUID().slice(0, 8)}`;

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('binds the lines to the key before the record is saved: the retry answers the batch the intake has, it does not run them again', async () => {
    const store = new BatchStore(redis, prefix);
    /** As the intake's own Idempotency-Key: the same key and submission answer the batch made before. */
    const byKey = new Map<string, { id: string; submission: string }>();
    const made: string[] = [];
    const submit = async (submission: { items: ChatItemInput[] }, key?: string) => {
      const had = key === undefined ? undefined : byKey.get(key);
      if (had && had.submission !== JSON.stringify(submission)) throw new IdempotencyKeyReused();
      if (had) return { id: had.id, created: false };
      const { id } = await storeChatBatch(store, submission.items);
      made.push(id);
      if (key !== undefined) byKey.set(key, { id, submission: JSON.stringify(submission) });
      return { id, created: true };
    };
    const batches = new OpenAIBatches(redis, prefix, { submit, cancel: async () => undefined } as never, store, LIMITS);
    const file = await batches.uploadFile(
      { filename: 'in.jsonl', purpose: 'batch', content: Buffer.from(`${valid('a')}\n${valid('b')}\n`) },
      'acme',
    );
    const body = { input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' };
    // The API dies once the intake has the batch, before the OpenAI record is saved.
    const surface = batches as unknown as { save: (...args: unknown[]) => Promise<void> };
    const save = surface.save.bind(batches);
    surface.save = async () => {
      surface.save = save;
      throw new Error('API killed');
    };
    const t0 = Date.now();
    await expect(batches.createBatch(body, 'acme', t0, undefined, 'nightly-1')).rejects.toThrow('API killed');
    // The client sends it again with the same key, two minutes on (the create's claim has lapsed by then).
    await redis.del(new OpenAIKeys(prefix).idempotency('acme', 'nightly-1'));
    const retried = await batches.createBatch(body, 'acme', t0 + 120_000, undefined, 'nightly-1');
    expect(made).toHaveLength(1);
    expect(retried).toMatchObject({ switchyard: { batch_id: made[0] }, request_counts: { total: 2 } });
    // Its window runs from the first attempt, as the batch the intake holds.
    expect(retried.created_at).toBe(Math.floor(t0 / 1000));

    // The same key for another file, with no record to answer from: told so, nothing made.
    await redis.del(new OpenAIKeys(prefix).idempotency('acme', 'nightly-1'));
    const other = await batches.uploadFile(
      { filename: 'other.jsonl', purpose: 'batch', content: Buffer.from(`${valid('c')}\n`) },
      'acme',
    );
    const reused = await batches
      .createBatch({ ...body, input_file_id: other.id }, 'acme', t0 + 180_000, undefined, 'nightly-1')
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(reused).toMatchObject({ status: 422, code: 'idempotency_key_reused' });
    expect(made).toHaveLength(1);
  });
});
