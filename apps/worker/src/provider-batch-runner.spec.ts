import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { loadConfig } from '#libs/config';
import type { DocumentTask, WorkItem } from '#libs/domain';
import type { LineSettlement, OpenBatchUpdate, OpenProviderBatch, PendingLine } from '#libs/pools';
import { ProviderError, type BatchLineResult, type ProviderBatchStatus } from '#libs/providers';
import { JobName, type JobContext } from '#libs/queue';
import { ProviderBatchRunner, type ProviderBatchRunnerDeps } from './provider-batch-runner.js';

const HOUR = 3_600_000;
const route = loadConfig({
  OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
  OPENAI_API_KEY: 'k',
  CLOUD_TIERS: JSON.stringify({ batch: { collectMs: 0, pollMs: 10 } }),
}).cloudProviders.find((r) => r.tier === 'batch')!;
const task: DocumentTask = { type: 'summarize' };

/** The ledger in memory, as Redis keeps it: records written once, state and settlements beside them. */
class MemoryLedger {
  readonly lines = new Map<string, PendingLine>();
  readonly open_ = new Map<string, OpenProviderBatch>();
  /** customId -> flushId of the open batch holding it. */
  readonly lineBatches = new Map<string, string>();
  readonly closed: Array<number | null> = [];
  /** Bytes each write to an open batch carried (what Redis would be sent), in order. */
  readonly written: number[] = [];
  addPending = async (_r: string, l: PendingLine) => {
    if (this.lines.has(l.customId)) return false;
    this.lines.set(l.customId, l);
    return true;
  };
  pending = async () => [...this.lines.values()];
  holds = async (_r: string, id: string) => this.lines.has(id) || this.lineBatches.has(id);
  open = async (_r: string, b: OpenProviderBatch) => {
    if (!b.lines.every((l) => this.lines.has(l.customId))) return false;
    this.open_.set(b.flushId, structuredClone(b));
    for (const l of b.lines) {
      this.lines.delete(l.customId);
      this.lineBatches.set(l.customId, b.flushId);
    }
    return true;
  };
  holder: string | null = null;
  claimRound = async (_r: string, owner: string) => {
    if (this.holder !== null && this.holder !== owner) return false;
    this.holder = owner;
    return true;
  };
  releaseRound = async (_r: string, owner: string) => {
    if (this.holder === owner) this.holder = null;
  };
  settle = async (_r: string, flushId: string, customId: string, how: LineSettlement = 'settled') => {
    this.written.push(JSON.stringify([flushId, customId, how]).length);
    const b = this.open_.get(flushId);
    if (!b || b.settled.includes(customId)) return false;
    b.settled.push(customId);
    if (how === 'abandoned') (b.abandoned ??= []).push(customId);
    return true;
  };
  update = async (_r: string, flushId: string, change: OpenBatchUpdate) => {
    this.written.push(JSON.stringify([flushId, change]).length);
    const b = this.open_.get(flushId);
    if (b) Object.assign(b, change);
  };
  openBatches = async () => [...this.open_.values()].map((b) => structuredClone(b));
  close = async (_r: string, b: Pick<OpenProviderBatch, 'flushId' | 'lines'>, took: number | null) => {
    this.open_.delete(b.flushId);
    for (const l of b.lines) this.lineBatches.delete(l.customId);
    this.closed.push(took);
  };
}

function harness(now: number, budgetUsd = Infinity) {
  const budget = { left: budgetUsd, reserved: 0 };
  const ledger = new MemoryLedger();
  const statuses = new Map<string, ProviderBatchStatus>();
  const calls: string[] = [];
  let results = new Map<string, BatchLineResult>();
  /** What the runner gave the API to read its lines' results by: each line's body, by custom_id. */
  const seen: { sent?: ReadonlyMap<string, unknown> } = {};
  /** Set: the provider refuses the next submission with it (once). */
  const refuse: { next?: ProviderError } = {};
  const api = {
    lineBody: () => ({ model: 'm' }),
    submit: async (lines: readonly { customId: string }[]) => {
      calls.push(`submit ${lines.map((l) => l.customId).join(',')}`);
      const refusal = refuse.next;
      refuse.next = undefined;
      if (refusal) throw refusal;
      const s = {
        id: 'pb1',
        status: 'in_progress',
        outputFileId: null,
        errorFileId: null,
        createdAt: now,
        completedAt: null,
      };
      statuses.set('pb1', s);
      return s;
    },
    find: async () => null,
    status: async (id: string) => statuses.get(id)!,
    cancel: async (id: string) => {
      calls.push(`cancel ${id}`);
      // One already cancelling stays so until the provider is done with it.
      const was = statuses.get(id)!;
      const s = { ...was, status: was.status === 'cancelling' ? 'cancelling' : 'cancelled' };
      statuses.set(id, s);
      return s;
    },
    results: async (_status: unknown, sent?: ReadonlyMap<string, unknown>) => {
      seen.sent = sent;
      return results;
    },
  };
  const charges: Array<{ index: number; line: string; costUsd: number }> = [];
  const charged = new Set<string>();
  const records = new Map<
    number,
    { status: string; provider: string; costUsd?: number; result?: string; usageEstimated?: boolean }
  >();
  const store = {
    transitionOn: async (t: { index: number; provider: string; from: readonly string[]; to: string; update?: any }) => {
      const r = records.get(t.index) ?? { status: 'queued', provider: route.name };
      if (r.provider !== t.provider) return 'elsewhere' as const;
      if (!t.from.includes(r.status)) return 'not-allowed' as const;
      records.set(t.index, { ...r, status: t.to, ...t.update });
      return 'applied' as const;
    },
    task: async () => task,
    item: async (_b: string, index: number) => {
      const r = records.get(index);
      return r ? ({ status: r.status, route: { provider: r.provider } } as never) : null;
    },
    isCancelRequested: async () => false,
    // As LATE_CHARGE_LUA: once per line, its reservation given back in the same step; a line unanswered charges 0.
    chargeLate: async (c: { index: number; line: string; spent: { costUsd: number }; releaseUsd?: number }) => {
      if (charged.has(c.line)) return 'charged-before' as const;
      charged.add(c.line);
      budget.reserved -= c.releaseUsd ?? 0;
      if (c.spent.costUsd > 0) charges.push({ index: c.index, line: c.line, costUsd: c.spent.costUsd });
      return 'carried' as const;
    },
    reserveBudget: async (_b: string, usd: number) => {
      if (usd > budget.left - budget.reserved) return false;
      budget.reserved += usd;
      return true;
    },
    releaseBudget: async (_b: string, usd: number) => void (budget.reserved -= usd),
    markUsageEstimated: async (_b: string, index: number) => {
      const r = records.get(index);
      if (r) records.set(index, { ...r, usageEstimated: true });
      return r !== undefined;
    },
  };
  const moves: Array<{ index: number; why: string; localOnly?: boolean }> = [];
  /** Where the next move dies with its worker: before it is written, or once written, before its job is added. */
  const dies: { at?: 'before the move' | 'before its job' } = {};
  /** Items whose current route had its job made sure of (ItemEndings.elsewhere). */
  const followed: number[] = [];
  /** Set: no route is left to any item (the rerouter finds nowhere to move it). */
  const nowhere = { on: false };
  const rerouter = {
    // As the store's guarded reroute: only an item still running on the batch route moves.
    reroute: async (item: WorkItem, _from: unknown, req: { why: string; localOnly?: boolean }) => {
      if (nowhere.on) return null;
      const at = dies.at;
      dies.at = undefined;
      if (at === 'before the move') throw new Error('worker killed');
      const r = records.get(item.index);
      if (r && (r.status !== 'running' || r.provider !== route.name)) return null;
      moves.push({ index: item.index, why: req.why, localOnly: req.localOnly });
      records.set(item.index, { status: 'queued', provider: 'frontier' });
      if (at === 'before its job') throw new Error('worker killed');
      followed.push(item.index);
      return { provider: 'frontier' } as never;
    },
  };
  const deps: ProviderBatchRunnerDeps = {
    route,
    api,
    ledger,
    store,
    rerouter,
    elsewhere: async (w: WorkItem) => {
      if (records.get(w.index)?.status === 'queued') followed.push(w.index);
      return { kind: 'skipped' as const };
    },
    counter: {
      countTokens: (t) => Math.ceil(t.length / 4),
      promptTokens: (p) => Math.ceil((p.system.length + p.prompt.length) / 4),
    },
    maxOutputTokens: 64,
  };
  const runner = new ProviderBatchRunner(deps);
  /** Another worker's runner on the same ledger, provider and items. */
  const another = () => new ProviderBatchRunner(deps);
  const setDone = (r: Map<string, BatchLineResult>) => {
    results = r;
    statuses.set('pb1', { ...statuses.get('pb1')!, status: 'completed', outputFileId: 'f', completedAt: now + HOUR });
  };
  return {
    runner,
    another,
    ledger,
    calls,
    records,
    moves,
    setDone,
    budget,
    charges,
    statuses,
    dies,
    followed,
    refuse,
    nowhere,
    seen,
  };
}

const item = (index: number, deadline: number): WorkItem => ({
  batchId: 'b',
  index,
  itemId: `i${index}`,
  kind: 'document-processing',
  sensitivity: 'internal',
  deadline,
  input: `memo ${index}`,
});
const job = (w: WorkItem): JobContext<JobName.RunItem> => ({
  id: `b.${w.index}`,
  timestamp: 0,
  name: JobName.RunItem,
  data: w,
  attempt: 1,
  isLastAttempt: true,
});
const answer = (text: string): BatchLineResult => ({
  kind: 'answered',
  completion: { text, usage: { inputTokens: 1000, outputTokens: 100 }, model: 'm', finishReason: 'stop' },
});

describe('ProviderBatchRunner', () => {
  it('an answer that fails its check, on an item with nowhere left to go, fails the item with what the provider billed for it', async () => {
    const now = Date.now();
    const h = harness(now);
    await h.runner.run(job(item(0, now + 48 * HOUR)));
    const t = Date.now();
    await h.runner.tick(t);
    h.nowhere.on = true;
    h.setDone(new Map([['b.0', answer('')]]));
    await h.runner.tick(t + 1000);
    expect(h.records.get(0)).toMatchObject({
      status: 'failed',
      errorCode: 'output_check_failed',
      inputTokens: 1000,
      outputTokens: 100,
      costUsd: expect.any(Number),
    });
    expect(h.records.get(0)!.costUsd).toBeGreaterThan(0);
  });

  it('records each line’s answer once, at the batch price, and learns how long the provider batch took', async () => {
    const now = Date.now();
    const h = harness(now);
    for (const i of [0, 1]) expect(await h.runner.run(job(item(i, now + 48 * HOUR)))).toEqual({ kind: 'handed-off' });
    const held = h.budget.reserved;
    expect(held).toBeGreaterThan(0);
    // A job run again (after a crash) keeps one line, and one reservation.
    await h.runner.run(job(item(0, now + 48 * HOUR)));
    expect(h.budget.reserved).toBeCloseTo(held, 12);
    // Rounds at given times (the lines were queued at the clock's now, so no earlier than that).
    const t = Date.now();
    await h.runner.tick(t);
    expect(h.calls).toEqual(['submit b.0,b.1']);
    // Its job run again once the line is in the provider batch: no second line, no second reservation.
    await h.runner.run(job(item(1, now + 48 * HOUR)));
    expect(await h.ledger.pending()).toEqual([]);
    expect(h.budget.reserved).toBeCloseTo(held, 12);
    h.setDone(
      new Map([
        ['b.0', answer('zero')],
        ['b.1', answer('one')],
      ]),
    );
    await h.runner.tick(t + 1000);
    const cost = (1000 * route.price.inputPerMTokUsd + 100 * route.price.outputPerMTokUsd) / 1e6;
    expect(h.records.get(0)).toMatchObject({ status: 'completed', result: 'zero' });
    expect(h.records.get(0)!.costUsd).toBeCloseTo(cost, 9);
    expect(route.price.outputPerMTokUsd).toBeCloseTo(0.3, 9);
    expect(h.ledger.closed).toEqual([HOUR]);
    // The lines' worst cases went back once their answers were recorded.
    expect(h.budget.reserved).toBeCloseTo(0, 12);
    // Nothing left open: a later round settles nothing twice.
    await h.runner.tick(t + 2000);
    expect(h.ledger.open_.size).toBe(0);
  });

  it("reads a line's result by the body it sent, and marks an item whose line's usage the provider did not report", async () => {
    const now = Date.now();
    const h = harness(now);
    await h.runner.run(job(item(0, now + 48 * HOUR)));
    const t = Date.now();
    await h.runner.tick(t);
    const estimated = answer('zero');
    if (estimated.kind === 'answered') estimated.completion.usageEstimated = true;
    h.setDone(new Map([['b.0', estimated]]));
    await h.runner.tick(t + 1000);
    expect([...(h.seen.sent ?? new Map()).entries()]).toEqual([['b.0', { model: 'm' }]]);
    expect(h.records.get(0)).toMatchObject({ status: 'completed', result: 'zero', usageEstimated: true });
  });

  it('moves a line whose deadline comes near to a synchronous route, and cancels a provider batch nobody waits for', async () => {
    const now = Date.now();
    const h = harness(now);
    await h.runner.run(job(item(0, now + 2 * HOUR)));
    await h.runner.tick(Date.now());
    expect(h.calls).toEqual(['submit b.0']);
    // An hour and 57 minutes later the deadline is 3 minutes off, within the 5 minute lead.
    await h.runner.tick(now + 2 * HOUR - 3 * 60_000);
    expect(h.moves).toEqual([
      { index: 0, why: "escalated: frontier.batch's provider batch is not done near the deadline" },
    ]);
    expect(h.calls).toEqual(['submit b.0', 'cancel pb1']);
    expect(h.ledger.open_.size).toBe(0);
    // Its answer, should it still come, finds the item elsewhere: never recorded from the batch.
    expect(h.records.get(0)).toMatchObject({ status: 'queued', provider: 'frontier' });
    expect(h.budget.reserved).toBeCloseTo(0, 12);
  });

  it('sends an item whose batch budget cannot cover its line to a local model, holding nothing', async () => {
    const h = harness(Date.now(), 1e-9);
    expect(await h.runner.run(job(item(0, Date.now() + 48 * HOUR)))).toEqual({ kind: 'rerouted', to: 'frontier' });
    expect(h.moves).toEqual([{ index: 0, why: 'batch budget reached', localOnly: true }]);
    expect(await h.ledger.pending()).toEqual([]);
    expect(h.budget.reserved).toBe(0);
  });

  it('runs a route’s round on one worker at a time: lines go to the provider once and are settled once', async () => {
    const now = Date.now();
    const h = harness(now);
    const workers = [h.runner, h.another(), h.another()];
    for (const i of [0, 1, 2]) await h.runner.run(job(item(i, now + 48 * HOUR)));
    const held = h.budget.reserved;
    // Every worker's timer fires at once.
    await Promise.all(workers.map((w) => w.tick(Date.now())));
    expect(h.calls).toEqual(['submit b.0,b.1,b.2']);
    expect(h.ledger.holder).toBeNull();
    h.setDone(new Map([0, 1, 2].map((i) => [`b.${i}`, answer(`answer ${i}`)])));
    await Promise.all(workers.map((w) => w.tick(Date.now() + 1000)));
    await Promise.all(workers.map((w) => w.tick(Date.now() + 2000)));
    expect([0, 1, 2].map((i) => h.records.get(i)?.status)).toEqual(['completed', 'completed', 'completed']);
    expect(h.ledger.closed).toEqual([HOUR]);
    // Each line's reservation went back exactly once.
    expect(held).toBeGreaterThan(0);
    expect(h.budget.reserved).toBeCloseTo(0, 12);
  });

  it('opens no provider batch from lines another worker already took (a lease that ran out mid-round)', async () => {
    const now = Date.now();
    const h = harness(now);
    for (const i of [0, 1]) await h.runner.run(job(item(i, now + 48 * HOUR)));
    const stale = await h.ledger.pending();
    // The other worker flushed them while this one still held its read of the pending lines.
    await h.another().tick(Date.now());
    expect(h.calls).toEqual(['submit b.0,b.1']);
    expect(
      await h.ledger.open('r', { flushId: 'late', providerBatchId: null, lines: stale, createdAt: now, settled: [] }),
    ).toBe(false);
    expect([...h.ledger.open_.keys()]).toHaveLength(1);
  });

  it('charges an escalated item what the provider billed for its line, and records none of that line’s answer', async () => {
    const now = Date.now();
    const h = harness(now);
    await h.runner.run(job(item(0, now + 2 * HOUR)));
    await h.runner.run(job(item(1, now + 48 * HOUR)));
    await h.runner.tick(Date.now());
    expect(h.calls).toEqual(['submit b.0,b.1']);
    // Item 0 is escalated near its deadline; the provider batch goes on for item 1.
    await h.runner.tick(now + 2 * HOUR - 3 * 60_000);
    expect(h.moves.map((m) => m.index)).toEqual([0]);
    // The provider finished both lines: item 0's line was billed though its item had left.
    h.setDone(
      new Map([
        ['b.0', answer('late')],
        ['b.1', answer('one')],
      ]),
    );
    await h.runner.tick(now + 2 * HOUR);
    const cost = (1000 * route.price.inputPerMTokUsd + 100 * route.price.outputPerMTokUsd) / 1e6;
    expect(h.charges).toEqual([{ index: 0, line: 'b.0', costUsd: cost }]);
    expect(h.records.get(0)).toMatchObject({ status: 'queued', provider: 'frontier' });
    expect(h.records.get(0)?.result).toBeUndefined();
    expect(h.records.get(1)).toMatchObject({ status: 'completed', result: 'one' });
    expect(h.ledger.open_.size).toBe(0);
  });

  it.each(['before the move', 'before its job'] as const)(
    'leaves no item of a line moved off running nowhere, though its worker dies %s',
    async (at) => {
      const now = Date.now();
      const h = harness(now);
      await h.runner.run(job(item(0, now + 2 * HOUR)));
      await h.runner.tick(Date.now());
      const escalateAt = now + 2 * HOUR - 3 * 60_000;
      h.dies.at = at;
      await expect(h.runner.tick(escalateAt)).rejects.toThrow('worker killed');
      // The next worker's round (the dead one's lease has run out).
      h.ledger.holder = null;
      await h.another().tick(escalateAt + 1000);
      expect(h.records.get(0)).toMatchObject({ status: 'queued', provider: 'frontier' });
      expect(h.moves.map((m) => m.index)).toEqual([0]);
      // Its new route has its job: added by the move, or, when the move died before, by the round after.
      expect(h.followed).toEqual([0]);
      expect(h.budget.reserved).toBeCloseTo(0, 12);
      expect(h.calls).toEqual(['submit b.0', 'cancel pb1']);
      expect(h.ledger.open_.size).toBe(0);
    },
  );

  it('sends no line again whose item moved off before a worker died in a refused submission', async () => {
    const now = Date.now();
    const h = harness(now);
    for (const i of [0, 1]) await h.runner.run(job(item(i, now + 48 * HOUR)));
    // Refused for good: each item moves off; the worker dies once item 0's move is written.
    h.refuse.next = new ProviderError('refused', false, 'bad_request');
    h.dies.at = 'before its job';
    await expect(h.runner.tick(Date.now())).rejects.toThrow('worker killed');
    h.ledger.holder = null;
    // The record is found unsubmitted a while later and submitted again: item 1's line only.
    await h.another().tick(Date.now() + 60_000);
    expect(h.calls).toEqual(['submit b.0,b.1', 'submit b.1']);
    expect(h.followed).toEqual([0]);
    expect(h.records.get(1)).toMatchObject({ status: 'running', provider: route.name });
  });

  it('holds an escalated line’s reservation until the provider can bill it no more: its item’s new route cannot spend it too', async () => {
    const now = Date.now();
    const h = harness(now);
    await h.runner.run(job(item(0, now + 2 * HOUR)));
    await h.runner.run(job(item(1, now + 48 * HOUR)));
    await h.runner.tick(Date.now());
    const perLine = h.budget.reserved / 2;
    await h.runner.tick(now + 2 * HOUR - 3 * 60_000);
    expect(h.moves.map((m) => m.index)).toEqual([0]);
    // Item 0 left for a synchronous route, but the provider may still finish (and bill) its line: both stay held.
    expect(h.budget.reserved).toBeCloseTo(2 * perLine, 12);
    h.setDone(new Map([['b.1', answer('one')]]));
    await h.runner.tick(now + 2 * HOUR);
    // Ended without item 0's line: nothing billed for it, and every reservation back, once.
    expect(h.charges).toEqual([]);
    expect(h.budget.reserved).toBeCloseTo(0, 12);
    await h.runner.tick(now + 2 * HOUR + 60_000);
    expect(h.budget.reserved).toBeCloseTo(0, 12);
  });

  it('waits for a cancelled provider batch to end before closing it, to charge what it finished for items that left', async () => {
    const now = Date.now();
    const h = harness(now);
    await h.runner.run(job(item(0, now + 2 * HOUR)));
    await h.runner.tick(Date.now());
    // A provider whose cancel takes a while (OpenAI: cancelling, then cancelled with the lines done before).
    h.statuses.set('pb1', { ...h.statuses.get('pb1')!, status: 'cancelling' });
    await h.runner.tick(now + 2 * HOUR - 3 * 60_000);
    expect(h.moves.map((m) => m.index)).toEqual([0]);
    expect([...h.ledger.open_.values()]).toMatchObject([{ cancelling: true, abandoned: ['b.0'] }]);
    h.setDone(new Map([['b.0', answer('done before the cancel')]]));
    h.statuses.set('pb1', { ...h.statuses.get('pb1')!, status: 'cancelled' });
    await h.runner.tick(now + 2 * HOUR - 60_000);
    await h.runner.tick(now + 2 * HOUR - 30_000);
    expect(h.charges.map((c) => c.line)).toEqual(['b.0']);
    expect(h.ledger.open_.size).toBe(0);
  });
});

describe('ProviderBatchRunner on a large provider batch', () => {
  // 2,010 'item completed' lines would fill the test log.
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(true));

  /** The bytes each settled line wrote, for a provider batch of `size` lines all answered. */
  async function writesPerLine(size: number): Promise<number[]> {
    const now = Date.now();
    const h = harness(now);
    for (let i = 0; i < size; i++) await h.runner.run(job(item(i, now + 48 * HOUR)));
    await h.runner.tick(Date.now());
    expect(h.calls).toHaveLength(1);
    h.ledger.written.length = 0;
    h.setDone(new Map(Array.from({ length: size }, (_, i) => [`b.${i}`, answer(`answer ${i}`)])));
    await h.runner.tick(Date.now() + 1000);
    expect(h.ledger.closed).toEqual([HOUR]);
    return h.ledger.written;
  }

  it('writes the same few bytes per settled line whatever the provider batch’s size (not its whole record)', async () => {
    const small = await writesPerLine(10);
    const large = await writesPerLine(2000);
    expect(small).toHaveLength(10);
    expect(large).toHaveLength(2000);
    // Only the custom_id's digits differ: b.9 against b.1999.
    expect(Math.max(...large)).toBeLessThanOrEqual(Math.max(...small) + 3);
  });

  it('moves an item and gives its budget back once, though a worker with a stale view settles its line again', async () => {
    const now = Date.now();
    const h = harness(now);
    for (const i of [0, 1]) await h.runner.run(job(item(i, now + (i === 0 ? 2 : 48) * HOUR)));
    await h.runner.tick(Date.now());
    // A worker whose lease ran out read the open batch before item 0 was escalated…
    const stale = await h.ledger.openBatches();
    const escalateAt = now + 2 * HOUR - 3 * 60_000;
    await h.runner.tick(escalateAt);
    expect(h.moves.map((m) => m.index)).toEqual([0]);
    const held = h.budget.reserved;
    // …and goes on with that view: its line is settled already, so nothing moves or goes back twice.
    h.ledger.openBatches = async () => structuredClone(stale);
    await h.another().tick(escalateAt);
    expect(h.moves.map((m) => m.index)).toEqual([0]);
    expect(h.budget.reserved).toBeCloseTo(held, 12);
  });
});
