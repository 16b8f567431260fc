import { Logger } from '@nestjs/common';
import type { BatchIntake } from '#libs/batches';
import { INTAKE_QUEUE, JobName, type ConsumerHandle, type QueueLayer } from '#libs/queue';

/**
 * How often the sweep looks for accepted batches whose expansion job gave up. The API enqueues the expansion
 * at once and its job retries; the sweep only catches what outlasted those retries, so it can be slow.
 */
const SWEEP_INTERVAL_MS = 60_000;

/**
 * Expands batches the API accepted on their validated body (`validating`, issue 17 §2) into items: routed,
 * written, audited and enqueued by BatchIntake.expand. One at a time per worker: a 100,000-item batch is CPU
 * work for tens of seconds, and the items of the first batch run meanwhile. Started once this worker's pools
 * are, so routing sees them and its tokenizers count the prompts. A worker that dies mid-expansion leaves the
 * job active; stalled-job recovery runs it again, and the expansion resumes where the records say it stopped.
 * A job that gives up (its attempts spent while Redis was away, or killed twice) is requeued by the sweep, each
 * minute on one worker (a Job Scheduler) and at start: an accepted batch waits for a worker, never expires.
 */
export class IntakeExpander {
  private readonly log = new Logger('intake');
  private consumer?: ConsumerHandle;

  constructor(
    private readonly jobs: QueueLayer,
    private readonly intake: BatchIntake,
  ) {}

  async start(): Promise<void> {
    await this.jobs.schedule(INTAKE_QUEUE, 'intake-sweep', { every: SWEEP_INTERVAL_MS }, JobName.IntakeSweep, {});
    this.consumer = this.jobs.consume<JobName.ExpandBatch | JobName.IntakeSweep>(
      INTAKE_QUEUE,
      async (job) => {
        if (job.name === JobName.IntakeSweep) return this.sweep();
        const { batchId } = job.data as { batchId: string };
        const startedAt = Date.now();
        try {
          const outcome = await this.intake.expand(batchId);
          this.log.log({ msg: 'batch expanded', batchId, outcome, ms: Date.now() - startedAt });
          return { outcome };
        } catch (err) {
          const error = err instanceof Error ? err.message : String(err);
          this.log.error({ msg: 'batch expansion failed; it is retried', batchId, attempt: job.attempt, error });
          throw err;
        }
      },
      { concurrency: 1 },
    );
    // Batches whose expansion gave up while no worker ran are requeued now, not a minute from now.
    await this.sweep();
  }

  /** Gives each accepted batch still pending whose expansion job gave up (or was lost) its job back. */
  async sweep(): Promise<{ requeued: number; dropped: number }> {
    const pass = await this.intake.requeuePending();
    if (pass.requeued > 0) this.log.warn({ msg: 'batch expansions requeued after their job gave up', ...pass });
    return pass;
  }

  async stop(timeoutMs = 5000): Promise<void> {
    await this.consumer?.close(timeoutMs);
  }
}
