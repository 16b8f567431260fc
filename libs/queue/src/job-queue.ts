import { Queue, WaitingError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { QueueTuning } from '#libs/config';
import {
  type JobName,
  type JobPayloads,
  type JobSpec,
  type QueueRef,
  QueueKind,
  limiterMax,
  queueName,
} from './queue-names.js';
import { BULL_SETTINGS } from './cron-slots.js';
import { QUEUE_SETTINGS } from './queue-settings.js';
import { LockLost, Preempted, RateLimited } from './job-errors.js';
import type {
  ConsumeOptions,
  ConsumerHandle,
  JobHandler,
  QueueDepth,
  QueueLayer,
  SchedulerTiming,
} from './queue-layer.js';
import { dataNodes, redisOutage, type RedisClient } from '#libs/redis';
import { bullPrefix } from './bull-prefix.js';
import { queueTelemetry } from './queue-telemetry.js';

/** Job removals sent at once per queue by purge. */
const PURGE_CHUNK = 200;
const CLAIM_COMMAND = 'switchyardClaim';
const CLAIM_LUA = "if redis.call('SET', KEYS[1], '1', 'PX', ARGV[1], 'NX') then return 1 end return 0";
/** The clients the claim script is defined on (once per client). */
const claimDefined = new WeakSet<object>();

/**
 * The one place that talks to BullMQ: adding jobs, counting, removing waiting jobs, consuming.
 * Domain code depends on what it offers (QueueLayer), never on `bullmq`; unit tests use InMemoryJobQueue.
 */
export class JobQueue implements QueueLayer {
  private readonly consumers: ConsumerHandle[] = [];
  /**
   * Queues of providers this deployment no longer configures, opened to read and remove their waiting jobs
   * (retiredQueues): never consumed, closed with the consumers.
   */
  private readonly retired = new Map<string, Queue>();
  /** Each job attempt's consumer span continues the trace its enqueue started (undefined: tracing is off). */
  private readonly telemetry = queueTelemetry();

  constructor(
    private readonly queues: ReadonlyMap<string, Queue>,
    private readonly connection: ConnectionOptions,
    private readonly prefix: string,
    private readonly tuning: QueueTuning,
    /**
     * Runs after every enqueue, before it returns: the replica WAIT (REDIS_WAIT_REPLICAS) on the
     * connections the jobs were written through, where the app's own WAIT does not cover them.
     */
    private readonly waitReplicas: () => Promise<void> = () => Promise.resolve(),
  ) {}

  /**
   * The replica WAIT (REDIS_WAIT_REPLICAS) on the connections the queues write through, where the app's own WAIT
   * does not cover them (a Cluster's): after every enqueue, and wherever the API acknowledges a write.
   */
  replicated(): Promise<void> {
    return this.waitReplicas();
  }

  /** Adds jobs atomically per queue; ids are deterministic, so a repeated call adds nothing twice. */
  async enqueue(queue: QueueRef, jobs: JobSpec[]): Promise<void> {
    if (jobs.length === 0) return;
    const s = QUEUE_SETTINGS[queue.kind](this.tuning);
    const chunk = 1000;
    for (let i = 0; i < jobs.length; i += chunk) {
      await this.queue(queue).addBulk(
        jobs.slice(i, i + chunk).map((j) => ({
          name: j.name,
          data: j.data,
          opts: {
            jobId: j.jobId,
            priority: j.priority,
            delay: j.delayMs,
            attempts: s.attempts,
            backoff: s.backoff,
            removeOnComplete: s.removeOnComplete,
            removeOnFail: s.removeOnFail,
          },
        })),
      );
    }
    await this.waitReplicas();
  }

  /** Removes a job that has not started; returns false if it is running, finished or unknown. */
  async removeWaiting(queue: QueueRef, jobId: string): Promise<boolean> {
    const job = await this.queue(queue, { retired: true }).getJob(jobId);
    if (!job) return false;
    const state = await job.getState();
    if (state !== 'waiting' && state !== 'prioritized' && state !== 'delayed') return false;
    try {
      await job.remove();
      return true;
    } catch {
      return false; // taken by a worker between the check and the removal
    }
  }

  async purge(jobIds: readonly string[]): Promise<number> {
    let removed = 0;
    for (const q of [...this.queues.values(), ...this.retired.values()])
      for (let from = 0; from < jobIds.length; from += PURGE_CHUNK) {
        const counts = await Promise.all(jobIds.slice(from, from + PURGE_CHUNK).map((id) => q.remove(id)));
        removed += counts.reduce((a, b) => a + b, 0);
      }
    return removed;
  }

  async requeue(queue: QueueRef, spec: JobSpec): Promise<'added' | 'retried' | 'present'> {
    const job = await this.queue(queue).getJob(spec.jobId);
    if (job) {
      const state = await job.getState();
      if (state === 'failed') {
        try {
          await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
          return 'retried';
        } catch {
          return 'present'; // retried by another process between the read and the retry
        }
      }
      if (state !== 'completed' && state !== 'unknown') return 'present';
      await job.remove().catch(() => undefined);
    }
    await this.enqueue(queue, [spec]);
    return 'added';
  }

  async depth(queue: QueueRef): Promise<QueueDepth> {
    const c = await this.queue(queue).getJobCounts(
      'waiting',
      'active',
      'delayed',
      'prioritized',
      'completed',
      'failed',
    );
    return {
      waiting: c.waiting ?? 0,
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      prioritized: c.prioritized ?? 0,
      completed: c.completed ?? 0,
      failed: c.failed ?? 0,
    };
  }

  /**
   * Upserts a Job Scheduler: one job per slot (`every` ms, or a cron `pattern` in time zone `tz`) on
   * `queue`, however many processes call this (the scheduler id is the key); each slot's job is taken by
   * exactly one worker.
   */
  async schedule<N extends JobName>(
    queue: QueueRef,
    schedulerId: string,
    when: SchedulerTiming,
    name: N,
    data: JobPayloads[N],
  ): Promise<void> {
    const s = QUEUE_SETTINGS[queue.kind](this.tuning);
    await this.queue(queue).upsertJobScheduler(schedulerId, when, {
      name,
      data,
      opts: {
        removeOnComplete: s.removeOnComplete,
        removeOnFail: s.removeOnFail,
        attempts: s.attempts,
        backoff: s.backoff,
      },
    });
  }

  async unschedule(queue: QueueRef, schedulerId: string): Promise<boolean> {
    return this.queue(queue).removeJobScheduler(schedulerId);
  }

  /** When a scheduler fires next (epoch ms), or null if there is no such scheduler. */
  async nextRun(queue: QueueRef, schedulerId: string): Promise<number | null> {
    return (await this.queue(queue).getJobScheduler(schedulerId))?.next ?? null;
  }

  /** Jobs waiting on a queue, in the order they will run (priority, then arrival). */
  async waiting<N extends JobName>(
    queue: QueueRef,
    limit: number,
    opts: { delayed?: boolean } = {},
  ): Promise<Array<{ id: string; data: JobPayloads[N]; priority: number }>> {
    const states = opts.delayed ? ['prioritized', 'waiting', 'delayed'] : ['prioritized', 'waiting'];
    const jobs = await this.queue(queue, { retired: true }).getJobs(
      states as Array<'prioritized' | 'waiting' | 'delayed'>,
      0,
      limit - 1,
      true,
    );
    return jobs
      .filter((j): j is Job => Boolean(j))
      .map((j) => ({ id: j.id!, data: j.data as JobPayloads[N], priority: j.priority ?? 0 }));
  }

  /**
   * One read of the job, then BullMQ's changePriority. Should a worker take the job in between, the script only
   * sets the priority field of the running job: were it put back (preempted), it waits with that priority.
   */
  async reprioritize(queue: QueueRef, jobId: string, priority: number): Promise<boolean> {
    const job = await this.queue(queue).getJob(jobId);
    if (!job) return false;
    const state = await job.getState();
    if (state !== 'prioritized' && state !== 'waiting') return false;
    await job.changePriority({ priority });
    return true;
  }

  /**
   * SET NX PX beside the job's own keys (`<job key>:claim:<what>`, in its slot), on the queue's connection: a
   * script, since BullMQ's client interface has no SET NX.
   */
  async claim(queue: QueueRef, jobId: string, what: string, ttlMs: number): Promise<boolean> {
    const q = this.queue(queue);
    const client = await q.getBackend().client;
    if (!claimDefined.has(client)) {
      client.defineCommand(CLAIM_COMMAND, { numberOfKeys: 1, lua: CLAIM_LUA });
      claimDefined.add(client);
    }
    const ttl = Math.max(1, Math.ceil(ttlMs));
    return (await client.runCommand(CLAIM_COMMAND, [`${q.toKey(jobId)}:claim:${what}`, ttl])) === 1;
  }

  /** One script call (BullMQ's getRanges: LRANGE/ZRANGE), where getJobs read every job's hash besides (issue 17 §2). */
  async waitingIds(queue: QueueRef, limit: number): Promise<string[]> {
    return this.queue(queue).getRanges(['prioritized', 'waiting'], 0, limit - 1, true);
  }

  async failedIds(queue: QueueRef, start: number, count: number): Promise<string[]> {
    return this.queue(queue).getRanges(['failed'], start, start + count - 1, true);
  }

  /** BullMQ's clean on the finished sets, by finishedOn: one script call per state when nothing is due. */
  async trimFinished(queue: QueueRef, limit = 1000): Promise<number> {
    const s = QUEUE_SETTINGS[queue.kind](this.tuning);
    const q = this.queue(queue);
    const completed = await q.clean(s.removeOnComplete.age * 1000, limit, 'completed');
    const failed = await q.clean(s.removeOnFail.age * 1000, limit, 'failed');
    return completed.length + failed.length;
  }

  /** The ids in one script call, then each running job's processedOn: as many reads as the pool's concurrency. */
  async running(queue: QueueRef, limit: number): Promise<Array<{ id: string; startedAt: number }>> {
    const q = this.queue(queue);
    const ids = await q.getRanges(['active'], 0, limit - 1, true);
    if (ids.length === 0) return [];
    const client = await q.getBackend().client;
    const started = await Promise.all(ids.map((id) => client.hget(q.toKey(id), 'processedOn')));
    return ids.map((id, i) => ({ id, startedAt: started[i] ? Number(started[i]) : Date.now() }));
  }

  async payloads<N extends JobName>(queue: QueueRef, ids: readonly string[]): Promise<Array<JobPayloads[N] | null>> {
    const q = this.queue(queue);
    const jobs = await Promise.all(ids.map((id) => q.getJob(id)));
    return jobs.map((j) => (j ? (j.data as JobPayloads[N]) : null));
  }

  /**
   * Inference queues that hold or held jobs in Redis (BullMQ writes a queue's `meta` hash with its first job) for a
   * provider this deployment does not configure: a local model renamed or removed from LOCAL_MODELS, a cloud
   * provider removed. Nothing consumes them. A SCAN over the data nodes, so the caller runs it seldom.
   */
  async retiredQueues(): Promise<QueueRef[]> {
    const [any] = this.queues.values();
    if (!any) return [];
    const client = (await any.getBackend().client) as unknown as RedisClient;
    const prefix = bullPrefix(this.prefix);
    const head = `${prefix}:`;
    const pattern = `${globEscaped(head)}inference-*:meta`;
    const names = new Set<string>();
    for (const node of dataNodes(client)) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) names.add(key.slice(head.length, -':meta'.length));
      } while (cursor !== '0');
    }
    return [...names]
      .filter((name) => !this.queues.has(name))
      .map((name) => {
        const dot = name.indexOf('.');
        return { kind: name.slice(0, dot) as QueueKind, provider: name.slice(dot + 1) };
      })
      .filter((ref) => ref.kind === QueueKind.LocalInference || ref.kind === QueueKind.CloudInference);
  }

  /** Whether this deployment has the queue (a provider named in config). */
  has(queue: QueueRef): boolean {
    return this.queues.has(queueName(queue));
  }

  /** Starts consuming `queue`. Only the worker app calls this. */
  consume<N extends JobName>(queue: QueueRef, handler: JobHandler<N>, opts: ConsumeOptions): ConsumerHandle {
    const s = QUEUE_SETTINGS[queue.kind](this.tuning);
    const worker: Worker = new Worker(
      queueName(queue),
      // Three parameters: BullMQ then makes each job an AbortSignal, which cancelJob aborts (on a lost lock, below).
      async (job: Job, token?: string, lost?: AbortSignal) => {
        try {
          return await handler({
            id: job.id!,
            timestamp: job.timestamp,
            ...schedulerSlot(job),
            name: job.name as N,
            data: job.data as JobPayloads[N],
            attempt: job.attemptsMade + 1,
            isLastAttempt: job.attemptsMade + 1 >= (job.opts.attempts ?? 1),
            priority: job.priority ?? 0,
            lost,
          });
        } catch (err) {
          // The job is no longer this worker's: neither completed nor failed here (BullMQ could not, without its lock).
          if (err instanceof LockLost) throw new WaitingError();
          if (err instanceof Preempted) {
            // Back to the queue with its priority, no attempt spent; WaitingError tells the worker it moved.
            if (err.data !== undefined) await job.updateData(err.data);
            await job.moveToWait(token);
            throw new WaitingError();
          }
          if (!(err instanceof RateLimited)) throw err;
          await worker.rateLimit(err.waitMs);
          throw Worker.RateLimitError();
        }
      },
      {
        connection: this.connection,
        prefix: bullPrefix(this.prefix),
        // The next slot of a Job Scheduler is worked out here, when a slot's job starts (nextCronSlot).
        settings: BULL_SETTINGS,
        concurrency: opts.concurrency,
        // Always a limiter: BullMQ honours a rate limit set on the queue (worker.rateLimit, for RateLimited) only for
        // workers that have one, so without REQUESTS_PER_MINUTE a token quota's wait paused the worker that hit it
        // and every other worker of the queue went on sending.
        limiter: { max: limiterMax(opts.requestsPerMinute), duration: 60_000 },
        lockDuration: s.lockDurationMs,
        stalledInterval: s.stalledIntervalMs,
        maxStalledCount: s.maxStalledCount,
        telemetry: this.telemetry,
      },
    );
    // Errors are reported per job in the store; a dropped connection is one outage warning, not one per retry.
    redisOutage.watchQueue(worker, `worker ${queueName(queue)}`);
    // A lock BullMQ could not renew is held by no one, or by another worker that took the job as stalled: its
    // handler here is told to stop (JobContext.lost) rather than run on beside that one. A renewal that could not
    // reach Redis is not reported so: the lock may still be this worker's.
    worker.on('lockRenewalFailed', (jobIds) => {
      for (const id of jobIds) worker.cancelJob(id, 'lock lost');
    });
    // BullMQ emits 'failed' for every failed attempt; finishedOn is set only on the last (no retry follows).
    if (opts.onFailed) {
      const onFailed = opts.onFailed;
      worker.on('failed', (job, err) => {
        if (!job?.id || !job.finishedOn) return;
        const reason = job.failedReason || (err instanceof Error ? err.message : String(err));
        // The callback reports its own failures (ConsumeOptions.onFailed); nothing here may end the process.
        onFailed({ id: job.id, name: job.name as JobName, data: job.data }, reason).catch(() => undefined);
      });
    }
    const closeWithin = async (timeoutMs: number) => {
      let timer: NodeJS.Timeout | undefined;
      const graceful = worker.close().catch(() => undefined);
      const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
      const outcome = await Promise.race([graceful, timedOut]);
      clearTimeout(timer);
      if (outcome !== 'timeout') return;
      // worker.close(true) would return the pending graceful close. Dropping the connections ends it:
      // running jobs stay active in Redis, their locks lapse and stalled-job recovery runs them again.
      // disconnect() itself waits for an 'end' ioredis never emits while it is between reconnects.
      void worker.disconnect().catch(() => undefined);
    };
    let closing: Promise<void> | undefined;
    const handle: ConsumerHandle = {
      queue,
      setConcurrency: (n) => {
        worker.concurrency = n;
      },
      // Once: the pools close their consumers, then the module closes whatever is left. A closed one leaves the
      // list: an engine pool pauses and resumes its consumer on every outage, and each left a handle behind.
      close: (timeoutMs) =>
        (closing ??= closeWithin(timeoutMs).finally(() => {
          const at = this.consumers.indexOf(handle);
          if (at >= 0) this.consumers.splice(at, 1);
        })),
    };
    this.consumers.push(handle);
    return handle;
  }

  /**
   * The queue of a configured provider. With `retired`, also an inference queue of a provider no longer configured,
   * opened to read and remove its waiting jobs (retiredQueues); nothing is ever added to one.
   */
  private queue(ref: QueueRef, opts: { retired?: boolean } = {}): Queue {
    const name = queueName(ref);
    const q = this.queues.get(name) ?? (opts.retired ? this.retired.get(name) : undefined);
    if (q) return q;
    if (!opts.retired || (ref.kind !== QueueKind.LocalInference && ref.kind !== QueueKind.CloudInference))
      throw new Error(`no queue ${name}: provider "${ref.provider}" is not configured`);
    const opened = new Queue(name, {
      connection: this.connection,
      prefix: bullPrefix(this.prefix),
      settings: BULL_SETTINGS,
    });
    redisOutage.watchQueue(opened, `queue ${name}`);
    this.retired.set(name, opened);
    return opened;
  }

  /**
   * Drops every queue's connections without QUIT (for a shutdown while Redis is gone). Not awaited:
   * ioredis emits no 'end' for a client that is between reconnect attempts.
   */
  disconnectQueues(): void {
    for (const q of [...this.queues.values(), ...this.retired.values()]) void q.disconnect().catch(() => undefined);
  }

  /** Consumers started and not closed yet: what closeConsumers would stop. */
  get openConsumers(): number {
    return this.consumers.length;
  }

  /** Stops every consumer this process started (queues themselves are closed by their owner). */
  async closeConsumers(timeoutMs = 10_000): Promise<void> {
    await Promise.all(this.consumers.splice(0).map((c) => c.close(timeoutMs)));
    // The retired queues opened here are this layer's own (the configured ones are their module's).
    const retired = [...this.retired.values()];
    this.retired.clear();
    await Promise.all(retired.map((q) => q.close().catch(() => undefined)));
  }
}

/**
 * A Job Scheduler's job: the slot it was made for. BullMQ names the job `repeat:<scheduler id>:<slot ms>` and makes
 * it when the slot before starts (its timestamp); the slot is not kept among the options a worker reads back.
 */
function schedulerSlot(job: Job): { slot?: number } {
  if (job.repeatJobKey === undefined) return {};
  const slot = /^repeat:.*:(\d+)$/.exec(job.id ?? '')?.[1];
  return slot === undefined ? {} : { slot: Number(slot) };
}

/** `s` matched literally by a Redis glob pattern (SCAN MATCH): its `*`, `?`, `[`, `]` and `\\` escaped. */
function globEscaped(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
