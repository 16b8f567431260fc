import { describe, expect, it } from '@jest/globals';
import { promptFor } from '#libs/jobs';
import type { ProviderDirectory } from '#libs/pools';
import { InMemoryJobQueue, queueRefFor } from '#libs/queue';
import type { RepositoryGate } from '#libs/repositories';
import { RoutingPolicy, type ProviderView } from '#libs/routing';
import { TokenCalibration } from '#libs/routing';
import { BatchIntake, EXACT_COUNTS, type IntakeStore } from './batch-intake.js';
import { PromptTokens } from './prompt-tokens.js';
import type { CreateOptions, NewBatch, NewItem } from './batch-store.js';
import type { ItemRoute, WorkItem } from '#libs/domain';
import type { AuditEvent, AuditRecorder } from '#libs/audit';

const local: ProviderView = {
  target: 'local',
  name: 'tiny',
  model: 'tiny-q4',
  clearance: 'restricted',
  price: { inputPerMTokUsd: 0, outputPerMTokUsd: 0 },
  tokensPerSec: 0.01,
  concurrency: 1,
  backlogTokens: 0,
  latencyMs: 0,
};
const cloud: ProviderView = {
  target: 'cloud',
  name: 'frontier',
  model: 'big',
  clearance: 'internal',
  price: { inputPerMTokUsd: 1, outputPerMTokUsd: 2 },
  tokensPerSec: 500,
  concurrency: 8,
  backlogTokens: 0,
  latencyMs: 0,
};

/** The batch records in memory, as BatchStore keeps them in Redis: created once per Idempotency-Key, marked once enqueued. */
function inMemoryStore() {
  const batches = new Map<string, { batch: NewBatch; items: NewItem[]; enqueued: boolean; bodyHash?: string }>();
  const keys = new Map<string, string>();
  const store = {
    batches,
    async findByIdempotencyKey(key: string) {
      const id = keys.get(key);
      return id ? { id, bodyHash: batches.get(id)!.bodyHash ?? null } : null;
    },
    async create(batch: NewBatch, items: NewItem[], { idempotencyKey, bodyHash, whenWritten }: CreateOptions = {}) {
      const found = idempotencyKey ? keys.get(idempotencyKey) : undefined;
      if (found) return { id: found, created: false, bodyHash: batches.get(found)!.bodyHash ?? null };
      const id = `batch-${batches.size + 1}`;
      batches.set(id, { batch, items, enqueued: false, bodyHash });
      if (idempotencyKey) keys.set(idempotencyKey, id);
      await whenWritten?.(id);
      return { id, created: true };
    },
    async completeCreation() {},
    async get(id: string) {
      const b = batches.get(id);
      return b ? { id, status: 'queued', kind: b.batch.kind, counts: { total: b.items.length } } : null;
    },
    async isEnqueued(id: string) {
      return batches.get(id)?.enqueued ?? false;
    },
    async markEnqueued(id: string) {
      batches.get(id)!.enqueued = true;
    },
    async exists(id: string) {
      return batches.has(id);
    },
    async cancel() {
      return [];
    },
    async *eachItem(id: string) {
      const items = batches.get(id)?.items ?? [];
      for (const [index, item] of items.entries())
        yield { index, route: item.route, routeHistory: [item.route as ItemRoute], status: 'queued' };
    },
  };
  return store;
}

function intakeWith(
  store: ReturnType<typeof inMemoryStore>,
  jobs: InMemoryJobQueue,
  {
    maxItems = 10,
    tokens,
    audit,
    directory = {
      routingState: async (now = Date.now()) => ({ now, providers: [local, cloud] }),
      calibration: async () => new TokenCalibration(),
    } as unknown as ProviderDirectory,
  }: { maxItems?: number; tokens?: PromptTokens; audit?: AuditRecorder; directory?: ProviderDirectory } = {},
): BatchIntake {
  const repositories: RepositoryGate = { authorize: async () => '/nowhere' } as unknown as RepositoryGate;
  return new BatchIntake(
    store as unknown as IntakeStore,
    jobs,
    directory,
    new RoutingPolicy(),
    { maxItems, maxOutputTokens: 128, localModels: ['tiny'] },
    repositories,
    audit,
    tokens,
  );
}

/** Two items: one the slow local model cannot finish in a minute, one holding a card number (confidential: the cloud is not cleared for it). */
const body = {
  kind: 'document-processing',
  sensitivity: 'internal',
  deadline: 'PT1M',
  task: { type: 'summarize' },
  items: [
    { id: 'plain', text: 'The quarterly plan, in a few paragraphs.' },
    { id: 'card', text: 'Refund to card 4111 1111 1111 1111 please.' },
  ],
};

/** A tokenizer that reads 3 characters a token, and counts how often it was asked. */
function countingTokens() {
  const tokens = new PromptTokens();
  const asked = { times: 0 };
  tokens.use((system, prompt) => {
    asked.times += 1;
    return Math.ceil((system.length + prompt.length) / 3);
  });
  return { tokens, asked };
}

describe('BatchIntake', () => {
  it("counts every item's prompt with the tokenizer in a batch of up to EXACT_COUNTS items", async () => {
    const { tokens, asked } = countingTokens();
    const jobs = new InMemoryJobQueue();
    const items = Array.from({ length: 50 }, (_, i) => ({ id: `d${i}`, text: `Document ${i} `.repeat(1 + (i % 7)) }));
    await intakeWith(inMemoryStore(), jobs, { maxItems: 100, tokens }).submit({ ...body, items });
    expect(asked.times).toBe(50);
    const data = jobs.jobs(queueRefFor('cloud', 'frontier')).map((j) => j.data as WorkItem);
    expect(data.every((d) => d.inputTokens! > 0)).toBe(true);
  });

  it('counts EXACT_COUNTS items of a larger batch, spread over it, and scales the estimate of the rest by what they measured; PII still raises each item', async () => {
    const { tokens, asked } = countingTokens();
    const store = inMemoryStore();
    const jobs = new InMemoryJobQueue();
    const n = 2 * EXACT_COUNTS + 500;
    // Lengths that vary along the batch, and one card number on an item that is not counted.
    const items = Array.from({ length: n }, (_, i) => ({
      id: `d${i}`,
      text: i === 1 ? 'Refund to card 4111 1111 1111 1111 please.' : `Paragraph ${i}. `.repeat(1 + (i % 13)),
    }));
    await intakeWith(store, jobs, { maxItems: n, tokens }).submit({ ...body, deadline: 'P1D', items });
    expect(asked.times).toBeLessThanOrEqual(EXACT_COUNTS);
    expect(asked.times).toBeGreaterThan(EXACT_COUNTS / 2);
    const data = new Map<number, WorkItem>();
    for (const ref of [queueRefFor('cloud', 'frontier'), queueRefFor('local', 'tiny')])
      for (const j of jobs.jobs(ref)) data.set((j.data as WorkItem).index, j.data as WorkItem);
    expect(data.size).toBe(n);
    expect(data.get(1)!.sensitivity).toBe('confidential');
    // Each item near what the tokenizer would say (3 characters a token here, ~4 for the estimate), none off by
    // more than the rounding of one estimate; the counted ones exact.
    let exact = 0;
    for (const item of data.values()) {
      const prompt = promptFor(item, { type: 'summarize' }, 128);
      const truth = Math.ceil((prompt.system.length + prompt.prompt.length) / 3);
      if (item.inputTokens === truth) exact += 1;
      expect(Math.abs(item.inputTokens! - truth) / truth).toBeLessThan(0.05);
    }
    expect(exact).toBeGreaterThanOrEqual(asked.times);
  });

  it('enqueues each item on the queue its route names, local ones by deadline priority, then marks the batch enqueued', async () => {
    const store = inMemoryStore();
    const jobs = new InMemoryJobQueue();
    const accepted = await intakeWith(store, jobs).submit(body, undefined, Date.parse('2026-11-23T00:00:00Z'));
    expect(accepted).toEqual({ id: 'batch-1', status: 'queued', total: 2, created: true });

    const { items, enqueued } = store.batches.get('batch-1')!;
    expect(items.map((i) => `${i.itemId} → ${i.route.target} ${i.route.provider}`)).toEqual([
      'plain → cloud frontier',
      'card → local tiny',
    ]);
    expect(items[1].sensitivity).toBe('confidential');
    const onCloud = jobs.jobs(queueRefFor('cloud', 'frontier'));
    const onLocal = jobs.jobs(queueRefFor('local', 'tiny'));
    expect(onCloud.map((j) => [j.id, j.priority])).toEqual([['batch-1.0', undefined]]);
    expect(onLocal.map((j) => j.id)).toEqual(['batch-1.1']);
    expect(onLocal[0].priority).toBeGreaterThan(0);
    expect(onLocal[0].data).toMatchObject({
      batchId: 'batch-1',
      index: 1,
      itemId: 'card',
      sensitivity: 'confidential',
    });
    expect(enqueued).toBe(true);
  });

  it('a card number written as a JSON number (a schema enum or const, a seed) raises its item as one in text does', async () => {
    const CARD = 4111111111111111;
    const ask = { messages: [{ role: 'user', content: 'Pick one.' }], max_tokens: 4 };
    const format = (schema: object) => ({ type: 'json_schema', json_schema: { name: 'pick', schema } });
    const store = inMemoryStore();
    await intakeWith(store, new InMemoryJobQueue()).submit({
      kind: 'chat',
      sensitivity: 'public',
      deadline: 'PT1M',
      items: [
        { id: 'plain', body: ask },
        {
          id: 'enum',
          body: { ...ask, response_format: format({ type: 'object', properties: { c: { enum: [CARD] } } }) },
        },
        { id: 'const', body: { ...ask, response_format: format({ const: CARD }) } },
        { id: 'seed', body: { ...ask, seed: CARD } },
      ],
    });
    await intakeWith(store, new InMemoryJobQueue()).submit({
      ...body,
      sensitivity: 'public',
      task: {
        type: 'extract',
        schema: { type: 'object', properties: { card: { type: 'integer', examples: [CARD] } } },
      },
      items: [{ id: 'doc', text: 'The invoice.' }],
    });
    const routes = [...store.batches.values()].flatMap((b) => b.items.map((i) => `${i.itemId}: ${i.sensitivity}`));
    expect(routes).toEqual([
      'plain: public',
      'enum: confidential',
      'const: confidential',
      'seed: confidential',
      'doc: confidential',
    ]);
  });

  it("puts the submitting request's id on every job of the batch, whatever queue it lands on, and none without one", async () => {
    const jobs = new InMemoryJobQueue();
    const intake = intakeWith(inMemoryStore(), jobs);
    await intake.submit(body, undefined, Date.now(), { requestId: 'req-7f3a' });
    await intake.submit(body, undefined, Date.now());
    const all = [...jobs.jobs(queueRefFor('cloud', 'frontier')), ...jobs.jobs(queueRefFor('local', 'tiny'))];
    expect(all.map((j) => [j.id, (j.data as WorkItem).requestId]).sort()).toEqual([
      ['batch-1.0', 'req-7f3a'],
      ['batch-1.1', 'req-7f3a'],
      ['batch-2.0', undefined],
      ['batch-2.1', undefined],
    ]);
  });

  it('a repeated submission with the same Idempotency-Key answers the first batch and adds no job twice; one that died before enqueuing is enqueued then', async () => {
    const store = inMemoryStore();
    const jobs = new InMemoryJobQueue();
    const intake = intakeWith(store, jobs);
    const first = await intake.submit(body, 'key-1');
    const again = await intake.submit(body, 'key-1');
    expect(again).toEqual({ ...first, created: false });
    expect(jobs.jobs(queueRefFor('cloud', 'frontier')).length + jobs.jobs(queueRefFor('local', 'tiny')).length).toBe(2);

    // The process died between storing the batch and enqueuing its jobs: the retry enqueues them, same ids.
    const crashed = inMemoryStore();
    const empty = new InMemoryJobQueue();
    const failing = new InMemoryJobQueue();
    failing.enqueue = async () => {
      throw new Error('Redis went away');
    };
    await expect(intakeWith(crashed, failing).submit(body, 'key-2')).rejects.toThrow('Redis went away');
    expect(crashed.batches.get('batch-1')!.enqueued).toBe(false);
    expect(await intakeWith(crashed, empty).submit(body, 'key-2')).toMatchObject({ id: 'batch-1', created: false });
    expect(empty.jobs(queueRefFor('cloud', 'frontier')).map((j) => j.id)).toEqual(['batch-1.0']);
    expect(empty.jobs(queueRefFor('local', 'tiny')).map((j) => j.id)).toEqual(['batch-1.1']);
    expect(crashed.batches.get('batch-1')!.enqueued).toBe(true);
  });

  it("a retry answered from its Idempotency-Key does not wait on routing's reads, and their failure does not end the process", async () => {
    const store = inMemoryStore();
    const jobs = new InMemoryJobQueue();
    const first = await intakeWith(store, jobs).submit(body, 'key-1');
    const unreachable = {
      routingState: () => Promise.reject(new Error('Redis went away')),
      calibration: () => Promise.reject(new Error('Redis went away')),
    } as unknown as ProviderDirectory;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      expect(await intakeWith(store, jobs, { directory: unreachable }).submit(body, 'key-1')).toEqual({
        ...first,
        created: false,
      });
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
    await expect(intakeWith(store, jobs, { directory: unreachable }).submit(body, 'key-2')).rejects.toThrow(
      'Redis went away',
    );
  });

  it('audits every route before any job exists; an audit that fails leaves no job, and the retry records and enqueues', async () => {
    const store = inMemoryStore();
    const jobs = new InMemoryJobQueue();
    const recorded: Array<{ events: AuditEvent[]; jobsThen: number }> = [];
    let failNext = true;
    const audit: AuditRecorder = {
      async record(events) {
        if (failNext) {
          failNext = false;
          throw new Error('audit stream unreachable');
        }
        const jobsThen = ['cloud', 'local'].flatMap((t) =>
          jobs.jobs(queueRefFor(t as 'cloud' | 'local', t === 'cloud' ? 'frontier' : 'tiny')),
        ).length;
        recorded.push({ events, jobsThen });
      },
    };
    const intake = intakeWith(store, jobs, { audit });
    await expect(intake.submit(body, 'key-1')).rejects.toThrow('audit stream unreachable');
    expect(jobs.jobs(queueRefFor('cloud', 'frontier'))).toEqual([]);
    expect(jobs.jobs(queueRefFor('local', 'tiny'))).toEqual([]);

    expect(await intake.submit(body, 'key-1')).toMatchObject({ id: 'batch-1', created: false });
    expect(recorded).toHaveLength(1);
    expect(recorded[0].jobsThen).toBe(0);
    expect(recorded[0].events.map((e) => e.kind === 'route' && `${e.index} ${e.target} ${e.provider}`)).toEqual([
      '0 cloud frontier',
      '1 local tiny',
    ]);
    expect(jobs.jobs(queueRefFor('cloud', 'frontier')).map((j) => j.id)).toEqual(['batch-1.0']);
  });
});
