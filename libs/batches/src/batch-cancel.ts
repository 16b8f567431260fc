import type { RedisClient } from '#libs/redis';
import type { BatchKeys } from './batch-keys.js';
import type { ItemTransitions } from './item-transitions.js';

/**
 * Cancelling a batch: items that have not started are cancelled here; running ones see the flag and
 * their workers abort them.
 */
export class BatchCancel {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: BatchKeys,
    private readonly transitions: ItemTransitions,
  ) {}

  /**
   * Cancels every item that has not started and flags the batch so workers abort the running ones;
   * returns the indexes it cancelled here (none for a batch that does not exist).
   */
  async cancel(batchId: string): Promise<number[]> {
    // Only on a batch that exists: one the results retention deleted since the caller looked must not come back
    // as a hash of one field that no index lists and no retention pass would ever find.
    const flagged = await this.redis.eval(
      "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'cancelRequested', '1') return 1 end " +
        'return 0',
      1,
      this.keys.batch(batchId),
    );
    if (flagged !== 1) return [];
    const total = Number(await this.redis.hget(this.keys.batch(batchId), 'total'));
    const indexes = Array.from({ length: total }, (_, i) => i);
    const outcomes = await Promise.all(
      indexes.map((index) =>
        this.transitions.move({
          batchId,
          index,
          from: ['queued'],
          to: 'cancelled',
          update: { error: 'cancelled before it started' },
        }),
      ),
    );
    return indexes.filter((index) => outcomes[index] === 'applied');
  }

  async isRequested(batchId: string): Promise<boolean> {
    return (await this.redis.hget(this.keys.batch(batchId), 'cancelRequested')) === '1';
  }
}
