import type { JobName, JobPayloads, JobSpec, QueueRef } from './queue-names.js';

export interface QueueDepth {
  waiting: number;
  active: number;
  delayed: number;
  prioritized: number;
  completed: number;
  failed: number;
}

export type SchedulerTiming = { every: number } | { pattern: string; tz: string };

/** What a processor sees of a job: its payload and whether this is its last attempt. */
export interface JobContext<N extends JobName> {
  id: string;
  /** When the job was created. A Job Scheduler makes the next slot's job as soon as one starts: see `slot`. */
  timestamp: number;
  /** A Job Scheduler's job: the time it was made for (in BullMQ's job id), whenever it was made or runs. */
  slot?: number;
  name: N;
  data: JobPayloads[N];
  attempt: number;
  isLastAttempt: boolean;
  /** Its BullMQ priority (lower runs first; 0 or absent: none). A local item's is its deadline's, later once deferred. */
  priority?: number;
  /**
   * Aborted when this worker no longer holds the job: its lock could not be renewed (the process stalled past the
   * lock's duration, or Redis lost the key), so the stalled check may already have given the job to another worker.
   * What the handler would send from then on may be sent twice: it stops, and throws LockLost.
   */
  lost?: AbortSignal;
}

export type JobHandler<N extends JobName> = (job: JobContext<N>) => Promise<unknown>;

export interface ConsumeOptions {
  concurrency: number;
  /** Requests per minute across every worker of this queue (BullMQ's limiter). */
  requestsPerMinute?: number | null;
  /**
   * Called once a job of this queue has failed for good — its attempts spent, a permanent error, or BullMQ's
   * stall limit (a job whose workers died under it more than JOB_MAX_STALLED times is failed by the next worker
   * without running it) — so that what the job stood for is closed too. `reason`: BullMQ's failedReason, which
   * may quote an error's message: keep it out of the logs. It reports its own failures: a rejection is dropped.
   */
  onFailed?: (job: { id: string; name: JobName; data: unknown }, reason: string) => Promise<void>;
}

export interface ConsumerHandle {
  readonly queue: QueueRef;
  setConcurrency(n: number): void;
  /** Stops taking jobs and waits up to `timeoutMs` for running ones; after that they are left to be recovered as stalled. */
  close(timeoutMs: number): Promise<void>;
}

/**
 * Everything the rest of the system asks of the queues (Twenty's driver, Immich's JobRepository): JobQueue
 * does it with BullMQ and Redis, InMemoryJobQueue in the test's own process. Code that enqueues, reads or
 * consumes depends on this, so its unit tests need neither Redis nor `bullmq`.
 */
export interface QueueLayer {
  /** Adds jobs atomically per queue; ids are deterministic, so a repeated call adds nothing twice. */
  enqueue(queue: QueueRef, jobs: JobSpec[]): Promise<void>;
  /** Removes a job that has not started; returns false if it is running, finished or unknown. */
  removeWaiting(queue: QueueRef, jobId: string): Promise<boolean>;
  /**
   * Removes the jobs with these ids from every queue this layer knows (retired ones included), whatever their
   * state but running: an erasure's item jobs, which hold the item's text and a finished one its answer. Returns
   * how many were removed.
   */
  purge(jobIds: readonly string[]): Promise<number>;
  /**
   * Makes sure the job will run (again): one that failed its last attempt goes back to waiting with its attempts
   * reset, one that completed or is unknown is added anew, one waiting, delayed or running is left as it is. For
   * a sweep that finds work a job should have done (a record still pending) after its job gave up.
   */
  requeue(queue: QueueRef, job: JobSpec): Promise<'added' | 'retried' | 'present'>;
  depth(queue: QueueRef): Promise<QueueDepth>;
  /** Upserts a Job Scheduler: one job per slot on `queue`, however many processes call this (the id is the key). */
  schedule<N extends JobName>(
    queue: QueueRef,
    schedulerId: string,
    when: SchedulerTiming,
    name: N,
    data: JobPayloads[N],
  ): Promise<void>;
  unschedule(queue: QueueRef, schedulerId: string): Promise<boolean>;
  /** When a scheduler fires next (epoch ms), or null if there is no such scheduler. */
  nextRun(queue: QueueRef, schedulerId: string): Promise<number | null>;
  /**
   * Jobs waiting on a queue, in the order they will run (priority, then arrival); with `delayed`, the delayed ones
   * (parked, backing off) after them. Also on a retired queue (retiredQueues), as removeWaiting is.
   */
  waiting<N extends JobName>(
    queue: QueueRef,
    limit: number,
    opts?: { delayed?: boolean },
  ): Promise<Array<{ id: string; data: JobPayloads[N]; priority: number }>>;
  /**
   * Inference queues holding jobs for a provider this deployment does not configure (a model renamed or removed from
   * LOCAL_MODELS, a cloud provider from config), which nothing consumes. Costly (a scan): call it seldom.
   */
  retiredQueues(): Promise<QueueRef[]>;
  /**
   * Gives a waiting job another priority (BullMQ's changePriority): it then waits behind the jobs already waiting
   * with that priority. False when the job is not waiting (running, finished or unknown).
   */
  reprioritize(queue: QueueRef, jobId: string, priority: number): Promise<boolean>;
  /**
   * Claims `what` about a job of the queue for `ttlMs`: true for one caller across every process, false for any
   * other until the claim expires. For a step that more than one worker may decide on at once and only one
   * should take (a preemption for the job at the queue's head).
   */
  claim(queue: QueueRef, jobId: string, what: string, ttlMs: number): Promise<boolean>;
  /**
   * The ids of the jobs waiting on a queue, in the order they will run, without their payloads: one read
   * however many there are. With `payloads`, a reader that keeps what it has seen fetches only new jobs.
   */
  waitingIds(queue: QueueRef, limit: number): Promise<string[]>;
  /** The ids of the jobs that failed their last attempt, oldest first, `count` from `start`: one read, no payloads. */
  failedIds(queue: QueueRef, start: number, count: number): Promise<string[]>;
  /** The jobs a worker is running now: their ids and when each started (one read per running job). */
  running(queue: QueueRef, limit: number): Promise<Array<{ id: string; startedAt: number }>>;
  /**
   * Deletes the queue's finished jobs older than its kind keeps them (QUEUE_SETTINGS' removeOnComplete and
   * removeOnFail ages, which RESULT_TTL caps), at most `limit` per state; returns how many went. BullMQ applies
   * those ages only when another job of the queue finishes, so the last jobs before a queue goes quiet (an item
   * job holds its item's text) would stay for good without this.
   */
  trimFinished(queue: QueueRef, limit?: number): Promise<number>;
  /**
   * The payloads of these jobs, in order; null for a job that is gone. A payload is written once, when its
   * job is added (nothing here updates one), so a reader may keep it for as long as the id stays listed.
   */
  payloads<N extends JobName>(queue: QueueRef, ids: readonly string[]): Promise<Array<JobPayloads[N] | null>>;
  /** Whether this deployment has the queue (a provider named in config). */
  has(queue: QueueRef): boolean;
  /** Starts consuming `queue`. Only the worker app calls this. */
  consume<N extends JobName>(queue: QueueRef, handler: JobHandler<N>, opts: ConsumeOptions): ConsumerHandle;
}
