import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { verifySignature } from '#libs/callbacks';
import { ensureGeneratedModel } from '#libs/gguf';
import { CALLBACKS_QUEUE, JobName, bullPrefix, queueName } from '#libs/queue';
import { sleep } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

interface Delivery {
  eventId: string;
  headers: IncomingHttpHeaders;
  body: string;
  answered: number;
}

interface SseFrame {
  id?: string;
  event: string;
  data: any;
}

/**
 * A callback receiver on loopback: records every POST and answers 500 to the first attempt of the events in
 * `failFirst`; while `down` is set, 503 to everything.
 */
async function startReceiver(failFirst: (eventId: string) => boolean) {
  const deliveries: Delivery[] = [];
  const state = { down: false };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const eventId = String(req.headers['switchyard-event-id']);
      const seen = deliveries.some((d) => d.eventId === eventId);
      const answered = state.down ? 503 : failFirst(eventId) && !seen ? 500 : 200;
      deliveries.push({ eventId, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), answered });
      res.writeHead(answered).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks`, deliveries, state, close: () => new Promise((r) => server.close(r)) };
}

/** Reads Server-Sent Events until the server ends the response, or until `stopAfter` says so (then disconnects). */
async function readEvents(
  url: string,
  opts: { lastEventId?: string; stopAfter?: (frames: SseFrame[]) => boolean } = {},
): Promise<{ frames: SseFrame[]; ended: boolean; status: number; contentType: string | null }> {
  const abort = new AbortController();
  const res = await fetch(url, {
    headers: opts.lastEventId ? { 'last-event-id': opts.lastEventId } : {},
    signal: abort.signal,
  });
  const meta = { status: res.status, contentType: res.headers.get('content-type') };
  const frames: SseFrame[] = [];
  if (res.status !== 200) return { frames, ended: true, ...meta };
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return { frames, ended: true, ...meta };
    buffer += decoder.decode(value, { stream: true });
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const lines = buffer.slice(0, end).split('\n');
      buffer = buffer.slice(end + 2);
      const field = (name: string) => lines.find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
      if (field('event') === undefined) continue; // a keep-alive comment
      frames.push({ id: field('id'), event: field('event')!, data: JSON.parse(field('data') ?? 'null') });
      if (opts.stopAfter?.(frames)) {
        abort.abort();
        await reader.cancel().catch(() => undefined);
        return { frames, ended: false, ...meta };
      }
    }
  }
}

/** Polls `check` until it holds (each look is a read of state, not a wait standing in for an event). */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(50);
  }
}

/**
 * Issue 15 §5 on the real apps: signed callbacks delivered through the callbacks queue to a receiver on
 * loopback, and a batch's progress as Server-Sent Events, resumable with Last-Event-ID.
 */
describe('callbacks and live progress', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const text = (tag: string) => `${tag} SECRET-ITEM-TEXT quarterly figures for the board.`;

  const sys = useSystem(
    async ({ double }) => {
      const path = await ensureGeneratedModel('tiny');
      return {
        // "idle" is configured but served by no worker: items pinned to it stay queued until cancelled.
        LOCAL_MODELS: JSON.stringify({ tiny: { path }, idle: { path } }),
        WORKER_MODELS: 'tiny',
        MAX_OUTPUT_TOKENS: '32',
        OPENAI_BASE_URL: double.url,
        OPENAI_API_KEY: 'test-key',
        OPENAI_MODEL: 'double-model',
        CLOUD_MAX_SENSITIVITY: 'internal',
        CLOUD_LATENCY_MS: '200',
        CLOUD_TOKENS_PER_SEC: '200',
        CALLBACK_ALLOWED_NETWORKS: '127.0.0.0/8',
        CALLBACK_BACKOFF_MS: '200',
        CALLBACK_ATTEMPTS: '5',
        SSE_MAX_STREAMS_PER_KEY: '2',
      };
    },
    { double: { apiKey: 'test-key' } },
  );

  beforeAll(async () => {
    receiver = await startReceiver((eventId) => eventId.endsWith('.batch') || eventId.endsWith('.item.0'));
  });
  afterAll(async () => {
    await receiver.close();
  });

  it.each([
    ['callback.url', { url: 'ftp://example.com/hooks' }],
    ['callback.url', { url: 'https://user:secret@example.com/hooks' }],
    ['callback.url', { url: 'http://10.0.0.7/hooks' }],
    ['callback.url', { url: 'http://169.254.169.254/latest/meta-data' }],
    ['callback.url', { url: 'not a url' }],
    ['callback.events[0]', { url: 'https://example.com/hooks', events: ['batch.started'] }],
  ])('refuses a batch whose %s is wrong, naming it', async (field, callback) => {
    const res = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'public',
      deadline: 'PT1H',
      task: { type: 'summarize' },
      items: [{ id: 'a', text: 'hello' }],
      callback,
    });
    expect(res.status).toBe(400);
    expect(res.json.field).toBe(field);
  });

  it("refuses a schedule whose template's callback URL is internal", async () => {
    const res = await sys.client.request('POST', '/v1/schedules', {
      name: 'with-callback',
      every: 3_600_000,
      batch: {
        kind: 'document-processing',
        sensitivity: 'public',
        deadline: 'PT1H',
        task: { type: 'summarize' },
        items: [{ id: 'a', text: 'hello' }],
        callback: { url: 'http://192.168.1.10/hooks' },
      },
    });
    expect(res.status).toBe(400);
    expect(res.json.field).toBe('batch.callback.url');
  });

  it('streams a batch’s events, resumes after Last-Event-ID, ends with its status; estimatedFinishAt while open', async () => {
    const submitted = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'internal',
      deadline: 'P1D',
      model: 'idle',
      task: { type: 'summarize' },
      items: ['a', 'b', 'c'].map((id) => ({ id, text: text(id) })),
    });
    expect(submitted.status).toBe(202);
    const id = submitted.json.id as string;
    const open = (await sys.client.request('GET', `/v1/batches/${id}`)).json;
    expect(open.status).toBe('queued');
    expect(Date.parse(open.estimatedFinishAt)).toBeGreaterThan(Date.parse(open.createdAt));

    const url = `${sys.url}/v1/batches/${id}/events`;
    // Connected before anything happens; the cancel below produces the events it sees arrive.
    const first = readEvents(url, { stopAfter: (frames) => frames.length === 1 });
    // (Reads start at the stream's beginning, so this only makes the events arrive live rather than replayed.)
    const redis = sys.internals().redis;
    await until('the stream is waiting in XREAD', async () =>
      /cmd=xread/.test(String(await redis.call('CLIENT', 'LIST'))),
    );
    expect((await sys.client.request('DELETE', `/v1/batches/${id}`)).json.cancelled).toBe(3);
    const seen = await first;
    expect(seen.status).toBe(200);
    expect(seen.contentType).toMatch(/^text\/event-stream/);
    expect(seen.ended).toBe(false);
    expect(seen.frames[0]).toMatchObject({ event: 'item', data: { from: 'queued', to: 'cancelled' } });

    const rest = await readEvents(url, { lastEventId: seen.frames[0].id });
    const all = await readEvents(url);
    expect(rest.ended).toBe(true);
    expect(all.frames.map((f) => f.id)).toEqual([seen.frames[0].id, ...rest.frames.map((f) => f.id)]);
    expect(
      all.frames
        .filter((f) => f.event === 'item')
        .map((f) => f.data.index)
        .sort(),
    ).toEqual([0, 1, 2]);
    expect(rest.frames.at(-1)).toMatchObject({
      event: 'status',
      data: { id, status: 'cancelled', counts: { cancelled: 3 }, estimatedFinishAt: null },
    });
    expect(JSON.stringify(all.frames)).not.toContain('SECRET-ITEM-TEXT');
    // Resuming after the last item event of a finished batch gives its status at once; after the status itself,
    // a 204: the stream is over (what stops an EventSource reconnecting to be sent the status again).
    const after = await readEvents(url, { lastEventId: all.frames.at(-2)!.id });
    expect(after.frames.map((f) => f.event)).toEqual(['status']);
    expect(after.frames[0].id).toBe(all.frames.at(-1)!.id);
    const over = await readEvents(url, { lastEventId: all.frames.at(-1)!.id });
    expect([over.status, over.frames]).toEqual([204, []]);
    // Once the stream has expired (a day after the batch finished), the status comes alone, with an id of its own
    // that ends it too: without one an EventSource kept its old id and reconnected every 3 s for ever.
    const streams = await redis.keys(`${sys.env.SWITCHYARD_PREFIX}:*${id}*:events`);
    expect(streams).toHaveLength(1);
    await redis.del(...streams);
    for (const lastEventId of [undefined, all.frames.at(-2)!.id]) {
      const expired = await readEvents(url, { lastEventId });
      expect(expired.frames.map((f) => f.event)).toEqual(['status']);
      expect(expired.frames[0].id).toMatch(/^\d+-18446744073709551615$/);
      const done = await readEvents(url, { lastEventId: expired.frames[0].id });
      expect([done.status, done.frames]).toEqual([204, []]);
    }
    // Not an id, or shaped as one but past what Redis takes: a 400 naming it, not a stream that ends at once.
    for (const lastEventId of ['x', '99999999999999999999-0', '1-18446744073709551616']) {
      const bad = await sys.client.request('GET', `/v1/batches/${id}/events`, undefined, {
        'last-event-id': lastEventId,
      });
      expect([bad.status, bad.json?.field]).toEqual([400, 'Last-Event-ID']);
    }
  });

  it('holds at most SSE_MAX_STREAMS_PER_KEY streams open for a caller: a 429 with Retry-After past it, a slot back on close', async () => {
    const submitted = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'internal',
      deadline: 'P1D',
      model: 'idle',
      task: { type: 'summarize' },
      items: [{ id: 'a', text: text('a') }],
    });
    const id = submitted.json.id as string;
    const url = `${sys.url}/v1/batches/${id}/events`;
    const open = async () => {
      const abort = new AbortController();
      const res = await fetch(url, { signal: abort.signal });
      return { res, close: () => abort.abort() };
    };
    const held = [await open(), await open()];
    expect(held.map((h) => h.res.status)).toEqual([200, 200]);
    const third = await open();
    expect(third.res.status).toBe(429);
    expect(third.res.headers.get('retry-after')).toBe('5');
    expect(((await third.res.json()) as { message: string }).message).toMatch(/SSE_MAX_STREAMS_PER_KEY/);
    held[0].close();
    // The API frees the slot when it sees the connection close.
    let again = await open();
    const until = Date.now() + 10_000;
    while (again.res.status === 429 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      again = await open();
    }
    expect(again.res.status).toBe(200);
    again.close();
    held[1].close();
    await sys.client.request('DELETE', `/v1/batches/${id}`);
  });

  it('delivers each event once, signed, retrying a 500, with ids and counts but never item text', async () => {
    const submitted = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'public',
      deadline: 'PT2S',
      task: { type: 'summarize' },
      items: ['x', 'y', 'z'].map((id) => ({ id, text: text(id) })),
      callback: { url: receiver.url, events: ['batch.finished', 'item.finished'] },
    });
    expect(submitted.status).toBe(202);
    const id = submitted.json.id as string;
    const events = readEvents(`${sys.url}/v1/batches/${id}/events`);
    const expected = [`evt.${id}.batch`, ...[0, 1, 2].map((i) => `evt.${id}.item.${i}`)];
    const delivered = () => receiver.deliveries.filter((d) => d.answered === 200 && expected.includes(d.eventId));
    await until('every event answered 200', () => expected.every((e) => delivered().some((d) => d.eventId === e)));

    // Live progress of a batch that ran: each item queued → running → completed, then its status.
    const { frames } = await events;
    for (const index of [0, 1, 2])
      expect(frames.filter((f) => f.data.index === index && f.event === 'item').map((f) => f.data.to)).toEqual([
        'running',
        'completed',
      ]);
    expect(frames.at(-1)).toMatchObject({ event: 'status', data: { status: 'completed' } });

    const { secret } = (await sys.client.request('GET', '/v1/callbacks/secret')).json;
    expect(secret).toMatch(/^whsec_/);
    const mine = receiver.deliveries.filter((d) => expected.includes(d.eventId));
    for (const d of mine) {
      // What docs/api.md tells a receiver to do, by hand, and the library's own check.
      const header = String(d.headers['switchyard-signature']);
      const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header)!;
      const mac = createHmac('sha256', secret).update(`${t}.${d.body}`).digest();
      expect(timingSafeEqual(mac, Buffer.from(v1, 'hex'))).toBe(true);
      expect(verifySignature({ secret, header, body: d.body })).toBe(true);
      expect(JSON.parse(d.body).id).toBe(d.eventId);
      expect(d.body).not.toMatch(/SECRET-ITEM-TEXT|quarterly/);
    }
    // The 500s were retried; after its 2xx, no event was sent again.
    for (const eventId of expected) {
      const answers = mine.filter((d) => d.eventId === eventId).map((d) => d.answered);
      const failedFirst = eventId.endsWith('.batch') || eventId.endsWith('.item.0');
      expect(answers).toEqual(failedFirst ? [500, 200] : [200]);
    }
    const batchEvent = JSON.parse(mine.find((d) => d.eventId === `evt.${id}.batch` && d.answered === 200)!.body);
    expect(batchEvent).toMatchObject({
      type: 'batch.finished',
      data: {
        batch: { id, status: 'completed', counts: { total: 3, completed: 3 }, cost: { usd: expect.any(Number) } },
      },
    });
    const itemEvent = JSON.parse(mine.find((d) => d.eventId === `evt.${id}.item.1`)!.body);
    expect(itemEvent).toMatchObject({ type: 'item.finished', data: { batchId: id, item: { index: 1, id: 'y' } } });

    // One job per event id: enqueueing an event again (as the sweep would) adds nothing while its job is kept.
    const { config, jobs } = sys.internals();
    await jobs.enqueue(
      CALLBACKS_QUEUE,
      expected.map((jobId) => ({
        name: JobName.DeliverCallback,
        data: { batchId: id, event: 'batch.finished' as const },
        jobId,
      })),
    );
    const queue = new Queue(queueName(CALLBACKS_QUEUE), {
      connection: { url: sys.env.REDIS_URL! },
      prefix: bullPrefix(config.prefix),
    });
    try {
      for (const jobId of expected) expect(await queue.getJobState(jobId)).toBe('completed');
    } finally {
      await queue.close();
    }

    // Each attempt is in the audit trail: the batch event's 500, then its 200.
    const audit = await sys.client.request('GET', `/v1/audit?kind=callback&batchId=${id}`);
    const attempts = audit.json.entries.filter((e: any) => e.eventId === `evt.${id}.batch`);
    expect(attempts.map((e: any) => [e.attempt, e.httpStatus])).toEqual([
      [1, 500],
      [2, 200],
    ]);
    expect(attempts[0]).toMatchObject({
      kind: 'callback',
      index: -1,
      provider: expect.stringMatching(/^callback:127\.0\.0\.1:/),
    });
  });

  it('sends again, when asked, the events whose delivery gave up while the receiver was down; none twice', async () => {
    const down = await startReceiver(() => false);
    down.state.down = true;
    try {
      const submitted = await sys.client.request('POST', '/v1/batches', {
        kind: 'document-processing',
        sensitivity: 'public',
        deadline: 'PT1H',
        task: { type: 'summarize' },
        items: ['p', 'q'].map((id) => ({ id, text: text(id) })),
        callback: { url: down.url, events: ['batch.finished', 'item.finished'] },
      });
      expect(submitted.status).toBe(202);
      const id = submitted.json.id as string;
      const expected = [`evt.${id}.batch`, `evt.${id}.item.0`, `evt.${id}.item.1`];
      const answers = (eventId: string) => down.deliveries.filter((d) => d.eventId === eventId).map((d) => d.answered);
      // CALLBACK_ATTEMPTS (5) answers of 503 each: the deliveries gave up.
      const { config } = sys.internals();
      const queue = new Queue(queueName(CALLBACKS_QUEUE), {
        connection: { url: sys.env.REDIS_URL! },
        prefix: bullPrefix(config.prefix),
      });
      try {
        await until('every delivery gave up', async () => {
          const states = await Promise.all(expected.map((jobId) => queue.getJobState(jobId)));
          return states.every((state) => state === 'failed');
        });
      } finally {
        await queue.close();
      }
      for (const eventId of expected) expect(answers(eventId)).toEqual([503, 503, 503, 503, 503]);

      // The receiver is back: one call sends each again; a second finds nothing left to send.
      down.state.down = false;
      const other = await sys.client.request('POST', `/v1/batches/${id}-not-here/callbacks/redeliver`);
      expect(other.status).toBe(404);
      const redelivered = await sys.client.request('POST', `/v1/batches/${id}/callbacks/redeliver`);
      expect(redelivered.status).toBe(200);
      expect(redelivered.json).toEqual({ redelivered: 3 });
      await until('every event answered 200', () => expected.every((e) => answers(e).includes(200)));
      const again = await sys.client.request('POST', `/v1/batches/${id}/callbacks/redeliver`);
      expect(again.json).toEqual({ redelivered: 0 });
      for (const eventId of expected) expect(answers(eventId)).toEqual([503, 503, 503, 503, 503, 200]);
      const last = down.deliveries.find((d) => d.eventId === `evt.${id}.batch` && d.answered === 200)!;
      expect(last.headers['switchyard-delivery-attempt']).toBe('1');
    } finally {
      await down.close();
    }
  });
});
