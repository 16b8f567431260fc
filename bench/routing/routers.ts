import { costOf } from '#libs/routing';
import {
  RoutingPolicy,
  escalationSweep,
  type SweepEntry,
  type SweepMove,
  workTokens,
  type ProviderView,
  type RoutableItem,
  type RouteDecision,
  type RoutingState,
} from '#libs/routing';
import { isCleared } from '#libs/domain';

export type RouterName = 'switchyard' | 'all-cloud' | 'all-local' | 'threshold' | 'batch-api' | 'single-tier';

export interface Route {
  provider: string;
  /** The router expects the deadline to be missed there. */
  atRisk: boolean;
  /** Where the router wants the item enqueued among its batch (input order when absent). */
  rank?: number;
  /** Offer it to the provider only after this long (the provider is down now). */
  parkMs?: number;
}

/** What the simulator asks of a routing strategy. */
export interface Router {
  readonly name: RouterName;
  /** A newly arrived batch, routed together. */
  routeBatch(items: RoutableItem[], state: RoutingState): Route[];
  /** One item routed again, after a failed attempt. */
  routeOne(item: RoutableItem, state: RoutingState): Route;
  /**
   * Production's escalation watchdog (libs/routing escalationSweep), which runs only beside a router that has
   * this: what to move off the local queue now (`clouds` offers the cloud providers up).
   */
  sweep?<T>(view: ProviderView, clouds: RoutingState, waiting: readonly SweepEntry<T>[], down: boolean): SweepMove<T>[];
}

/** Ours: the production RoutingPolicy itself, imported, not copied. */
export function switchyard(policy = new RoutingPolicy()): Router {
  return {
    name: 'switchyard',
    routeBatch: (items, state) => policy.plan(items, state).map((d) => ({ ...toRoute(d), rank: d.rank })),
    routeOne: (item, state) => toRoute(policy.decide(item, state)),
    sweep: (view, clouds, waiting, down) => [...escalationSweep(policy, view, clouds, waiting, down)],
  };
}

function toRoute(d: RouteDecision): Route {
  return { provider: d.provider, atRisk: d.atRisk, parkMs: d.parkMs };
}

/** Static rules, evaluated item by item; none of them runs the watchdog. */
function staticRouter(name: RouterName, rule: (item: RoutableItem, state: RoutingState) => ProviderView): Router {
  const routeOne = (item: RoutableItem, state: RoutingState): Route => ({
    provider: rule(item, state).name,
    atRisk: false,
  });
  return { name, routeOne, routeBatch: (items, state) => items.map((item) => routeOne(item, state)) };
}

/** Every item to the cheapest cleared cloud provider that is up; local only when there is none. */
export const allCloud = (): Router =>
  staticRouter('all-cloud', (item, state) => cheapestCloud(item, state) ?? localOf(state));

/**
 * The provider's Batch API alone (issue 16 §4): every item to a cleared `<provider>.batch` route that is up (24 h
 * windows: what a client of the OpenAI Batch API gets), else the cheapest cleared cloud route, else local. Its
 * deadline hit rate is part of the answer: a batch route finishes when the provider's batch does.
 */
export const batchApi = (): Router =>
  staticRouter('batch-api', (item, state) => {
    const batch = state.providers.find(
      (p) =>
        p.target === 'cloud' &&
        p.name.endsWith('.batch') &&
        p.available !== false &&
        isCleared(p.clearance, item.sensitivity),
    );
    return batch ?? cheapestCloud(item, state) ?? localOf(state);
  });

/** Every item to the local pool. */
export const allLocal = (): Router => staticRouter('all-local', (_item, state) => localOf(state));

/** Small items local, big ones to the cheapest cleared cloud provider that is up (else local). */
export const threshold = (maxLocalWorkTokens = 500): Router =>
  staticRouter('threshold', (item, state) =>
    workTokens(item) <= maxLocalWorkTokens ? localOf(state) : (cheapestCloud(item, state) ?? localOf(state)),
  );

function localOf(state: RoutingState): ProviderView {
  const local = state.providers.find((p) => p.target === 'local');
  if (!local) throw new Error('no local provider in the routing state');
  return local;
}

function cheapestCloud(item: RoutableItem, state: RoutingState): ProviderView | undefined {
  const usage = { inputTokens: item.inputTokens, outputTokens: item.expectedOutputTokens };
  return state.providers
    .filter((p) => p.target === 'cloud' && p.available !== false && isCleared(p.clearance, item.sensitivity))
    .reduce<ProviderView | undefined>(
      (best, p) => (!best || costOf(usage, p.price) < costOf(usage, best.price) ? p : best),
      undefined,
    );
}
