import { callsOn, type CallsEstimate, type ItemSplit } from './context-calls.js';
import { costOf, type Price } from './cost.js';
import { EdfQueue, edfOrder, edfPlacement, readyFrom } from './edf-schedule.js';
import { isCleared, type Sensitivity } from '#libs/domain';

import type { RouteTarget } from '#libs/domain';

export type { RouteTarget } from '#libs/domain';

/**
 * Kinds of request a provider may turn out unable to serve. 'structured-output': an answer constrained to a
 * JSON Schema (`response_format` json_schema; a grammar locally, which every local model can do).
 */
export const CAPABILITIES = ['structured-output'] as const;
export type Capability = (typeof CAPABILITIES)[number];

/** One piece of work queued on a provider that runs earliest-deadline-first. */
export interface QueuedWork {
  /** Epoch milliseconds. */
  deadline: number;
  /** Generation-equivalent tokens (workTokens of the item); for running work, what is left of it. */
  workTokens: number;
  /** Already decoding: ahead of everything, whatever its deadline. */
  running?: boolean;
  /**
   * Decoding now, but its pool would preempt it for work due sooner (libs/routing preemption): listed as
   * waiting work, whole, in its deadline's place. Not `running`, and never waiting in the queue's job list.
   */
  preemptible?: boolean;
  /**
   * The queued item itself, when known. With it, a new item may push this one late if moving this one
   * to a cloud provider costs less than the new item saves here (the watchdog then moves it in time);
   * without it, queued work that is on time is never pushed late.
   */
  item?: RoutableItem;
}

/** What the policy knows about one provider at decision time. Plain data: no clients, no Redis. */
export interface ProviderView {
  target: RouteTarget;
  name: string;
  model: string;
  clearance: Sensitivity;
  price: Price;
  /** Generation speed of one sequence, tokens/s (measured, or the configured default). */
  tokensPerSec: number;
  /** Sequences decoding at once; work queued ahead drains at tokensPerSec × concurrency. */
  concurrency: number;
  /** Estimated work (workTokens) already waiting or running on this provider. */
  backlogTokens: number;
  /** Fixed overhead per call (network, time to first token). */
  latencyMs: number;
  /**
   * Tokens one call holds, prompt plus answer (a cloud provider's configured window, a local sequence's
   * context). With it, an item with a `split` is estimated by the calls it makes here (parts, combining
   * rounds), and a provider that cannot hold its smallest part is no candidate for it. Absent: unbounded.
   */
  contextTokens?: number;
  /**
   * false while the provider is known to be failing (its circuit breaker is open): the policy routes
   * around it, and uses it only when it is the sole cleared provider. Absent means available.
   */
  available?: boolean;
  /**
   * A cloud provider's circuit breaker. Half-open is available (its probe decides), but it has been failing:
   * late local work it is cleared for is not deferred on its account (lateDeferrals). Absent means closed.
   */
  circuit?: 'closed' | 'open' | 'half-open';
  /**
   * The work waiting or running here, for a provider that runs earliest-deadline-first (the local pool).
   * With it, the item's finish is estimated by scheduling that queue on the pool's sequences (only running
   * work and work due no later is ahead of it), and pushing queued on-time work late counts as the cost
   * of moving that work to the cloud. Without it, all of backlogTokens is ahead, draining at full speed.
   */
  queue?: readonly QueuedWork[];
  /** What the provider was found unable to do (its refusals, remembered for a while): no item needing it goes there. */
  lacks?: readonly Capability[];
  /**
   * Capacity that is coming (issue 19): no pool of this local model consumes now, but one is loading, restarting,
   * or was seen within the grace, and its sequences are expected to start at `readyAt`. The policy counts the
   * provider as available from then on (nothing runs before it), so an item whose deadline allows waits for it.
   */
  coming?: ComingCapacity;
}

/**
 * Why a provider's capacity is coming: `loading` (a pool announced it is loading its model), `restarting`
 * (a pool stopped cleanly to come back), `gone` (a pool stopped beating, within the grace), `starting` (no pool
 * seen yet since this process started: the configured workers are expected).
 */
export type ComingStatus = 'loading' | 'restarting' | 'gone' | 'starting';

export interface ComingCapacity {
  status: ComingStatus;
  /** Epoch milliseconds when its sequences are expected to start. */
  readyAt: number;
}

export interface RoutingState {
  now: number;
  providers: ProviderView[];
  /**
   * Cloud providers left out of this decision that may come back: the one an item is being moved off,
   * those whose circuit is open. Never routed to directly; an item may park for one (see park()).
   */
  recovering?: ProviderView[];
}

export interface RoutableItem {
  sensitivity: Sensitivity;
  /** Epoch milliseconds. */
  deadline: number;
  inputTokens: number;
  expectedOutputTokens: number;
  /** What a provider must be able to do for this item (a structured answer for classify and extract). */
  needs?: readonly Capability[];
  /** How the item is split on a context too small for it in one call (see callsOn); absent: one call anywhere. */
  split?: ItemSplit;
}

export interface RouteDecision {
  target: RouteTarget;
  provider: string;
  model: string;
  reason: string;
  atRisk: boolean;
  estimatedFinishAt: number;
  estimatedCostUsd: number;
  /**
   * Offer the item to `provider` only after this long: it is down now (its circuit open) but cheaper than
   * every provider up that meets the deadline, and that one still does after the wait (see park()).
   */
  parkMs?: number;
  /**
   * No cleared provider's context holds the item's smallest part (callsOn): the decision names the one with
   * the most context, at-risk, where its runner fails it with the reason. A move should not be made for it.
   */
  contextTooSmall?: true;
}

/**
 * A decision within a batch plan. `rank` is the order the plan placed items in: enqueue them in that order,
 * so that a pool running equal deadlines first come first runs them as the plan estimated (the items that
 * save most by running locally first), not in the order they were submitted.
 */
export interface PlannedRoute extends RouteDecision {
  rank: number;
}

export interface RoutingPolicyOptions {
  /**
   * Safety margin per target, as a share of the estimated time to finish: a provider meets a deadline
   * when now + (finish − now) × (1 + margin) ≤ deadline. It absorbs the noise of measured speeds and of
   * each item's own length; the local pool's escalation watchdog is the second line behind it.
   */
  margin?: Partial<Record<RouteTarget, number>>;
  /**
   * How long a half-open circuit's probe may take (CIRCUIT_PROBE_TIMEOUT_MS): a parked item that comes
   * back as the probe of a provider still down loses that much before it is routed again.
   */
  probeTimeoutMs?: number;
}

/** Prompt processing is an order of magnitude faster than generation on every engine we measured. */
const PREFILL_SPEEDUP = 10;

/**
 * Margins chosen with `npm run bench:routing` (bench/routing, 6 seeds per scenario). Locally none: the
 * estimate schedules the pool's own queue with token counts corrected by what completed items used
 * (TokenCalibration), so it is right on average, and the watchdog stands behind it, moving what turns
 * out late. The 5% kept while estimates were fixed rules cost 1-6% more with learned ones, for at most
 * 0.1 point more deadlines met; −5% cost less again but missed more (tight deadlines 99.2%). 25% in the
 * cloud, where per-call latency varies most and nothing moves a late call (40% cost 3% more in the
 * frontier outage, 15% too).
 */
export const DEFAULT_MARGIN: Readonly<Record<RouteTarget, number>> = { local: 0, cloud: 0.25 };

/**
 * The watchdog moves a late local item when waiting this much longer could leave no cloud provider
 * that meets its deadline: three of its rounds (DEFAULT_ESCALATION_INTERVAL_MS). Moving at once instead
 * cost 1-8% more in the bench (the local pool often reaches the item after all) for at most 0.1 point more
 * deadlines met.
 */
export const ESCALATION_LEAD_MS = 30_000;

/**
 * How often the escalation watchdog sweeps the waiting local items (ESCALATION_INTERVAL_MS's default). The
 * routing bench was tuned at 10 s while the worker swept every 5 s; over 18 runs a 5 s sweep cost more in
 * `tight-deadlines` (1.065 × bound against 1.050, for 99.41% of deadlines met against 99.39%: it moves more
 * items whose estimate crossed the line by noise, 40 escalations against 28) and the same elsewhere (within
 * 0.003 × bound and 0.02 points). The bench's simulated system reads this constant, so the two stay one.
 */
export const DEFAULT_ESCALATION_INTERVAL_MS = 10_000;

/**
 * How long an item parks for a cheaper cloud provider that is down before it is offered to it again. In
 * the bench's frontier outage, parking cut the cost from 1.29 to 1.21 × bound at 15 s (1.24 at 30 s,
 * 1.25 at 2 min: shorter waits catch the recovery sooner; the circuit's probe decides when it is back).
 */
export const PARK_MS = 15_000;

/**
 * An item whose deadline leaves less than PARK_MS of waiting parks for what is left, down to this: the
 * provider may come back in those last seconds. In the bench's frontier outage (18 workloads) waiting
 * out the last seconds cost 1.068 × bound instead of 1.079, for 99.36% of deadlines met instead of
 * 99.47%; 1 s instead of 5 s cost more (1.071) and met fewer (99.34%).
 */
export const MIN_PARK_MS = 5_000;

/**
 * A half-open circuit is probed with a one-token request before an item is sent (apps/worker
 * ItemProcessor); a provider that has not answered it within this is not back. Its answer closes the
 * circuit after one round trip, where an item as the probe held every other item off the provider for its
 * whole answer, and a probe into a provider still down cost its item the request timeout (30-60 s).
 */
export const DEFAULT_PROBE_TIMEOUT_MS = 5_000;

interface Candidate {
  view: ProviderView;
  /** The item's calls here, and their work (workTokens summed). */
  calls: number;
  ownWork: number;
  finishAt: number;
  /** The item's own cost here. */
  ownCostUsd: number;
  /** Its own cost plus what moving the queued work it pushes late to the cloud would add: what routing compares. */
  costUsd: number;
  /** Meets the deadline with the target's margin. */
  meets: boolean;
  /** Queued items it pushes past their deadlines (each then moves to a cloud provider). */
  displaced: number;
  /** Said in the reason when the estimate counted on capacity that is coming. */
  comingNote?: string;
}

/**
 * Decides where one item runs. Rules, in order:
 * 1. never a provider whose clearance is below the item's sensitivity; a provider marked unavailable
 *    only when no cleared provider is available;
 * 2. no cleared provider could meet the deadline even idle: the cheapest (it is late anywhere) — at-risk;
 * 3. among cleared providers that meet the deadline with margin, the cheapest (local wins ties), where
 *    local is charged for moving to the cloud any queued on-time work it would push late;
 * 4. none does: the cleared provider that finishes first — marked at-risk when even it is late.
 */
export class RoutingPolicy {
  private readonly margin: Record<RouteTarget, number>;

  private readonly probeTimeoutMs: number;

  constructor(options: RoutingPolicyOptions = {}) {
    this.margin = { ...DEFAULT_MARGIN, ...options.margin };
    this.probeTimeoutMs = options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  }

  decide(item: RoutableItem, state: RoutingState): RouteDecision {
    const cleared = state.providers.filter((p) => isCleared(p.clearance, item.sensitivity) && canServe(p, item));
    if (cleared.length === 0) {
      throw new Error(`no provider is cleared for "${item.sensitivity}" data`);
    }
    const notes: string[] = [];
    const blocked = state.providers.filter((p) => !isCleared(p.clearance, item.sensitivity)).length;
    if (blocked > 0) notes.push(`${blocked} provider(s) not cleared for ${item.sensitivity}`);
    const unable = state.providers.filter((p) => isCleared(p.clearance, item.sensitivity) && !canServe(p, item));
    if (unable.length > 0)
      notes.push(`${unable.map((p) => p.name).join(', ')} found unable to serve ${item.needs!.join(', ')}`);
    // A provider whose context cannot hold the item's smallest part would fail it: no candidate (issue 12 §4).
    const holding = cleared.filter((p) => callsOn(item, p.contextTokens).ok);
    if (holding.length === 0) return this.noContextHolds(item, cleared, state, notes);
    for (const p of cleared.filter((c) => !holding.includes(c))) {
      notes.push(`${p.name}'s context of ${p.contextTokens} tokens cannot hold it`);
    }
    const up = holding.filter((p) => p.available !== false);
    const candidates = (up.length > 0 ? up : holding).map((view) => this.estimate(item, view, state));
    if (up.length === 0) notes.push('no cleared provider is available');
    else if (up.length < holding.length) notes.push(`${holding.length - up.length} cleared provider(s) unavailable`);
    const note = notes.map((n) => `; ${n}`).join('');

    const onTime = candidates.filter((c) => c.meets);
    if (onTime.length === 0 && candidates.every((c) => idleFinish(item, c.view, state.now) > item.deadline)) {
      // Late wherever it goes, even on an idle provider: speed cannot buy the deadline back, so pay least.
      const cheapest = candidates.reduce((a, b) => (cheaper(b, a) ? b : a));
      return this.toDecision(
        cheapest,
        `at-risk: no cleared provider meets the deadline even when idle; cheapest cleared provider${note}`,
        true,
      );
    }
    if (onTime.length > 0) {
      const best = onTime.reduce((a, b) => (cheaper(b, a) ? b : a));
      const parked = this.park(item, best, holding, state);
      if (parked) return parked;
      const why =
        onTime.length === 1
          ? 'only cleared provider meeting the deadline'
          : 'cheapest cleared provider meeting the deadline';
      return this.toDecision(best, `${why}${note}`, false);
    }
    const first = candidates.reduce((a, b) => (b.finishAt < a.finishAt ? b : a));
    const late = first.finishAt > item.deadline;
    const why = late
      ? `at-risk: no provider meets the deadline; ${first.view.target === 'cloud' ? 'fastest cleared cloud provider' : 'local finishes first'}`
      : `no provider meets the deadline with margin; the one finishing first`;
    const cloudless =
      first.view.target === 'local' && !cleared.some((p) => p.target === 'cloud')
        ? '; no cloud provider is cleared'
        : '';
    return this.toDecision(first, `${why}${cloudless}${note}`, late);
  }

  /**
   * No cleared provider's context holds the item's smallest part: it goes at-risk to the one with the most
   * context (the largest part), where its runner fails it with the reason unless that provider does better
   * than its configured context says. The reason names what each context leaves.
   */
  private noContextHolds(
    item: RoutableItem,
    cleared: ProviderView[],
    state: RoutingState,
    notes: string[],
  ): RouteDecision {
    const largest = cleared.reduce((a, b) => ((b.contextTokens ?? Infinity) > (a.contextTokens ?? Infinity) ? b : a));
    const checked = callsOn(item, largest.contextTokens);
    const why = checked.ok ? '' : `: ${checked.reason}`;
    const c = this.estimateOn(item, largest, state, { calls: 1, usage: usageOf(item) });
    const note = notes.map((n) => `; ${n}`).join('');
    const reason = `at-risk: no cleared provider's context can hold the item; the largest, ${largest.name}'s${why}`;
    return { ...this.toDecision(c, `${reason}${note}`, true), contextTooSmall: true };
  }

  /**
   * The cheapest provider up that meets the deadline is a cloud one, and a cheaper cleared cloud provider
   * is down: an item that could still go to the one up after PARK_MS waits that long for the cheaper one
   * instead of paying at once (when the deadline leaves less, it waits what is left, down to MIN_PARK_MS).
   * It waits as a delayed job on the cheaper provider's queue, so it holds no local capacity; when it
   * comes up and the circuit still refuses it, it is routed again (and may park again while the deadline
   * allows). Clearance is checked like any route: the cheaper one is cleared.
   */
  private park(
    item: RoutableItem,
    best: Candidate,
    cleared: ProviderView[],
    state: RoutingState,
  ): RouteDecision | null {
    if (best.view.target !== 'cloud') return null;
    const cost = (p: ProviderView) => costOn(item, p);
    const recovering = (state.recovering ?? []).filter(
      (p) => isCleared(p.clearance, item.sensitivity) && canServe(p, item) && callsOn(item, p.contextTokens).ok,
    );
    const down = [...cleared.filter((p) => p.available === false), ...recovering]
      .filter((p) => p.target === 'cloud' && cost(p) < best.ownCostUsd)
      .sort((a, b) => cost(a) - cost(b))[0];
    if (!down) return null;
    // The longest wait after which `best` still meets the deadline with margin, should the item then be
    // the half-open circuit's probe and the probe fail: PARK_MS, or what is left.
    const left =
      (item.deadline - state.now) / (1 + this.margin.cloud) - (best.finishAt - state.now) - this.probeTimeoutMs;
    const parkMs = Math.min(PARK_MS, Math.floor(left));
    if (parkMs < MIN_PARK_MS) return null;
    const c = this.estimate(item, down, state);
    const reason = `parked ${Number((parkMs / 1000).toFixed(1))} s for ${down.name} (cheaper, cleared, down now); ${best.view.name} still meets the deadline after that`;
    return {
      ...this.toDecision(c, reason, false),
      estimatedFinishAt: Math.round(Math.max(c.finishAt, best.finishAt) + parkMs),
      parkMs,
    };
  }

  /**
   * The escalation watchdog's question about a waiting local item that will now miss its deadline: the
   * cleared cloud provider to move it to (chosen as decide() would among the cloud providers) — once
   * waiting `waitMs` longer could leave none that meets the deadline with margin. Null while the item
   * can still wait (estimates err both ways, and the local pool may reach it yet), and when no cloud
   * provider is cleared or would meet the deadline either: then moving only adds cost.
   */
  escalation(item: RoutableItem, state: RoutingState, waitMs = ESCALATION_LEAD_MS): RouteDecision | null {
    const clouds = state.providers.filter((p) => p.target === 'cloud');
    if (!clouds.some((p) => isCleared(p.clearance, item.sensitivity) && canServe(p, item))) return null;
    const d = this.decide(item, { now: state.now, providers: clouds });
    if (d.atRisk || d.target !== 'cloud') return null;
    if (
      waitMs > 0 &&
      meetsWithMargin(state.now + waitMs, d.estimatedFinishAt + waitMs, item.deadline, this.margin.cloud)
    )
      return null;
    return { ...d, reason: `escalated: local will miss the deadline; ${d.reason}` };
  }

  /**
   * Routes a whole batch, charging each decision to its provider (backlog, and the EDF queue where
   * there is one) so later items see the queues earlier ones built. Items are considered in order of
   * what local capacity saves them per token of work (restricted-only items first, then the ones the
   * cloud would charge most for), so a local pool too small for the batch goes to the items that save
   * the most. Returns decisions in input order.
   */
  plan(items: RoutableItem[], state: RoutingState): PlannedRoute[] {
    // Each EDF queue as an EdfQueue: placing the next item of the batch runs on from where the last one went.
    const queues = new Map<ProviderView, EdfQueue>();
    const providers = state.providers.map((p) => {
      if (!p.queue) return { ...p, queue: undefined };
      const queue = new EdfQueue(p.queue);
      const view = { ...p, queue: queue.items };
      queues.set(view, queue);
      return view;
    });
    const running: RoutingState = { now: state.now, providers };
    const order = items
      .map((item, index) => ({ item, index, saving: localSavingPerToken(item, providers) }))
      .sort((a, b) => b.saving - a.saving || a.index - b.index);
    const decisions: PlannedRoute[] = new Array(items.length);
    for (const [rank, { item, index }] of order.entries()) {
      const decision = this.decide(item, running);
      const chosen = providers.find((p) => p.name === decision.provider && p.target === decision.target);
      if (chosen) {
        const work = workTokensOn(item, chosen.contextTokens);
        chosen.backlogTokens += work;
        // Without its item: this plan has already placed it, so a later item of the batch may not push it late.
        queues.get(chosen)?.insert({ deadline: item.deadline, workTokens: work });
      }
      decisions[index] = { ...decision, rank };
    }
    return decisions;
  }

  /** The item on a provider whose context holds it (decide() leaves out the others). */
  private estimate(item: RoutableItem, view: ProviderView, state: RoutingState): Candidate {
    const calls = callsOn(item, view.contextTokens);
    return this.estimateOn(item, view, state, calls.ok ? calls : { calls: 1, usage: usageOf(item) });
  }

  /** Time and cost of `estimate`'s calls on the provider: each pays its latency; they run one after another. */
  private estimateOn(item: RoutableItem, view: ProviderView, state: RoutingState, estimate: CallsEstimate): Candidate {
    const { now } = state;
    const own = callsWork(estimate);
    const margin = this.margin[view.target];
    const costUsd = costOf(estimate.usage, view.price);
    const base = { view, calls: estimate.calls, ownWork: own, ownCostUsd: costUsd, comingNote: comingNote(view, now) };
    if (view.queue) {
      const movable = (q: QueuedWork) => q.item !== undefined && this.cloudCould(q.item, state);
      // The schedule charges one latency per piece of work: the further calls' latency rides as work.
      const latencyWork = ((estimate.calls - 1) * view.latencyMs * view.tokensPerSec) / 1000;
      const work = { deadline: item.deadline, workTokens: own + latencyWork };
      const { finishAt, displaced } = edfPlacement(view, edfOrder(view.queue), now, work, margin, movable);
      const movingUsd = this.displacementCost(displaced, own, view, state);
      const meets = meetsWithMargin(now, finishAt, item.deadline, margin);
      return { ...base, finishAt, costUsd: costUsd + movingUsd, displaced: displaced.length, meets };
    }
    const aggregate = view.tokensPerSec * Math.max(1, view.concurrency);
    const latencyMs = estimate.calls * view.latencyMs;
    const finishAt =
      readyFrom(view, now) + latencyMs + (view.backlogTokens / aggregate) * 1000 + (own / view.tokensPerSec) * 1000;
    return { ...base, finishAt, costUsd, displaced: 0, meets: meetsWithMargin(now, finishAt, item.deadline, margin) };
  }

  /**
   * What moving the work an item of `ownWork` pushes late costs. Taking that much work out of the queue
   * right behind the item would leave everything after it as it was, so at most `ownWork` of the
   * displaced work has to go: the cheapest to move per token, the last of it in part. (Scheduled as
   * whole items on sequences that free up in step, a batch's last round of items all read as late
   * together, though one item's worth of work moved would make room for the rest.)
   */
  private displacementCost(
    displaced: readonly QueuedWork[],
    ownWork: number,
    from: ProviderView,
    state: RoutingState,
  ): number {
    const moves = displaced
      .map((q) => ({ work: q.workTokens, usd: this.moveCost(q, from, state) }))
      .sort((a, b) => a.usd / Math.max(a.work, 1e-9) - b.usd / Math.max(b.work, 1e-9));
    let usd = 0;
    let left = ownWork;
    for (const m of moves) {
      if (left <= 0) break;
      usd += m.work <= left ? m.usd : (m.usd * left) / m.work;
      left -= m.work;
    }
    return usd;
  }

  /** Some available cleared cloud provider, idle, would meet the item's deadline: the watchdog can move it there. */
  private cloudCould(item: RoutableItem, state: RoutingState): boolean {
    return state.providers.some(
      (p) =>
        p.target === 'cloud' &&
        p.available !== false &&
        isCleared(p.clearance, item.sensitivity) &&
        canServe(p, item) &&
        callsOn(item, p.contextTokens).ok &&
        idleFinish(item, p, state.now) <= item.deadline,
    );
  }

  /**
   * What it adds to move queued work off `from` to the cheapest available cleared cloud provider that
   * meets its deadline with margin: Infinity when it is unknown what the work is, or no provider would.
   */
  private moveCost(q: QueuedWork, from: ProviderView, state: RoutingState): number {
    if (!q.item) return Infinity;
    const queued = q.item;
    const here = costOn(queued, from);
    let best = Infinity;
    for (const view of state.providers) {
      if (
        view.target !== 'cloud' ||
        view.available === false ||
        !isCleared(view.clearance, queued.sensitivity) ||
        !canServe(view, queued)
      )
        continue;
      if (!callsOn(queued, view.contextTokens).ok) continue;
      const c = this.estimate(queued, view, state);
      if (c.meets) best = Math.min(best, c.ownCostUsd - here);
    }
    return best;
  }

  private toDecision(c: Candidate, reason: string, atRisk: boolean): RouteDecision {
    const displacing =
      c.displaced > 0 ? `; pushes ${c.displaced} queued item(s) past their deadline, to be moved to the cloud` : '';
    return {
      target: c.view.target,
      provider: c.view.name,
      model: c.view.model,
      reason: `${reason}${c.comingNote ? `; ${c.comingNote}` : ''}${displacing}`,
      atRisk,
      estimatedFinishAt: Math.round(c.finishAt),
      estimatedCostUsd: c.ownCostUsd,
    };
  }
}

/** Whether the provider has not been found unable to do what the item needs. */
export function canServe(view: Pick<ProviderView, 'lacks'>, item: Pick<RoutableItem, 'needs'>): boolean {
  return !item.needs?.some((need) => view.lacks?.includes(need));
}

function usageOf(item: RoutableItem) {
  return { inputTokens: item.inputTokens, outputTokens: item.expectedOutputTokens };
}

/** What the item's calls on the provider cost (one call's worth where its context cannot hold it). */
function costOn(item: RoutableItem, view: ProviderView): number {
  const calls = callsOn(item, view.contextTokens);
  return costOf(calls.ok ? calls.usage : usageOf(item), view.price);
}

function callsWork(estimate: CallsEstimate): number {
  return workTokens({ inputTokens: estimate.usage.inputTokens, expectedOutputTokens: estimate.usage.outputTokens });
}

function meetsWithMargin(now: number, finishAt: number, deadline: number, margin: number): boolean {
  return now + (finishAt - now) * (1 + margin) <= deadline;
}

/** When the item would finish on the provider with nothing queued ahead of it. */
function idleFinish(item: RoutableItem, view: ProviderView, now: number): number {
  const calls = callsOn(item, view.contextTokens);
  const estimate = calls.ok ? calls : { calls: 1, usage: usageOf(item) };
  return readyFrom(view, now) + estimate.calls * view.latencyMs + (callsWork(estimate) / view.tokensPerSec) * 1000;
}

/** What the reason says when an estimate counted on capacity that is coming. */
function comingNote(view: ProviderView, now: number): string | undefined {
  if (!view.coming) return undefined;
  const inS = Math.max(0, Math.round((view.coming.readyAt - now) / 1000));
  const what = { loading: 'loading', restarting: 'restarting', gone: 'gone within its grace', starting: 'starting' }[
    view.coming.status
  ];
  return `counted on ${view.name} coming (pool ${what}, expected ready in ${inS} s)`;
}

/** Generation-equivalent tokens an item costs a provider: its output plus prefill of its input. */
export function workTokens(item: Pick<RoutableItem, 'inputTokens' | 'expectedOutputTokens'>): number {
  return item.expectedOutputTokens + item.inputTokens / PREFILL_SPEEDUP;
}

/**
 * The work of every call the item makes on a context of `contextTokens` (see callsOn): what it adds to that
 * provider's backlog. One call's work where the context is unknown, or cannot hold it.
 */
export function workTokensOn(
  item: Pick<RoutableItem, 'inputTokens' | 'expectedOutputTokens' | 'split'>,
  contextTokens: number | undefined,
): number {
  const calls = callsOn(item, contextTokens);
  return calls.ok ? callsWork(calls) : workTokens(item);
}

/** Dollars per work token the item saves on the cheapest local provider rather than its cheapest cloud one. */
function localSavingPerToken(item: RoutableItem, providers: readonly ProviderView[]): number {
  const costs = (target: RouteTarget) =>
    providers
      .filter((p) => p.target === target && isCleared(p.clearance, item.sensitivity) && canServe(p, item))
      .filter((p) => callsOn(item, p.contextTokens).ok)
      .map((p) => costOn(item, p));
  const local = costs('local');
  const cloud = costs('cloud');
  if (local.length === 0) return 0;
  if (cloud.length === 0) return Infinity;
  return (Math.min(...cloud) - Math.min(...local)) / Math.max(workTokens(item), 1e-9);
}

function cheaper(a: Candidate, b: Candidate): boolean {
  if (a.costUsd !== b.costUsd) return a.costUsd < b.costUsd;
  return a.view.target === 'local' && b.view.target !== 'local';
}
