import type { RedisClient } from '#libs/redis';
import type { RouteTarget } from '#libs/routing';
import type { BatchKeys } from './batch-keys.js';
import { providerKey, type BacklogMove } from './item-transitions.js';

/**
 * How old the shares' sums a routing call uses may be (ProviderBacklog.routing): the backlog drains over
 * minutes, and a routing call sees its own process's new batches at once; at 1,000 open batches, reading
 * them every 5 s is 200 commands a second per process, where every call read them before.
 */
export const ROUTING_BACKLOG_MAX_AGE_MS = 5_000;

/** Changes noted since the held read (batches created, items moved), past which the read is dropped rather than added to. */
const NOTES_KEPT_MAX = 1_000;

/**
 * Work waiting or running on each provider, in generation-equivalent tokens. Each batch keeps its own share
 * (BatchKeys.batchBacklog), moved by the item scripts atomically with the item: an item adds its estimate
 * when created, moves it along on a reroute and takes it back when it finishes, exactly once. A provider's
 * backlog is the sum over the open batches. On a Redis Cluster a global counter could not change in the
 * same atomic step as an item (another slot), and a crash between the two would leave it wrong for good;
 * the sum is exact by construction (issue 14 §4).
 */
export class ProviderBacklog {
  /** The sums the last read of the shares found, and when that read started. */
  private snapshot: { takenAt: number; sums: Map<string, number> } | undefined;
  /** The read of the shares under way, which every routing call that needs one waits for (single flight). */
  private reading: Promise<void> | undefined;
  /**
   * What this process changed since the held read, by the order it was noted (`seq`), as work per provider: the
   * batches it created (`id`) and the items it moved to another provider (no id).
   */
  private notes: Array<{ id?: string; seq: number; work: Map<string, number> }> = [];
  private noted = 0;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: BatchKeys,
  ) {}

  /** Never negative: float sums can leave a hair below zero once everything is released. */
  async tokens(target: RouteTarget, provider: string): Promise<number> {
    return (await this.all())(target, provider);
  }

  /**
   * Every provider's backlog from one read of the open batches' shares: a routing call asks for each
   * provider, and reading the shares once per provider would repeat the same reads for every one.
   */
  async all(): Promise<(target: RouteTarget, provider: string) => number> {
    const { sums } = await this.sums();
    return (target, provider) => Math.max(0, sums.get(providerKey(target, provider)) ?? 0);
  }

  /**
   * Every provider's backlog as a routing call uses it: the sums of a read of the shares at most `maxAgeMs`
   * old, plus what this process changed since that read started (issue 17 §2: one HGETALL per open
   * batch on every call was 1,000 commands a call with 1,000 batches in flight). So a call costs no command
   * while the read is fresh, and the shares are read once per `maxAgeMs` per process, by whichever call finds
   * the read stale (the others wait for it), however many calls there are.
   *
   * Invalidation: the read is dropped by age only. What it cannot see until the next one is what other
   * processes changed (another API's batches, another worker's reroutes) and items finished: at most `maxAgeMs`
   * late. This process's own new batches and reroutes count at once (createdBatch, movedWork).
   * The shares stay the one record and exact (nothing derived is written), so a crash or a Cluster leaves
   * nothing wrong for long: the next read sums them again. `tokens` and `all` read them afresh, exactly.
   */
  async routing(maxAgeMs = ROUTING_BACKLOG_MAX_AGE_MS): Promise<(target: RouteTarget, provider: string) => number> {
    while (!this.snapshot || Date.now() - this.snapshot.takenAt > maxAgeMs) {
      // A read that started before this call may be older than the age asked: then a fresh one follows.
      const startedBefore = this.reading !== undefined;
      await (this.reading ??= this.read().finally(() => (this.reading = undefined)));
      if (!startedBefore) break;
    }
    const sums = new Map(this.snapshot!.sums);
    for (const { work } of this.notes) {
      for (const [field, tokens] of work) sums.set(field, (sums.get(field) ?? 0) + tokens);
    }
    return (target, provider) => Math.max(0, sums.get(providerKey(target, provider)) ?? 0);
  }

  /**
   * A batch this process just created (its share written and in the open set): counted by routing calls until
   * a read counts its share, never both: a read drops it where it listed the batch, or started after it was
   * noted (then the batch was listed, or finished and its share is gone). Not kept where no read is held or
   * under way (the next call reads the shares anyway), nor past NOTES_KEPT_MAX (the held read is dropped).
   */
  createdBatch(id: string, work: Map<string, number>): void {
    this.note(work, id);
  }

  /**
   * An item this process just moved to another provider (a reroute, an escalation): its work counts at the new
   * one, not the old, until a read that started after the move sums the shares, which hold it already. A burst
   * of reroutes (a provider's outage turning its items away) otherwise saw the same backlog for up to the
   * read's age and piled onto one provider. A read that started before the move and ended after it may have
   * summed it too: then it counts twice until the next read, never missing.
   */
  movedWork({ from, to, work }: BacklogMove): void {
    this.note(
      new Map([
        [from, -work],
        [to, work],
      ]),
    );
  }

  /**
   * A change of this process's, counted by routing calls until a read that started after it (or, for a batch,
   * listed it). Not kept where no read is held or under way: the next call reads the shares anyway.
   */
  private note(work: Map<string, number>, id?: string): void {
    if (!this.snapshot && !this.reading) return;
    this.notes.push({ id, seq: this.noted++, work });
    if (this.notes.length >= NOTES_KEPT_MAX) this.snapshot = undefined;
  }

  private async read(): Promise<void> {
    const from = this.noted;
    const takenAt = Date.now();
    const { ids, sums } = await this.sums();
    this.snapshot = { takenAt, sums };
    const listed = new Set(ids);
    this.notes = this.notes.filter((c) => c.seq >= from && !(c.id !== undefined && listed.has(c.id)));
  }

  /** The open batches read, and their shares summed per provider. */
  private async sums(): Promise<{ ids: string[]; sums: Map<string, number> }> {
    const sums = new Map<string, number>();
    const { ids, shares } = await this.shares();
    for (const share of shares) {
      for (const [field, work] of Object.entries(share)) sums.set(field, (sums.get(field) ?? 0) + Number(work));
    }
    return { ids, sums };
  }

  /**
   * Every open batch's share. A batch whose share is gone (deleted when it finished) leaves the open set:
   * a share is written before the batch joins the set (BatchCreation), so a missing one is a finished batch.
   */
  private async shares(): Promise<{ ids: string[]; shares: Array<Record<string, string>> }> {
    const ids = await this.redis.smembers(this.keys.openBacklogs());
    const shares = await Promise.all(ids.map((id) => this.redis.hgetall(this.keys.batchBacklog(id))));
    const finished = ids.filter((_, i) => Object.keys(shares[i]).length === 0);
    // Housekeeping for later reads, not awaited: an empty share adds nothing to this sum, and a removal that
    // fails is made by the next read that finds it. Awaiting it put a write (an fsync) on every routing call.
    if (finished.length > 0) this.redis.srem(this.keys.openBacklogs(), ...finished).catch(() => undefined);
    return { ids, shares };
  }
}
