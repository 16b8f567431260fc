import { checkSubmission, type SubmissionLimits } from '#libs/batches/src/batch-submission.js';
import { SubmissionRejected, type BatchIntake } from '#libs/batches/src/batch-intake.js';
import { JobName, SCHEDULES_QUEUE, type JobQueue } from '#libs/queue/src/index.js';
import { checkSchedule } from './schedule-submission.js';
import type { ScheduleStore } from './schedule-store.js';
import type { ScheduleView } from './schedule-types.js';

/**
 * Users' schedules: each is one BullMQ Job Scheduler (upserted here, from the API, never registered by
 * replicas at boot), so any number of API and worker processes fire each slot once. A firing creates an
 * ordinary batch from the template, linked to the schedule by an idempotency key per slot.
 */
export class ScheduleService {
  constructor(
    private readonly store: ScheduleStore,
    private readonly jobs: JobQueue,
    private readonly limits: SubmissionLimits,
  ) {}

  /** Creates or replaces a schedule. Throws SubmissionRejected naming the wrong field. */
  async upsert(body: unknown, now = Date.now(), tenant: string | null = null): Promise<ScheduleView> {
    const check = checkSchedule(body);
    if (!check.ok) throw new SubmissionRejected(check.errors);
    const { name, cron, tz, every, batch } = check.schedule;
    const template = checkSubmission(batch, this.limits, now);
    if (!template.ok) throw new SubmissionRejected(template.errors.map((e) => ({ field: `batch.${e.field}`, message: e.message })));
    await this.store.save({ name, cron, tz, every, batch, createdAt: now, tenant });
    await this.jobs.schedule(SCHEDULES_QUEUE, name, cron ? { pattern: cron, tz: tz! } : { every: every! }, JobName.FireSchedule, { schedule: name });
    return (await this.get(name))!;
  }

  async list(): Promise<ScheduleView[]> {
    return Promise.all((await this.store.list()).map((d) => this.get(d.name) as Promise<ScheduleView>));
  }

  async get(name: string): Promise<ScheduleView | null> {
    const def = await this.store.get(name);
    if (!def) return null;
    const next = await this.jobs.nextRun(SCHEDULES_QUEUE, name);
    const runs = await this.store.runs(name);
    return {
      name: def.name,
      cron: def.cron ?? null,
      tz: def.tz ?? null,
      every: def.every ?? null,
      batch: def.batch,
      createdAt: new Date(def.createdAt).toISOString(),
      tenant: def.tenant ?? null,
      nextRunAt: next ? new Date(next).toISOString() : null,
      runs: runs.map((r) => ({ ...r, slot: new Date(r.slot).toISOString(), firedAt: new Date(r.firedAt).toISOString() })),
    };
  }

  async delete(name: string): Promise<boolean> {
    const existed = await this.store.delete(name);
    const unscheduled = await this.jobs.unschedule(SCHEDULES_QUEUE, name);
    return existed || unscheduled;
  }

  /**
   * One firing (worker side): claims the slot (a re-run after a crash creates nothing twice), submits the
   * template as an ordinary batch and records the run. A template that no longer validates is recorded as
   * a failed run and the job fails without retry.
   */
  async fire(name: string, slot: number, intake: BatchIntake, now = Date.now()): Promise<{ batchId: string | null; error?: string }> {
    const def = await this.store.get(name);
    if (!def) return { batchId: null, error: 'schedule deleted' };
    try {
      const accepted = await intake.submit(def.batch, `schedule:${name}:${slot}`, now, def.tenant ?? null);
      if (await this.store.claimSlot(name, slot)) await this.store.addRun(name, { slot, firedAt: now, batchId: accepted.id, skippedUnchanged: 0 });
      return { batchId: accepted.id };
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      if (await this.store.claimSlot(name, slot)) await this.store.addRun(name, { slot, firedAt: now, batchId: null, skippedUnchanged: 0, error });
      throw err;
    }
  }
}
