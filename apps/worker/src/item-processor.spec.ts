import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { startOpenAIDouble, type OpenAIDouble } from '../../../test/support/openai-double.js';
import type { ItemReroute, ItemTransition, ItemUpdate, LateCharge } from '#libs/batches';
import type { DocumentTask, ItemRoute, ItemStatus, ItemView, WorkItem } from '#libs/domain';
import {
  CloudProvider,
  ProviderError,
  type CompletionRequest,
  type CompletionResult,
  type InferenceProvider,
} from '#libs/providers';
import {
  InMemoryJobQueue,
  JobName,
  LockLost,
  PermanentJobError,
  Preempted,
  RateLimited,
  queueRefFor,
  type JobContext,
} from '#libs/queue';
import { TokenCalibration } from '#libs/routing';
import { RoutingPolicy, type ProviderView, type RouteTarget } from '#libs/routing';
import { CloudGate } from './cloud-gate.js';
import { ItemCalls } from './item-calls.js';
import { ItemEndings } from './item-endings.js';
import { jobResult, type ItemOutcome } from './item-outcome.js';
import { ItemProcessor } from './item-processor.js';
import { ItemRerouter } from './item-rerouter.js';
import type { ItemStore } from './item-store.js';
import type { ProcessorTarget } from './processor-target.js';
import { LOCK_LOST } from './running-item.js';
import { ProviderFeedback } from './provider-feedback.js';

const PRICE = { inputPerMTokUsd: 1000, outputPerMTokUsd: 1000 }; // $0.001 a token: every call costs something
const task: DocumentTask = { type: 'summarize' };
const item: WorkItem = {
  batchId: 'b1',
  index: 0,
  itemId: 'memo',
  kind: 'document-processing',
  sensitivity: 'internal',
  deadline: Date.now() + 3_600_000,
  input: 'A memo about the quarterly plan.',
};

/** The batch store in memory: one batch, its items' records, its budget and cancel flag, behaving as the Lua scripts do. */
class InMemoryItemStore implements ItemStore {
  readonly views = new Map<number, ItemView>();
  reservedUsd = 0;
  readonly releases: number[] = [];
  cancelRequested = false;

  constructor(
    private readonly maxCostUsd = Infinity,
    route: Omit<ItemRoute, 'at' | 'reason'> = { target: 'cloud', provider: 'frontier', model: 'big' },
  ) {
    const first = { ...route, reason: 'intake', at: new Date(0).toISOString() };
    this.views.set(0, {
      id: item.itemId,
      index: 0,
      status: 'queued',
      sensitivity: item.sensitivity,
      pii: null,
      route: first,
      routeHistory: [first],
      usage: null,
      costUsd: null,
      result: null,
      diff: null,
      error: null,
      errorCode: null,
      attempts: 0,
      ruledOut: [],
      failedMoves: 0,
      deferredAt: null,
      usageEstimated: false,
      startedAt: null,
      finishedAt: null,
    });
  }

  get status(): ItemStatus | undefined {
    return this.views.get(0)?.status;
  }

  async transitionOn(
    t: ItemTransition & { provider: string },
  ): Promise<'applied' | 'not-allowed' | 'elsewhere' | 'missing'> {
    const { index, provider, from, to, update = {} } = t;
    const view = this.views.get(index);
    if (!view) return 'missing';
    if (provider && view.route?.provider !== provider) return 'elsewhere';
    if (!from.includes(view.status)) return 'not-allowed';
    view.status = to;
    if (update.result !== undefined) view.result = update.result;
    if (update.error !== undefined) view.error = update.error;
    if (update.errorCode !== undefined) view.errorCode = update.errorCode;
    if (update.costUsd !== undefined) view.costUsd = update.costUsd;
    if (update.inputTokens !== undefined)
      view.usage = { inputTokens: update.inputTokens, outputTokens: update.outputTokens ?? 0 };
    return 'applied';
  }

  async transition(
    b: string,
    index: number,
    from: readonly ItemStatus[],
    to: ItemStatus,
    update: ItemUpdate = {},
  ): Promise<boolean> {
    return (await this.transitionOn({ batchId: b, index, provider: '', from, to, update })) === 'applied';
  }

  async reroute(r: ItemReroute): Promise<number> {
    const { index, fromProvider, route, note, statuses = ['running'], left } = r;
    const view = this.views.get(index)!;
    if (!statuses.includes(view.status) || view.route?.provider !== fromProvider) return 0;
    view.status = 'queued';
    view.route = route;
    view.routeHistory.push(route);
    view.error = note;
    if (left) {
      view.failedMoves += 1;
      if (left.ruleOut) view.ruledOut.push({ target: left.target, provider: left.provider, reason: left.why });
    }
    return view.routeHistory.length;
  }

  async task(): Promise<DocumentTask> {
    return task;
  }

  async item(_b: string, index: number): Promise<ItemView | null> {
    return this.views.get(index) ?? null;
  }

  async reserveBudget(_b: string, usd: number): Promise<boolean> {
    if (this.reservedUsd + usd > this.maxCostUsd) return false;
    this.reservedUsd += usd;
    return true;
  }

  async releaseBudget(_b: string, usd: number): Promise<void> {
    this.releases.push(usd);
    this.reservedUsd -= usd;
  }

  /** As LATE_CHARGE_LUA: once per line; an open item carries it, a finished one adds it. */
  readonly lateCharges: LateCharge[] = [];
  async chargeLate(charge: LateCharge): Promise<'charged' | 'carried' | 'charged-before' | 'missing'> {
    const view = this.views.get(charge.index);
    if (!view) return 'missing';
    if (this.lateCharges.some((c) => c.line === charge.line)) return 'charged-before';
    this.lateCharges.push(charge);
    if (['queued', 'running'].includes(view.status)) return 'carried';
    view.costUsd = (view.costUsd ?? 0) + charge.spent.costUsd;
    return 'charged';
  }

  async isCancelRequested(): Promise<boolean> {
    return this.cancelRequested;
  }

  async markUsageEstimated(_b: string, index: number): Promise<boolean> {
    const view = this.views.get(index);
    if (view) view.usageEstimated = true;
    return view !== undefined;
  }
}

function provider(name: string, complete: (req: CompletionRequest) => Promise<CompletionResult>): InferenceProvider {
  return {
    name,
    contextTokens: 8192,
    countTokens: (t) => Math.ceil(t.length / 4),
    promptTokens: (s, p) => Math.ceil((s.length + p.length) / 4),
    complete,
    close: async () => undefined,
  };
}

const answer = (text: string): CompletionResult => ({
  text,
  usage: { inputTokens: 40, outputTokens: 10 },
  model: 'big',
  finishReason: 'stop',
});

const view = (target: RouteTarget, name: string, clearance: ProviderView['clearance']): ProviderView => ({
  target,
  name,
  model: 'm',
  clearance,
  price: PRICE,
  tokensPerSec: 100,
  concurrency: 1,
  backlogTokens: 0,
  latencyMs: 0,
});

/** The processor wired as worker-composition.ts wires it, around fakes: the store, circuits, quota and pool registry in memory, the queue layer InMemoryJobQueue. */
function processorWith(
  store: InMemoryItemStore,
  opts: { quotaWaitMs?: () => Promise<number>; circuit?: 'pass' | 'refused' | Error } = {},
) {
  const jobs = new InMemoryJobQueue();
  const circuitFailures: string[] = [];
  const circuitTrips: string[] = [];
  const learned: string[] = [];
  const circuits = {
    admit: async () => {
      if (opts.circuit instanceof Error) throw opts.circuit;
      return opts.circuit ?? 'pass';
    },
    recordSuccess: async () => ({ state: 'closed' as const, failures: 0, openedAt: null }),
    recordFailure: async (name: string) => (
      circuitFailures.push(name),
      { state: 'closed' as const, failures: 1, openedAt: null }
    ),
    trip: async (name: string) => (circuitTrips.push(name), { state: 'open' as const, failures: 1, openedAt: 1 }),
  };
  const pools = {
    recordThroughput: async (_t: RouteTarget, _p: string, tps: number) => tps,
    recordTokenRatios: async (kind: string) => void learned.push(kind),
    recordCallTiming: async () => undefined,
  };
  const directory = {
    routingState: async (now = Date.now()) => ({
      now,
      providers: [view('local', 'tiny', 'restricted'), view('cloud', 'frontier', 'internal')],
    }),
    calibration: async () => new TokenCalibration(),
  };
  const rerouter = new ItemRerouter({ store, jobs, directory, policy: new RoutingPolicy(), maxOutputTokens: 256 });
  const feedback = new ProviderFeedback({ pools, circuits, maxOutputTokens: 256 });
  const endings = new ItemEndings({ store, rerouter });
  const gate = new CloudGate({ store, circuits, tokens: { take: opts.quotaWaitMs ?? (async () => 0) } });
  const calls = new ItemCalls({ store, gate, feedback, endings, cancelPollMs: 5 });
  return {
    jobs,
    circuitFailures,
    circuitTrips,
    learned,
    processor: new ItemProcessor({ store, calls, endings, feedback, maxOutputTokens: 256 }),
  };
}

const job = (over: Partial<JobContext<JobName.RunItem>> = {}): JobContext<JobName.RunItem> => ({
  id: 'b1.0',
  timestamp: 0,
  name: JobName.RunItem,
  data: item,
  attempt: 1,
  isLastAttempt: true,
  ...over,
});
const cloudTarget = (
  complete: (req: CompletionRequest) => Promise<CompletionResult>,
  over: Partial<ProcessorTarget> = {},
): ProcessorTarget => ({ target: 'cloud', provider: provider('frontier', complete), price: PRICE, ...over });

/** What BullMQ would see: the job's return value, or what it throws. */
function seenByBullMq(outcome: ItemOutcome): unknown {
  try {
    return jobResult(outcome);
  } catch (err) {
    return err;
  }
}

/** A provider call that never answers: `callSent` resolves once it is made; it fails only when its signal aborts. */
function hangingCall() {
  let sent!: () => void;
  const callSent = new Promise<void>((r) => (sent = r));
  const hanging = (req: CompletionRequest) =>
    new Promise<CompletionResult>((_, reject) => {
      req.signal?.addEventListener('abort', () => reject(new ProviderError('aborted', false, 'aborted')));
      sent();
    });
  return { hanging, callSent };
}

describe('ItemProcessor', () => {
  it('records a completed item with its answer, usage and cost, and the budget it held goes back', async () => {
    const store = new InMemoryItemStore(10);
    const { processor, learned } = processorWith(store);
    const outcome = await processor.run(
      job(),
      cloudTarget(async () => answer('The plan, in short.')),
    );
    expect(outcome).toEqual({ kind: 'completed' });
    expect(seenByBullMq(outcome)).toEqual({ outcome: 'completed' });
    const recorded = store.views.get(0)!;
    expect(recorded.status).toBe('completed');
    expect(recorded.result).toBe('The plan, in short.');
    expect(recorded.usage).toEqual({ inputTokens: 40, outputTokens: 10 });
    expect(recorded.costUsd).toBeCloseTo(0.05, 9);
    expect(recorded.usageEstimated).toBe(false);
    // The worst case was reserved, the actual cost held until the item recorded it, then all given back.
    expect(store.releases.length).toBe(2);
    expect(store.reservedUsd).toBeCloseTo(0, 9);
    // What it really used is learned once, against what routing assumed for a summary.
    expect(learned).toEqual(['summarize']);
  });

  it('does nothing for a job whose item already finished, and re-enqueues one whose item was moved elsewhere', async () => {
    const store = new InMemoryItemStore();
    const { processor, jobs } = processorWith(store);
    store.views.get(0)!.status = 'completed';
    expect(
      await processor.run(
        job(),
        cloudTarget(async () => answer('x')),
      ),
    ).toEqual({ kind: 'skipped' });

    const moved = new InMemoryItemStore(Infinity, { target: 'local', provider: 'tiny', model: 'm' });
    const p2 = processorWith(moved);
    expect(
      await p2.processor.run(
        job(),
        cloudTarget(async () => answer('x')),
      ),
    ).toEqual({ kind: 'skipped' });
    expect(p2.jobs.jobs(queueRefFor('local', 'tiny')).map((j) => j.id)).toEqual(['b1.0.r1']);
    expect(jobs.jobs(queueRefFor('local', 'tiny'))).toEqual([]);
  });

  it('fails the item of a job BullMQ failed for good (its stall limit), unless the item moved or ended meanwhile', async () => {
    const store = new InMemoryItemStore();
    const { processor } = processorWith(store);
    store.views.get(0)!.status = 'running';
    await processor.jobFailed(item, 'frontier', 'job stalled more than allowable limit');
    expect(store.views.get(0)).toMatchObject({
      status: 'failed',
      error: 'its job failed: job stalled more than allowable limit',
      errorCode: 'job_failed',
    });
    // Routed elsewhere since: that route's job runs it; this one's failure says nothing about it.
    const moved = new InMemoryItemStore(Infinity, { target: 'local', provider: 'tiny', model: 'm' });
    await processorWith(moved).processor.jobFailed(item, 'frontier', 'job stalled more than allowable limit');
    expect(moved.status).toBe('queued');
    // Ended already (run() recorded its end before the job failed): left as it is.
    const done = new InMemoryItemStore();
    done.views.get(0)!.status = 'completed';
    await processorWith(done).processor.jobFailed(item, 'frontier', 'boom');
    expect(done.status).toBe('completed');
  });

  it('moves a cloud call the batch budget cannot cover to a local model, reserving nothing', async () => {
    const store = new InMemoryItemStore(0.01);
    const { processor, jobs } = processorWith(store);
    let called = false;
    const outcome = await processor.run(
      job(),
      cloudTarget(async () => ((called = true), answer('x'))),
    );
    expect(outcome).toEqual({ kind: 'rerouted', to: 'tiny' });
    expect(called).toBe(false);
    expect(store.views.get(0)!.route?.provider).toBe('tiny');
    expect(store.views.get(0)!.error).toBe('batch budget reached');
    expect(jobs.jobs(queueRefFor('local', 'tiny')).map((j) => j.id)).toEqual(['b1.0.r2']);
    expect(store.reservedUsd).toBe(0);
  });

  it('gives the reservation back when the quota sends the item back to its queue, and when the quota check itself fails', async () => {
    const store = new InMemoryItemStore(10);
    const { processor } = processorWith(store, { quotaWaitMs: async () => 5000 });
    const outcome = await processor.run(
      job(),
      cloudTarget(async () => answer('x'), { tokensPerMinute: 1000 }),
    );
    expect(outcome).toEqual({ kind: 'rate-limited', waitMs: 5000 });
    expect(seenByBullMq(outcome)).toBeInstanceOf(RateLimited);
    expect(store.status).toBe('queued');
    expect(store.releases.length).toBe(1);
    expect(store.reservedUsd).toBeCloseTo(0, 9);

    const broken = new InMemoryItemStore(10);
    const p2 = processorWith(broken, {
      quotaWaitMs: async () => {
        throw new Error('Redis went away');
      },
    });
    await expect(
      p2.processor.run(
        job(),
        cloudTarget(async () => answer('x'), { tokensPerMinute: 1000 }),
      ),
    ).rejects.toThrow('Redis went away');
    expect(broken.reservedUsd).toBeCloseTo(0, 9);
  });

  it('keeps nothing reserved when the circuit, asked with the budget at once, refuses the call or cannot be read', async () => {
    const store = new InMemoryItemStore(10);
    const { processor } = processorWith(store, { circuit: 'refused' });
    let sent = 0;
    const outcome = await processor.run(
      job(),
      cloudTarget(async () => (sent++, answer('x'))),
    );
    expect(outcome.kind).toBe('rerouted');
    expect(sent).toBe(0);
    expect(store.reservedUsd).toBeCloseTo(0, 9);

    const broken = new InMemoryItemStore(10);
    const p2 = processorWith(broken, { circuit: new Error('Redis went away') });
    await expect(
      p2.processor.run(
        job(),
        cloudTarget(async () => (sent++, answer('x'))),
      ),
    ).rejects.toThrow('Redis went away');
    expect(sent).toBe(0);
    expect(broken.reservedUsd).toBeCloseTo(0, 9);
  });

  it('stops a running call when its batch is cancelled: the item ends cancelled and nothing stays reserved', async () => {
    const store = new InMemoryItemStore(10);
    const { processor } = processorWith(store);
    const { hanging, callSent } = hangingCall();
    const running = processor.run(job(), cloudTarget(hanging));
    await callSent;
    store.cancelRequested = true;
    const outcome = await running;
    expect(outcome).toEqual({ kind: 'cancelled' });
    expect(seenByBullMq(outcome)).toEqual({ outcome: 'cancelled' });
    expect(store.views.get(0)!.status).toBe('cancelled');
    expect(store.views.get(0)!.error).toBe('cancelled while running');
    expect(store.reservedUsd).toBeCloseTo(0, 9);
  });

  it('gives a local run up when its pool preempts it: the item is queued again on its model and its job goes back', async () => {
    const store = new InMemoryItemStore(10, { target: 'local', provider: 'tiny', model: 'm' });
    const { processor } = processorWith(store);
    const { hanging, callSent } = hangingCall();
    const stop = new AbortController();
    const local: ProcessorTarget = { target: 'local', provider: provider('tiny', hanging), price: PRICE };
    const running = processor.run(job(), local, stop.signal);
    await callSent;
    stop.abort(new Error('preempted by an item due sooner'));
    const outcome = await running;
    expect(outcome).toEqual({ kind: 'preempted' });
    // BullMQ puts the job back with its priority, no attempt spent (JobQueue: moveToWait).
    expect(seenByBullMq(outcome)).toBeInstanceOf(Preempted);
    const view = store.views.get(0)!;
    expect(view.status).toBe('queued');
    expect(view.route).toMatchObject({ target: 'local', provider: 'tiny' });
    expect(view.error ?? null).toBeNull();
    expect(store.reservedUsd).toBeCloseTo(0, 9);
  });

  it('stops a call whose job its worker lost, and records nothing: another worker may be running the item', async () => {
    const store = new InMemoryItemStore(10);
    const { processor } = processorWith(store);
    const { hanging, callSent } = hangingCall();
    let sent: CompletionRequest | undefined;
    const stop = new AbortController();
    const running = processor.run(
      job(),
      cloudTarget((req) => ((sent = req), hanging(req))),
      stop.signal,
    );
    await callSent;
    stop.abort(new Error(LOCK_LOST));
    const outcome = await running;
    expect(outcome).toEqual({ kind: 'abandoned' });
    expect(sent?.signal?.aborted).toBe(true);
    // Left running, as the other worker's start wrote it: queued again (as a preemption does) it could not complete.
    const view = store.views.get(0)!;
    expect(view.status).toBe('running');
    expect(view.error ?? null).toBeNull();
    expect(store.reservedUsd).toBeCloseTo(0, 9);
    // BullMQ is not asked to move the job (JobQueue: LockLost, a WaitingError to BullMQ).
    expect(seenByBullMq(outcome)).toBeInstanceOf(LockLost);
    // No call of this run had answered: nothing to charge.
    expect(store.lateCharges).toEqual([]);
  });

  it('charges the calls an abandoned run had finished to its item, once: the provider billed them', async () => {
    // A document four times a small context: two part calls answer, the third is running when the lock is lost.
    const long: WorkItem = { ...item, input: 'The committee went through the plan line by line. '.repeat(150) };
    const route = { target: 'local' as const, provider: 'tiny', model: 'm' };
    const store = new InMemoryItemStore(10, route);
    const { processor } = processorWith(store);
    const { hanging, callSent } = hangingCall();
    let sent = 0;
    const stop = new AbortController();
    const running = processor.run(
      job({ data: long }),
      {
        target: 'local',
        provider: {
          ...provider('tiny', async (req) => (++sent <= 2 ? answer('part') : hanging(req))),
          contextTokens: 1000,
        },
        price: PRICE,
      },
      stop.signal,
    );
    await callSent;
    stop.abort(new Error(LOCK_LOST));
    expect(await running).toEqual({ kind: 'abandoned' });
    // Its status is the other worker's: still running, carrying what this run's two answered calls used.
    expect(store.views.get(0)!.status).toBe('running');
    expect(store.lateCharges).toEqual([
      {
        batchId: long.batchId,
        index: long.index,
        line: expect.stringMatching(/^lost:/),
        spent: { inputTokens: 80, outputTokens: 20, costUsd: expect.any(Number) },
      },
    ]);
    expect(store.lateCharges[0].spent.costUsd).toBeCloseTo(100 * 0.001, 12);
  });

  it('keeps the answers of a preempted run with its job: the rerun sends only the calls that had not answered', async () => {
    // A document four times a small context: summarized in parts, then the parts' summaries reduced, one call each.
    const long: WorkItem = { ...item, input: 'The committee went through the plan line by line. '.repeat(150) };
    const small = (complete: (req: CompletionRequest) => Promise<CompletionResult>): ProcessorTarget => ({
      target: 'local',
      provider: { ...provider('tiny', complete), contextTokens: 1000 },
      price: PRICE,
    });
    const route = { target: 'local' as const, provider: 'tiny', model: 'm' };
    // Uninterrupted, for comparison: every prompt it sends.
    const whole: string[] = [];
    const plain = processorWith(new InMemoryItemStore(10, route)).processor;
    expect(
      await plain.run(
        job({ data: long }),
        small(async (req) => (whole.push(req.prompt), answer('part'))),
      ),
    ).toEqual({
      kind: 'completed',
    });
    expect(whole.length).toBeGreaterThan(3);

    const store = new InMemoryItemStore(10, route);
    const { processor } = processorWith(store);
    const { hanging, callSent } = hangingCall();
    const first: string[] = [];
    const stop = new AbortController();
    // Two calls answer, the third is running when the pool preempts the item.
    const running = processor.run(
      job({ data: long }),
      small(async (req) => (first.push(req.prompt), first.length <= 2 ? answer('part') : hanging(req))),
      stop.signal,
    );
    await callSent;
    stop.abort(new Error('preempted by an item due sooner'));
    const outcome = await running;
    expect(outcome.kind).toBe('preempted');
    const thrown = seenByBullMq(outcome) as Preempted;
    expect(thrown).toBeInstanceOf(Preempted);
    const resumed = thrown.data as WorkItem;
    expect(resumed.answered).toHaveLength(2);
    expect({ ...resumed, answered: undefined }).toEqual({ ...long, answered: undefined });

    // The rerun, with the job's new data: the two answered prompts are not sent again, the rest are, once each.
    const second: string[] = [];
    const rerun = await processor.run(
      job({ data: resumed }),
      small(async (req) => (second.push(req.prompt), answer('part'))),
    );
    expect(rerun).toEqual({ kind: 'completed' });
    expect(second).toEqual(whole.slice(2));
    // Charged for what it sent this time; the first run's two calls were carried as spent when it was preempted.
    expect(store.views.get(0)!.costUsd).toBeCloseTo(second.length * 50 * 0.001, 9);
  });

  it('reroutes an item whose cloud provider keeps failing to a local model, counting the failure on its circuit', async () => {
    const store = new InMemoryItemStore(10);
    const { processor, jobs, circuitFailures } = processorWith(store);
    const outcome = await processor.run(
      job(),
      cloudTarget(async () => {
        throw new ProviderError('503 from upstream', true, 'server_error');
      }),
    );
    expect(outcome).toEqual({ kind: 'rerouted', to: 'tiny' });
    expect(circuitFailures).toEqual(['frontier']);
    expect(store.views.get(0)!.status).toBe('queued');
    expect(store.views.get(0)!.error).toBe('frontier failed: 503 from upstream');
    expect(jobs.jobs(queueRefFor('local', 'tiny')).map((j) => j.id)).toEqual(['b1.0.r2']);
    expect(store.reservedUsd).toBeCloseTo(0, 9);
  });

  it("moves an item off a flex tier out of capacity at once, opening that tier's circuit, not the provider's", async () => {
    const store = new InMemoryItemStore(10, { target: 'cloud', provider: 'frontier.flex', model: 'big' });
    const { processor, jobs, circuitFailures, circuitTrips } = processorWith(store);
    const outcome = await processor.run(
      // Not the last attempt: a tier out of capacity is not retried on it.
      job({ attempt: 1, isLastAttempt: false }),
      {
        target: 'cloud',
        price: PRICE,
        provider: provider('frontier.flex', async () => {
          throw new ProviderError('HTTP 429 (resource_unavailable)', false, 'tier_unavailable');
        }),
      },
    );
    expect(outcome).toEqual({ kind: 'rerouted', to: 'tiny' });
    expect(circuitTrips).toEqual(['frontier.flex']);
    expect(circuitFailures).toEqual([]);
    expect(store.views.get(0)!.error).toBe('frontier.flex failed: HTTP 429 (resource_unavailable)');
    expect(jobs.jobs(queueRefFor('local', 'tiny'))).toHaveLength(1);
  });

  it('queues the item again for a retry before its last attempt, and the job throws the provider error', async () => {
    const store = new InMemoryItemStore(10);
    const { processor } = processorWith(store);
    const error = new ProviderError('timed out', true, 'timeout');
    const outcome = await processor.run(
      job({ attempt: 1, isLastAttempt: false }),
      cloudTarget(async () => {
        throw error;
      }),
    );
    expect(outcome).toEqual({ kind: 'retrying', error });
    expect(seenByBullMq(outcome)).toBe(error);
    expect(store.status).toBe('queued');
    expect(store.views.get(0)!.error).toBe('attempt 1 failed: timed out');
  });

  it('fails an item for good when no cleared provider is left, saying where it was ruled out', async () => {
    const store = new InMemoryItemStore(10);
    store.views
      .get(0)!
      .ruledOut.push({ target: 'local', provider: 'tiny', reason: 'answers rejected by the empty-answer check' });
    const { processor } = processorWith(store);
    const outcome = await processor.run(
      job(),
      cloudTarget(async () => {
        throw new ProviderError('prompt too long', false, 'context_exceeded');
      }),
    );
    expect(outcome.kind).toBe('failed');
    expect(seenByBullMq(outcome)).toBeInstanceOf(PermanentJobError);
    expect(store.status).toBe('failed');
    expect(store.views.get(0)!.error).toContain(
      'prompt too long; ruled out: tiny: answers rejected by the empty-answer check',
    );
    // The provider's code goes with it: an OpenAI error file answers this line 400, not 500.
    expect(store.views.get(0)!.errorCode).toBe('context_exceeded');
  });

  it('escalates a local model whose answers fail every check to a cleared cloud provider', async () => {
    const store = new InMemoryItemStore(10, { target: 'local', provider: 'tiny', model: 'm' });
    const { processor, jobs } = processorWith(store);
    const outcome = await processor.run(job(), {
      target: 'local',
      provider: provider('tiny', async () => answer('   ')),
      price: { inputPerMTokUsd: 0, outputPerMTokUsd: 0 },
    });
    expect(outcome).toEqual({ kind: 'rerouted', to: 'frontier' });
    expect(store.views.get(0)!.ruledOut.map((r) => r.provider)).toEqual(['tiny']);
    expect(jobs.jobs(queueRefFor('cloud', 'frontier')).map((j) => j.id)).toEqual(['b1.0.r2']);
  });

  it("fails an item whose cloud answers fail every check, coded as the model's failure, not the request's", async () => {
    const store = new InMemoryItemStore(10);
    const { processor } = processorWith(store);
    const outcome = await processor.run(
      job(),
      cloudTarget(async () => answer('   ')),
    );
    expect(outcome.kind).toBe('failed');
    expect(store.status).toBe('failed');
    expect(store.views.get(0)!.errorCode).toBe('output_check_failed');
    // The checker's words (which may quote an answer) are the item's error; the job's reason, kept in Redis and
    // shown in Bull Board, only names the check.
    expect((seenByBullMq(outcome) as Error).message).toBe('answers rejected by the empty-answer check');
    expect(store.views.get(0)!.error).not.toContain('answers rejected by');
  });
});

describe('ItemProcessor with a CloudProvider on the OpenAI-compatible double', () => {
  let double: OpenAIDouble;
  const clouds: CloudProvider[] = [];
  const cloud = () => {
    const created = new CloudProvider({
      name: 'frontier',
      baseURL: double.url,
      apiKey: 'sk-test',
      model: 'big',
      clearance: 'internal',
      timeoutMs: 2_000,
      maxRetries: 0,
      contextTokens: 8192,
    });
    clouds.push(created);
    return { target: 'cloud' as const, provider: created, price: PRICE };
  };
  beforeAll(async () => {
    double = await startOpenAIDouble();
  });
  afterEach(async () => {
    await Promise.all(clouds.splice(0).map((c) => c.close()));
    double.reset();
  });
  afterAll(() => double.close());

  it.each(['partial', 'sparse', 'omit', 'zero'] as const)(
    'records an answer whose server reported usage %s with a finite cost, its tokens estimated, not NaN or 0',
    async (usage) => {
      double.setHabits({ usage });
      const store = new InMemoryItemStore(10);
      const { processor, learned } = processorWith(store);
      const outcome = await processor.run(job(), cloud());
      expect(outcome).toEqual({ kind: 'completed' });
      const recorded = store.views.get(0)!;
      // Tokens at their bound teach routing nothing about what items of the kind use.
      expect(learned).toEqual([]);
      // The item's record says its usage holds an estimate.
      expect(recorded.usageEstimated).toBe(true);
      expect(recorded.usage!.inputTokens).toBeGreaterThan(0);
      expect(recorded.usage!.outputTokens).toBeGreaterThan(0);
      expect(Number.isFinite(recorded.costUsd)).toBe(true);
      expect(recorded.costUsd).toBeGreaterThan(0);
    },
  );

  it('completes an item whose server words its ending "eos" (Together, TGI), at the first call', async () => {
    double.setHabits({ finishReason: 'eos' });
    const store = new InMemoryItemStore(10);
    const { processor } = processorWith(store);
    const outcome = await processor.run(job(), cloud());
    expect(outcome).toEqual({ kind: 'completed' });
    expect(store.views.get(0)!.result).toMatch(/^Deterministic answer/);
    expect(double.completionRequests()).toHaveLength(1);
  });

  it('completes a summary whose server answers content in parts (Mistral), with their text, in one call', async () => {
    double.setHabits({ content: 'parts' });
    const store = new InMemoryItemStore(10);
    const { processor } = processorWith(store);
    const outcome = await processor.run(job(), cloud());
    expect(outcome).toEqual({ kind: 'completed' });
    expect(store.views.get(0)!.result).toMatch(/^Deterministic answer/);
    expect(double.completionRequests()).toHaveLength(1);
  });

  it('records a summary without the reasoning a model served without a reasoning parser wrote before it', async () => {
    double.setResponder(() => '<think>\nA memo; summarize it in a line.\n</think>\n\nThe quarterly plan, in short.');
    const store = new InMemoryItemStore(10);
    const { processor } = processorWith(store);
    expect(await processor.run(job(), cloud())).toEqual({ kind: 'completed' });
    expect(store.views.get(0)!.result).toBe('The quarterly plan, in short.');
  });

  it('opens the circuit of a provider that asks to wait longer than a call waits (a daily quota spent)', async () => {
    double.failNext(1, { status: 429, retryAfterSec: 600 });
    const store = new InMemoryItemStore(10);
    const { processor, circuitTrips } = processorWith(store);
    const outcome = await processor.run(job({ attempt: 1, isLastAttempt: false }), cloud());
    expect(outcome.kind).toBe('retrying');
    // Its route closed: the item's next attempt, and every other item, goes elsewhere instead of asking again.
    expect(circuitTrips).toEqual(['frontier']);
    expect(double.completionRequests()).toHaveLength(1);
  });

  it('leaves the circuit alone for a rate limit a call waits out', async () => {
    double.failNext(1, { status: 429, retryAfterSec: 30 });
    const store = new InMemoryItemStore(10);
    const { processor, circuitTrips } = processorWith(store);
    const outcome = await processor.run(job({ attempt: 1, isLastAttempt: false }), cloud());
    expect(outcome.kind).toBe('retrying');
    expect(circuitTrips).toEqual([]);
  });

  it.each([
    ['refuses its key (401)', (d: OpenAIDouble) => d.acceptKeys(['another-key'])],
    [
      'says the account has no credits left (402, in an HTTP 200 body as OpenRouter says it)',
      (d: OpenAIDouble) => d.setHabits({ errorInBody: { code: 402, message: 'Insufficient credits' } }),
    ],
  ])('opens the circuit of a provider that %s, and moves the item without ruling the provider out', async (_, set) => {
    set(double);
    const store = new InMemoryItemStore(10);
    const { processor, circuitTrips } = processorWith(store);
    const outcome = await processor.run(job(), cloud());
    expect(outcome).toEqual({ kind: 'rerouted', to: 'tiny' });
    // Every item sent there would fail the same way: the route closes until its probe is answered.
    expect(circuitTrips).toEqual(['frontier']);
    // Not the item's fault: it may go back there once the provider takes requests again.
    expect(store.views.get(0)!.ruledOut).toEqual([]);
  });

  it('moves an item whose cloud model declines it (refusal) at once, ruling that provider out for it, not asking again', async () => {
    double.setHabits({ refuse: true });
    const store = new InMemoryItemStore(10);
    const { processor } = processorWith(store);
    const outcome = await processor.run(job(), cloud());
    expect(outcome).toEqual({ kind: 'rerouted', to: 'tiny' });
    expect(double.completionRequests()).toHaveLength(1);
    expect(store.views.get(0)!.ruledOut).toEqual([expect.objectContaining({ provider: 'frontier' })]);
    // Its words are the model's, about the item: never in the record.
    expect(JSON.stringify(store.views.get(0))).not.toMatch(/can't help/);
  });
});
