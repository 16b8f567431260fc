import { Logger } from '@nestjs/common';
import type { BatchIntake } from '#libs/batches';
import { JobName, PermanentJobError, SCHEDULES_QUEUE, type ConsumerHandle, type QueueLayer } from '#libs/queue';
import type { ScheduleService } from '#libs/schedules';
import { SubmissionRejected } from '#libs/batches';

/** Turns each schedule slot (a Job Scheduler's job) into an ordinary batch. */
export class ScheduleRunner {
  private readonly log = new Logger('schedules');
  private consumer?: ConsumerHandle;

  constructor(
    private readonly jobs: QueueLayer,
    private readonly schedules: ScheduleService,
    private readonly intake: BatchIntake,
  ) {}

  start(): void {
    this.consumer = this.jobs.consume<JobName.FireSchedule>(
      SCHEDULES_QUEUE,
      async (job) => {
        try {
          const schedule = job.data.schedule;
          // The slot the job was made for: BullMQ makes it when the slot before starts, so its timestamp is not.
          const at = job.slot ?? job.timestamp;
          const outcome = await this.schedules.fire(schedule, at, this.intake, { lastAttempt: job.isLastAttempt });
          const { batchId, skippedUnchanged, skipped } = outcome;
          const slot = new Date(at).toISOString();
          // Over the owner key's limits (or its key revoked): recorded on the schedule's runs, said here.
          if (skipped) this.log.warn({ msg: 'schedule firing skipped', schedule, slot, reason: skipped });
          else this.log.log({ msg: 'schedule fired', schedule, slot, batchId, skippedUnchanged });
          return { batchId, skippedUnchanged, skipped };
        } catch (err) {
          this.log.error({
            msg: 'schedule firing failed',
            schedule: job.data.schedule,
            error: err instanceof Error ? err.message : String(err),
          });
          // A template that no longer validates will not validate on retry either.
          throw err instanceof SubmissionRejected ? new PermanentJobError(err.message) : err;
        }
      },
      { concurrency: 2 },
    );
  }

  async stop(timeoutMs = 5000): Promise<void> {
    await this.consumer?.close(timeoutMs);
  }
}
