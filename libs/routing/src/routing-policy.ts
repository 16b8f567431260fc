import { costOf, type Price } from './cost.js';
import { isCleared, type Sensitivity } from './sensitivity.js';

export type RouteTarget = 'local' | 'cloud';

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
  /** Estimated output tokens already waiting or running on this provider. */
  backlogTokens: number;
  /** Fixed overhead per call (network, time to first token). */
  latencyMs: number;
  /** false while the provider is known to be failing (its circuit breaker is open); absent means available. */
  available?: boolean;
}

export interface RoutingState {
  now: number;
  providers: ProviderView[];
}

export interface RoutableItem {
  sensitivity: Sensitivity;
  /** Epoch milliseconds. */
  deadline: number;
  inputTokens: number;
  expectedOutputTokens: number;
}

export interface RouteDecision {
  target: RouteTarget;
  provider: string;
  model: string;
  reason: string;
  atRisk: boolean;
  estimatedFinishAt: number;
  estimatedCostUsd: number;
}

/** Prompt processing is an order of magnitude faster than generation on every engine we measured. */
const PREFILL_SPEEDUP = 10;

interface Candidate {
  view: ProviderView;
  finishAt: number;
  costUsd: number;
}

/**
 * Decides where one item runs. Rules, in order:
 * 1. never a provider whose clearance is below the item's sensitivity;
 * 2. among cleared providers that meet the deadline, the cheapest (local wins ties);
 * 3. none meets it: the cleared cloud provider that finishes first, else local — marked at-risk.
 */
export class RoutingPolicy {
  decide(item: RoutableItem, state: RoutingState): RouteDecision {
    const cleared = state.providers.filter((p) => isCleared(p.clearance, item.sensitivity));
    if (cleared.length === 0) {
      throw new Error(`no provider is cleared for "${item.sensitivity}" data`);
    }
    const candidates = cleared.map((view) => this.estimate(item, view, state.now));
    const onTime = candidates.filter((c) => c.finishAt <= item.deadline);
    const blocked = state.providers.length - cleared.length;
    const clearanceNote = blocked > 0 ? `; ${blocked} provider(s) not cleared for ${item.sensitivity}` : '';

    if (onTime.length > 0) {
      const best = onTime.reduce((a, b) => (cheaper(b, a) ? b : a));
      const why = onTime.length === 1 ? 'only cleared provider meeting the deadline' : 'cheapest cleared provider meeting the deadline';
      return this.toDecision(best, `${why}${clearanceNote}`, false);
    }
    const clouds = candidates.filter((c) => c.view.target === 'cloud');
    if (clouds.length > 0) {
      const fastest = clouds.reduce((a, b) => (b.finishAt < a.finishAt ? b : a));
      return this.toDecision(fastest, `at-risk: no provider meets the deadline; fastest cleared cloud provider${clearanceNote}`, true);
    }
    const local = candidates.find((c) => c.view.target === 'local') ?? candidates[0];
    return this.toDecision(local, `at-risk: local cannot meet the deadline and no cloud provider is cleared${clearanceNote}`, true);
  }

  /**
   * Routes a whole batch in order, charging each local decision to the local backlog so later items
   * see the queue the earlier ones created. Returns decisions in input order.
   */
  plan(items: RoutableItem[], state: RoutingState): RouteDecision[] {
    const providers = state.providers.map((p) => ({ ...p }));
    const running: RoutingState = { now: state.now, providers };
    return items.map((item) => {
      const decision = this.decide(item, running);
      const chosen = providers.find((p) => p.name === decision.provider && p.target === decision.target);
      if (chosen) chosen.backlogTokens += workTokens(item);
      return decision;
    });
  }

  private estimate(item: RoutableItem, view: ProviderView, now: number): Candidate {
    const aggregate = view.tokensPerSec * Math.max(1, view.concurrency);
    const waitMs = (view.backlogTokens / aggregate) * 1000;
    const ownMs = (workTokens(item) / view.tokensPerSec) * 1000;
    return {
      view,
      finishAt: now + view.latencyMs + waitMs + ownMs,
      costUsd: costOf({ inputTokens: item.inputTokens, outputTokens: item.expectedOutputTokens }, view.price),
    };
  }

  private toDecision(c: Candidate, reason: string, atRisk: boolean): RouteDecision {
    return {
      target: c.view.target,
      provider: c.view.name,
      model: c.view.model,
      reason,
      atRisk,
      estimatedFinishAt: Math.round(c.finishAt),
      estimatedCostUsd: c.costUsd,
    };
  }
}

/** Generation-equivalent tokens an item costs a provider: its output plus prefill of its input. */
export function workTokens(item: Pick<RoutableItem, 'inputTokens' | 'expectedOutputTokens'>): number {
  return item.expectedOutputTokens + item.inputTokens / PREFILL_SPEEDUP;
}

function cheaper(a: Candidate, b: Candidate): boolean {
  if (a.costUsd !== b.costUsd) return a.costUsd < b.costUsd;
  return a.view.target === 'local' && b.view.target !== 'local';
}
