/* eslint-disable @typescript-eslint/require-await -- an in-memory twin of an async interface: nothing to await */
import type { QueueTuning } from '#libs/config';
import { PermanentJobError, Preempted, RateLimited } from './job-errors.js';
import { type JobName, type JobPayloads, type JobSpec, type QueueRef, queueName } from './queue-names.js';
import type {
  ConsumeOptions,
  ConsumerHandle,
  JobContext,
  JobHandler,
  QueueDepth,
  QueueLayer,
  SchedulerTiming,
} from './queue-layer.js';
import { nextCronSlot } from './cron-slots.js';
import { QUEUE_SETTINGS } from './queue-settings.js';

export type FakeJobState = 'waiting' | 'prioritized' | 'delayed' | 'active' | 'completed' | 'failed';

/** One job as the fake keeps it: what a test may look at after running it. */
export interface FakeJob {
  readonly id: string;
  readonly queue: string;
  readonly name: JobName;
  /** BullMQ's job.data: updated only by a preemption that keeps what the run learned (job.updateData). */
  data: unknown;
  priority?: number;
  /** When it was added (a scheduler's job: its slot). */
  readonly timestamp: number;
  /** A scheduler's job: the slot it was made for. */
  readonly slot?: number;
  state: FakeJobState;
  /** Not taken before this (delayed jobs, retries after their backoff). */
  readyAt: number;
  attemptsMade: number;
  readonly attempts: number;
  startedAt?: number;
  returnValue?: unknown;
  failedReason?: string;
  schedulerId?: string;
}

interface FakeScheduler {
  when: SchedulerTiming;
  name: JobName;
  data: unknown;
  next: number;
}

export interface InMemoryJobQueueOptions {
  /** The queues this deployment has (has() and every call check them, as JobQueue does); all when absent. */
  queues?: QueueRef[];
  /** Attempts and backoff per kind of queue, as JobQueue reads them from QUEUE_SETTINGS. */
  tuning?: QueueTuning;
  /** The clock delays, backoffs, pauses and scheduler slots are measured on (a test moves it). */
  now?: () => number;
  /**
   * Inference queues of providers no longer configured (retiredQueues lists those holding jobs): has() is false for
   * them, waiting and removeWaiting read them, and a test fills them with enqueue, as an earlier config did.
   */
  retired?: QueueRef[];
}

const DEFAULT_TUNING: QueueTuning = {
  lockDurationMs: 60_000,
  stalledIntervalMs: 30_000,
  maxStalledCount: 1,
  attempts: 3,
  backoffMs: 1000,
};

/**
 * The queue layer in this process, for unit tests (Twenty's SyncDriver): it keeps every job in a map and
 * runs them only when the test says so (runNext, drain), so what a handler does is deterministic. It
 * behaves as JobQueue does for what callers use — deterministic ids added once, priority then arrival,
 * removing only jobs not started, counts by state, Job Schedulers keyed by id, attempts with exponential
 * backoff, PermanentJobError failing at once, RateLimited pausing the queue without charging an attempt —
 * and keeps finished jobs (retention is not modelled), so a test can read their results.
 */
export class InMemoryJobQueue implements QueueLayer {
  private readonly jobsById = new Map<string, FakeJob>();
  private readonly schedulers = new Map<string, FakeScheduler>();
  private readonly handlers = new Map<
    string,
    { handler: JobHandler<JobName>; closed: boolean; concurrency: number; onFailed?: ConsumeOptions['onFailed'] }
  >();
  private readonly pausedUntil = new Map<string, number>();
  /** Claims (claim()): key → when it expires. */
  private readonly claims = new Map<string, number>();
  private readonly known?: Set<string>;
  private readonly retired: Set<string>;
  private readonly tuning: QueueTuning;
  private readonly now: () => number;

  constructor(opts: InMemoryJobQueueOptions = {}) {
    this.known = opts.queues && new Set(opts.queues.map(queueName));
    this.retired = new Set((opts.retired ?? []).map(queueName));
    this.tuning = opts.tuning ?? DEFAULT_TUNING;
    this.now = opts.now ?? Date.now;
  }

  async enqueue(queue: QueueRef, jobs: JobSpec[]): Promise<void> {
    const name = this.queueOf(queue);
    const { attempts } = QUEUE_SETTINGS[queue.kind](this.tuning);
    for (const j of jobs) {
      const key = `${name}:${j.jobId}`;
      if (this.jobsById.has(key)) continue; // the same id twice adds nothing, as in BullMQ
      const now = this.now();
      const delayed = (j.delayMs ?? 0) > 0;
      this.jobsById.set(key, {
        id: j.jobId,
        queue: name,
        name: j.name,
        data: j.data,
        priority: j.priority,
        timestamp: now,
        state: delayed ? 'delayed' : j.priority ? 'prioritized' : 'waiting',
        readyAt: now + (j.delayMs ?? 0),
        attemptsMade: 0,
        attempts,
      });
    }
  }

  async removeWaiting(queue: QueueRef, jobId: string): Promise<boolean> {
    const key = `${this.queueOf(queue)}:${jobId}`;
    const job = this.jobsById.get(key);
    if (!job || !isWaiting(job.state)) return false;
    this.jobsById.delete(key);
    return true;
  }

  async purge(jobIds: readonly string[]): Promise<number> {
    const ids = new Set(jobIds);
    let removed = 0;
    for (const [key, job] of this.jobsById)
      if (ids.has(job.id) && job.state !== 'active') {
        this.jobsById.delete(key);
        removed += 1;
      }
    return removed;
  }

  async requeue(queue: QueueRef, spec: JobSpec): Promise<'added' | 'retried' | 'present'> {
    const job = this.jobsById.get(`${this.queueOf(queue)}:${spec.jobId}`);
    if (job?.state === 'failed') {
      Object.assign(job, { state: 'waiting', readyAt: this.now(), attemptsMade: 0, failedReason: undefined });
      return 'retried';
    }
    if (job && job.state !== 'completed') return 'present';
    if (job) this.jobsById.delete(`${job.queue}:${job.id}`);
    await this.enqueue(queue, [spec]);
    return 'added';
  }

  async depth(queue: QueueRef): Promise<QueueDepth> {
    const name = this.queueOf(queue);
    const depth: QueueDepth = { waiting: 0, active: 0, delayed: 0, prioritized: 0, completed: 0, failed: 0 };
    for (const job of this.jobsById.values()) if (job.queue === name) depth[job.state] += 1;
    return depth;
  }

  async schedule<N extends JobName>(
    queue: QueueRef,
    schedulerId: string,
    when: SchedulerTiming,
    name: N,
    data: JobPayloads[N],
  ): Promise<void> {
    const q = this.queueOf(queue);
    // An upsert replaces the scheduler and its next slot's job.
    this.dropSchedulerJob(q, schedulerId);
    const now = this.now();
    // Like BullMQ: an `every` scheduler fires at once, then every interval; a cron one at its next slot.
    const first = 'every' in when ? now : nextCron(when, now);
    this.schedulers.set(`${q}:${schedulerId}`, { when, name, data, next: first });
    this.addSlot(queue, schedulerId);
  }

  async unschedule(queue: QueueRef, schedulerId: string): Promise<boolean> {
    const q = this.queueOf(queue);
    this.dropSchedulerJob(q, schedulerId);
    return this.schedulers.delete(`${q}:${schedulerId}`);
  }

  async nextRun(queue: QueueRef, schedulerId: string): Promise<number | null> {
    return this.schedulers.get(`${this.queueOf(queue)}:${schedulerId}`)?.next ?? null;
  }

  async waiting<N extends JobName>(
    queue: QueueRef,
    limit: number,
    opts: { delayed?: boolean } = {},
  ): Promise<Array<{ id: string; data: JobPayloads[N]; priority: number }>> {
    const name = this.queueOf(queue);
    const ready = this.inOrder(name);
    const delayed = opts.delayed
      ? [...this.jobsById.values()].filter((j) => j.queue === name && j.state === 'delayed' && !ready.includes(j))
      : [];
    return [...ready, ...delayed]
      .slice(0, limit)
      .map((j) => ({ id: j.id, data: j.data as JobPayloads[N], priority: j.priority ?? 0 }));
  }

  async reprioritize(queue: QueueRef, jobId: string, priority: number): Promise<boolean> {
    const key = `${this.queueOf(queue)}:${jobId}`;
    const job = this.jobsById.get(key);
    if (!job || (job.state !== 'waiting' && job.state !== 'prioritized')) return false;
    job.priority = priority;
    job.state = priority ? 'prioritized' : 'waiting';
    // Behind the jobs already waiting with that priority, as BullMQ's priority counter puts it.
    this.jobsById.delete(key);
    this.jobsById.set(key, job);
    return true;
  }

  async claim(queue: QueueRef, jobId: string, what: string, ttlMs: number): Promise<boolean> {
    const key = `${this.queueOf(queue)}:${jobId}:${what}`;
    const now = this.now();
    if ((this.claims.get(key) ?? -Infinity) > now) return false;
    this.claims.set(key, now + ttlMs);
    return true;
  }

  async waitingIds(queue: QueueRef, limit: number): Promise<string[]> {
    return (await this.waiting(queue, limit)).map((j) => j.id);
  }

  async failedIds(queue: QueueRef, start: number, count: number): Promise<string[]> {
    const name = this.queueOf(queue);
    return [...this.jobsById.values()]
      .filter((j) => j.queue === name && j.state === 'failed')
      .slice(start, start + count)
      .map((j) => j.id);
  }

  /** Retention is not modelled here (finished jobs are kept for tests to read): nothing is ever due. */
  async trimFinished(): Promise<number> {
    return 0;
  }

  async running(queue: QueueRef, limit: number): Promise<Array<{ id: string; startedAt: number }>> {
    const name = this.queueOf(queue);
    return [...this.jobsById.values()]
      .filter((j) => j.queue === name && j.state === 'active')
      .slice(0, limit)
      .map((j) => ({ id: j.id, startedAt: j.startedAt ?? this.now() }));
  }

  async payloads<N extends JobName>(queue: QueueRef, ids: readonly string[]): Promise<Array<JobPayloads[N] | null>> {
    const name = this.queueOf(queue);
    return ids.map((id) => (this.jobsById.get(`${name}:${id}`)?.data as JobPayloads[N] | undefined) ?? null);
  }

  has(queue: QueueRef): boolean {
    return !this.retired.has(queueName(queue)) && (!this.known || this.known.has(queueName(queue)));
  }

  async retiredQueues(): Promise<QueueRef[]> {
    const holding = new Set([...this.jobsById.values()].map((j) => j.queue));
    return [...this.retired].filter((name) => holding.has(name)).map((name) => this.refOf(name));
  }

  consume<N extends JobName>(queue: QueueRef, handler: JobHandler<N>, opts: ConsumeOptions): ConsumerHandle {
    const entry = {
      handler: handler as JobHandler<JobName>,
      closed: false,
      concurrency: opts.concurrency,
      onFailed: opts.onFailed,
    };
    this.handlers.set(this.queueOf(queue), entry);
    return {
      queue,
      setConcurrency: (n) => void (entry.concurrency = n),
      close: async () => void (entry.closed = true),
    };
  }

  /** A job as the fake holds it (undefined once removed): its state, attempts and result. */
  job(queue: QueueRef, jobId: string): FakeJob | undefined {
    return this.jobsById.get(`${queueName(queue)}:${jobId}`);
  }

  /** Every job of a queue, in the order they were added. */
  jobs(queue: QueueRef): FakeJob[] {
    const name = queueName(queue);
    return [...this.jobsById.values()].filter((j) => j.queue === name);
  }

  /**
   * Runs the next job of `queue` that is due through its consumer, as a BullMQ worker would, and returns
   * it; null when none is due, nobody consumes the queue, or the queue is paused by RateLimited.
   */
  async runNext(queue: QueueRef): Promise<FakeJob | null> {
    const name = this.queueOf(queue);
    const consumer = this.handlers.get(name);
    if (!consumer || consumer.closed || (this.pausedUntil.get(name) ?? 0) > this.now()) return null;
    const job = this.inOrder(name)[0];
    if (!job) return null;
    job.state = 'active';
    job.startedAt = this.now();
    if (job.schedulerId) this.nextSlot(queue, job.schedulerId);
    const context: JobContext<JobName> = {
      id: job.id,
      timestamp: job.timestamp,
      ...(job.slot !== undefined && { slot: job.slot }),
      name: job.name,
      data: job.data as JobPayloads[JobName],
      attempt: job.attemptsMade + 1,
      isLastAttempt: job.attemptsMade + 1 >= job.attempts,
      priority: job.priority ?? 0,
    };
    try {
      job.returnValue = await consumer.handler(context);
      job.state = 'completed';
    } catch (err) {
      this.afterFailure(queue, job, err);
      // As BullMQ's 'failed' event on the last attempt (JobQueue.consume). The state is read anew: afterFailure set it.
      if ((job.state as FakeJobState) === 'failed')
        await consumer
          .onFailed?.({ id: job.id, name: job.name, data: job.data }, job.failedReason ?? '')
          .catch(() => undefined);
    }
    return job;
  }

  /** Runs due jobs on every consumed queue until none is left; returns how many ran. Bounded, so a job that keeps re-adding itself cannot hang a test. */
  async drain(maxJobs = 10_000): Promise<number> {
    let ran = 0;
    for (let progress = true; progress && ran < maxJobs;) {
      progress = false;
      for (const name of this.handlers.keys()) {
        const job = await this.runNext(this.refOf(name));
        if (job) {
          ran += 1;
          progress = true;
        }
      }
    }
    return ran;
  }

  private afterFailure(queue: QueueRef, job: FakeJob, err: unknown): void {
    if (err instanceof Preempted) {
      // BullMQ's job.moveToWait: back with its priority, no attempt spent, the queue not paused.
      if (err.data !== undefined) job.data = err.data;
      job.state = job.priority ? 'prioritized' : 'waiting';
      return;
    }
    if (err instanceof RateLimited) {
      // BullMQ's worker.rateLimit: the queue waits, the job goes back without spending an attempt.
      this.pausedUntil.set(job.queue, this.now() + err.waitMs);
      job.state = job.priority ? 'prioritized' : 'waiting';
      return;
    }
    job.attemptsMade += 1;
    job.failedReason = err instanceof Error ? err.message : String(err);
    if (err instanceof PermanentJobError || job.attemptsMade >= job.attempts) {
      job.state = 'failed';
      return;
    }
    const { backoff } = QUEUE_SETTINGS[queue.kind](this.tuning);
    job.state = 'delayed';
    job.readyAt = this.now() + backoff.delay * 2 ** (job.attemptsMade - 1);
  }

  /** Waiting jobs due now, in the order a worker takes them: prioritized by priority then arrival, then plain waiting ones. */
  private inOrder(name: string): FakeJob[] {
    const now = this.now();
    const due = [...this.jobsById.values()].filter((j) => j.queue === name && isWaiting(j.state) && j.readyAt <= now);
    const rank = (j: FakeJob) => (j.priority ? j.priority : Number.MAX_SAFE_INTEGER);
    // A stable sort keeps arrival order among equals (the map iterates in insertion order).
    return due.sort((a, b) => rank(a) - rank(b));
  }

  private addSlot(queue: QueueRef, schedulerId: string): void {
    const q = queueName(queue);
    const s = this.schedulers.get(`${q}:${schedulerId}`)!;
    const now = this.now();
    const { attempts } = QUEUE_SETTINGS[queue.kind](this.tuning);
    this.jobsById.set(`${q}:repeat:${schedulerId}:${s.next}`, {
      id: `repeat:${schedulerId}:${s.next}`,
      queue: q,
      name: s.name,
      data: s.data,
      // As BullMQ makes it: now (when the slot before started, or the scheduler was set), for the slot `slot`.
      timestamp: now,
      slot: s.next,
      state: s.next > now ? 'delayed' : 'waiting',
      readyAt: s.next,
      attemptsMade: 0,
      attempts,
      schedulerId,
    });
  }

  /** A scheduler's slot was taken: its next slot's job is added, as BullMQ does when a worker takes one. */
  private nextSlot(queue: QueueRef, schedulerId: string): void {
    const s = this.schedulers.get(`${queueName(queue)}:${schedulerId}`);
    if (!s) return;
    s.next = 'every' in s.when ? s.next + s.when.every : nextCron(s.when, s.next);
    this.addSlot(queue, schedulerId);
  }

  private dropSchedulerJob(q: string, schedulerId: string): void {
    for (const [key, job] of this.jobsById)
      if (job.queue === q && job.schedulerId === schedulerId && isWaiting(job.state)) this.jobsById.delete(key);
  }

  private queueOf(ref: QueueRef): string {
    const name = queueName(ref);
    if (!this.has(ref) && !this.retired.has(name))
      throw new Error(`no queue ${name}: provider "${ref.provider}" is not configured`);
    return name;
  }

  private refOf(name: string): QueueRef {
    const dot = name.indexOf('.');
    return { kind: name.slice(0, dot) as QueueRef['kind'], provider: name.slice(dot + 1) };
  }
}

function isWaiting(state: FakeJobState): boolean {
  return state === 'waiting' || state === 'prioritized' || state === 'delayed';
}

function nextCron(when: { pattern: string; tz: string }, after: number): number {
  return nextCronSlot(when.pattern, after, { tz: when.tz });
}
