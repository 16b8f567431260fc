import type { ComingStatus } from '#libs/routing';
import type { PoolHeartbeat, SeenPool } from './pool-registry.js';

/**
 * Capacity that is coming (issue 19): a local model with no pool consuming may still have one loading, one
 * restarting, or one that stopped beating a moment ago — in a rolling deploy of GPU workers, or a worker
 * restarted by its supervisor, it is back after a model load. Routing counts such a model from its expected
 * ready time for a grace; after that it is down, as before.
 */

/** POOL_GRACE_MS and POOL_LOAD_ESTIMATE_MS. */
export interface PoolGraceConfig {
  /** How long a model whose pools are coming counts as coming; null: derived from its load time (poolGraceMs). */
  graceMs: number | null;
  /** A model's expected load time before any pool of it has been measured loading. */
  loadEstimateMs: number;
}

/** The least grace derived from a load time: a heartbeat lost to a busy second is not a deploy. */
export const MIN_DERIVED_GRACE_MS = 30_000;

/**
 * The grace a model gets: POOL_GRACE_MS when set, else three of its loads (a restart, its load, and a load
 * that runs long), at least MIN_DERIVED_GRACE_MS.
 */
export function poolGraceMs(config: PoolGraceConfig, loadMs: number): number {
  return config.graceMs ?? Math.max(MIN_DERIVED_GRACE_MS, 3 * loadMs);
}

/** What the directory knows about one local model's capacity; GET /v1/pools shows it per model. */
export interface ModelCapacity {
  model: string;
  /** 'up': a pool consumes; a ComingStatus: counted from `readyAt`; 'down': none for longer than the grace. */
  state: 'up' | ComingStatus | 'down';
  /** Coming: when its sequences are expected to start. */
  readyAt: number | null;
  /** Coming: until when it counts as coming (then it is down). */
  graceUntil: number | null;
  /** When this state began: the load started, the pool stopped or was last seen, this process started. */
  since: number | null;
  /** The sequences its pools last ran (what coming capacity is counted with); null when none was seen. */
  sequences: number | null;
  /** The load time expected (measured, else POOL_LOAD_ESTIMATE_MS) and the grace derived from it. */
  loadMs: number;
  graceMs: number;
}

export interface ModelCapacityInput {
  model: string;
  /** Live pools of this model (heartbeats that have not expired). */
  live: readonly PoolHeartbeat[];
  /** The last heartbeat of every pool of this model seen recently, live or not. */
  seen: readonly SeenPool[];
  loadMs: number;
  graceMs: number;
  /** When the process asking started: before any pool of a configured model is seen, it is expected for a grace. */
  startedAt: number;
  now: number;
}

interface Coming {
  status: ComingStatus;
  readyAt: number;
  graceUntil: number;
  since: number;
}

/**
 * A pool of the same model that started after another was last seen replaced it (the restart happened, or a
 * rolling deploy's new pod came up): the older one's word no longer counts. `pools`: live and seen, any model.
 */
export function supersededIn(pools: readonly PoolHeartbeat[]): (p: PoolHeartbeat) => boolean {
  const newest = new Map<string, number>();
  for (const p of pools) newest.set(p.queue, Math.max(newest.get(p.queue) ?? 0, p.startedAt));
  return (p) => p.at < (newest.get(p.queue) ?? 0);
}

export function modelCapacity(input: ModelCapacityInput): ModelCapacity {
  const { model, live, seen, loadMs, graceMs, startedAt, now } = input;
  const lastSequences = seen.reduce<number | null>(
    (n, p) => (p.sequences > 0 ? Math.max(n ?? 0, p.sequences) : n),
    null,
  );
  const base = { model, sequences: lastSequences, loadMs, graceMs };
  if (live.some((p) => p.status === 'consuming'))
    return { ...base, state: 'up', readyAt: null, graceUntil: null, since: null };
  const liveIds = new Set(live.map((p) => p.id));
  const superseded = supersededIn([...live, ...seen]);
  // Past its expected ready time with no word of it loading, a pool is expected no sooner than the end of its
  // grace: items that cannot wait that long move in time (the watchdog), lax ones wait for it.
  const expected = (readyAt: number, graceUntil: number) => (now > readyAt ? graceUntil : readyAt);
  const coming: Coming[] = [];
  for (const p of live) {
    if (p.status === 'loading') {
      // Loading: it says so every beat, so past its expected time it is late, not lost — counted as ready now.
      const readyAt = p.expectedReadyAt ?? p.startedAt + loadMs;
      coming.push({ status: 'loading', readyAt, graceUntil: readyAt + graceMs, since: p.startedAt });
    } else if (p.status === 'restarting' && !superseded(p)) {
      const graceUntil = p.at + graceMs;
      const readyAt = expected(p.expectedReadyAt ?? p.at + loadMs, graceUntil);
      coming.push({ status: 'restarting', readyAt, graceUntil, since: p.at });
    }
  }
  // Stopped beating without a word (a crash, a killed pod): its supervisor may start it again, when is unknown.
  for (const p of seen) {
    // A model that does not fit, or whose file cannot be loaded, is not coming back by a restart.
    if (liveIds.has(p.id) || p.status === 'does-not-fit' || p.status === 'failed' || superseded(p)) continue;
    coming.push({ status: 'gone', readyAt: p.at + graceMs, graceUntil: p.at + graceMs, since: p.at });
  }
  if (seen.length === 0 && live.length === 0) {
    const graceUntil = startedAt + graceMs;
    coming.push({
      status: 'starting',
      readyAt: expected(startedAt + loadMs, graceUntil),
      graceUntil,
      since: startedAt,
    });
  }
  const counted = coming.filter((c) => now <= c.graceUntil).sort((a, b) => a.readyAt - b.readyAt)[0];
  if (counted) return { ...base, state: counted.status, ...counted };
  const lastSeen = seen.reduce<number | null>((t, p) => Math.max(t ?? 0, p.at), null);
  return { ...base, state: 'down', readyAt: null, graceUntil: null, since: lastSeen };
}
