import type { RouteTarget } from '#libs/routing';
import { defineScript, redisScript, type RedisClient } from '#libs/redis';
import { carriedSpent, type ItemSpent } from './batch-budget.js';
import type { BatchKeys } from './batch-keys.js';
import type { ItemRoute, ItemStatus } from '#libs/domain';
import { SPENT_FIELD } from './carry-spent.lua.js';
import { ITEM_REROUTE } from './item-reroute.lua.js';
import { ITEM_TRANSITION, type ItemTransitionReply } from './item-transition.lua.js';
import { LATE_CHARGE } from './late-charge.lua.js';

/** Fields a transition may set on an item. */
export interface ItemUpdate {
  result?: string;
  /** Code items: the unified diff from the original file to the result. */
  diff?: string;
  error?: string;
  /** A failed item's ItemView.errorCode. */
  errorCode?: string;
  inputTokens?: number;
  outputTokens?: number;
  costUsd?: number;
  /**
   * What the calls of an attempt that failed used, for an item going back to its queue to be tried again
   * (which starts its tally over): kept as spent*, added to its usage when it finishes, as a reroute's are.
   */
  carry?: ItemSpent;
}

/** A move of one item from one of `from` to `to`. */
export interface ItemTransition {
  batchId: string;
  index: number;
  from: readonly ItemStatus[];
  to: ItemStatus;
  /** Applies only while the item is routed to this provider; absent: wherever it is routed. */
  provider?: string;
  update?: ItemUpdate;
  /** Recorded as startedAt / finishedAt (ms); default: now. */
  now?: number;
}

/** A provider's bill for one call (a provider batch line, `line` its custom_id) the item had already left. */
export interface LateCharge {
  batchId: string;
  index: number;
  line: string;
  spent: { inputTokens: number; outputTokens: number; costUsd: number };
  /** The line's budget reservation, given back in the same step, once (0 or left out: none). */
  releaseUsd?: number;
}

const LATE_CHARGE_OUTCOMES = { 1: 'charged', 2: 'carried', 0: 'charged-before', [-1]: 'missing' } as const;

/**
 * 'elsewhere': a reroute moved the item off the caller's provider, so the caller's job is stale. 'cancelled': a
 * move to running found its batch being cancelled, and cancelled the item instead (nothing is to run).
 */
export type TransitionOutcome = 'applied' | 'not-allowed' | 'elsewhere' | 'missing' | 'cancelled';

/** Why an item leaves a provider it failed on; `ruleOut`: never route it there again (a refusal, rejected answers). */
export interface ItemLeaving {
  target: RouteTarget;
  provider: string;
  why: string;
  ruleOut: boolean;
}

/** A move of one item to another provider. */
export interface ItemReroute {
  batchId: string;
  index: number;
  /** Applies only while the item is still routed to this provider. */
  fromProvider: string;
  /** The new route, appended to the item's history. */
  route: ItemRoute;
  /** Recorded as the item's last error. */
  note: string;
  /** Applies only while the item is in one of these; default: running. */
  statuses?: readonly ItemStatus[];
  /** What the item's calls on `fromProvider` used; added to its usage when it finishes elsewhere. */
  spent?: ItemSpent;
  /** The item leaves because it failed there (counted; with ruleOut, never routed there again). */
  left?: ItemLeaving;
}

/** How a provider is named in an item's ruledOut record. */
export function providerKey(target: RouteTarget, provider: string): string {
  return `${target}:${provider}`;
}

const TERMINAL: ReadonlySet<ItemStatus> = new Set(['completed', 'failed', 'cancelled']);

const OUTCOMES: Record<ItemTransitionReply, TransitionOutcome> = {
  [-1]: 'missing',
  0: 'not-allowed',
  1: 'applied',
  2: 'elsewhere',
  3: 'applied',
  4: 'cancelled',
  5: 'cancelled',
};

/**
 * The escalation watchdog deferred a late local item nothing could move (libs/routing lateDeferrals): the time is
 * recorded while the item is still queued, so a record never says so of an item that had started or left.
 */
const MARK_DEFERRED = redisScript<'item', readonly [at: string], 0 | 1>({
  name: 'syItemDeferred',
  keys: ['item'],
  lua: `if redis.call('HGET', KEYS[1], 'status') ~= 'queued' then return 0 end
redis.call('HSET', KEYS[1], 'deferredAt', ARGV[1])
return 1`,
});

/**
 * A call of the item's was answered without (all of) its usage, which was counted at its bound: its record says so
 * whatever status it is in, and whichever provider it ends on. Nothing for an item whose record is gone.
 */
const MARK_USAGE_ESTIMATED = redisScript<'item', readonly [], 0 | 1>({
  name: 'syItemUsageEstimated',
  keys: ['item'],
  lua: `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'usageEstimated', '1')
return 1`,
});

/**
 * The only way an item's status changes: guarded Lua transitions, so counters and statuses stay exact
 * under concurrent workers, retries and crashes.
 */
export class ItemTransitions {
  private readonly finishedListeners: Array<(batchId: string) => void> = [];
  private readonly itemFinishedListeners: Array<(batchId: string, index: number) => void> = [];
  private readonly transitionScript;
  private readonly rerouteScript;
  private readonly lateChargeScript;
  private readonly deferredScript;
  private readonly usageEstimatedScript;

  constructor(
    redis: RedisClient,
    private readonly keys: BatchKeys,
  ) {
    this.transitionScript = defineScript(redis, ITEM_TRANSITION);
    this.rerouteScript = defineScript(redis, ITEM_REROUTE);
    this.lateChargeScript = defineScript(redis, LATE_CHARGE);
    this.deferredScript = defineScript(redis, MARK_DEFERRED);
    this.usageEstimatedScript = defineScript(redis, MARK_USAGE_ESTIMATED);
  }

  /** Records that the item was deferred at `now` (ms); false when it is no longer queued (or gone). */
  async markDeferred(batchId: string, index: number, now = Date.now()): Promise<boolean> {
    return (await this.deferredScript({ item: this.keys.item(batchId, index) }, [String(now)])) === 1;
  }

  /** Records that a call's usage was estimated (MARK_USAGE_ESTIMATED); false when the item's record is gone. */
  async markUsageEstimated(batchId: string, index: number): Promise<boolean> {
    return (await this.usageEstimatedScript({ item: this.keys.item(batchId, index) }, [])) === 1;
  }

  /**
   * What a provider billed for a call the item had already left (LATE_CHARGE_LUA): added to the item's (and,
   * once it has finished, its batch's) usage and cost, once per `line`. 'missing': the item's record is gone.
   */
  async chargeLate(charge: LateCharge): Promise<'charged' | 'carried' | 'charged-before' | 'missing'> {
    const { batchId, index, line, spent, releaseUsd = 0 } = charge;
    const reply = await this.lateChargeScript(
      { item: this.keys.item(batchId, index), batch: this.keys.batch(batchId) },
      [String(spent.inputTokens), String(spent.outputTokens), String(spent.costUsd), line, String(releaseUsd)],
    );
    return LATE_CHARGE_OUTCOMES[reply];
  }

  /**
   * Calls `listener` (in this process) whenever a transition here finishes a batch: its last open item
   * reached a terminal status. A hint for prompt follow-up work (a branch output); whatever must survive a
   * crash between the transition and the listener is also found by a sweep.
   */
  onBatchFinished(listener: (batchId: string) => void): void {
    this.finishedListeners.push(listener);
  }

  /**
   * Calls `listener` (in this process) whenever a transition here moves an item to a terminal status: a
   * hint, like onBatchFinished (callbacks for item.finished), that a crash in between may lose.
   */
  onItemFinished(listener: (batchId: string, index: number) => void): void {
    this.itemFinishedListeners.push(listener);
  }

  /**
   * Moves an item to `to` if its status is one of `from` (and, with `provider`, it is routed there).
   * Terminal moves add the item's usage and cost to the batch and release its backlog, exactly once.
   */
  async move({
    batchId,
    index,
    from,
    to,
    provider = '',
    update = {},
    now = Date.now(),
  }: ItemTransition): Promise<TransitionOutcome> {
    const { carry, ...set } = update;
    const fields = Object.entries(set).flatMap(([k, v]) => (v === undefined ? [] : [k, String(v)]));
    if (carry) fields.push(SPENT_FIELD, carriedSpent(carry).join(','));
    const reply = await this.transitionScript(
      {
        item: this.keys.item(batchId, index),
        batch: this.keys.batch(batchId),
        backlog: this.keys.batchBacklog(batchId),
        events: this.keys.events(batchId),
        estimates: this.keys.estimates(batchId),
      },
      [from.join(','), to, String(now), provider, ...fields],
    );
    if (((reply === 1 || reply === 3) && TERMINAL.has(to)) || reply === 4 || reply === 5)
      for (const listener of this.itemFinishedListeners) listener(batchId, index);
    if (reply === 3 || reply === 5) for (const listener of this.finishedListeners) listener(batchId);
    return OUTCOMES[reply] ?? 'missing';
  }

  /**
   * Moves an item to another provider: queued again, new route appended to its history. Returns the number
   * of routes the item now has (a stable suffix for the new job's id), or 0 when it did not apply; and, when
   * the item's work moved between providers' backlogs, from which field to which and how much.
   */
  async reroute({
    batchId,
    index,
    fromProvider,
    route,
    note,
    statuses = ['running'],
    spent,
    left,
  }: ItemReroute): Promise<{ routes: number; moved?: BacklogMove }> {
    const leaving = left
      ? JSON.stringify({ key: providerKey(left.target, left.provider), why: left.why, ruleOut: left.ruleOut })
      : '';
    const reply = await this.rerouteScript(
      {
        item: this.keys.item(batchId, index),
        batch: this.keys.batch(batchId),
        backlog: this.keys.batchBacklog(batchId),
        events: this.keys.events(batchId),
      },
      [
        JSON.stringify(route),
        note,
        statuses.join(','),
        fromProvider,
        leaving,
        ...(spent ? carriedSpent(spent) : ([] as const)),
      ],
    );
    if (reply === 0) return { routes: 0 };
    const [routes, from, work] = reply;
    const to = providerKey(route.target, route.provider);
    return from === '' || from === to ? { routes } : { routes, moved: { from, to, work: Number(work) } };
  }
}

/** An item's work moving from one provider's backlog to another's (fields as providerKey names them). */
export interface BacklogMove {
  from: string;
  to: string;
  work: number;
}
