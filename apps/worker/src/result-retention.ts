import { Logger } from '@nestjs/common';
import type { BatchRetention, RetentionPass } from '#libs/batches';
import { JobName, RETENTION_QUEUE, type ConsumerHandle, type QueueLayer, type QueueRef } from '#libs/queue';

const SCHEDULER_ID = 'result-retention';

export interface ResultRetentionSettings {
  /** RESULT_TTL in ms; null keeps every batch. */
  resultTtlMs: number | null;
  sweepIntervalMs: number;
  /** Every queue of the deployment: their finished jobs past what their kind keeps go with each sweep. */
  queues: readonly QueueRef[];
}

/**
 * Runs the results retention (issue 17 §2) as a Job Scheduler on its maintenance queue: each slot runs once,
 * on whichever worker takes it, and deletes what finished more than RESULT_TTL ago: the batches, and the finished
 * jobs past what their queue keeps (an item job holds its item's text; BullMQ trims them only when a later job of
 * the queue finishes). With RESULT_TTL=off the scheduler is removed, so a worker started with retention off stops
 * the sweeps an earlier one set up.
 */
export class ResultRetention {
  private readonly log = new Logger('retention');
  private consumer?: ConsumerHandle;

  constructor(
    private readonly jobs: QueueLayer,
    private readonly retention: Pick<BatchRetention, 'trim'>,
    private readonly settings: ResultRetentionSettings,
  ) {}

  async start(): Promise<void> {
    const ttl = this.settings.resultTtlMs;
    if (ttl === null) {
      await this.jobs.unschedule(RETENTION_QUEUE, SCHEDULER_ID);
      this.log.log({ msg: 'results retention off (RESULT_TTL=off): finished batches are kept' });
      return;
    }
    await this.jobs.schedule(
      RETENTION_QUEUE,
      SCHEDULER_ID,
      { every: this.settings.sweepIntervalMs },
      JobName.RetentionSweep,
      {},
    );
    this.consumer = this.jobs.consume<JobName.RetentionSweep>(RETENTION_QUEUE, () => this.sweep(ttl), {
      concurrency: 1,
    });
  }

  async stop(timeoutMs = 5000): Promise<void> {
    await this.consumer?.close(timeoutMs);
  }

  async sweep(ttlMs: number): Promise<RetentionPass & { finishedJobs: number }> {
    const pass = await this.retention.trim(ttlMs);
    if (pass.trimmed + pass.stale + pass.openaiBatches > 0)
      this.log.log({ msg: 'finished batches past RESULT_TTL deleted', ttlMs, ...pass });
    let finishedJobs = 0;
    for (const queue of this.settings.queues) finishedJobs += await this.jobs.trimFinished(queue);
    if (finishedJobs > 0) this.log.log({ msg: 'finished jobs past what their queues keep deleted', finishedJobs });
    return { ...pass, finishedJobs };
  }
}
