import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '#libs/config';
import { RoutingPolicy, escalationSweep } from '#libs/routing';
import type { Resources, SimItem } from './resources.js';
import { allLocal, switchyard, type Router } from './routers.js';
import { FRONTIER_BATCH, SCENARIOS } from './scenarios.js';
import { PRODUCTION, simulate } from './simulator.js';
import { generateWorkload } from './workload.js';

const SECOND = 1000;
const resources = (over: { sovereignDown?: boolean } = {}): Resources => ({
  local: {
    name: 'local',
    sequences: 1,
    tokensPerSec: 10,
    configuredTokensPerSec: 10,
    price: { inputPerMTokUsd: 0.01, outputPerMTokUsd: 0.03 },
  },
  clouds: [
    {
      name: 'frontier',
      clearance: 'internal',
      latencyMs: 500,
      tokensPerSec: 100,
      configuredTokensPerSec: 100,
      concurrency: 8,
      price: { inputPerMTokUsd: 0.15, outputPerMTokUsd: 0.6 },
      outages: [],
    },
    {
      name: 'sovereign',
      clearance: 'confidential',
      latencyMs: 500,
      tokensPerSec: 50,
      configuredTokensPerSec: 50,
      concurrency: 8,
      price: { inputPerMTokUsd: 0.6, outputPerMTokUsd: 2.4 },
      outages: over.sovereignDown ? [{ fromMs: 0, toMs: 3600 * SECOND }] : [],
    },
  ],
  requestTimeoutMs: 30 * SECOND,
});

let nextId = 0;
const item = (over: Partial<SimItem> = {}): SimItem => ({
  id: nextId++,
  batch: 0,
  arrivalAt: 0,
  deadline: 3600 * SECOND,
  sensitivity: 'public',
  kind: 'summarize',
  inputTokens: 100,
  expectedOutputTokens: 90,
  outputTokens: 90,
  speedFactor: 1,
  latencyFactor: 1,
  ...over,
});
const withIds = (items: SimItem[]) => items.map((it, id) => ({ ...it, id }));

/** Sends everything to one provider, whatever the item: the kind of bug the leak count exists for. */
const always = (provider: string, sweep?: Router['sweep']): Router => ({
  name: 'switchyard',
  routeBatch: (items) => items.map(() => ({ provider, atRisk: false })),
  routeOne: (it, state) => ({ provider: new RoutingPolicy().decide(it, state).provider, atRisk: false }),
  sweep,
});

/** Production's watchdog beside a router that sends everything to one provider. */
const watched =
  (policy: RoutingPolicy): Router['sweep'] =>
  (view, clouds, waiting, down) => [...escalationSweep(policy, view, clouds, waiting, down)];

describe('PRODUCTION', () => {
  it('is the system a worker runs with no settings: the sweep, circuit, attempts, preemption, load estimate and grace', () => {
    const config = loadConfig({});
    expect(PRODUCTION.watchdogIntervalMs).toBe(config.escalationIntervalMs);
    expect(PRODUCTION.circuit).toEqual({
      failureThreshold: config.circuit.failureThreshold,
      openMs: config.circuit.openMs,
      probeTimeoutMs: config.circuit.probeTimeoutMs,
    });
    expect(PRODUCTION.attempts).toBe(config.queue.attempts);
    expect(PRODUCTION.backoffMs).toBe(config.queue.backoffMs);
    expect(PRODUCTION.preemptSlackMs).toBe(config.engine.preemption.slackMs);
    expect(PRODUCTION.loadEstimateMs).toBe(config.pools.loadEstimateMs);
    // The pool grace: the simulator derives it with libs/pools poolGraceMs, POOL_GRACE_MS unset as here.
    expect(config.pools.graceMs).toBeNull();
  });
});

describe('simulate', () => {
  it('counts a leak for every item sent above its clearance, whatever the router claims', () => {
    const items = withIds([
      item({ sensitivity: 'public' }),
      item({ sensitivity: 'internal' }),
      item({ sensitivity: 'confidential' }),
      item({ sensitivity: 'restricted' }),
    ]);
    const result = simulate(items, resources(), always('frontier'));
    expect(result.leaks).toBe(2);
    expect(result.outcomes.map((o) => o.leaked)).toEqual([false, false, true, true]);
  });

  it('retries a request that timed out during an outage, then reroutes it elsewhere cleared — never above clearance', () => {
    const [confidential] = withIds([item({ sensitivity: 'confidential' })]);
    const result = simulate([confidential], resources({ sovereignDown: true }), always('sovereign'));
    const outcome = result.outcomes[0];
    expect(outcome.sentTo.slice(0, -1).every((p) => p === 'sovereign')).toBe(true);
    expect(outcome.sentTo.at(-1)).toBe('local'); // frontier is not cleared for confidential data
    expect(outcome.finishedAt).toBeGreaterThanOrEqual(30 * SECOND); // at least one timeout
    expect(result.failedRequests).toBe(outcome.sentTo.length - 1);
    expect(result.leaks).toBe(0);
  });

  it('probes a half-open circuit with one token before the item: a provider still down costs the item the probe timeout, not the request timeout', () => {
    const res = resources();
    res.clouds[0].outages = [{ fromMs: 0, toMs: 200 * SECOND }];
    const system = {
      ...PRODUCTION,
      attempts: 1,
      circuit: { failureThreshold: 1, openMs: 10 * SECOND, probeTimeoutMs: 5 * SECOND },
    };
    const items = withIds([
      item({ arrivalAt: 0, batch: 0 }),
      item({ arrivalAt: 45 * SECOND, batch: 1 }),
      item({ arrivalAt: 300 * SECOND, batch: 2 }),
    ]);
    const [tripped, probedDown, probedUp] = simulate(items, res, always('frontier'), system).outcomes;
    expect(tripped.sentTo[0]).toBe('frontier'); // timed out at 30 s: the circuit opened
    // Half-open at 45 s, frontier still down: the probe fails at 50 s and the item goes elsewhere, never sent there.
    expect(probedDown.sentTo).not.toContain('frontier');
    expect(probedDown.finishedAt).toBeGreaterThanOrEqual(50 * SECOND);
    expect(probedDown.finishedAt).toBeLessThan(75 * SECOND);
    // Half-open at 300 s, frontier back: the probe answers after its latency, then the item runs there.
    expect(probedUp.sentTo).toEqual(['frontier']);
    expect(probedUp.finishedAt).toBeCloseTo(300 * SECOND + 500 + 500 + 1000, -1);
  });

  it('runs the local pool earliest deadline first', () => {
    const items = withIds([
      item({ batch: 0, deadline: 3600 * SECOND }),
      item({ batch: 0, deadline: 3600 * SECOND }),
      item({ batch: 1, arrivalAt: 1, deadline: 60 * SECOND }),
    ]);
    const result = simulate(items, resources(), allLocal());
    // One sequence: the first item is already running; the later, more urgent one goes before the second.
    expect(result.outcomes[2].finishedAt).toBeLessThan(result.outcomes[1].finishedAt);
  });

  it('lets the watchdog move a local item that will miss its deadline to a cleared cloud provider, once', () => {
    const policy = new RoutingPolicy();
    const items = withIds([
      item({ batch: 0, expectedOutputTokens: 1000, outputTokens: 1000, deadline: 3600 * SECOND }), // 110 s locally
      item({ batch: 0, deadline: 100 * SECOND }), // waits behind it: misses if it stays
    ]);
    const result = simulate(
      items,
      resources(),
      always('local', watched(policy)),
      { ...PRODUCTION, preemptSlackMs: null }, // the first item keeps its sequence
    );
    expect(result.escalations).toBe(1);
    expect(result.outcomes[1]).toMatchObject({ escalated: true, sentTo: ['frontier'] });
    expect(result.outcomes[1].finishedAt).toBeLessThanOrEqual(100 * SECOND);
  });

  it('lets an item due soon take the sequence of one due in an hour, which runs again from the start after it', () => {
    const policy = new RoutingPolicy();
    const items = withIds([
      item({ batch: 0, expectedOutputTokens: 1000, outputTokens: 1000, deadline: 3600 * SECOND }), // 110 s locally
      item({ batch: 0, arrivalAt: 10 * SECOND, deadline: 100 * SECOND }),
    ]);
    const result = simulate(items, resources(), always('local', watched(policy)));
    expect(result.preemptions).toBe(1);
    expect(result.escalations).toBe(0);
    expect(result.outcomes[1]).toMatchObject({ escalated: false, sentTo: ['local'] });
    expect(result.outcomes[1].finishedAt).toBeLessThanOrEqual(100 * SECOND);
    // Its first run lost: sent twice, finished a whole run after the second item.
    expect(result.outcomes[0].sentTo).toEqual(['local', 'local']);
    expect(result.outcomes[0].finishedAt).toBeGreaterThan(result.outcomes[1].finishedAt + 100 * SECOND);
  });

  it('lets late local work nothing can move give way, longest first, to work that can still be on time', () => {
    const policy = new RoutingPolicy();
    const restricted = (over: Partial<SimItem>) => item({ sensitivity: 'restricted', ...over });
    const items = withIds([
      restricted({ outputTokens: 290, expectedOutputTokens: 290, deadline: 1200 * SECOND }), // 30 s, keeps its sequence
      restricted({ batch: 1, arrivalAt: 1, outputTokens: 590, expectedOutputTokens: 590, deadline: 100 * SECOND }), // 60 s
      ...[1, 2, 3, 4, 5].map(() => restricted({ batch: 1, arrivalAt: 1, deadline: 100 * SECOND })), // 10 s each
    ]);
    const met = (r: ReturnType<typeof simulate>) =>
      r.outcomes.filter((o, i) => i > 0 && o.finishedAt <= items[i].deadline).length;
    const keep = simulate(items, resources(), always('local', watched(policy)), {
      ...PRODUCTION,
      deferLateWork: false,
    });
    expect(met(keep)).toBe(2); // the long one and the first short one, in arrival order
    const defer = simulate(items, resources(), always('local', watched(policy)));
    expect(defer.deferrals).toBe(1);
    expect(met(defer)).toBe(5); // every short one; the long one runs after them
    expect(defer.outcomes[1].finishedAt).toBeGreaterThan(defer.outcomes[6].finishedAt);
    expect(defer.outcomes.every((o) => o.sentTo.every((p) => p === 'local'))).toBe(true);
  });

  it('never sends an item above its clearance while every cloud provider is down', () => {
    const scenario = SCENARIOS.find((s) => s.name === 'all-cloud-down')!;
    const items = generateWorkload({ ...scenario.workload, durationMs: 90 * 60_000 });
    const result = simulate(items, scenario.resources, switchyard());
    expect(result.leaks).toBe(0);
    expect(result.failedRequests).toBeGreaterThan(0); // the outage was felt...
    expect(result.outcomes.every((o) => o.finishedAt >= 0)).toBe(true); // ...and every item finished anyway
  });

  it('tells the router what completed items of the kind really wrote, as routableItem does after intake', () => {
    const seen: number[][] = [];
    const spy: Router = {
      ...always('local'),
      routeBatch: (items) => (
        seen.push(items.map((i) => i.expectedOutputTokens)),
        items.map(() => ({ provider: 'local', atRisk: false }))
      ),
    };
    // Five summaries that run twice their estimate, then one more, arriving after they are done.
    const first = Array.from({ length: 5 }, () => item({ batch: 0, expectedOutputTokens: 20, outputTokens: 40 }));
    const items = withIds([
      ...first,
      item({ batch: 1, arrivalAt: 600 * SECOND, expectedOutputTokens: 20, outputTokens: 40 }),
    ]);
    simulate(items, resources(), spy);
    expect(seen).toEqual([[20, 20, 20, 20, 20], [40]]);
    seen.length = 0;
    simulate(items, resources(), spy, { ...PRODUCTION, learnTokenRatios: false });
    expect(seen).toEqual([[20, 20, 20, 20, 20], [20]]);
  });

  it('is deterministic', () => {
    const scenario = SCENARIOS.find((s) => s.name === 'frontier-outage')!;
    const run = () =>
      simulate(generateWorkload({ ...scenario.workload, durationMs: 60 * 60_000 }), scenario.resources, switchyard());
    const [a, b] = [run(), run()];
    expect(a.costUsd).toBe(b.costUsd);
    expect(a.outcomes.map((o) => o.finishedAt)).toEqual(b.outcomes.map((o) => o.finishedAt));
  });

  describe('a local pool that is loading (issue 19)', () => {
    const loading = (downtimes: Resources['local']['downtimes']): Resources => ({
      ...resources(),
      local: { ...resources().local, downtimes },
    });
    const lax = () => withIds([item({ deadline: 24 * 3600 * SECOND }), item({ deadline: 24 * 3600 * SECOND })]);

    it('keeps items due in a day local while the model loads, where counting it down sent them to the cloud', () => {
      const res = loading([{ fromMs: 0, toMs: 90 * SECOND }]);
      const counted = simulate(lax(), res, switchyard(new RoutingPolicy()), PRODUCTION);
      expect(counted.cloudItems).toBe(0);
      expect(Math.min(...counted.outcomes.map((o) => o.finishedAt))).toBeGreaterThanOrEqual(90 * SECOND);
      const before = simulate(lax(), res, switchyard(new RoutingPolicy()), {
        ...PRODUCTION,
        countComingCapacity: false,
      });
      expect(before.cloudItems).toBe(2);
    });

    it('moves a waiting item the pool cannot reach in time, and loses nothing in a crash loop', () => {
      const res = loading([{ fromMs: 5 * SECOND, toMs: 600 * SECOND, crashLoop: { cycleMs: 60 * SECOND } }]);
      const items = withIds([
        item({ deadline: 24 * 3600 * SECOND }),
        item({ arrivalAt: 10 * SECOND, deadline: 200 * SECOND }),
      ]);
      const result = simulate(items, res, switchyard(new RoutingPolicy()), PRODUCTION);
      expect(result.outcomes[1].finishedAt).toBeLessThanOrEqual(200 * SECOND);
      expect(result.outcomes[1].sentTo.at(-1)).toBe('frontier');
      expect(result.outcomes[0].sentTo.at(-1)).toBe('local');
      expect(result.outcomes.every((o) => Number.isFinite(o.finishedAt))).toBe(true);
    });
  });
});

describe('simulate: a provider tier (issue 16 §3)', () => {
  const MINUTE = 60 * SECOND;
  const HOUR = 60 * MINUTE;
  const half = { inputPerMTokUsd: 0.075, outputPerMTokUsd: 0.3 };
  const tiered = (batch: { latencyMs?: number; lineFailureRate?: number } = {}, flexOut?: number): Resources => {
    const plain = resources();
    const [frontier] = plain.clouds;
    return {
      ...plain,
      clouds: [
        ...plain.clouds,
        {
          ...frontier,
          name: 'frontier.flex',
          price: half,
          unavailable: flexOut ? [{ fromMs: 0, toMs: flexOut }] : undefined,
        },
        {
          ...frontier,
          name: 'frontier.batch',
          latencyMs: batch.latencyMs ?? 2 * HOUR,
          price: half,
          // Every provider batch takes latencyMs (the tests know when); an hour configured; collected 10 s, polled each minute.
          providerBatch: { ...FRONTIER_BATCH, minFactor: 1, maxFactor: 1, lineFailureRate: batch.lineFailureRate ?? 0 },
        },
      ],
    };
  };
  const usd = (price: { inputPerMTokUsd: number; outputPerMTokUsd: number }, it: SimItem) =>
    (it.inputTokens * price.inputPerMTokUsd + it.outputTokens * price.outputPerMTokUsd) / 1e6;

  it('answers a line when its provider batch is seen done, at the batch price, all lines in one upload', () => {
    const items = withIds([
      item({ deadline: 24 * HOUR }),
      item({ arrivalAt: 5 * SECOND, batch: 1, deadline: 24 * HOUR }),
    ]);
    const result = simulate(items, tiered(), always('frontier.batch'));
    for (const [i, o] of result.outcomes.entries()) {
      expect(o.sentTo).toEqual(['frontier.batch']);
      // Uploaded 10 s after the first line, done 2 h later, seen at the next minute's poll.
      expect(o.finishedAt).toBe(10 * SECOND + 2 * HOUR);
      expect(o.costUsd).toBeCloseTo(usd(half, items[i]), 12);
    }
  });

  it("moves a line still open near its deadline beside Switchyard's runner; a plain Batch API client waits", () => {
    const items = () => withIds([item({ deadline: HOUR })]);
    const policy = new RoutingPolicy();
    const [moved] = simulate(items(), tiered(), always('frontier.batch', watched(policy))).outcomes;
    // Moved where the policy says: the idle local pool finishes it in 19 s, cheapest.
    expect(moved.sentTo).toEqual(['frontier.batch', 'local']);
    expect(moved.escalated).toBe(true);
    expect(moved.finishedAt).toBeLessThanOrEqual(HOUR);
    // The provider batch, cancelled once no line is wanted, bills the part it had done: 55 of its 120 minutes.
    const [it] = items();
    const local = tiered().local.price;
    expect(moved.costUsd).toBeCloseTo(usd(local, it) + ((55 * MINUTE - 10 * SECOND) / (2 * HOUR)) * usd(half, it), 9);
    const [waited] = simulate(items(), tiered(), always('frontier.batch')).outcomes;
    expect(waited.sentTo).toEqual(['frontier.batch']);
    expect(waited.finishedAt).toBeGreaterThan(2 * HOUR);
  });

  it('moves a line the provider failed when the batch is read, and bills nothing for it', () => {
    const items = withIds([item({ deadline: 24 * HOUR })]);
    const result = simulate(items, tiered({ lineFailureRate: 1 }), always('frontier.batch'));
    const [o] = result.outcomes;
    expect(o.sentTo[0]).toBe('frontier.batch');
    expect(o.sentTo[1]).not.toBe('frontier.batch');
    expect(o.finishedAt).toBeGreaterThan(2 * HOUR);
    expect(result.failedRequests).toBe(1);
  });

  it('counts on the configured hour until three provider batches are measured, then on the slowest of them', () => {
    const seen: number[] = [];
    const router: Router = {
      name: 'switchyard',
      routeBatch: (batch, state) => {
        seen.push(state.providers.find((p) => p.name === 'frontier.batch')!.latencyMs);
        return batch.map(() => ({ provider: 'frontier.batch', atRisk: false }));
      },
      routeOne: () => ({ provider: 'frontier', atRisk: false }),
    };
    const items = withIds([0, 1, 2, 3].map((b) => item({ batch: b, arrivalAt: b * HOUR, deadline: 24 * HOUR })));
    simulate(items, tiered({ latencyMs: 30 * MINUTE }), router);
    // Each batch's 30 min, and the 5 min lead at which an open line is moved, once three were measured.
    expect(seen).toEqual([65 * MINUTE, 65 * MINUTE, 65 * MINUTE, 35 * MINUTE]);
  });

  it('takes a flex 429 "resource unavailable" as the tier out: not retried, its circuit open at once', () => {
    const items = withIds([item(), item({ batch: 1, arrivalAt: 10 * SECOND })]);
    const result = simulate(items, tiered({}, 60 * SECOND), always('frontier.flex'));
    const [refused, next] = result.outcomes;
    expect(refused.sentTo[0]).toBe('frontier.flex');
    expect(refused.sentTo).toHaveLength(2); // rerouted at once, not retried on flex
    expect(next.sentTo).not.toContain('frontier.flex'); // the open circuit turned it away before it was sent
    expect(result.failedRequests).toBe(1);
  });
});
