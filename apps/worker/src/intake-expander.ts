import { Logger } from '@nestjs/common';
import type { BatchIntake } from '#libs/batches';
import { INTAKE_QUEUE, JobName, type ConsumerHandle, type QueueLayer } from '#libs/queue';

/**
 * Expands batches the API accepted on their validated body (`validating`, issue 17 §2) into items: routed,
 * written, audited and enqueued by BatchIntake.expand. One at a time per worker: a 100,000-item batch is CPU
 * work for tens of seconds, and the items of the first batch run meanwhile. Started once this worker's pools
 * are, so routing sees them and its tokenizers count the prompts. A worker that dies mid-expansion leaves the
 * job active; stalled-job recovery runs it again, and the expansion resumes where the records say it stopped.
 */
export class IntakeExpander {
  private readonly log = new Logger('intake');
  private consumer?: ConsumerHandle;

  constructor(
    private readonly jobs: QueueLayer,
    private readonly intake: BatchIntake,
  ) {}

  start(): void {
    this.consumer = this.jobs.consume<JobName.ExpandBatch>(
      INTAKE_QUEUE,
      async (job) => {
        const { batchId } = job.data;
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
  }

  async stop(timeoutMs = 5000): Promise<void> {
    await this.consumer?.close(timeoutMs);
  }
}
