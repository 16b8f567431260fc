import { describe, expect, it } from '@jest/globals';
import type { DocumentSplit } from './context-calls.js';
import {
  MIN_PARK_MS,
  PARK_MS,
  RoutingPolicy,
  workTokensOn,
  type ProviderView,
  type QueuedWork,
  type RoutableItem,
  type RoutingState,
} from './routing-policy.js';

const NOW = 1_700_000_000_000;

const local: ProviderView = {
  target: 'local',
  name: 'local',
  model: 'llama',
  clearance: 'restricted',
  price: { inputPerMTokUsd: 0.01, outputPerMTokUsd: 0.03 },
  tokensPerSec: 20,
  concurrency: 1,
  backlogTokens: 0,
  latencyMs: 0,
};
const cloud: ProviderView = {
  target: 'cloud',
  name: 'frontier',
  model: 'gpt',
  clearance: 'internal',
  price: { inputPerMTokUsd: 0.15, outputPerMTokUsd: 0.6 },
  tokensPerSec: 100,
  concurrency: 16,
  backlogTokens: 0,
  latencyMs: 500,
};
const state = (...providers: ProviderView[]): RoutingState => ({ now: NOW, providers });
const item = (over: Partial<RoutableItem> = {}): RoutableItem => ({
  sensitivity: 'public',
  deadline: NOW + 86_400_000,
  inputTokens: 200,
  expectedOutputTokens: 100,
  ...over,
});

describe('RoutingPolicy', () => {
  const policy = new RoutingPolicy();

  it('runs an item locally when local meets a lax deadline (cheapest)', () => {
    const d = policy.decide(item(), state(local, cloud));
    expect(d.target).toBe('local');
    expect(d.atRisk).toBe(false);
    expect(d.reason).toMatch(/cheapest/);
  });

  it('sends a public item to the cloud when local cannot meet its deadline', () => {
    const d = policy.decide(item({ deadline: NOW + 3000 }), state(local, cloud));
    expect(d.target).toBe('cloud');
    expect(d.provider).toBe('frontier');
    expect(d.atRisk).toBe(false);
  });

  it('never sends a restricted item to the cloud, even when local will miss the deadline', () => {
    const d = policy.decide(item({ sensitivity: 'restricted', deadline: NOW + 1000 }), state(local, cloud));
    expect(d.target).toBe('local');
    expect(d.atRisk).toBe(true);
    expect(d.reason).toMatch(/at-risk/);
    expect(d.reason).toMatch(/not cleared for restricted/);
  });

  it('respects the clearance boundary exactly: internal goes out, confidential stays', () => {
    const tight = NOW + 3000;
    expect(policy.decide(item({ sensitivity: 'internal', deadline: tight }), state(local, cloud)).target).toBe('cloud');
    expect(policy.decide(item({ sensitivity: 'confidential', deadline: tight }), state(local, cloud)).target).toBe(
      'local',
    );
  });

  it('picks the cheaper cloud provider when both meet the deadline', () => {
    const cheap = { ...cloud, name: 'sovereign', price: { inputPerMTokUsd: 0.05, outputPerMTokUsd: 0.2 } };
    const d = policy.decide(item({ deadline: NOW + 3000 }), state(local, cloud, cheap));
    expect(d.provider).toBe('sovereign');
  });

  it('marks the fastest cleared cloud at-risk when queues make every provider late', () => {
    // Idle, the cloud would finish in 1.7 s; 3,200 tokens queued ahead (2 s) push it past the 3 s deadline.
    const busyCloud = { ...cloud, backlogTokens: 3200 };
    const d = policy.decide(item({ deadline: NOW + 3000 }), state(local, busyCloud));
    expect(d.target).toBe('cloud');
    expect(d.atRisk).toBe(true);
  });

  it('counts work queued ahead: a long local backlog pushes a tight item to the cloud', () => {
    const busy = { ...local, backlogTokens: 20 * 60 }; // one minute of work ahead
    expect(policy.decide(item({ deadline: NOW + 30_000 }), state(local, cloud)).target).toBe('local');
    expect(policy.decide(item({ deadline: NOW + 30_000 }), state(busy, cloud)).target).toBe('cloud');
  });

  it('plans a batch so later items see the local queue earlier ones built', () => {
    const items = Array.from({ length: 10 }, () => item({ deadline: NOW + 20_000, expectedOutputTokens: 100 }));
    const plan = policy.plan(items, state(local, cloud));
    const locals = plan.filter((d) => d.target === 'local').length;
    expect(locals).toBeGreaterThan(0);
    expect(locals).toBeLessThan(10);
    expect(plan.slice(0, locals).every((d) => d.target === 'local')).toBe(true);
  });

  it('ranks a batch by what local capacity saves, so it can be enqueued in the order the plan assumed', () => {
    const sovereign = {
      ...cloud,
      name: 'sovereign',
      clearance: 'confidential' as const,
      price: { inputPerMTokUsd: 0.6, outputPerMTokUsd: 2.4 },
    };
    // Same deadline and size; the pool fits only some. The confidential one's only cloud is 4× dearer.
    const batch = [
      item({ deadline: NOW + 20_000 }),
      item({ deadline: NOW + 20_000 }),
      item({ sensitivity: 'confidential', deadline: NOW + 20_000 }),
    ];
    const plan = policy.plan(batch, state(local, cloud, sovereign));
    expect(plan.map((d) => d.rank).sort()).toEqual([0, 1, 2]);
    expect(plan[2].rank).toBe(0);
    expect(plan[2].target).toBe('local');
    // Its estimate assumed it runs first: enqueued after the other two, it would run third and be late.
    expect(plan[2].estimatedFinishAt).toBeLessThanOrEqual(NOW + 6_000);
  });

  it('never routes an item to a provider found unable to do what it needs, while others may still get it', () => {
    const unable = { ...cloud, lacks: ['structured-output'] as const };
    const structured = policy.decide(
      item({ deadline: NOW + 3000, needs: ['structured-output'] }),
      state(local, unable),
    );
    expect(structured.target).toBe('local');
    expect(structured.reason).toMatch(/frontier found unable to serve structured-output/);
    // A summary needs no structured answer: the same provider takes it.
    expect(policy.decide(item({ deadline: NOW + 3000 }), state(local, unable)).provider).toBe('frontier');
    expect(
      policy.escalation(item({ deadline: NOW + 3000, needs: ['structured-output'] }), state(unable), 0),
    ).toBeNull();
  });

  it('reports the estimated cost with the chosen provider prices', () => {
    const d = policy.decide(item({ inputTokens: 1_000_000, expectedOutputTokens: 1_000_000 }), state(local));
    expect(d.estimatedCostUsd).toBeCloseTo(0.04, 9);
  });
});

describe('RoutingPolicy with circuit state and EDF queues', () => {
  const policy = new RoutingPolicy();
  const sovereign: ProviderView = {
    ...cloud,
    name: 'sovereign',
    clearance: 'confidential',
    latencyMs: 1500,
    price: { inputPerMTokUsd: 0.6, outputPerMTokUsd: 2.4 },
  };
  const pool = (queue: QueuedWork[]): ProviderView => ({
    ...local,
    concurrency: 2,
    queue,
    backlogTokens: queue.reduce((s, q) => s + q.workTokens, 0),
  });
  const HOUR = 3_600_000;

  // Local too slow for these deadlines: the choice is between the clouds.
  const slowLocal = { ...local, tokensPerSec: 0.01 };

  it('parks an item for a cheaper cleared provider that is down when the pricier one still meets its deadline after the wait', () => {
    const d = policy.decide(
      item({ deadline: NOW + 120_000 }),
      state(slowLocal, { ...cloud, available: false }, sovereign),
    );
    expect(d).toMatchObject({ target: 'cloud', provider: 'frontier', parkMs: PARK_MS, atRisk: false });
    expect(d.reason).toMatch(
      /^parked 15 s for frontier \(cheaper, cleared, down now\); sovereign still meets the deadline/,
    );
    expect(d.estimatedFinishAt).toBeGreaterThanOrEqual(NOW + PARK_MS);
  });

  it('does not park when waiting could cost the deadline, nor for a provider the item is not cleared for', () => {
    const tight = policy.decide(
      item({ deadline: NOW + 10_000 }),
      state(slowLocal, { ...cloud, available: false }, sovereign),
    );
    expect(tight).toMatchObject({ provider: 'sovereign' });
    expect(tight.parkMs).toBeUndefined();
    const confidential = policy.decide(
      item({ sensitivity: 'confidential', deadline: NOW + 120_000 }),
      state(slowLocal, { ...cloud, available: false }, sovereign),
    );
    expect(confidential).toMatchObject({ provider: 'sovereign' });
    expect(confidential.parkMs).toBeUndefined();
  });

  it('parks for a provider left out of a reroute (recovering), never routing to it directly', () => {
    const rerouted = { now: NOW, providers: [slowLocal, sovereign], recovering: [cloud] };
    expect(policy.decide(item({ deadline: NOW + 120_000 }), rerouted)).toMatchObject({
      provider: 'frontier',
      parkMs: PARK_MS,
    });
    const noTime = policy.decide(item({ deadline: NOW + 10_000 }), rerouted);
    expect(noTime.provider).toBe('sovereign');
    expect(noTime.parkMs).toBeUndefined();
  });

  it('routes around a cloud provider whose circuit is open', () => {
    const d = policy.decide(item({ deadline: NOW + 3000 }), state(local, { ...cloud, available: false }, sovereign));
    expect(d.provider).toBe('sovereign');
    expect(d.reason).toMatch(/1 cleared provider\(s\) unavailable/);
  });

  it('keeps a restricted item on its local model even while that model has no live pool (it waits, never leaks)', () => {
    const d = policy.decide(
      item({ sensitivity: 'restricted' }),
      state({ ...local, available: false }, cloud, sovereign),
    );
    expect(d.target).toBe('local');
    expect(d.reason).toMatch(/no cleared provider is available/);
  });

  it('counts only running work and work due no later as ahead on an EDF queue', () => {
    const dayAhead: QueuedWork[] = Array.from({ length: 20 }, () => ({ deadline: NOW + 24 * HOUR, workTokens: 1200 }));
    const tight = item({ deadline: NOW + 20_000 });
    expect(policy.decide(tight, state({ ...pool(dayAhead), queue: undefined }, cloud)).target).toBe('cloud'); // FIFO view: 24,000 tokens ahead
    expect(policy.decide(tight, state(pool(dayAhead), cloud)).target).toBe('local'); // EDF: none of it is ahead
    const running = pool([
      { deadline: NOW + 24 * HOUR, workTokens: 1200, running: true },
      { deadline: NOW + 24 * HOUR, workTokens: 1200, running: true },
    ]);
    expect(policy.decide(tight, state(running, cloud)).target).toBe('cloud'); // both sequences busy for 60 s
  });

  it('does not push queued on-time work late when it cannot tell what that work is', () => {
    // Two sequences, each due-soon item needs 15 s of its 20 s: one more item ahead of them makes them late.
    const dueSoon: QueuedWork[] = [
      { deadline: NOW + 20_000, workTokens: 300 },
      { deadline: NOW + 20_000, workTokens: 300 },
    ];
    const d = policy.decide(
      item({ sensitivity: 'confidential', deadline: NOW + 10_000 }),
      state(pool(dueSoon), cloud, sovereign),
    );
    expect(d.provider).toBe('sovereign');
  });

  it('pushes queued work late when moving it to the cloud costs less than local saves the new item', () => {
    const cheapToMove = {
      sensitivity: 'public' as const,
      deadline: NOW + 60_000,
      inputTokens: 200,
      expectedOutputTokens: 100,
    };
    const dueSoon: QueuedWork[] = [
      { deadline: NOW + 60_000, workTokens: 1000, item: { ...cheapToMove, expectedOutputTokens: 980 } },
      { deadline: NOW + 60_000, workTokens: 1000, item: { ...cheapToMove, expectedOutputTokens: 980 } },
    ];
    // A confidential document: 8,000 prompt tokens on the sovereign endpoint cost far more than moving both.
    const big = item({
      sensitivity: 'confidential',
      deadline: NOW + 50_000,
      inputTokens: 8000,
      expectedOutputTokens: 50,
    });
    const d = policy.decide(big, state(pool(dueSoon), cloud, sovereign));
    expect(d.target).toBe('local');
    expect(d.reason).toMatch(/pushes 1 queued item\(s\) past their deadline/); // the one sharing its sequence
    expect(d.estimatedCostUsd).toBeCloseTo((8000 * 0.01 + 50 * 0.03) / 1e6, 9);
  });

  it('charges for moving at most its own work: a short item that pushes a long one late pays for its share', () => {
    // Two sequences in step, each with two 29.5 s items due at 60 s: 1.5 s of new work makes the last one late.
    const long = {
      sensitivity: 'public' as const,
      deadline: NOW + 60_000,
      inputTokens: 200,
      expectedOutputTokens: 570,
    };
    const queued: QueuedWork[] = Array.from({ length: 4 }, () => ({
      deadline: NOW + 60_000,
      workTokens: 590,
      item: long,
    }));
    const short = item({
      sensitivity: 'confidential',
      deadline: NOW + 30_000,
      inputTokens: 100,
      expectedOutputTokens: 20,
    });
    // Moving the whole 590-token item (3.5e-4 $) costs more than the sovereign endpoint asks (1.1e-4 $); freeing
    // the 30 tokens of room the short one takes costs 30/590 of that.
    const d = policy.decide(short, state(pool(queued), cloud, sovereign));
    expect(d.target).toBe('local');
    expect(d.reason).toMatch(/pushes 1 queued item\(s\) past their deadline/);
  });

  it('parks for what the deadline leaves when that is less than PARK_MS, keeping time for a failed probe', () => {
    // Sovereign: 1.5 s latency + 120 tokens at 100 tok/s = 2.7 s. Waiting w, then a 5 s probe that fails, then
    // sovereign, meets a deadline d with the 25% margin while (w + 5 + 2.7) × 1.25 ≤ d.
    const d = policy.decide(
      item({ deadline: NOW + 22_125 }),
      state(slowLocal, { ...cloud, available: false }, sovereign),
    );
    expect(d).toMatchObject({ provider: 'frontier', atRisk: false });
    expect(d.parkMs).toBeGreaterThanOrEqual(MIN_PARK_MS);
    expect(d.parkMs).toBeLessThan(PARK_MS);
    expect(Math.abs(d.parkMs! - 10_000)).toBeLessThanOrEqual(1);
    expect(d.reason).toMatch(/^parked 10 s for frontier/);
    // Less than MIN_PARK_MS left: not worth a reroute; and a longer probe timeout keeps more time back.
    expect(
      policy.decide(item({ deadline: NOW + 14_625 }), state(slowLocal, { ...cloud, available: false }, sovereign))
        .provider,
    ).toBe('sovereign');
    const slowProbe = new RoutingPolicy({ probeTimeoutMs: 20_000 });
    expect(
      slowProbe.decide(item({ deadline: NOW + 22_125 }), state(slowLocal, { ...cloud, available: false }, sovereign))
        .provider,
    ).toBe('sovereign');
  });

  it('sends an item that no provider could finish in time even when idle to the cheapest cleared one', () => {
    const d = policy.decide(item({ deadline: NOW + 100 }), state(local, cloud));
    expect(d.target).toBe('local');
    expect(d.atRisk).toBe(true);
    expect(d.reason).toMatch(/even when idle; cheapest/);
  });

  it('when everyone is late because of queues, picks whoever finishes first, local included', () => {
    const slowCloud = { ...cloud, backlogTokens: 100 * 16 * 60 }; // a minute of work ahead in the cloud
    const d = policy.decide(item({ deadline: NOW + 5000 }), state(local, slowCloud));
    expect(d.target).toBe('local'); // 6 s locally against 61.7 s in the cloud
    expect(d.atRisk).toBe(true);
  });

  it('plans a batch so a local pool too small for it goes to the items that save the most', () => {
    // Two items of equal work; the prompt-heavy one costs 3x more in the cloud. Local has room for one.
    const promptHeavy = item({ inputTokens: 3000, expectedOutputTokens: 100, deadline: NOW + 22_000 });
    const answerHeavy = item({ inputTokens: 100, expectedOutputTokens: 390, deadline: NOW + 22_000 });
    const [a, b] = policy.plan([answerHeavy, promptHeavy], state(local, cloud));
    expect(b.target).toBe('local');
    expect(a.target).toBe('cloud');
  });

  describe('escalation (the watchdog asks)', () => {
    it('waits while the cloud could still take the item after the lead time, then moves it', () => {
      const late = item({ deadline: NOW + 60_000 });
      expect(policy.escalation(late, state(cloud))).toBeNull();
      const d = policy.escalation({ ...late, deadline: NOW + 25_000 }, state(cloud));
      expect(d?.provider).toBe('frontier');
      expect(d?.reason).toMatch(/^escalated/);
    });

    it('moves at once with no lead time, only to a cleared cloud provider, and never to one that is late too', () => {
      expect(policy.escalation(item({ deadline: NOW + 60_000 }), state(local, cloud), 0)?.target).toBe('cloud');
      expect(
        policy.escalation(item({ sensitivity: 'confidential', deadline: NOW + 60_000 }), state(local, cloud), 0),
      ).toBeNull();
      expect(policy.escalation(item({ deadline: NOW + 1000 }), state(local, cloud), 0)).toBeNull();
    });
  });

  describe("a provider's context (issue 12 §4: cloud context 512, local 2048, the cloud cheaper per token)", () => {
    const cheaper = { inputPerMTokUsd: 0.1, outputPerMTokUsd: 0.4 };
    const smallCloud: ProviderView = { ...cloud, contextTokens: 512, price: cheaper };
    const pricierLocal: ProviderView = {
      ...local,
      contextTokens: 2048,
      tokensPerSec: 200,
      price: { inputPerMTokUsd: 0.15, outputPerMTokUsd: 0.6 },
    };
    const summarySplit: DocumentSplit = {
      kind: 'document',
      maxTokens: 64,
      contentTokens: 4000,
      partFrameTokens: 45,
      partMaxTokens: 64,
      reserveTokens: 256,
      minPartTokens: 64,
      overlapShare: 0.1,
      partAnswer: { perContentToken: 0.25, min: 32 },
      reduceFrameTokens: 45,
      reduceMaxTokens: 64,
      tagTokens: 16,
    };
    /** ~4k tokens to summarize: 51 calls on the cloud's 512 tokens, 4 on the local 2048. */
    const longSummary = item({ inputTokens: 4030, expectedOutputTokens: 64, split: summarySplit });
    /** An extract whose chunk prompt (schema included) leaves the cloud 17 tokens for its document. */
    const extractAnswer = { perContentToken: 0, min: 40 };
    const extractSplit: DocumentSplit = { ...summarySplit, partFrameTokens: 175, partAnswer: extractAnswer };
    const longExtract = item({ inputTokens: 4160, expectedOutputTokens: 40, split: extractSplit });

    it('prices a long item by its calls on each provider: the summary runs locally in 4, not in 51 cheap ones', () => {
      // One call each, the cloud would win ($0.00043 against $0.00064); counted in calls, local costs half the cloud.
      const unsplit = item({ inputTokens: 4030, expectedOutputTokens: 64 });
      const oneCall = policy.decide(unsplit, state(pricierLocal, smallCloud));
      expect(oneCall.target).toBe('cloud');
      const d = policy.decide(longSummary, state(pricierLocal, smallCloud));
      expect(d.target).toBe('local');
      expect(d.atRisk).toBe(false);
      expect(d.estimatedCostUsd).toBeGreaterThan(oneCall.estimatedCostUsd);
    });

    it('charges each call its latency: on a cloud of 512 tokens the summary misses a deadline one call meets', () => {
      const cloudOnly = { ...longSummary, sensitivity: 'internal' as const, deadline: NOW + 10_000 };
      const slowLocal = { ...pricierLocal, tokensPerSec: 5 };
      // 51 calls × 500 ms of latency alone is 25 s.
      expect(policy.decide(cloudOnly, state(slowLocal, smallCloud)).atRisk).toBe(true);
      expect(policy.decide(cloudOnly, state(slowLocal, { ...smallCloud, contextTokens: 8192 })).atRisk).toBe(false);
    });

    it('never routes an item to a provider whose context cannot hold its smallest part, however cheap or fast', () => {
      const d = policy.decide({ ...longExtract, deadline: NOW + 5000 }, state(pricierLocal, smallCloud));
      expect(d.target).toBe('local');
      expect(d.reason).toMatch(/frontier's context of 512 tokens cannot hold it/);
      const planned = policy.plan([longExtract, longExtract], state(pricierLocal, smallCloud));
      expect(planned.map((p) => p.target)).toEqual(['local', 'local']);
    });

    it('does not escalate to, nor park for, a cloud provider that cannot hold the item', () => {
      expect(policy.escalation({ ...longExtract, deadline: NOW + 60_000 }, state(smallCloud), 0)).toBeNull();
      const cheap = { inputPerMTokUsd: 0.01, outputPerMTokUsd: 0.01 };
      const bigDown = { ...smallCloud, name: 'sovereign', contextTokens: 8192, available: false, price: cheap };
      const d = policy.decide({ ...longExtract, deadline: NOW + 60_000 }, { ...state(smallCloud, bigDown) });
      expect(d.provider).toBe('sovereign'); // the only one that holds it, down: used, not parked for
      expect(d.parkMs).toBeUndefined();
    });

    it('marks an item at-risk, naming what the largest context leaves, when no cleared provider can hold it', () => {
      const tinyLocal = { ...pricierLocal, contextTokens: 256 };
      const d = policy.decide({ ...longExtract, sensitivity: 'internal' }, state(tinyLocal, smallCloud));
      expect(d).toMatchObject({ provider: 'frontier', atRisk: true, contextTooSmall: true });
      expect(d.reason).toMatch(/no cleared provider's context can hold the item; the largest, frontier's: /);
      expect(d.reason).toMatch(/a context of 512 tokens leaves 17 tokens for a part of the document/);
    });

    it("charges a provider's backlog with the work of every call the item makes there", () => {
      expect(workTokensOn(longSummary, 2048)).toBeGreaterThan(workTokensOn(longSummary, 8192));
      expect(workTokensOn(longSummary, 512)).toBeGreaterThan(workTokensOn(longSummary, 2048));
      expect(workTokensOn(longSummary, undefined)).toBe(64 + 4030 / 10);
    });
  });
  describe('capacity that is coming (issue 19)', () => {
    const loading = (readyInMs: number, over: Partial<ProviderView> = {}): ProviderView => ({
      ...local,
      queue: [],
      coming: { status: 'loading', readyAt: NOW + readyInMs },
      ...over,
    });

    it('waits for a loading pool when the deadline allows, and says it counted on it', () => {
      const d = policy.decide(item(), state(loading(60_000), cloud));
      expect(d.target).toBe('local');
      expect(d.estimatedFinishAt).toBeGreaterThanOrEqual(NOW + 60_000);
      expect(d.reason).toMatch(/counted on local coming \(pool loading, expected ready in 60 s\)/);
    });

    it('sends an item the pool cannot reach in time to the cloud, though the same item runs locally on a pool up now', () => {
      const tight = item({ deadline: NOW + 30_000 });
      expect(policy.decide(tight, state({ ...local, queue: [] }, cloud)).target).toBe('local');
      expect(policy.decide(tight, state(loading(60_000), cloud)).target).toBe('cloud');
    });

    it('counts the wait without a queue view too (backlog only)', () => {
      const d = policy.decide(item({ deadline: NOW + 30_000 }), state(loading(60_000, { queue: undefined }), cloud));
      expect(d.target).toBe('cloud');
    });

    it('plans a batch onto a restarting pool from when it is expected back', () => {
      const restarting = loading(90_000, { coming: { status: 'restarting', readyAt: NOW + 90_000 } });
      const routes = policy.plan([item(), item()], state(restarting, cloud));
      expect(routes.map((r) => r.target)).toEqual(['local', 'local']);
      expect(routes[0].reason).toMatch(/pool restarting, expected ready in 90 s/);
    });

    it('says nothing of coming capacity when it routes elsewhere', () => {
      const d = policy.decide(item({ deadline: NOW + 30_000 }), state(loading(60_000), cloud));
      expect(d.reason).not.toMatch(/counted on/);
    });
  });
});
