import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { boardJobData } from '#libs/queue';

/**
 * Bull Board's BullMQ adapter, its jobs' payloads shown without the text they carry (boardJobData): an admin key
 * watches the queues; the documents and source files stay with their batches, behind the API's read scopes.
 */
export class TextFreeBullMQAdapter extends BullMQAdapter {
  /** The limiter `max` the queue's workers consume with (queueLimiterMax); limitedAt sets it. */
  protected readonly limiterMax: number | undefined = undefined;
  private readonly watched: ConstructorParameters<typeof BullMQAdapter>[0];

  constructor(...args: ConstructorParameters<typeof BullMQAdapter>) {
    super(...args);
    this.watched = args[0];
    this.setFormatter('data', boardJobData);
  }

  /**
   * "Rate limited" only when the queue is held back. Every worker has a limiter (JobQueue.consume), whose counter
   * lives a minute after any job starts; BullMQ, not told the limit, reports that counter's time to live, so
   * every queue that ran a job in the last minute read "rate limited". Told the limit, it reports a counter
   * that reached it, or a wait a worker set (a token quota), which fills the counter.
   */
  override async getActiveRateLimitTtl(): Promise<number> {
    const ttl = await this.watched.getRateLimitTtl(this.limiterMax);
    return ttl > 0 ? ttl : 0;
  }

  /** The adapter for a queue whose workers' limiter takes `max` jobs a minute. */
  static limitedAt(max: number): typeof TextFreeBullMQAdapter {
    return class extends TextFreeBullMQAdapter {
      protected override readonly limiterMax = max;
    };
  }
}
