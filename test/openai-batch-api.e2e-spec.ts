import { beforeAll, describe, expect, it } from '@jest/globals';
import OpenAI, { AuthenticationError, BadRequestError, NotFoundError, toFile } from 'openai';
import { ensureGeneratedModel } from '#libs/gguf';
import { sleep } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';
import { globalKeyPrefix, hashTag } from '#libs/redis';

const KEY = 'sy-openai-surface-admin-key-0123456789';

/** One JSONL line of an OpenAI batch input file. */
const line = (customId: string, body: object) =>
  JSON.stringify({ custom_id: customId, method: 'POST', url: '/v1/chat/completions', body });
const ask = (text: string, extra: object = {}) => ({
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'Answer briefly.' },
    { role: 'user', content: text },
  ],
  max_tokens: 16,
  ...extra,
});

/**
 * The OpenAI Batch API as the official openai Node SDK drives it (issue 16 §1), against the built API and
 * worker, with the OpenAI double as the cloud provider: upload, create, poll, download, parse; list, cancel;
 * the error file; and the error bodies the SDK turns into its exception classes. Only baseURL and the key
 * differ from a client written for OpenAI.
 */
describe('the OpenAI-compatible batch API', () => {
  const sys = useSystem(
    async ({ double }) => ({
      ADMIN_API_KEY: KEY,
      RATE_LIMIT_REQUESTS_PER_MINUTE: '10000',
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'double-key',
      CLOUD_MAX_SENSITIVITY: 'internal',
      // The local model is assumed too slow for any window here: internal lines go to the cloud double.
      LOCAL_TOKENS_PER_SEC: '0.001',
      OPENAI_BATCH_SENSITIVITY: 'internal',
      // The native API's item limit and the OpenAI surface's line limit are apart (OpenAI's default is 50,000
      // lines, MAX_ITEMS_PER_BATCH 10,000): small here, so a file may exceed the one and not the other.
      MAX_ITEMS_PER_BATCH: '2',
      OPENAI_BATCH_MAX_LINES: '5',
    }),
    { double: { apiKey: 'double-key' } },
  );
  let client: OpenAI;
  beforeAll(() => {
    client = new OpenAI({ baseURL: `${sys.url}/openai/v1`, apiKey: KEY, maxRetries: 0 });
  });

  async function upload(lines: string[]) {
    return client.files.create({
      file: await toFile(Buffer.from(`${lines.join('\n')}\n`), 'input.jsonl'),
      purpose: 'batch',
    });
  }
  async function create(fileId: string, window = '1h', metadata?: Record<string, string>) {
    return client.batches.create({
      input_file_id: fileId,
      endpoint: '/v1/chat/completions',
      completion_window: window as '24h',
      ...(metadata ? { metadata } : {}),
    });
  }
  /** Polls as an OpenAI client does until the batch reaches a final status. */
  async function settled(id: string, timeoutMs = 60_000) {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const batch = await client.batches.retrieve(id);
      if (['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)) return batch;
      if (Date.now() > until) throw new Error(`batch ${id} still ${batch.status}`);
      await sleep(100);
    }
  }
  async function jsonl(fileId: string): Promise<any[]> {
    const text = await (await client.files.content(fileId)).text();
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l));
  }

  it('upload, create, poll, download: each output line answers its custom_id with a chat.completion', async () => {
    sys.double.reset();
    sys.double.setResponder((body) => `answer to ${body.messages.at(-1).content}`);
    const file = await upload([
      line('q-1', ask('one', { temperature: 0.2, seed: 7, stop: ['END'] })),
      // OpenAI's default, as SDK wrappers send it: it asks for nothing, and runs.
      line('q-2', ask('two', { store: false })),
    ]);
    expect(file).toMatchObject({ object: 'file', purpose: 'batch', filename: 'input.jsonl' });
    expect((await client.files.retrieve(file.id)).id).toBe(file.id);
    const created = await create(file.id, '1h', { project: 'e2e' });
    expect(created).toMatchObject({ object: 'batch', endpoint: '/v1/chat/completions', completion_window: '1h' });
    expect(created.expires_at! - created.created_at).toBe(3600);
    const done = await settled(created.id);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
    expect(done.metadata).toEqual({ project: 'e2e' });
    // OpenAI's usage (the SDK's BatchUsage), the same tokens as Switchyard's own view of the batch.
    const own = (done as any).switchyard.usage;
    expect(done.usage).toEqual({
      input_tokens: own.inputTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: own.outputTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: own.inputTokens + own.outputTokens,
    });
    expect(done.usage!.output_tokens).toBeGreaterThan(0);
    expect(done.error_file_id).toBeNull();
    const lines = await jsonl(done.output_file_id!);
    const byId = new Map(lines.map((l) => [l.custom_id, l]));
    expect([...byId.keys()].sort()).toEqual(['q-1', 'q-2']);
    const first = byId.get('q-1');
    expect(first.error).toBeNull();
    expect(first.response.status_code).toBe(200);
    expect(first.response.body).toMatchObject({
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: 'answer to one' }, finish_reason: 'stop' }],
      switchyard: { route: { target: 'cloud' } },
    });
    expect(first.response.body.usage.total_tokens).toBeGreaterThan(0);
    // The line's parameters reached the provider as written.
    const sent = sys.double.completionRequests().map((r) => r.body);
    const one = sent.find((b) => b.messages.at(-1).content === 'one');
    expect(one).toMatchObject({ temperature: 0.2, seed: 7, stop: ['END'], max_tokens: 16 });
    expect(one.messages).toEqual(ask('one').messages);
    expect(sent.find((b) => b.messages.at(-1).content === 'two')).not.toHaveProperty('store');
    // Cancelling a finished batch is a 409 the SDK raises at once: told not to retry it (it retries a 409 unless told).
    const late = await client.batches.cancel(done.id, { maxRetries: 2 }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(OpenAI.ConflictError);
    expect((late as InstanceType<typeof OpenAI.ConflictError>).headers.get('x-should-retry')).toBe('false');
    // An output file is retrievable, so a create from it is told it is one, not that there is no such file.
    const fromOutput = await create(done.output_file_id!).catch((e: unknown) => e);
    expect(fromOutput).toBeInstanceOf(BadRequestError);
    expect(fromOutput).toMatchObject({ param: 'input_file_id', message: expect.stringMatching(/output file/) });
    // The same batch, seen through the native API: one source of truth.
    const native = await sys.client.withKey(KEY).request('GET', `/v1/batches/${(done as any).switchyard.batch_id}`);
    expect(native.json).toMatchObject({ kind: 'chat', counts: { completed: 2 } });
  });

  it('a create sent again with its Idempotency-Key answers the batch the first made; another file with it is a 422', async () => {
    const file = await upload([line('idem-1', ask('idem one'))]);
    const headers = { 'Idempotency-Key': 'oai-idem-1' };
    const body = {
      input_file_id: file.id,
      endpoint: '/v1/chat/completions' as const,
      // 1h, as the other tests here: the local model is assumed too slow for it, so nothing runs locally (a run
      // there would teach routing its real speed, and the expiry test below would find its lines done at once).
      completion_window: '1h' as '24h',
    };
    const first = await client.batches.create(body, { headers });
    const again = await client.batches.create(body, { headers });
    expect(again.id).toBe(first.id);
    expect((await client.batches.create(body, { headers: { 'Idempotency-Key': 'oai-idem-2' } })).id).not.toBe(first.id);
    const other = await upload([line('idem-2', ask('idem two'))]);
    const reused = await client.batches.create({ ...body, input_file_id: other.id }, { headers }).catch((e) => e);
    expect(reused).toBeInstanceOf(OpenAI.UnprocessableEntityError);
    expect(reused.error).toMatchObject({ code: 'idempotency_key_reused', param: 'idempotency-key' });
    // A create the first refused (a 400) leaves the key free for the corrected one.
    const refused = await client.batches
      .create({ ...body, completion_window: 'soon' as '24h' }, { headers: { 'Idempotency-Key': 'oai-idem-3' } })
      .catch((e) => e);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    const corrected = await client.batches.create(body, { headers: { 'Idempotency-Key': 'oai-idem-3' } });
    expect(corrected.input_file_id).toBe(file.id);
    // Without a key, each create is its own batch, as OpenAI's are.
    expect((await client.batches.create(body)).id).not.toBe((await client.batches.create(body)).id);
    await settled(first.id);
  });

  it('a follow-up batch sends an answer back as history as the output file holds it (refusal: null)', async () => {
    sys.double.reset();
    sys.double.setResponder((body) => `answer to ${body.messages.at(-1).content}`);
    const first = await settled((await create((await upload([line('turn-1', ask('first'))])).id)).id);
    const [answer] = await jsonl(first.output_file_id!);
    const said = answer.response.body.choices[0].message;
    expect(said).toMatchObject({ role: 'assistant', refusal: null });
    // The conversation so far and the next question, as a multi-turn pipeline writes its next file.
    const next = ask('second', { messages: [...ask('first').messages, said, { role: 'user', content: 'second' }] });
    const done = await settled((await create((await upload([line('turn-2', next)])).id)).id);
    expect(done.request_counts).toEqual({ total: 1, completed: 1, failed: 0 });
    const sent = sys.double.completionRequests().find((r) => r.body.messages.at(-1).content === 'second')!;
    expect(sent.body.messages.at(-2)).toEqual({ role: 'assistant', content: 'answer to first' });
  });

  it('an invalid line goes to the error file naming its line and field; the valid ones run', async () => {
    sys.double.reset();
    const file = await upload([
      line('ok', ask('fine')),
      line('bad-role', { messages: [{ role: 'robot', content: 'x' }] }),
      '{not json',
      line('ok', ask('duplicate id')),
      line('extra', ask('x', { n: 2 })),
    ]);
    const done = await settled((await create(file.id)).id);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 5, completed: 1, failed: 4 });
    const errors = await jsonl(done.error_file_id!);
    expect(errors.map((e) => [e.custom_id, e.error.line, e.error.code, e.error.param])).toEqual([
      ['bad-role', 2, 'invalid_request', 'body.messages[0].role'],
      [null, 3, 'invalid_json', null],
      ['ok', 4, 'duplicate_custom_id', 'custom_id'],
      ['extra', 5, 'invalid_request', 'body.n'],
    ]);
    expect(errors.every((e) => e.response === null)).toBe(true);
    expect((await jsonl(done.output_file_id!)).map((l) => l.custom_id)).toEqual(['ok']);
    // Each generated file's object says how many bytes its content is, as OpenAI's does (and again once counted).
    // They go with the batch, RESULT_TTL (30 days here) after it finished: their expires_at says when, as OpenAI's do.
    for (const id of [done.output_file_id!, done.error_file_id!]) {
      const content = Buffer.from(await (await client.files.content(id)).arrayBuffer());
      for (let i = 0; i < 2; i++)
        expect(await client.files.retrieve(id)).toMatchObject({
          id,
          purpose: 'batch_output',
          bytes: content.length,
          created_at: done.finalizing_at,
          expires_at: done.finalizing_at! + 30 * 86_400,
        });
    }
  });

  it('a line that is JSON but not an object is told so, not sent to fix a body field it may well have right', async () => {
    const done = await settled((await create((await upload(['[{"custom_id": "a"}]', line('ok', ask('ok'))])).id)).id);
    expect(done.request_counts).toEqual({ total: 2, completed: 1, failed: 1 });
    expect((await jsonl(done.error_file_id!)).map((e) => e.error)).toEqual([
      {
        code: 'invalid_request',
        message: 'line 1: line must be a JSON object: {"custom_id", "method", "url", "body"}',
        param: null,
        line: 1,
      },
    ]);
  });

  it('a line no provider can run is in the error file with a 4xx, not a 500: sent again, it would fail again', async () => {
    sys.double.reset();
    // Longer than the local model's context: once the cloud refuses it (400), the local model, the last provider
    // cleared for it, cannot hold it either.
    const file = await upload([line('refused', ask('word '.repeat(6000)))]);
    sys.double.failNext(1, { status: 400 });
    const done = await settled((await create(file.id)).id);
    expect(done.request_counts).toEqual({ total: 1, completed: 0, failed: 1 });
    // The cloud had it once, and refused it.
    expect(sys.double.completionRequests().filter((r) => JSON.stringify(r.body).includes('word word'))).toHaveLength(1);
    const [refused] = await jsonl(done.error_file_id!);
    expect(refused).toMatchObject({
      custom_id: 'refused',
      response: { status_code: 400, body: { error: { type: 'invalid_request_error', code: 'context_overflow' } } },
    });
  });

  it('a file of invalid lines only makes a failed batch with its errors listed', async () => {
    const file = await upload([line('bad', { messages: [] })]);
    const batch = await create(file.id);
    expect(batch.status).toBe('failed');
    expect(batch.errors?.data?.[0]).toMatchObject({ line: 1, param: 'body.messages' });
    // Its error file holds every invalid line (`errors` lists the first 1,000 of a long file's).
    const [only] = await jsonl(batch.error_file_id!);
    expect(only).toMatchObject({ custom_id: 'bad', response: null, error: { line: 1, param: 'body.messages' } });
  });

  it('lists batches newest first with OpenAI cursor (after, limit, has_more)', async () => {
    const file = await upload([line('a', ask('a'))]);
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await create(file.id)).id);
    const page = await client.batches.list({ limit: 2 });
    expect(page.data.map((b) => b.id)).toEqual([ids[2], ids[1]]);
    expect(page.has_more).toBe(true);
    const next = await client.batches.list({ limit: 2, after: ids[1] });
    expect(next.data[0].id).toBe(ids[0]);
    const raw = await sys.client.withKey(KEY).request('GET', '/openai/v1/batches?limit=1');
    expect(raw.json).toMatchObject({ object: 'list', first_id: ids[2], last_id: ids[2], has_more: true });
  });

  it('cancel stops what has not run: the batch ends cancelled, its unrun lines in the error file', async () => {
    sys.double.reset();
    sys.double.setLatency(2000);
    const file = await upload(Array.from({ length: 4 }, (_, i) => line(`c-${i}`, ask(`c${i}`))));
    const created = await create(file.id);
    const cancelling = await client.batches.cancel(created.id);
    expect(['cancelling', 'cancelled']).toContain(cancelling.status);
    const done = await settled(created.id);
    sys.double.setLatency(0);
    expect(done.status).toBe('cancelled');
    expect(done.cancelled_at).not.toBeNull();
    const { completed, failed, total } = done.request_counts!;
    expect(total).toBe(4);
    expect(completed + failed).toBe(4);
    if (failed > 0) {
      const errors = await jsonl(done.error_file_id!);
      expect(errors.filter((e) => e.error?.code === 'batch_cancelled').length).toBeGreaterThan(0);
    }
    await expect(client.batches.cancel(created.id)).resolves.toMatchObject({ status: 'cancelled' });
  });

  it('once its window has passed, what has not run is cancelled: the batch ends expired, those lines batch_expired', async () => {
    sys.double.reset();
    sys.double.setLatency(3000);
    const file = await upload(Array.from({ length: 3 }, (_, i) => line(`e-${i}`, ask(`e${i}`))));
    const created = await create(file.id, '1h');
    // The window passes: its record is moved to an expiry in the past rather than waiting an hour.
    const { redis, config } = sys.internals();
    const key = `${globalKeyPrefix(config.prefix)}:oai:batch:${created.id}`;
    const stored = await redis.get(key);
    expect(stored).not.toBeNull(); // a renamed key would otherwise make this test move nothing
    const record = JSON.parse(stored!);
    await redis.set(key, JSON.stringify({ ...record, expiresAt: Date.now() - 1000 }));
    const seen = await client.batches.retrieve(created.id);
    expect(['finalizing', 'expired']).toContain(seen.status);
    const done = await settled(created.id);
    sys.double.setLatency(0);
    expect(done.status).toBe('expired');
    expect(done.expired_at).not.toBeNull();
    const { completed, failed, total } = done.request_counts!;
    expect(completed + failed).toBe(total);
    if (failed > 0) {
      const errors = await jsonl(done.error_file_id!);
      expect(errors.map((e) => e.error.code)).toEqual(Array(failed).fill('batch_expired'));
    }
  });

  it("holds a file to OPENAI_BATCH_MAX_LINES, not to the native API's MAX_ITEMS_PER_BATCH", async () => {
    sys.double.reset();
    sys.double.setResponder(() => 'ok');
    // 5 lines: over MAX_ITEMS_PER_BATCH (2), within OPENAI_BATCH_MAX_LINES (5): the batch runs whole.
    const five = await upload(Array.from({ length: 5 }, (_, i) => line(`m-${i}`, ask(`m${i}`))));
    const done = await settled((await create(five.id)).id);
    expect(done.request_counts).toEqual({ total: 5, completed: 5, failed: 0 });
    // 6 lines: a 400 naming the file, as the SDK raises it.
    const six = await upload(Array.from({ length: 6 }, (_, i) => line(`n-${i}`, ask(`n${i}`))));
    const refused = await create(six.id).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BadRequestError);
    expect((refused as BadRequestError).param).toBe('input_file_id');
    expect((refused as BadRequestError).message).toContain('at most 5');
    // The native API keeps its own limit.
    const native = await sys.client.withKey(KEY).request('POST', '/v1/batches', {
      kind: 'chat',
      sensitivity: 'internal',
      deadline: 'PT1H',
      items: Array.from({ length: 3 }, (_, i) => ({ id: `x${i}`, body: ask(`x${i}`) })),
    });
    expect(native.status).toBe(400);
    expect(JSON.stringify(native.json)).toContain('items');
  });

  it("raises the SDK's exception classes: 400, 401, 404", async () => {
    const file = await upload([line('a', ask('a'))]);
    const bad = await create(file.id, '30s').catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(BadRequestError);
    expect((bad as BadRequestError).param).toBe('completion_window');
    await expect(create(file.id, '24h').then((b) => b.completion_window)).resolves.toBe('24h');
    const wrongEndpoint = await client.batches
      .create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' })
      .catch((e: unknown) => e);
    expect(wrongEndpoint).toBeInstanceOf(BadRequestError);
    const purpose = await client.files
      .create({ file: await toFile(Buffer.from('{}\n'), 'x.jsonl'), purpose: 'fine-tune' })
      .catch((e: unknown) => e);
    expect(purpose).toBeInstanceOf(BadRequestError);
    await expect(client.batches.retrieve('batch_00000000-0000-0000-0000-000000000000')).rejects.toBeInstanceOf(
      NotFoundError,
    );
    await expect(client.files.retrieve('file-nope')).rejects.toBeInstanceOf(NotFoundError);
    // Ids are Redis hash tags: one holding a brace cannot be a key, and answered 500.
    await expect(client.batches.retrieve('batch_{x}')).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.batches.cancel('{x')).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.files.retrieve('file-{x}')).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.files.content('x}')).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.files.delete('{x}')).rejects.toBeInstanceOf(NotFoundError);
    const braced = await create('file-{x}', '24h').catch((e: unknown) => e);
    expect(braced).toBeInstanceOf(NotFoundError);
    expect((braced as NotFoundError).param).toBe('input_file_id');
    const anonymous = new OpenAI({ baseURL: `${sys.url}/openai/v1`, apiKey: 'sy_not-a-key', maxRetries: 0 });
    const denied = await anonymous.batches.list().catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(AuthenticationError);
    expect((denied as AuthenticationError).message).toContain('API key');
    const deniedUpload = await anonymous.files
      .create({ file: await toFile(Buffer.from('{}\n'), 'x.jsonl'), purpose: 'batch' })
      .catch((e: unknown) => e);
    expect(deniedUpload).toBeInstanceOf(AuthenticationError);
  });

  it('refuses a file saved as UTF-16 whole, at create, saying so', async () => {
    // Windows PowerShell 5 writes a redirected file as UTF-16LE with its byte-order mark.
    const text = `\uFEFF${[line('a', ask('a')), line('b', ask('b'))].join('\r\n')}\r\n`;
    const file = await client.files.create({
      file: await toFile(Buffer.from(text, 'utf16le'), 'requests.jsonl'),
      purpose: 'batch',
    });
    const refused = await create(file.id).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BadRequestError);
    expect(refused).toMatchObject({
      param: 'input_file_id',
      message: expect.stringMatching(/is UTF-16.*save it as UTF-8/),
    });
  });

  it("holds metadata to OpenAI's limits, and says which one a create broke: 16 keys, 64-character keys, 512-character values", async () => {
    const file = await upload([line('a', ask('a'))]);
    const sixteen = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, 'v']));
    const atLimits = { ...sixteen, k0: 'v'.repeat(512), ['k'.repeat(64)]: 'v' };
    delete atLimits.k1;
    expect((await create(file.id, '1h', atLimits)).metadata).toEqual(atLimits);
    for (const [metadata, param, why] of [
      [{ ...sixteen, k16: 'v' }, 'metadata', /at most 16 keys/],
      [{ ['k'.repeat(65)]: 'v' }, `metadata.${'k'.repeat(65)}`, /key of 65 characters; a key holds at most 64/],
      [{ a: 'v'.repeat(513) }, 'metadata.a', /at most 512 characters/],
    ] as const) {
      const refused = await create(file.id, '1h', metadata).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(BadRequestError);
      expect(refused).toMatchObject({ param, message: expect.stringMatching(why) });
    }
  });

  it('names the input file when its requests hold more tokens than the key may submit in a minute', async () => {
    const made = await sys.client
      .withKey(KEY)
      .request('POST', '/v1/keys', { name: 'small-tpm', scopes: ['read', 'submit'], limits: { tokensPerMinute: 50 } });
    const small = new OpenAI({ baseURL: `${sys.url}/openai/v1`, apiKey: made.json.secret, maxRetries: 0 });
    const file = await small.files.create({
      file: await toFile(Buffer.from(`${line('long', ask('word '.repeat(300)))}\n`), 'input.jsonl'),
      purpose: 'batch',
    });
    const refused = await small.batches
      .create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    expect(refused).toMatchObject({
      status: 413,
      param: 'input_file_id',
      code: 'token_limit_exceeded',
      message: expect.stringMatching(/at most 50 tokens per minute: split the file/),
    });
  });

  it("answers a body the JSON parser refuses in OpenAI's error shape too, naming the body", async () => {
    const file = await upload([line('a', ask('a'))]);
    let deep: object = {};
    for (let i = 0; i < 150; i++) deep = { deeper: deep };
    const refused = await client.batches
      .create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }, { body: deep })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BadRequestError);
    expect(refused).toMatchObject({ param: 'body', message: expect.stringMatching(/nests deeper than 100 levels/) });
    for (const [body, message] of [
      ['{"input_file_id": ', 'body is not valid JSON'],
      ['"text"', 'body must be a JSON object'],
    ]) {
      const res = await sys.client.withKey(KEY).request('POST', '/openai/v1/batches', body);
      expect([res.status, res.json]).toEqual([
        400,
        { error: { message, type: 'invalid_request_error', param: 'body', code: null } },
      ]);
    }
  });

  it("takes an upload's expires_after as the SDK sends it: deleted that long after, not at RESULT_TTL", async () => {
    const file = await client.files.create({
      file: await toFile(Buffer.from(`${line('x', ask('x'))}\n`), 'input.jsonl'),
      purpose: 'batch',
      expires_after: { anchor: 'created_at', seconds: 3600 },
    });
    expect(file.expires_at).toBe(file.created_at + 3600);
    expect((await client.files.retrieve(file.id)).expires_at).toBe(file.created_at + 3600);
    // Redis deletes it then: the key's own expiry, not only the date shown.
    const { redis, config } = sys.internals();
    const ttlMs = await redis.pttl(`${config.prefix}:sy:oai:file:${hashTag(file.id)}`);
    expect(ttlMs).toBeGreaterThan(3_590_000);
    expect(ttlMs).toBeLessThanOrEqual(3_600_000);
    // Without a policy: RESULT_TTL (30 days by default).
    const plain = await upload([line('y', ask('y'))]);
    expect(plain.expires_at).toBe(plain.created_at + 30 * 86_400);
    for (const [policy, param] of [
      [{ anchor: 'created_at', seconds: 60 }, 'expires_after.seconds'],
      [{ anchor: 'last_active_at', seconds: 3600 }, 'expires_after.anchor'],
    ] as const) {
      const refused = await client.files
        .create({
          file: await toFile(Buffer.from('{}\n'), 'x.jsonl'),
          purpose: 'batch',
          expires_after: policy as { anchor: 'created_at'; seconds: number },
        })
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(BadRequestError);
      expect((refused as BadRequestError).param).toBe(param);
    }
    // An output expiry sooner than RESULT_TTL cannot be kept (the output is the batch's results, kept until then):
    // refused, not ignored. One of at least RESULT_TTL (30 days here) is kept, capped there as an upload's is.
    const create = (output_expires_after: unknown) =>
      client.batches
        .create({
          input_file_id: file.id,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
          output_expires_after: output_expires_after as { anchor: 'created_at'; seconds: number },
        })
        .catch((e: unknown) => e);
    for (const [policy, param] of [
      [{ anchor: 'created_at', seconds: 3600 }, 'output_expires_after.seconds'],
      [{ anchor: 'last_active_at', seconds: 2_592_000 }, 'output_expires_after.anchor'],
    ] as const) {
      const refused = await create(policy);
      expect(refused).toBeInstanceOf(BadRequestError);
      expect((refused as BadRequestError).param).toBe(param);
    }
    expect(await create({ anchor: 'created_at', seconds: 2_592_000 })).toMatchObject({ object: 'batch' });
  });

  it('deletes an uploaded file', async () => {
    const file = await upload([line('a', ask('a'))]);
    await expect(client.files.delete(file.id)).resolves.toMatchObject({ id: file.id, deleted: true });
    await expect(client.files.retrieve(file.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('lists uploads as files.list does: newest first, cursor pages, asc order, deleted ones gone', async () => {
    const made = [];
    for (const name of ['x', 'y', 'z']) made.push((await upload([line(name, ask(name))])).id);
    const newest = made.slice().reverse();
    const first = await client.files.list({ limit: 2 });
    expect(first.data.map((f) => f.id)).toEqual(newest.slice(0, 2));
    expect(first.has_more).toBe(true);
    // The SDK's auto-pagination follows `after` through every page.
    const all: string[] = [];
    for await (const f of client.files.list({ limit: 2 })) all.push(f.id);
    expect(all.slice(0, 3)).toEqual(newest);
    expect(new Set(all).size).toBe(all.length);
    const asc = await client.files.list({ order: 'asc', limit: 10_000 });
    const ascIds = asc.data.map((f) => f.id);
    expect(ascIds.indexOf(made[0])).toBeLessThan(ascIds.indexOf(made[2]));
    expect((await client.files.list({ purpose: 'fine-tune' })).data).toEqual([]);
    await client.files.delete(made[1]);
    const after = (await client.files.list()).data.map((f) => f.id);
    expect(after).not.toContain(made[1]);
    expect(after).toContain(made[0]);
    await expect(client.files.list({ order: 'sideways' as 'asc' })).rejects.toBeInstanceOf(BadRequestError);
  });

  it("cleans up as the SDK's loop does: every file deleted as it is listed, the paging going on from a deleted cursor", async () => {
    for (const name of ['p', 'q', 'r', 's', 't']) await upload([line(name, ask(name))]);
    const listed: string[] = [];
    for await (const f of client.files.list({ limit: 2 })) {
      listed.push(f.id);
      await client.files.delete(f.id);
    }
    expect(listed.length).toBeGreaterThanOrEqual(5);
    expect(new Set(listed).size).toBe(listed.length);
    expect((await client.files.list()).data).toEqual([]);
  });

  it('keeps an upload as it was sent: a UTF-8 file name, and bytes that are not UTF-8, which a batch refuses by line', async () => {
    const bytes = Buffer.concat([
      Buffer.from(`${line('utf8', ask('café'))}\n`, 'utf8'),
      Buffer.from(`${line('latin1', ask('café'))}\n`, 'latin1'),
    ]);
    const file = await client.files.create({ file: await toFile(bytes, 'données-été.jsonl'), purpose: 'batch' });
    expect(file).toMatchObject({ filename: 'données-été.jsonl', bytes: bytes.length });
    expect((await client.files.retrieve(file.id)).filename).toBe('données-été.jsonl');
    expect(Buffer.from(await (await client.files.content(file.id)).arrayBuffer()).equals(bytes)).toBe(true);
    sys.double.reset();
    sys.double.setResponder(() => 'ok');
    const done = await settled((await create(file.id)).id);
    expect(done.request_counts).toEqual({ total: 2, completed: 1, failed: 1 });
    expect((await jsonl(done.error_file_id!))[0]).toMatchObject({
      custom_id: null,
      error: { code: 'invalid_json', line: 2, message: 'line 2: line is not valid UTF-8 (JSON text is UTF-8)' },
    });
    // The valid line ran (here or in the cloud, as routing chose); nothing with a replacement character left.
    expect((await jsonl(done.output_file_id!)).map((l) => l.custom_id)).toEqual(['utf8']);
    const calls = sys.double.requests.filter((r) => r.path.startsWith('/v1/chat/completions'));
    expect(JSON.stringify(calls.map((r) => r.body))).not.toContain('\uFFFD');
  });
});
